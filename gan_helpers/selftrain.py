r"""Notebook 03: self-training a GAN discriminator into a good/bad face classifier.

E. A. Scuccimarra, "Creating a Dataset of Faces for my Autoencoder with Semi-supervised Learning" (blog post, 2019,
http://ericscuccimarra.com/blog/autoencoder-face-dataset). The author took the discriminator of a face GAN,
retrained it as a good/bad classifier on ~6,300 good + ~700 hand-labelled bad faces for ~10 epochs, then, round
after round, scored the ~200,000 unlabelled IMDB faces and *moved* every image with
:math:`p(\text{good}) < 0.03` into the bad training set and every image with
:math:`p(\text{good}) > 0.99` into the good one, and continued training. It is self-training
(pseudo-labelling with confidence thresholds): with labelled set :math:`L_r` in round :math:`r`,

.. math::

    \theta_r = \arg\min_\theta \sum_{(x, y) \in L_r} \mathrm{BCE}\big(\sigma(f_\theta(x)), y\big), \qquad
    L_{r+1} = L_r \cup \{(x, 0) : \sigma(f_{\theta_r}(x)) < t_\text{bad}\} \cup \{(x, 1) : \sigma(f_{\theta_r}(x)) > t_\text{good}\},

with each :math:`\theta_r` trained on from :math:`\theta_{r-1}` ("then I continued training it"),
and the moved images leaving the pool.

Here :class:`SelfTraining` runs that loop with the pool scored in batches streamed from disk
(:class:`ImagePool`), trains with the repository's one supervised loop (:class:`gan_helpers.fit.Fitter`),
and records per round the labelled set sizes, how many moved each way, the precision of what moved
(against ground truth, where known) and what is left. Two loops (from the GAN discriminator, and from
a randomly initialised one) give four methods: their round 0 is one fine-tune on the seed set (the GAN
discriminator fine-tuned once, and a classifier of the same architecture trained from scratch on the
seed set only). The claims over seeds are in :mod:`gan_helpers.experiments.selftrain`. Nothing is ever
moved on disk: :func:`write_lists` writes ``good.txt``, ``bad.txt`` and ``unsure.txt``, and ``lists.csv``,
which keeps any file name whole (:func:`check_nothing_lost` reads it back).
"""
from __future__ import annotations

import copy
import csv
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .fit import Fitter
from .images import ImageSet, from_uint8, iter_image_batches, read_image, to_uint8
from .models import Discriminator
from .outputs import record
from .runtime import CheckpointError, load_checkpoint, resolve_device

SOURCE = "Faces for my Autoencoder (2019 blog)"
GOOD, BAD, UNSURE, UNREADABLE = 1, 0, -1, -2  # status of a pool image


# ---------------------------------------------------------------------------------------------
# The classifier: a GAN discriminator with its head replaced
# ---------------------------------------------------------------------------------------------

class GoodBadClassifier(nn.Module):
    """image (B, 3, S, S) -> logit of p(good) (B,): a DCGAN discriminator's convolutional body
    with its real/fake head replaced by a new linear good/bad head."""

    def __init__(self, body: nn.Module, feature_dim: int):
        super().__init__()
        self.body = body                          # (B, ndf*m, 4, 4): the discriminator's last conv map
        self.head = nn.Linear(feature_dim, 1)     # (B, 1): new, replaces D's 4x4 conv real/fake head
        nn.init.normal_(self.head.weight, 0.0, 0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1)).flatten()  # (B,)


def replace_head(discriminator: Discriminator) -> GoodBadClassifier:
    """A copy of ``discriminator``'s body (the GAN's weights, untouched) with a fresh good/bad head."""
    if not isinstance(discriminator, Discriminator):
        raise TypeError(f"expected a gan_helpers.models.Discriminator, got {type(discriminator).__name__}")
    return GoodBadClassifier(copy.deepcopy(discriminator.body).cpu(), discriminator.feature_dim)


def load_discriminator(path: str | os.PathLike, ndf: int, image_size: int) -> Discriminator:
    """A discriminator from a :class:`~gan_helpers.train.GANTrainer` checkpoint (its ``"D"`` entry, built
    from its model spec) or from a bare ``Discriminator(ndf, 3, image_size)`` state dict, loaded with
    ``weights_only=True``. A checkpoint of another image size or width (``ndf``: the random-start arm is
    built with this width, so both starts must share it) is refused with both values named."""
    from .models import build

    state = load_checkpoint(path)
    if "D" in state and "models" in state:
        spec = state["models"]["D"]
        if spec.get("name") != "Discriminator":
            raise CheckpointError(f"{str(path)!r} holds a {spec.get('name')}, not a DCGAN Discriminator")
        got = spec["kwargs"].get("image_size")
        if got != image_size:
            raise CheckpointError(f"{str(path)!r} holds a discriminator for {got} px images; this run uses "
                                  f"image_size = {image_size}: set image_size = {got} or give a {image_size} px checkpoint")
        width = spec["kwargs"].get("ndf")
        if width != ndf:
            raise CheckpointError(f"{str(path)!r} holds a discriminator of width ndf = {width}; this run uses ndf = {ndf} "
                                  f"(the random start is built with it): set ndf = {width} or give a checkpoint of width {ndf}")
        D = build(spec)
        try:
            D.load_state_dict(state["D"])
        except RuntimeError as e:
            raise CheckpointError(f"{str(path)!r}: its weights do not fit the discriminator it describes "
                                  f"({(str(e).splitlines() or [''])[-1].strip()[:200]})") from None
        return D
    return _load_into(Discriminator(ndf, 3, image_size), state, path,
                      f"a Discriminator(ndf={ndf}, image_size={image_size}) state dict")


