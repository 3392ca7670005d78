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
(:class:`ImagePool`), records per round the labelled set sizes, how many moved each way, the
precision of what moved (against ground truth, where known) and what is left; and
:func:`selftrain_claims` turns two loops (from the GAN discriminator, and from a randomly
initialised one) into the document's claims. Their round 0 (one fine-tune on the seed set) gives
the other two compared methods: the GAN discriminator fine-tuned once, and a classifier of the
same architecture trained from scratch on the seed set only. Nothing is ever moved on disk:
:func:`write_lists` writes ``good.txt``, ``bad.txt`` and ``unsure.txt``.
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

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageSet, iter_image_batches
from .models import Discriminator
from .results import claim, verdict
from .runtime import resolve_device

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
    """A discriminator from a :class:`~gan_helpers.train.GANTrainer` checkpoint (its ``"D"``
    entry and config) or from a bare ``Discriminator`` state dict."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"discriminator checkpoint {str(path)!r} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "D" in state:
        cfg = state.get("config", {})
        ndf, image_size = cfg.get("ndf", ndf), cfg.get("image_size", image_size)
        state = state["D"]
    D = Discriminator(ndf, 3, image_size)
    try:
        D.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{str(path)!r} does not hold a Discriminator(ndf={ndf}, image_size={image_size}): {e}") from None
    return D


# ---------------------------------------------------------------------------------------------
# Images as uint8 (a grown labelled set of 200,000 images must fit in memory) and the pool
# ---------------------------------------------------------------------------------------------

def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> uint8 0..255 (exact for images that were read from 8-bit files)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float in [-1, 1]."""
    return images.float() / 127.5 - 1


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

    def batches(self, index: np.ndarray, batch_size: int = 512) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield ``(pool indices, images (b, 3, S, S) in [-1, 1])`` for ``index``, in order."""
        index = np.asarray(index, dtype=int)
        if not self.on_disk:
            for s in range(0, len(index), batch_size):
                idx = index[s:s + batch_size]
                yield idx, self.images[torch.as_tensor(idx)]
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


# ---------------------------------------------------------------------------------------------
# The rounds loop
# ---------------------------------------------------------------------------------------------

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
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.gen = torch.Generator().manual_seed(cfg.seed)
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
    def train_epochs(self, epochs: int) -> float:
        """Continue training on the whole labelled set for ``epochs``; returns the mean loss."""
        cfg, m = self.cfg, self.model
        m.train()
        losses = []
        bs = min(cfg.batch_size, len(self.y))
        for _ in range(epochs):
            perm = torch.randperm(len(self.y), generator=self.gen)
            for s in range(0, len(perm) - bs + 1, bs):  # drop_last: BatchNorm needs > 1 image
                idx = perm[s:s + bs]
                x = to_float(self.x[idx])
                if cfg.augment:
                    flip = torch.rand(len(idx), generator=self.gen) < 0.5
                    x[flip] = x[flip].flip(3)
                # minimise BCE(sigma(f(x)), y) over the labelled set L_r
                loss = F.binary_cross_entropy_with_logits(m(x.to(self.device)), self.y[idx].to(self.device))
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                losses.append(loss.item())
        return float(np.mean(losses)) if losses else float("nan")

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
        for idx, images in self.pool.batches(left, cfg.score_batch_size):
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
# Statistics and claims
# ---------------------------------------------------------------------------------------------

def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """Exact McNemar test of two classifiers on the same test images: ``b`` = only A right,
    ``c`` = only B right, two-sided binomial p-value of b against Binomial(b + c, 1/2)."""
    from scipy.stats import binomtest

    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b_.shape:
        raise ValueError(f"need paired results, got shapes {a.shape} and {b_.shape}")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"only_a_right": b, "only_b_right": c, "accuracy_a": float(a.mean()), "accuracy_b": float(b_.mean()),
            "p_value": p}


def better(stats: dict, alpha: float = 0.05) -> bool | None:
    """True: A beats B beyond chance; False: B beats A beyond chance; None: within chance."""
    if stats["p_value"] >= alpha:
        return None
    return stats["only_a_right"] > stats["only_b_right"]


def _correct(run: SelfTraining, round_: int) -> np.ndarray:
    return (run.test_p[round_] > 0.5) == (run.test.labels.numpy() == 1)


def selftrain_claims(gan: SelfTraining, scratch: SelfTraining, min_precision: float = 0.98,
                     min_sorted_accuracy: float = 0.95, alpha: float = 0.05) -> list[dict]:
    """The document's claims with verdicts from this run's numbers (``gan``: the loop from the GAN
    discriminator; ``scratch``: the same loop from a randomly initialised one)."""
    claims = []
    rounds = [r for r in gan.rounds if r["round"] > 0]
    has_truth = gan.pool_truth is not None

    # 1. what moves is correctly classified
    moved = sum(r["moved_to_good"] + r["moved_to_bad"] for r in rounds)
    wrong = sum(r["wrong_moved"] or 0 for r in rounds)
    prec = None if not has_truth or moved == 0 else 1 - wrong / moved
    per_round = [r["precision_moved"] for r in rounds if r["precision_moved"] is not None]
    kinds = {}
    if has_truth and gan.pool_kind is not None:
        wrong_good = np.flatnonzero((gan.status == GOOD) & (gan.pool_truth == 0))
        kinds = {str(k): int(v) for k, v in zip(*np.unique(gan.pool_kind[wrong_good], return_counts=True))}
    v = "inconclusive" if prec is None else verdict(all(p >= min_precision for p in per_round), partly=prec >= 0.9)
    claims.append(claim(
        "The images which are moved all seem to be correctly classified", f"{SOURCE}, paragraph 7",
        v, {"moved": moved, "wrong": wrong if has_truth else None, "precision_moved": prec,
            "precision_per_round": per_round, "precision_to_good_per_round": [r["precision_to_good"] for r in rounds],
            "precision_to_bad_per_round": [r["precision_to_bad"] for r in rounds], "required_every_round": min_precision,
            "bad_kinds_moved_to_good": kinds, "ground_truth": has_truth}))

    # 2. the labelled set grows every round
    growth = [r["moved_to_good"] + r["moved_to_bad"] for r in rounds]
    grew = [g > 0 for g in growth]
    claims.append(claim(
        "After each iteration the size of the training dataset grows", f"{SOURCE}, paragraph 7",
        "inconclusive" if not grew else verdict(all(grew), partly=any(grew)),
        {"growth_per_round": growth, "labelled_per_round": [r["labelled"] for r in gan.rounds],
         "rounds": len(rounds), "stop_reason": gan.stop_reason}))

    # 3. a GAN discriminator is a better start than random weights (transfer learning)
    if gan.test is not None:
        loop = mcnemar(_correct(gan, gan.rounds[-1]["round"]), _correct(scratch, scratch.rounds[-1]["round"]))
        once = mcnemar(_correct(gan, 0), _correct(scratch, 0))
        wins = [better(loop, alpha), better(once, alpha)]
        if any(w is False for w in wins):
            v = "does not hold"
        elif all(w is None for w in wins):
            v = "inconclusive"
        else:
            v = verdict(all(wins), partly=True)
        ev = {"selftrain_gan_vs_random_init": loop, "once_gan_vs_scratch": once, "alpha": alpha,
              "auc": {"gan_selftrain": gan.rounds[-1]["test_auc"], "random_init_selftrain": scratch.rounds[-1]["test_auc"],
                      "gan_once": gan.rounds[0]["test_auc"], "scratch_seed_only": scratch.rounds[0]["test_auc"]},
              "good_precision": {"gan_selftrain": gan.summary()["good_precision"],
                                 "random_init_selftrain": scratch.summary()["good_precision"]}}
    else:
        v, ev = "inconclusive", {"held_out_test_set": None}
    claims.append(claim(
        "Starting from a GAN discriminator (transfer learning) beats starting from scratch",
        f"{SOURCE}, paragraphs 5 and 7", v, ev))

    # 4. the whole pool gets sorted
    s = gan.summary()
    ok = s["sorted_fraction"] >= 0.99 and (s["sorted_accuracy"] is None or s["sorted_accuracy"] >= min_sorted_accuracy)
    claims.append(claim(
        "The whole pool can be sorted this way", f"{SOURCE}, paragraph 7",
        verdict(ok, partly=s["sorted_fraction"] >= 0.5),
        {"sorted_fraction": s["sorted_fraction"], "unsure_left": s["unsure"], "sorted_accuracy": s["sorted_accuracy"],
         "required_sorted_accuracy": min_sorted_accuracy, "rounds": len(rounds), "stop_reason": gan.stop_reason}))

    # 5. (implied: "it works a lot better than I thought") self-training beats one fine-tune
    if gan.test is not None:
        st = mcnemar(_correct(gan, gan.rounds[-1]["round"]), _correct(gan, 0))
        b = better(st, alpha)
        claims.append(claim(
            "Self-training improves the classifier over the one fine-tune on the seed set",
            f"{SOURCE}, paragraph 7 (\"works a lot better than I thought\")",
            "inconclusive" if b is None else verdict(b),
            {"selftrain_vs_once": st, "auc_once": gan.rounds[0]["test_auc"], "auc_selftrain": gan.rounds[-1]["test_auc"],
             "alpha": alpha}))
    return claims


# ---------------------------------------------------------------------------------------------
# Output: lists, never moves
# ---------------------------------------------------------------------------------------------

def write_lists(output_dir: str | os.PathLike, run: SelfTraining, seed_ids: Sequence[str] | None = None,
                seed_labels: Sequence[int] | None = None, links: bool = False) -> dict[str, Path]:
    """Write ``good.txt``, ``bad.txt``, ``unsure.txt`` (one id a line; seed images first in good/bad),
    ``unreadable.txt`` if any, and ``scores.csv`` (id, list, round moved, last p(good)).

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
    if len(unreadable):
        lists["unreadable"] = [f"{ids[i]}\t{run.pool.skipped.get(i, '')}" for i in unreadable]
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


