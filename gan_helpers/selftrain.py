r"""Notebook 03: self-training a GAN discriminator into a good/bad face classifier.

"Creating a Dataset of Faces for my Autoencoder with Semi-supervised Learning" (2019 blog,
``../shared/seeds/001_*.txt``). The author took the discriminator of a face GAN, retrained it as
a good/bad classifier on ~6,300 good + ~700 hand-labelled bad faces for ~10 epochs, then, round
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
moved on disk: :func:`write_lists` writes ``good.txt``, ``bad.txt`` and ``unsure.txt``.
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
from .runtime import load_checkpoint, resolve_device

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
    ``weights_only=True``. A checkpoint of another image size is refused with both sizes named."""
    from .models import build

    state = load_checkpoint(path)
    if "D" in state and "models" in state:
        spec = state["models"]["D"]
        if spec.get("name") != "Discriminator":
            raise ValueError(f"{str(path)!r} holds a {spec.get('name')}, not a DCGAN Discriminator")
        got = spec["kwargs"].get("image_size")
        if got != image_size:
            raise ValueError(f"{str(path)!r} holds a discriminator for {got} px images; this run uses "
                             f"image_size = {image_size}: set image_size = {got} or give a {image_size} px checkpoint")
        D = build(spec)
        D.load_state_dict(state["D"])
        return D
    return _load_into(Discriminator(ndf, 3, image_size), state, path,
                      f"a Discriminator(ndf={ndf}, image_size={image_size}) state dict")


def _load_into(module: nn.Module, state: dict, path, what: str) -> nn.Module:
    """``module`` with ``state`` loaded; a mismatch is one ValueError naming the file and what it should hold."""
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        lines = str(e).splitlines()
        raise ValueError(f"{str(path)!r} does not hold {what} "
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
    seed_epochs: int = 10        # first fine-tune on the seed set (the document: "about 10 epochs")
    round_epochs: int = 2        # epochs of continued training after each move
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
        if self.max_rounds < 0 or self.seed_epochs < 1 or self.round_epochs < 0:
            raise ValueError("max_rounds >= 0, seed_epochs >= 1 and round_epochs >= 0 are required")


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
        # the labelled set: the seed images, then every moved pool image (uint8, with its origin)
        self.x = to_uint8(seed_set.images)
        self.y = seed_set.labels.clone().float()
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

    def train_epochs(self, epochs: int) -> float:
        """Continue training on the whole labelled set for ``epochs``; returns the mean loss."""
        return self.fitter.run(len(self.y), self.cfg.batch_size, epochs=epochs) if epochs else float("nan")

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

    def _record(self, round_: int, moved: dict, loss: float, seconds: float) -> dict:
        left = np.flatnonzero(self.status == UNSURE)
        t = self.pool_truth
        rec = {"round": round_, "labelled_good": int((self.y == 1).sum()), "labelled_bad": int((self.y == 0).sum()),
               "labelled": len(self.y), **moved, "pool_left": len(left),
               "pool_left_bad_share": None if t is None or len(left) == 0 else float((t[left] == 0).mean()),
               "train_loss": loss, **self.evaluate(round_), "seconds": seconds}
        self.rounds.append(rec)
        return rec

    # -------------------------------------------------------------- the loop
    def run(self, progress: bool = True) -> "SelfTraining":
        cfg = self.cfg
        t0 = time.perf_counter()
        no_move = {"moved_to_good": 0, "moved_to_bad": 0, "precision_to_good": None, "precision_to_bad": None,
                   "precision_moved": None, "wrong_moved": None}
        # round 0: replace-the-head fine-tune on the seed set ("about 10 epochs")
        loss = self.train_epochs(cfg.seed_epochs)
        self._log(progress, self._record(0, no_move, loss, time.perf_counter() - t0))
        self.stop_reason = "max_rounds reached"
        for r in range(1, cfg.max_rounds + 1):
            t1 = time.perf_counter()
            moved = self.score_and_move(r)  # (1) predict on the pool, (2) move p < t_bad and p > t_good
            if moved["moved_to_good"] + moved["moved_to_bad"] == 0:
                self._log(progress, self._record(r, moved, float("nan"), time.perf_counter() - t1))
                self.stop_reason = "nothing moved"
                break
            loss = self.train_epochs(cfg.round_epochs)  # (3) continue training on the grown labelled set
            self._log(progress, self._record(r, moved, loss, time.perf_counter() - t1))
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

def write_lists(output_dir: str | os.PathLike, run: SelfTraining, seed_ids: Sequence[str] | None = None,
                seed_labels: Sequence[int] | None = None, links: bool = False,
                skipped: Sequence[tuple[str, str]] = ()) -> dict[str, Path]:
    """Write ``good.txt``, ``bad.txt``, ``unsure.txt`` (one id a line; seed images first in good/bad),
    ``unreadable.txt`` if any file could not be read (the pool's, and ``skipped``: the labelled folders'
    unreadable files, each with the reason), and ``scores.csv`` (id, list, round moved, last p(good)).

    The user's files are never moved, copied or deleted. ``links=True`` also makes folders of
    symbolic links ``sorted/{good,bad,unsure}/`` (for pools read from files).
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sets = run.sorted_sets()
    ids = run.pool.ids
    seed_ids = list(seed_ids or [])
    seed_labels = list(seed_labels if seed_labels is not None else [])
    lists = {"good": [i for i, y in zip(seed_ids, seed_labels) if y == 1] + [ids[i] for i in sets["good"]],
             "bad": [i for i, y in zip(seed_ids, seed_labels) if y == 0] + [ids[i] for i in sets["bad"]],
             "unsure": [ids[i] for i in sets["unsure"]]}
    unreadable = np.flatnonzero(run.status == UNREADABLE)
    if len(unreadable) or skipped:
        lists["unreadable"] = [f"{p}\t{why}" for p, why in skipped] + \
                              [f"{ids[i]}\t{run.pool.skipped.get(i, '')}" for i in unreadable]
    paths = {}
    for name, items in lists.items():
        paths[name] = out / f"{name}.txt"
        paths[name].write_text("".join(f"{x}\n" for x in items))
    names = {GOOD: "good", BAD: "bad", UNSURE: "unsure", UNREADABLE: "unreadable"}
    paths["scores"] = out / "scores.csv"
    with open(paths["scores"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "list", "round_moved", "last_p_good"])
        for i, idn in enumerate(ids):
            w.writerow([idn, names[int(run.status[i])], int(run.moved_round[i]) or "",
                        "" if math.isnan(run.last_p[i]) else f"{run.last_p[i]:.6f}"])
    if links and run.pool.on_disk:
        for name in ("good", "bad", "unsure"):
            folder = out / "sorted" / name
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():  # only our own links from a previous run
                if old.is_symlink():
                    old.unlink()
            for k, i in enumerate(sets[name]):
                src = Path(ids[i]).resolve()
                (folder / f"{k:07d}_{src.name}").symlink_to(src)
    return paths


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