def _load_into(module: nn.Module, state: dict, path, what: str) -> nn.Module:
    """``module`` with ``state`` loaded; a mismatch is one CheckpointError naming the file and what it should hold."""
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        lines = str(e).splitlines()
        raise CheckpointError(f"{str(path)!r} does not hold {what} "
                              f"({(lines[1] if len(lines) > 1 else lines[0]).strip()})") from None
    return module


CLASSIFIER_FORMAT = "gan_helpers.GoodBadClassifier/1"


def save_classifier(model: GoodBadClassifier | dict, path: str | os.PathLike, ndf: int, image_size: int) -> Path:
    """Write a good/bad classifier (a :class:`GoodBadClassifier` or its state dict, e.g. ``SelfTraining.model_state``)
    with the discriminator size it was built from, for :func:`load_classifier` and ``gan_helpers.tools.score_pool``."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CLASSIFIER_FORMAT, "ndf": ndf, "image_size": image_size,
                "state": {k: v.detach().cpu() for k, v in state.items()}}, path)
    return path


def load_classifier(path: str | os.PathLike, ndf: int = 64, image_size: int = 64) -> GoodBadClassifier:
    """A :class:`GoodBadClassifier` from :func:`save_classifier` (its own ``ndf`` and ``image_size``) or from a bare
    state dict of one built on ``Discriminator(ndf, 3, image_size)``; loaded with ``weights_only=True``. Its
    ``image_size`` attribute is the input size it was built for."""
    state = load_checkpoint(path)
    if state.get("format") == CLASSIFIER_FORMAT:
        ndf, image_size, state = state["ndf"], state["image_size"], state["state"]
    model = _load_into(replace_head(Discriminator(ndf, 3, image_size)), state, path,
                       f"a good/bad classifier on Discriminator(ndf={ndf}, image_size={image_size})")
    model.image_size = image_size  # the input size it was built for
    return model.eval()


# ---------------------------------------------------------------------------------------------
# The pool (a grown labelled set of 200,000 images must fit in memory: kept as uint8)
# ---------------------------------------------------------------------------------------------

class ImagePool:
    """The unlabelled pool: ``ids`` (file paths, or names for images in memory), read in batches.

    From files (:meth:`from_paths`) nothing is held in memory: each call of :meth:`batches`
    streams the requested images from disk; unreadable files land in ``skipped``.
    """

    def __init__(self, ids: Sequence[str], images: torch.Tensor | None = None, image_size: int | None = None):
        self.ids = [str(i) for i in ids]
        self.images = images
        self.image_size = image_size if images is None else int(images.shape[-1])
        self.skipped: dict[int, str] = {}
        if images is not None and len(images) != len(self.ids):
            raise ValueError(f"{len(self.ids)} ids for {len(images)} images")

    @classmethod
    def from_paths(cls, paths: Sequence[str | os.PathLike], image_size: int) -> "ImagePool":
        if len(paths) == 0:
            raise ValueError("the pool is empty: no image files to sort")
        return cls([str(p) for p in paths], None, image_size)

    @classmethod
    def from_images(cls, images: torch.Tensor, prefix: str = "pool") -> "ImagePool":
        return cls([f"{prefix}/{i:07d}" for i in range(len(images))], images)

    @property
    def on_disk(self) -> bool:
        return self.images is None

    def cache_key(self) -> tuple:
        """What the pool's content depends on, for :mod:`gan_helpers.cache`: the images in memory, or each
        file's path, size and modification time (a file replaced under the same name changes the key)."""
        if not self.on_disk:
            return self.ids, self.images
        stats = [os.stat(p) if os.path.exists(p) else None for p in self.ids]
        return self.ids, self.image_size, [(s.st_size, s.st_mtime_ns) if s else None for s in stats]

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, index: np.ndarray, batch_size: int = 512, workers: int = 0
                ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield ``(pool indices, images (b, 3, S, S) in [-1, 1])`` for ``index``, in order.

        ``workers`` > 0 decodes the files in that many ``DataLoader`` worker processes while the caller
        scores the previous batch (``benchmarks/pool_scoring.py`` measures what that buys)."""
        index = np.asarray(index, dtype=int)
        if not self.on_disk:
            for s in range(0, len(index), batch_size):
                idx = index[s:s + batch_size]
                yield idx, self.images[torch.as_tensor(idx)]
            return
        if workers:
            loader = torch.utils.data.DataLoader(_PoolFiles([self.ids[i] for i in index], self.image_size),
                                                 batch_size=batch_size, num_workers=workers, collate_fn=_collate)
            for local, images, errors in loader:
                ok = [k for k, why in enumerate(errors) if not why]
                for k, why in enumerate(errors):
                    if why:
                        self.skipped[int(index[local[k]])] = why
                if ok:
                    yield index[local[ok]], images[ok]
            return
        pos = {self.ids[i]: i for i in index}
        for images, read, bad in iter_image_batches([self.ids[i] for i in index], self.image_size, batch_size):
            for path, why in bad:
                self.skipped[pos[path]] = why
            if len(read):
                yield np.array([pos[p] for p in read]), images

    def load(self, index: np.ndarray) -> torch.Tensor:
        """The images at ``index`` in memory (e.g. a sample of the pool for GAN training)."""
        parts = [x for _, x in self.batches(index)]
        return torch.cat(parts) if parts else torch.empty(0, 3, self.image_size, self.image_size)


@torch.no_grad()
def score_pool(model: nn.Module, pool: "ImagePool", index: Sequence[int] | np.ndarray | None = None,
               batch_size: int = 512, workers: int = 0, device: str | torch.device = "cpu"
               ) -> tuple[np.ndarray, dict[int, str]]:
    """p(good) = sigmoid(model(x)) of every pool image in ``index`` (all of them by default), streamed in
    batches, in eval mode: ``(p, skipped)`` with ``p[k]`` the score of ``index[k]`` (NaN if unreadable) and
    ``skipped`` ``{pool index: reason}``.

    Inside a process group (``torchrun``, :mod:`gan_helpers.distributed`) each process reads and scores every
    ``world``-th file of ``index`` (its shard) and the per-file scores are gathered, so every process returns
    the whole result; one process alone scores everything. A file's score depends only on the file and the
    model (eval mode: no batch statistics), so the shards agree with one process up to float rounding."""
    from . import distributed

    w = distributed.world()
    index = np.arange(len(pool)) if index is None else np.asarray(index, dtype=int)
    mine = index[w.rank::w.size]
    model = model.to(device).eval()
    got_idx, got_p = [], []
    for idx, images in pool.batches(mine, batch_size, workers):
        got_idx.append(idx)
        got_p.append(torch.sigmoid(model(images.to(device)).float()).cpu().numpy())
    ours = set(mine.tolist())
    skipped = {i: why for i, why in pool.skipped.items() if i in ours}
    part = (np.concatenate(got_idx) if got_idx else np.zeros(0, int),
            np.concatenate(got_p) if got_p else np.zeros(0, np.float32), skipped)
    parts = [part]
    if w.size > 1:
        parts = [None] * w.size
        torch.distributed.all_gather_object(parts, part)
    where = {int(i): k for k, i in enumerate(index)}
    p = np.full(len(index), np.nan, dtype=np.float32)
    for idx, ps, sk in parts:
        p[[where[int(i)] for i in idx]] = ps
        skipped.update(sk)
        pool.skipped.update(sk)
    return p, skipped


# ---------------------------------------------------------------------------------------------
# The rounds loop
# ---------------------------------------------------------------------------------------------

class _PoolFiles(torch.utils.data.Dataset):
    """Pool files for a ``DataLoader``: item k is ``(k, image, "")``, or ``(k, zeros, reason)`` if unreadable."""

    def __init__(self, paths: Sequence[str], image_size: int):
        self.paths, self.image_size = list(paths), image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int):
        try:
            return k, read_image(self.paths[k], self.image_size), ""
        except ValueError as e:
            return k, torch.zeros(3, self.image_size, self.image_size), str(e)


def _collate(items):
    return np.array([k for k, _, _ in items]), torch.stack([x for _, x, _ in items]), [w for _, _, w in items]


@dataclass
class SelfTrainConfig:
    """The loop's settings; thresholds and epochs default to the document's."""

    t_bad: float = 0.03          # move to bad when p(good) < t_bad (the document: 0.03)
    t_good: float = 0.99         # move to good when p(good) > t_good (the document: 0.99)
    max_rounds: int = 6          # stop after this many move-and-retrain rounds
    seed_epochs: int = 60        # at most this many epochs of the first fine-tune (the document: "about 10 epochs")
    round_epochs: int = 10       # at most this many epochs of continued training after each move
    patience: int = 5            # early stopping: stop when the validation loss has not improved for this many epochs
    val_fraction: float = 0.15   # share of the seed set held out (stratified) to decide when to stop
    batch_size: int = 64
    lr: float = 2e-4             # Adam, as the GAN (DCGAN's lr and beta1)
    beta1: float = 0.5
    augment: bool = True         # random horizontal flips (good/bad does not change in a mirror)
    score_batch_size: int = 512  # pool images per streamed batch
    score_workers: int = 0       # DataLoader processes decoding the pool while it is scored (0: in this process)
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        if not 0 < self.t_bad < self.t_good < 1:
            raise ValueError(f"need 0 < t_bad < t_good < 1, got t_bad={self.t_bad}, t_good={self.t_good}")
        if self.max_rounds < 0 or self.seed_epochs < 1 or self.round_epochs < 0 or self.patience < 1:
            raise ValueError("max_rounds >= 0, seed_epochs >= 1, round_epochs >= 0 and patience >= 1 are required")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")


def validation_split(labels: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, validation)``: ``fraction`` of each class held out (at least one image of each), at random."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = max(1, int(round(fraction * len(idx))))
        if n >= len(idx):
            raise ValueError(f"class {int(c)} has {len(idx)} labelled images: too few to hold one out for validation")
        val.append(idx[:n])
    val = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), val), val


def _precision(truth: np.ndarray | None, idx: np.ndarray, label: int) -> float | None:
    """Share of ``truth[idx]`` equal to ``label``; None without ground truth or without images."""
    if truth is None or len(idx) == 0:
        return None
    return float((truth[idx] == label).mean())


class SelfTraining:
    """The document's loop: fine-tune on the seed set, then score the pool, move the confident
    images into the labelled set, continue training, until the pool is sorted, nothing moves,
    or ``max_rounds`` is reached.

    ``pool_truth`` (1 good / 0 bad per pool image), ``pool_kind`` and ``test`` are for evaluation only; the
    loop never reads them. After :meth:`run`: ``rounds`` (one dict a round; round 0 is the
    first fine-tune), ``status`` of each pool image (:data:`GOOD`, :data:`BAD`, :data:`UNSURE`,
    :data:`UNREADABLE`), ``moved_round``, ``last_p`` (its latest p(good)), ``pool_p`` (the pool's
    p(good) as scored in each round), ``test_p``
    (p(good) on the test set after each round), ``stop_reason``.
    """

    def __init__(self, model: GoodBadClassifier, seed_set: ImageSet, pool: ImagePool, config: SelfTrainConfig | None = None,
                 test: ImageSet | None = None, pool_truth: np.ndarray | None = None, pool_kind: np.ndarray | None = None,
                 name: str = ""):
        self.cfg = cfg = config or SelfTrainConfig()
        if seed_set.labels is None or len(seed_set) == 0:
            raise ValueError("the seed set needs images with good (1) / bad (0) labels")
        y = seed_set.labels.numpy()
        if not set(np.unique(y)) <= {0, 1} or len(np.unique(y)) < 2:
            raise ValueError(f"seed labels must be 0 (bad) and 1 (good), both present; got {sorted(set(y.tolist()))}")
        if pool_truth is not None and len(pool_truth) != len(pool):
            raise ValueError(f"pool_truth has {len(pool_truth)} entries for {len(pool)} pool images")
        self.device = resolve_device(cfg.device)
        self.model = model.to(self.device)
        self.fitter = Fitter(self.model, self._batch, F.binary_cross_entropy_with_logits, lr=cfg.lr,
                             betas=(cfg.beta1, 0.999), seed=cfg.seed, device=self.device)
        self.name, self.pool, self.test = name, pool, test
        self.pool_truth = None if pool_truth is None else np.asarray(pool_truth, dtype=int)
        self.pool_kind = None if pool_kind is None else np.asarray(pool_kind)  # e.g. "profile": for the error analysis
        # a stratified share of the seed set is held out: it decides when each training phase stops
        train_idx, val_idx = validation_split(seed_set.labels.numpy(), cfg.val_fraction, cfg.seed)
        self.val_x, self.val_y = seed_set.images[val_idx], seed_set.labels[val_idx].float()
        # the labelled set: the seed images, then every moved pool image (uint8, with its origin)
        self.x = to_uint8(seed_set.images[train_idx])
        self.y = seed_set.labels[train_idx].clone().float()
        self.n_seed = len(self.y)
        self.status = np.full(len(pool), UNSURE, dtype=int)
        self.moved_round = np.zeros(len(pool), dtype=int)
        self.last_p = np.full(len(pool), np.nan)
        self.pool_p: dict[int, np.ndarray] = {}  # p(good) of the whole pool as scored in each round (NaN: not in the pool)
        self.rounds: list[dict] = []
        self.test_p: dict[int, np.ndarray] = {}
        self.stop_reason = ""
        self.wall_s = 0.0

    # -------------------------------------------------------------- pieces
    def _batch(self, idx: torch.Tensor, g: torch.Generator):
        x = from_uint8(self.x[idx])
        if self.cfg.augment:  # a random horizontal flip per image: good/bad does not change in a mirror
            flip = torch.rand(len(idx), generator=g) < 0.5
            x[flip] = x[flip].flip(3)
        return x, self.y[idx]  # minimise BCE(sigma(f(x)), y) over the labelled set L_r

    @torch.no_grad()
    def _validate(self) -> dict:
        """BCE and accuracy (at p = 0.5) on the held-out part of the seed set, in eval mode."""
        p = torch.as_tensor(self.predict(self.val_x)).double().clamp(1e-7, 1 - 1e-7)
        loss = F.binary_cross_entropy(p, self.val_y.double())
        return {"loss": float(loss), "accuracy": float(((p > 0.5).double() == self.val_y.double()).double().mean())}

    def train_epochs(self, max_epochs: int) -> dict:
        """Continue training on the whole labelled set until the held-out loss stops improving (at most
        ``max_epochs``; :meth:`gan_helpers.fit.Fitter.run_until`); returns its record, with the training
        accuracy of the restored weights."""
        if not max_epochs:
            return {"train_loss": float("nan")}
        r = self.fitter.run_until(len(self.y), self.cfg.batch_size, self._validate, max_epochs, self.cfg.patience)
        p = self.predict(from_uint8(self.x))
        r["train_accuracy"] = float(((p > 0.5) == (self.y.numpy() == 1)).mean())
        r["train_loss"] = r["history"][r["best_epoch"] - 1]["train_loss"]
        return r

    def detach(self) -> "SelfTraining":
        """Drop the network and its optimizer (keeping ``model_state``), so that the run's record can be
        sent back from a worker process; every result and figure still works."""
        self.model_state = {k: v.cpu() for k, v in self.model.state_dict().items()}
        self.model = self.fitter = None
        return self

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """p(good) for in-memory images, in eval mode."""
        self.model.eval()
        return np.concatenate([torch.sigmoid(self.model(images[s:s + batch_size].to(self.device)).float()).cpu().numpy()
                               for s in range(0, len(images), batch_size)]) if len(images) else np.zeros(0)

    @torch.no_grad()
    def score_and_move(self, round_: int) -> dict:
        """Stream every image left in the pool through the classifier; move p < t_bad to bad and
        p > t_good to good (their images join the labelled set). Returns the round's move figures."""
        cfg = self.cfg
        left = np.flatnonzero(self.status == UNSURE)
        new_x, new_y, to_good, to_bad = [], [], [], []
        self.model.eval()
        for idx, images in self.pool.batches(left, cfg.score_batch_size, cfg.score_workers):
            # (1) predict on the pool: p(good) = sigma(f_theta(x))
            p = torch.sigmoid(self.model(images.to(self.device)).float()).cpu().numpy()
            self.last_p[idx] = p
            # (2) move the confident ones: p < t_bad -> bad, p > t_good -> good
            good, bad = p > cfg.t_good, p < cfg.t_bad
            for mask, label, dest in ((good, 1.0, to_good), (bad, 0.0, to_bad)):
                if mask.any():
                    new_x.append(to_uint8(images[torch.as_tensor(mask)]))
                    new_y.append(torch.full((int(mask.sum()),), label))
                    dest.append(idx[mask])
        for i in self.pool.skipped:
            self.status[i] = UNREADABLE
        self.pool_p[round_] = np.where(self.status == UNSURE, self.last_p, np.nan).astype(np.float32)
        to_good = np.concatenate(to_good) if to_good else np.zeros(0, int)
        to_bad = np.concatenate(to_bad) if to_bad else np.zeros(0, int)
        self.status[to_good], self.status[to_bad] = GOOD, BAD
        self.moved_round[to_good] = self.moved_round[to_bad] = round_
        if new_x:
            self.x = torch.cat([self.x, *new_x])
            self.y = torch.cat([self.y, *new_y])
        t = self.pool_truth
        wrong = None if t is None else int((t[to_good] != 1).sum() + (t[to_bad] != 0).sum())
        n_moved = len(to_good) + len(to_bad)
        return {"moved_to_good": len(to_good), "moved_to_bad": len(to_bad),
                "precision_to_good": _precision(t, to_good, 1), "precision_to_bad": _precision(t, to_bad, 0),
                "precision_moved": None if wrong is None or n_moved == 0 else 1 - wrong / n_moved,
                "wrong_moved": wrong}

    def evaluate(self, round_: int) -> dict:
        """Held-out accuracy (at p = 0.5) and ROC AUC of the current classifier; keeps its test p."""
        if self.test is None:
            return {"test_accuracy": None, "test_auc": None}
        from sklearn.metrics import roc_auc_score

        p = self.predict(self.test.images)
        self.test_p[round_] = p
        y = self.test.labels.numpy()
        return {"test_accuracy": float(((p > 0.5) == (y == 1)).mean()),
                "test_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None}

    def _record(self, round_: int, moved: dict, fit: dict, seconds: float) -> dict:
        left = np.flatnonzero(self.status == UNSURE)
        t = self.pool_truth
        rec = {"round": round_, "labelled_good": int((self.y == 1).sum()), "labelled_bad": int((self.y == 0).sum()),
               "labelled": len(self.y), **moved, "pool_left": len(left),
               "pool_left_bad_share": None if t is None or len(left) == 0 else float((t[left] == 0).mean()),
               "train_loss": fit["train_loss"], "train_accuracy": fit.get("train_accuracy"),
               "val_loss": fit.get("val_loss"), "val_accuracy": fit.get("val_accuracy"),
               "epochs": fit.get("best_epoch"), "epochs_run": fit.get("epochs_run"),
               **self.evaluate(round_), "seconds": seconds}
        self.rounds.append(rec)
        return rec

    # -------------------------------------------------------------- the loop
    def run(self, progress: bool = True) -> "SelfTraining":
        cfg = self.cfg
        t0 = time.perf_counter()
        no_move = {"moved_to_good": 0, "moved_to_bad": 0, "precision_to_good": None, "precision_to_bad": None,
                   "precision_moved": None, "wrong_moved": None}
        # round 0: replace-the-head fine-tune on the seed set ("about 10 epochs"), until the held-out loss stops improving
        fit = self.train_epochs(cfg.seed_epochs)
        self._log(progress, self._record(0, no_move, fit, time.perf_counter() - t0))
        self.stop_reason = "max_rounds reached"
        for r in range(1, cfg.max_rounds + 1):
            t1 = time.perf_counter()
            moved = self.score_and_move(r)  # (1) predict on the pool, (2) move p < t_bad and p > t_good
            if moved["moved_to_good"] + moved["moved_to_bad"] == 0:
                self._log(progress, self._record(r, moved, {"train_loss": float("nan")}, time.perf_counter() - t1))
                self.stop_reason = "nothing moved"
                break
            fit = self.train_epochs(cfg.round_epochs)  # (3) continue training on the grown labelled set
            self._log(progress, self._record(r, moved, fit, time.perf_counter() - t1))
            if not (self.status == UNSURE).any():
                self.stop_reason = "pool sorted"
                break
        self.wall_s = time.perf_counter() - t0
        return self

    def _log(self, progress: bool, rec: dict) -> None:
        if progress:
            acc = "" if rec["test_accuracy"] is None else f", test accuracy {rec['test_accuracy']:.3f}"
            prec = "" if rec["precision_moved"] is None else f" (precision {rec['precision_moved']:.3f})"
            print(f"[{self.name}] round {rec['round']}: +{rec['moved_to_good']} good, +{rec['moved_to_bad']} bad{prec}; "
                  f"labelled {rec['labelled']}, pool left {rec['pool_left']}{acc}", flush=True)

    # -------------------------------------------------------------- the outcome
    def sorted_sets(self, after_round: int | None = None) -> dict[str, np.ndarray]:
        """Pool indices in good / bad / unsure as they stood after ``after_round`` (default: the end)."""
        r = self.rounds[-1]["round"] if after_round is None else after_round
        good = np.flatnonzero((self.status == GOOD) & (self.moved_round <= r))
        bad = np.flatnonzero((self.status == BAD) & (self.moved_round <= r))
        unsure = np.setdiff1d(np.flatnonzero(self.status != UNREADABLE), np.concatenate([good, bad]))
        return {"good": good, "bad": bad, "unsure": unsure}

    def summary(self, after_round: int | None = None, classifier_round: int | None = None) -> dict:
        """The figures of one method: held-out accuracy/AUC of the classifier after ``classifier_round``,
        and the sorting of the pool after ``after_round`` (defaults: the end), with its precision."""
        last = self.rounds[-1]["round"]
        cr = last if classifier_round is None else classifier_round
        rec = next(r for r in self.rounds if r["round"] == cr)
        sets = self.sorted_sets(after_round)
        t, n = self.pool_truth, len(self.pool)
        out = {"test_accuracy": rec["test_accuracy"], "test_auc": rec["test_auc"],
               "good_set": len(sets["good"]), "bad_set": len(sets["bad"]), "unsure": len(sets["unsure"]),
               "sorted_fraction": (len(sets["good"]) + len(sets["bad"])) / max(n, 1),
               "good_precision": _precision(t, sets["good"], 1), "bad_precision": _precision(t, sets["bad"], 0),
               "good_recall": None, "sorted_accuracy": None}
        if t is not None:
            out["good_recall"] = float(len(np.intersect1d(sets["good"], np.flatnonzero(t == 1))) / max((t == 1).sum(), 1))
            n_done = len(sets["good"]) + len(sets["bad"])
            right = (t[sets["good"]] == 1).sum() + (t[sets["bad"]] == 0).sum()
            out["sorted_accuracy"] = float(right / n_done) if n_done else None
        return out


def gan_training_images(seed_set: ImageSet, pool: ImagePool, n_from_pool: int, seed: int = 0) -> torch.Tensor:
    """The GAN's training images: the seed set plus a random ``n_from_pool`` of the unlabelled pool
    (a GAN needs no labels), read from disk."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(pool))[:max(0, min(n_from_pool, len(pool)))])
    return torch.cat([seed_set.images, pool.load(idx)])


def outcome_by_kind(run: SelfTraining, after_round: int | None = None) -> dict[str, dict]:
    """Where each ground-truth kind of the pool ended up: share in good / bad / unsure, and how many."""
    if run.pool_kind is None:
        return {}
    sets = run.sorted_sets(after_round)
    where = np.full(len(run.pool), "", dtype=object)
    for name, idx in sets.items():
        where[idx] = name
    kinds = sorted(set(run.pool_kind.tolist()), key=lambda k: (k != "good", k))
    return {k: {**{name: float((where[run.pool_kind == k] == name).mean()) for name in sets},
                "n": int((run.pool_kind == k).sum())} for k in kinds}


def compare_methods(gan: SelfTraining, scratch: SelfTraining) -> dict[str, dict]:
    """The four methods of issue 4, from two loops. ``gan_once`` and ``scratch_seed_only`` are
    the loops' round 0 (one fine-tune on the seed set); their pool sorting is one pass with the
    same thresholds (what round 1 moved)."""
    return {"gan_selftrain": gan.summary(),
            "random_init_selftrain": scratch.summary(),
            "gan_once": gan.summary(after_round=1, classifier_round=0),
            "scratch_seed_only": scratch.summary(after_round=1, classifier_round=0)}


# ---------------------------------------------------------------------------------------------
# Output: lists, never moves
# ---------------------------------------------------------------------------------------------

LIST_NAMES = ("good", "bad", "unsure", "unreadable")


def _one_line(name: str) -> bool:
    return "\n" not in name and "\r" not in name


def write_lists(output_dir: str | os.PathLike, run: SelfTraining, seed_ids: Sequence[str] | None = None,
                seed_labels: Sequence[int] | None = None, links: bool = False,
                skipped: Sequence[tuple[str, str]] = ()) -> dict[str, Path]:
    """Write where every file went:

    * ``lists.csv``, the complete record: one row per file (``path, list, source, round_moved, reason``; list
      good / bad / unsure / unreadable, source labelled / pool), as quoted CSV, so that any file name comes
      back whole (line breaks, commas, quotes, non-UTF-8 bytes); :func:`read_lists` reads it;
    * ``good.txt``, ``bad.txt``, ``unsure.txt``: one path a line for shell tools (seed images first in
      good/bad), and ``unreadable.txt`` (``path<TAB>reason``) if any file could not be read (the pool's, and
      ``skipped``: the labelled folders' unreadable files). A path holding a line break cannot be one line:
      it is left out of these files (lists.csv has it) and the number left out is printed;
    * ``scores.csv`` (pool id, list, round moved, last p(good)), also quoted CSV.

    Every file is recorded in the run's manifest before it is written (:mod:`gan_helpers.outputs`). The
    user's files are never moved, copied or deleted. ``links=True`` also makes folders of symbolic links
    ``sorted/{good,bad,unsure}/`` (for pools read from files); nothing already in those folders is removed.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sets = run.sorted_sets()
    ids = run.pool.ids
    seed_ids = list(seed_ids or [])
    seed_labels = list(seed_labels if seed_labels is not None else [])
    names = {GOOD: "good", BAD: "bad", UNSURE: "unsure", UNREADABLE: "unreadable"}
    rows = [(i, "good" if y == 1 else "bad", "labelled", "", "") for i, y in zip(seed_ids, seed_labels)]
    rows += [(p, "unreadable", "labelled", "", why) for p, why in skipped]
    rows += [(idn, names[int(run.status[i])], "pool", int(run.moved_round[i]) or "",
              run.pool.skipped.get(i, "") if run.status[i] == UNREADABLE else "") for i, idn in enumerate(ids)]
    lists = {"good": [i for i, y in zip(seed_ids, seed_labels) if y == 1] + [ids[i] for i in sets["good"]],
             "bad": [i for i, y in zip(seed_ids, seed_labels) if y == 0] + [ids[i] for i in sets["bad"]],
             "unsure": [ids[i] for i in sets["unsure"]]}
    unreadable = np.flatnonzero(run.status == UNREADABLE)
    if len(unreadable) or skipped:
        lists["unreadable"] = [f"{p}\t{why}" for p, why in skipped] + \
                              [f"{ids[i]}\t{run.pool.skipped.get(i, '')}" for i in unreadable]
    paths = {name: out / f"{name}.txt" for name in lists}
    paths["lists"], paths["scores"] = out / "lists.csv", out / "scores.csv"
    record(*paths.values())
    left_out = 0
    for name, items in lists.items():
        one_line = [x for x in items if _one_line(x.split("\t")[0] if name == "unreadable" else x)]
        left_out += len(items) - len(one_line)
        with open(paths[name], "w", encoding="utf-8", errors="surrogateescape") as f:
            f.writelines(f"{x}\n" for x in one_line)
    with open(paths["lists"], "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["path", "list", "source", "round_moved", "reason"])
        w.writerows(rows)
    with open(paths["scores"], "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["id", "list", "round_moved", "last_p_good"])
        for i, idn in enumerate(ids):
            w.writerow([idn, names[int(run.status[i])], int(run.moved_round[i]) or "",
                        "" if math.isnan(run.last_p[i]) else f"{run.last_p[i]:.6f}"])
    if left_out:
        print(f"{left_out} file name{'s hold' if left_out > 1 else ' holds'} a line break: listed in "
              f"{paths['lists']} only, not in the one-per-line .txt lists")
    if links and run.pool.on_disk:
        for name in ("good", "bad", "unsure"):
            folder = out / "sorted" / name
            for k, i in enumerate(sets[name]):
                src = Path(ids[i]).resolve()
                link = folder / f"{k:07d}_{src.name}"
                record(link)
                folder.mkdir(parents=True, exist_ok=True)
                link.symlink_to(src)
    return paths


def read_lists(output_dir: str | os.PathLike) -> dict[str, list[str]]:
    """``{list: [path, ...]}`` from ``output_dir/lists.csv`` (see :func:`write_lists`), names exactly as written."""
    out = {name: [] for name in LIST_NAMES}
    with open(Path(output_dir) / "lists.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["list"], []).append(row["path"])
    return out


def check_nothing_lost(output_dir: str | os.PathLike, expected: Sequence[str]) -> int:
    """Every path of ``expected`` (the labelled files and the pool) is in exactly one list of
    ``output_dir/lists.csv``, and every one-line name of the good/bad/unsure lists is in its ``.txt`` file.
    Raises ``AssertionError`` naming the first file lost (or listed twice); returns the number checked."""
    lists = read_lists(output_dir)
    where: dict[str, list[str]] = {}
    for name, items in lists.items():
        for x in items:
            where.setdefault(x, []).append(name)
    lost = [x for x in expected if x not in where]
    if lost:
        raise AssertionError(f"{len(lost)} file{'s' if len(lost) > 1 else ''} in no list of "
                             f"{Path(output_dir) / 'lists.csv'}, e.g. {lost[0]!r}")
    twice = [x for x in expected if len(where[x]) > 1]
    if twice:
        raise AssertionError(f"{twice[0]!r} is in more than one list: {where[twice[0]]}")
    for name in ("good", "bad", "unsure"):
        with open(Path(output_dir) / f"{name}.txt", encoding="utf-8", errors="surrogateescape", newline="") as f:
            plain = f.read().split("\n")[:-1]
        wanted = [x for x in lists[name] if _one_line(x)]
        if plain != wanted:
            lost = [x for x in wanted if x not in set(plain)]
            extra = [x for x in plain if x not in set(wanted)]
            what = f"lacks {lost[0]!r}" if lost else f"has {extra[0]!r}, which lists.csv puts elsewhere" if extra \
                else "lists the same files in another order"
            raise AssertionError(f"{Path(output_dir) / (name + '.txt')} disagrees with lists.csv: it {what}")
    return len(expected)


def threshold_effect(p: np.ndarray, truth: np.ndarray | None, t_bad: float, t_good: float) -> dict:
    """What one scoring pass would move at thresholds (t_bad, t_good), and its precision against ``truth``."""
    p = np.asarray(p, float)
    good, bad = np.flatnonzero(p > t_good), np.flatnonzero(p < t_bad)
    t = None if truth is None else np.asarray(truth, int)
    return {"to_good": len(good), "to_bad": len(bad), "left": len(p) - len(good) - len(bad),
            "precision_to_good": _precision(t, good, 1), "precision_to_bad": _precision(t, bad, 0)}


def example_grids(pool: ImagePool, pool_kind: np.ndarray | None, seed_set: ImageSet, n: int = 16) -> dict[str, torch.Tensor]:
    """Images to look at: ``n`` of each ground-truth kind of the pool where known, else seed good/bad and pool."""
    if pool_kind is not None:
        kinds = sorted(set(pool_kind.tolist()), key=lambda k: (k != "good", k))  # good first
        return {str(k): pool.load(np.flatnonzero(pool_kind == k)[:n]) for k in kinds}
    y = seed_set.labels.numpy()
    return {"seed: good": seed_set.images[y == 1][:n], "seed: bad": seed_set.images[y == 0][:n],
            "pool": pool.load(np.arange(min(n, len(pool))))}


def moved_examples(run: SelfTraining, round_: int = 1, n: int = 16) -> dict[str, torch.Tensor]:
    """What moved in ``round_``: to good, to bad, and (with ground truth) the mistakes each way."""
    moved = run.moved_round == round_
    sets = {"moved to good": np.flatnonzero(moved & (run.status == GOOD)),
            "moved to bad": np.flatnonzero(moved & (run.status == BAD))}
    if run.pool_truth is not None:
        sets["wrong: bad moved to good"] = np.flatnonzero(moved & (run.status == GOOD) & (run.pool_truth == 0))
        sets["wrong: good moved to bad"] = np.flatnonzero(moved & (run.status == BAD) & (run.pool_truth == 1))
    ims = {f"{k} ({len(v)})": run.pool.load(v[:n]) for k, v in sets.items()}
    return {k: v for k, v in ims.items() if len(v)}