# ---------------------------------------------------------------------------------------------
# Figures and the threshold explorer
# ---------------------------------------------------------------------------------------------

def plot_rounds(runs: dict[str, SelfTraining], figsize=(12, 7)):
    """Per round, one line a loop: labelled set sizes, images moved each way, precision of what
    moved, and images left in the pool."""
    fig, axes = plt.subplots(2, 2, figsize=figsize)
    for (name, run), colour in zip(runs.items(), ("C0", "C3", "C2", "C1")):
        r = np.array([x["round"] for x in run.rounds])
        get = lambda k: np.array([np.nan if x[k] is None else x[k] for x in run.rounds], float)
        axes[0, 0].plot(r, get("labelled_good"), "-o", color=colour, label=f"{name}: good")
        axes[0, 0].plot(r, get("labelled_bad"), "--s", color=colour, label=f"{name}: bad")
        axes[0, 1].plot(r[1:], get("moved_to_good")[1:], "-o", color=colour, label=f"{name}: to good")
        axes[0, 1].plot(r[1:], get("moved_to_bad")[1:], "--s", color=colour, label=f"{name}: to bad")
        axes[1, 0].plot(r[1:], get("precision_to_good")[1:], "-o", color=colour, label=f"{name}: to good")
        axes[1, 0].plot(r[1:], get("precision_to_bad")[1:], "--s", color=colour, label=f"{name}: to bad")
        axes[1, 1].plot(r, get("pool_left"), "-o", color=colour, label=name)
    for ax, title in zip(axes.flat, ("labelled set size", "images moved this round", "precision of what moved (ground truth)",
                                     "images left in the pool")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("round")
        ax.legend(fontsize=7)
    axes[1, 0].set_ylim(None, 1.01)
    fig.tight_layout()
    return fig


def plot_methods(methods: dict[str, dict], figsize=(11, 3.4)):
    """Bars per method: held-out accuracy, precision of the final good set, and its recall."""
    keys = [("test_accuracy", "held-out accuracy"), ("good_precision", "precision of the 'good' set"),
            ("good_recall", "recall of truly good pool images")]
    fig, axes = plt.subplots(1, len(keys), figsize=figsize)
    names = list(methods)
    for ax, (k, title) in zip(axes, keys):
        vals = [np.nan if methods[n][k] is None else methods[n][k] for n in names]
        bars = ax.bar(range(len(names)), vals, color=["C0", "C3", "C9", "C1"][:len(names)])
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=8)
        lo = np.nanmin(vals) if np.isfinite(vals).any() else 0
        ax.set_ylim(max(0, lo - 0.1), 1.02)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def threshold_effect(p: np.ndarray, truth: np.ndarray | None, t_bad: float, t_good: float) -> dict:
    """What one scoring pass would move at thresholds (t_bad, t_good), and its precision against ``truth``."""
    p = np.asarray(p, float)
    good, bad = np.flatnonzero(p > t_good), np.flatnonzero(p < t_bad)
    t = None if truth is None else np.asarray(truth, int)
    return {"to_good": len(good), "to_bad": len(bad), "left": len(p) - len(good) - len(bad),
            "precision_to_good": _precision(t, good, 1), "precision_to_bad": _precision(t, bad, 0)}


