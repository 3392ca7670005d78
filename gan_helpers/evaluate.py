r"""One evaluator for every notebook, and one rule for comparing runs over seeds.

:class:`Evaluator` scores generated images against real reference images in the feature space of
a network (a :class:`~gan_helpers.features.DomainClassifier` trained on the reference set by
default; Inception-v3 for folders of your own images):

* FID and KID (:mod:`gan_helpers.metrics`), with ``fid_noise``: the standard deviation of FID over
  bootstrap resamples of the generated images, i.e. the sampling noise of the metric itself;
* improved precision/recall and density/coverage, the diversity ratio and the near-duplicate rate
  (mode collapse made countable);
* where the network has a class head: the Inception Score in its label space, the class
  histogram of the samples (classes covered, KL to the real histogram, with its bootstrap noise),
  the share of confident readings, and for a conditional generator the class accuracy of
  G(z, y) (how often the classifier reads y).

**The comparison rule** (:func:`compare_over_seeds`, :func:`better_verdict`). A claim "A is better
than B" is judged on every seed separately: in seed s, A wins if it beats B by more than
``factor`` times the larger of the two bootstrap noises, loses if B beats it by that much, and
ties otherwise. Over the seeds:

* **holds**: A wins in every seed;
* **partly**: A wins in some seeds and ties in the rest (never loses);
* **does not hold**: A never wins and loses in at least one seed;
* **inconclusive**: every seed ties, or the seeds disagree (A wins in one and loses in another).

So a verdict never rests on one seed, and a claim cannot hold where the seeds disagree. The
bootstrap noise only covers the metric's sampling noise; the spread between seeds, which is the
spread of training itself, is what the per-seed rule adds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .metrics import (class_coverage, classifier_probs, density_coverage, diversity_ratio, frechet_distance,
                      inception_score, kernel_inception_distance, near_duplicate_rate, precision_recall)


def extract_features(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``model.features`` over ``images`` in batches, in eval mode: (N, D) float32 on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = [model.features(images[i:i + batch_size].to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(out)


@dataclass
class Evaluator:
    """Scores images against ``reference`` (N, 3, S, S) in ``network``'s feature space.

    ``network`` needs ``features(x)``; with a class head (``network(x)`` returns logits, or a dict
    of logits whose first entry is the class head) the class metrics are computed too.
    ``reference_labels`` give the real class histogram. ``n_samples``: generated images per
    evaluation during training (:meth:`__call__`). ``split_size``: images per Inception-Score
    split, so that sets of any size compare fairly.
    """

    network: torch.nn.Module
    reference: torch.Tensor
    reference_labels: torch.Tensor | None = None
    n_samples: int = 1000
    split_size: int = 100
    min_share: float = 0.02       # a class counts as covered above this share of the samples
    confident: float = 0.9        # a reading counts as confident above this probability
    train_kid: bool = True        # during training (``__call__``), KID beside FID; False: FID only (cheaper)
    ref_features: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self):
        self.ref_features = extract_features(self.network, self.reference)
        self.has_classes = self.reference_labels is not None
        if self.has_classes:
            self.n_classes = int(self.reference_labels.max()) + 1

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return extract_features(self.network, images)

    def quick(self, images: torch.Tensor, features: torch.Tensor | None = None) -> dict[str, float]:
        """FID and KID only: cheap enough to run during training (``features``: the images' own, if computed)."""
        f = self.features(images) if features is None else features
        kid, kid_std = kernel_inception_distance(self.ref_features, f, subsets=20, subset_size=min(len(f), 500))
        return {"fid": frechet_distance(self.ref_features, f), "kid": kid, "kid_std": kid_std}

    def __call__(self, trainer) -> dict[str, float]:
        images = trainer.sample(self.n_samples)
        if self.train_kid:
            return self.quick(images)
        return {"fid": frechet_distance(self.ref_features, self.features(images))}

    def splits(self, n: int) -> int:
        """Number of Inception-Score splits for n images: about ``split_size`` each (the reference: 10 of 5,000)."""
        return max(1, n // self.split_size)

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        return classifier_probs(self.network, images)

    def full(self, images: torch.Tensor, asked: torch.Tensor | None = None, n_boot: int = 10, seed: int = 0,
             neighbours: bool = True) -> dict:
        """Every metric of ``images``; ``asked``: the class each image was generated for (conditional G)."""
        f = self.features(images)
        out = self.quick(images, f)  # the features once: with Inception-v3 they are most of the cost
        rng = np.random.default_rng(seed)
        boot = [rng.integers(0, len(f), len(f)) for _ in range(n_boot)]
        out["fid_noise"] = float(np.std([frechet_distance(self.ref_features, f[i]) for i in boot]))
        if neighbours:
            out.update(precision_recall(self.ref_features, f))
            out.update(density_coverage(self.ref_features, f))
            out["diversity_ratio"] = diversity_ratio(self.ref_features, f)
            out["near_duplicate_rate"] = near_duplicate_rate(self.ref_features, f)
        if self.has_classes:
            p = self.probs(images)
            pred = p.argmax(1).numpy()
            real = self.reference_labels.numpy()
            cov = class_coverage(pred, real, self.n_classes, self.min_share)
            out["inception_score"] = inception_score(p, self.splits(len(p)))
            out.update(classes_covered=cov["classes_covered"], kl_to_real=cov["kl_to_real"],
                       class_histogram=cov["histogram"],
                       kl_noise=float(np.std([class_coverage(pred[i], real, self.n_classes)["kl_to_real"] for i in boot])),
                       confident_share=float((p.max(1).values > self.confident).double().mean()))
            if asked is not None:
                out["class_accuracy"] = float((pred == np.asarray(asked)).mean())
        return out


# ---------------------------------------------------------------------------------------------
# Comparing runs over seeds
# ---------------------------------------------------------------------------------------------

def compare_over_seeds(a: Sequence[float], b: Sequence[float], noise_a: Sequence[float] | None = None,
                       noise_b: Sequence[float] | None = None, factor: float = 2.0,
                       lower_is_better: bool = True, margin: float = 0.0) -> list[int]:
    """Per seed: +1 if A beats B by more than ``factor`` x the larger noise (plus ``margin``), -1 if B
    beats A by that much, 0 within it. ``a``, ``b``: the metric per seed (same seed order)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need one value per seed on both sides, got {a.shape} and {b.shape}")
    na = np.zeros_like(a) if noise_a is None else np.asarray(noise_a, float)
    nb = np.zeros_like(b) if noise_b is None else np.asarray(noise_b, float)
    gain = (b - a) if lower_is_better else (a - b)
    m = factor * np.maximum(na, nb) + margin
    return [int(g > t) - int(g < -t) for g, t in zip(gain, m)]


def better_verdict(outcomes: Sequence[int]) -> str:
    """The verdict of "A is better than B" from :func:`compare_over_seeds` (the module's rule)."""
    o = list(outcomes)
    wins, losses = o.count(1), o.count(-1)
    if wins and losses:
        return "inconclusive"  # the seeds disagree: it cannot hold
    if wins == len(o):
        return "holds"
    if wins:
        return "partly"
    return "does not hold" if losses else "inconclusive"


def all_seeds_verdict(per_seed: Sequence[bool]) -> str:
    """For a yes/no property measured in each seed: holds in all, partly in some, does not hold in none."""
    n = sum(bool(v) for v in per_seed)
    return "holds" if n == len(per_seed) else "partly" if n else "does not hold"


def combine_verdicts(per_seed: Sequence[str]) -> str:
    """One verdict from a claim judged separately in each seed: the same in every seed -> that verdict;
    "holds" in one seed and "does not hold" in another -> inconclusive (the seeds disagree); no seed
    supporting it -> does not hold; otherwise (support in some seeds, not all) -> partly. Seeds where the
    claim was inconclusive count as not supporting it."""
    v = list(per_seed)
    s = set(v)
    if len(s) == 1:
        return v[0]
    if {"holds", "does not hold"} <= s:
        return "inconclusive"
    if s <= {"does not hold", "inconclusive"}:
        return "does not hold"
    return "partly"


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation (ddof=1 where there are 2+ seeds), min and max over seeds."""
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


# ---------------------------------------------------------------------------------------------
# Controls: each metric that decides a verdict, on cases whose answer is known
# ---------------------------------------------------------------------------------------------

def pixel_noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """``images`` with Gaussian pixel noise of standard deviation ``std`` (in [-1, 1] units), clamped."""
    g = torch.Generator().manual_seed(seed)
    return (images + std * torch.randn(images.shape, generator=g)).clamp(-1, 1)


def collapsed_copies(images: torch.Tensor, n_modes: int, n: int | None = None, jitter: float = 0.02,
                     seed: int = 0) -> torch.Tensor:
    """A generator that collapsed onto ``n_modes`` images: the first ``n_modes`` of ``images`` repeated to ``n``
    samples (default: as many as ``images``), each copy with faint pixel noise so no two are identical."""
    n = len(images) if n is None else n
    idx = torch.arange(n) % n_modes
    return pixel_noise(images[:n_modes][idx], jitter, seed)


def fid_control(evaluator: Evaluator, real_draw: torch.Tensor, factor: float = 2.0,
                noise_std: Sequence[float] = (0.1, 0.2, 0.4)):
    """FID on known answers: a second real draw (negative: nothing lost) against the same images with pixel noise
    of growing strength (positive: a known, growing loss). Passes when FID rises with every step of noise and the
    weakest noise is already above the real draw's FID by more than ``factor`` x the larger bootstrap noise."""
    from .claims import Control

    neg = evaluator.full(real_draw, neighbours=False)
    pos = [evaluator.full(pixel_noise(real_draw, s), neighbours=False) for s in noise_std]
    fids = [p["fid"] for p in pos]
    rising = all(a < b for a, b in zip(fids, fids[1:]))
    passed = rising and fids[0] - neg["fid"] > factor * max(neg["fid_noise"], pos[0]["fid_noise"])
    return Control("fid", "FID against the reference", f"real images with pixel noise sd {list(noise_std)}",
                   "a second real draw", [round(f, 3) for f in fids], neg["fid"], bool(passed),
                   f"noisier is worse at every step, and sd {noise_std[0]} beyond {factor:g}x noise of the real draw")


def collapse_control(evaluator: Evaluator, real_draw: torch.Tensor, threshold: float, n_modes: int = 8):
    """The near-duplicate rate on known answers: a generator collapsed onto ``n_modes`` images (positive) and a
    real draw (negative). Passes when the collapsed set is above ``threshold`` and the real draw is not."""
    from .claims import Control
    from .metrics import near_duplicate_rate

    f_real = evaluator.ref_features
    pos = near_duplicate_rate(f_real, evaluator.features(collapsed_copies(real_draw, n_modes)))
    neg = near_duplicate_rate(f_real, evaluator.features(real_draw))
    return Control("near_duplicate_rate", "share of samples with a near-identical twin",
                   f"{n_modes} real images repeated (faint noise)", "a real draw", pos, neg,
                   bool(pos > threshold >= neg), f"collapsed > {threshold:g} >= real")


@torch.no_grad()
def untrained_samples(G, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of a generator as initialised (the learned-check's anchor), from noise of ``seed``, in
    batch-statistics mode as the trainer samples. ``G``: a module (its running statistics are left as they were)
    or a function that builds one, called with the global RNG seeded by ``seed`` (and restored afterwards), so
    the same seed gives the same untrained generator."""
    if not isinstance(G, torch.nn.Module):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            G = G()
    running = {k: v.clone() for k, v in G.state_dict().items() if "running" in k or "num_batches" in k}
    z = torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed))
    k = int(getattr(G, "n_classes", 0))
    y = torch.arange(n) % k if k else None  # a conditional G draws the classes in turn, as the trainer samples
    out = torch.cat([G(z[i:i + 256], None if y is None else y[i:i + 256]).float() for i in range(0, n, 256)])
    G.load_state_dict(running, strict=False)
    return out


def reader_coverage(reader, images: torch.Tensor, evaluator: Evaluator, n_boot: int = 10, seed: int = 0,
                    name: str = "svm") -> dict:
    """The class histogram of ``images`` as a second classifier reads it (``reader.predict``): classes covered,
    KL to the real histogram and its bootstrap noise, under keys ``<metric>_<name>``, beside the evaluator's own
    (CNN) reading."""
    pred = np.asarray(reader.predict(images))
    real = evaluator.reference_labels.numpy()
    cov = class_coverage(pred, real, evaluator.n_classes, evaluator.min_share)
    rng = np.random.default_rng(seed)
    boot = [class_coverage(pred[rng.integers(0, len(pred), len(pred))], real, evaluator.n_classes)["kl_to_real"]
            for _ in range(n_boot)]
    return {f"classes_covered_{name}": cov["classes_covered"], f"kl_to_real_{name}": cov["kl_to_real"],
            f"kl_noise_{name}": float(np.std(boot))}