def show_threshold_effect(p: np.ndarray, truth: np.ndarray | None, t_bad: float = 0.03, t_good: float = 0.99, ax=None):
    """Histogram of the pool's p(good) on a log-odds axis, truly good and bad apart where known,
    with the two thresholds and what would move. Returns :func:`threshold_effect`'s dict."""
    eff = threshold_effect(p, truth, t_bad, t_good)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    logit = lambda q: np.log(np.clip(q, 1e-6, 1 - 1e-6) / (1 - np.clip(q, 1e-6, 1 - 1e-6)))
    z = logit(np.asarray(p, float))
    bins = np.linspace(min(z.min(), logit(t_bad)) - 0.5, max(z.max(), logit(t_good)) + 0.5, 60)
    if truth is None:
        ax.hist(z, bins, color="grey", alpha=0.7, label="pool")
    else:
        tr = np.asarray(truth, int)
        ax.hist(z[tr == 1], bins, color="C2", alpha=0.6, label="truly good")
        ax.hist(z[tr == 0], bins, color="C3", alpha=0.6, label="truly bad")
    for t, c in ((t_bad, "C3"), (t_good, "C2")):
        ax.axvline(logit(t), color=c, ls="--")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    ax.set_title(f"t_bad={t_bad}, t_good={t_good}: {eff['to_bad']} to bad (precision {fmt(eff['precision_to_bad'])}), "
                 f"{eff['to_good']} to good (precision {fmt(eff['precision_to_good'])}), {eff['left']} left", fontsize=9)
    ticks = [0.001, 0.01, 0.03, 0.1, 0.5, 0.9, 0.99, 0.999]
    ax.set_xticks(logit(np.array(ticks)), [str(t) for t in ticks])
    ax.set_xlabel("p(good) (log-odds scale)")
    ax.set_ylabel("pool images")
    ax.legend(fontsize=8)
    return eff


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


T_BAD_OPTIONS = (0.001, 0.005, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)
T_GOOD_OPTIONS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)


def threshold_explorer(p: np.ndarray, truth: np.ndarray | None, t_bad: float = 0.03, t_good: float = 0.99):
    """Two sliders over :func:`show_threshold_effect`. Renders its default view headless."""
    import ipywidgets as W

    def show(t_bad, t_good):
        show_threshold_effect(p, truth, t_bad, t_good)
        plt.show()

    return W.interact(show,
                      t_bad=W.SelectionSlider(options=T_BAD_OPTIONS, value=t_bad, description="t_bad", continuous_update=False),
                      t_good=W.SelectionSlider(options=T_GOOD_OPTIONS, value=t_good, description="t_good",
                                               continuous_update=False))
