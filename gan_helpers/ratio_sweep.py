"""Notebook 01's experiment: the generator:discriminator step-ratio sweep of Weaver's
"Robot vs. Robot" (``../shared/seeds/003_*.txt``), measured.

The document trained DCGAN-tensorflow on 192 mouse faces with ``g_advantage`` 2 (the library's
default), 4 and 50, plotted the log of G loss / D loss per epoch (its Figure 1) and judged sample
grids after 100 and 400 iterations by eye (Figures 2-7). Here each ratio (plus the 1:1 baseline)
is trained from the same seed and data, and beyond the document:

* FID/KID in a domain feature space against a large held-out draw of the same synthetic
  distribution, with a real-vs-real floor and a bootstrap noise estimate;
* precision/recall and density/coverage, a diversity ratio and a near-duplicate rate
  (mode collapse made countable);
* coat colour of every sample, read from the centre of the face: coverage of white/grey/brown,
  and the share of samples *between* grey and white, which the document says a GAN won't make;
* wall-clock per ratio, and quality at equal compute (the same number of network updates).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import COAT_COLOURS, ImageSet, central_patch_colour
from .features import DomainClassifier, extract_features, train_domain_classifier
from .metrics import (density_coverage, diversity_ratio, frechet_distance, kernel_inception_distance,
                      near_duplicate_rate, precision_recall)
from .results import claim, verdict
from .train import GANTrainer, TrainConfig

SOURCE = "Weaver, Robot vs. Robot"


def mouse_attribute_labels(s: ImageSet) -> dict[str, torch.Tensor]:
    """Labels the feature network learns on the built-in mice: coat, background kind, and
    binned rotation and scale (so the features see shape and pose, not only colour)."""
    kinds = {k: i for i, k in enumerate(sorted(set(s.attributes["background"])))}
    return {
        "coat": s.labels,
        "background": torch.as_tensor([kinds[b] for b in s.attributes["background"]]),
        "angle": torch.as_tensor(np.digitize(s.attributes["angle"], [-10, 0, 10])),
        "scale": torch.as_tensor(np.digitize(s.attributes["scale"], [0.95, 1.05])),
    }


def coat_position(rgb: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Where each RGB colour lies on the segment from grey (t=0) to white (t=1), and its
    distance from that segment's line, in RGB units."""
    rgb = np.asarray(rgb, dtype=float)
    grey, white = np.array(COAT_COLOURS["grey"], float), np.array(COAT_COLOURS["white"], float)
    axis = white - grey
    t = (rgb - grey) @ axis / (axis @ axis)
    dist = np.linalg.norm(rgb - grey - t[:, None] * axis, axis=1)
    return t, dist


def coat_analysis(images: torch.Tensor, between: tuple[float, float] = (0.25, 0.75), max_dist: float = 40.0) -> dict:
    """Coat colour of each (real or generated) mouse from the centre of its face.

    ``share_between_grey_white``: share whose colour lies in the middle of the grey-white
    segment (``between``) and within ``max_dist`` of it; ``coat_histogram``: share nearest to
    each coat colour (white, grey, brown).
    """
    rgb = central_patch_colour(images).numpy()
    t, dist = coat_position(rgb)
    means = np.array(list(COAT_COLOURS.values()), float)
    nearest = np.argmin(((rgb[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    hist = np.bincount(nearest, minlength=len(means)) / len(rgb)
    return {"share_between_grey_white": float(((t > between[0]) & (t < between[1]) & (dist < max_dist)).mean()),
            "coat_histogram": dict(zip(COAT_COLOURS, hist.round(4).tolist())),
            "coats_covered": int((hist >= 0.05).sum())}


@dataclass
class QualityEvaluator:
    """Scores generated images against a reference draw of real images in a domain feature space."""

    classifier: torch.nn.Module           # anything with .features(images): DomainClassifier, InceptionFeatures
    reference: ImageSet                   # held-out real images (never trained on by the GAN)
    n_samples: int = 576                  # generated images per evaluation
    coat_metrics: bool = True             # coat-colour analysis (built-in mice only)
    ref_features: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.ref_features = extract_features(self.classifier, self.reference.images)

    @classmethod
    def fit(cls, reference: ImageSet, labels: dict[str, torch.Tensor], n_samples: int = 576, epochs: int = 8,
            seed: int = 0) -> "QualityEvaluator":
        clf = train_domain_classifier(reference.images, labels, epochs=epochs, seed=seed)
        return cls(clf, reference, n_samples)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return extract_features(self.classifier, images)

    def quick(self, images: torch.Tensor) -> dict[str, float]:
        """FID and KID only: cheap enough to run during training."""
        f = self.features(images)
        kid, kid_std = kernel_inception_distance(self.ref_features, f, subsets=20, subset_size=min(len(f), 500))
        return {"fid": frechet_distance(self.ref_features, f), "kid": kid, "kid_std": kid_std}

    def __call__(self, trainer: GANTrainer) -> dict[str, float]:
        return self.quick(trainer.sample(self.n_samples))

    def full(self, images: torch.Tensor, n_boot: int = 10, seed: int = 0) -> dict:
        """Every metric, plus ``fid_noise``: the std of FID over bootstrap resamples of ``images``."""
        f = self.features(images)
        out = self.quick(images)
        rng = np.random.default_rng(seed)
        out["fid_noise"] = float(np.std([frechet_distance(self.ref_features, f[rng.integers(0, len(f), len(f))])
                                         for _ in range(n_boot)]))
        out.update(precision_recall(self.ref_features, f))
        out.update(density_coverage(self.ref_features, f))
        out["diversity_ratio"] = diversity_ratio(self.ref_features, f)
        out["near_duplicate_rate"] = near_duplicate_rate(self.ref_features, f)
        if self.coat_metrics:
            out.update(coat_analysis(images))
        return out


def run_sweep(images: torch.Tensor, ratios: list[int], iterations: int, base: TrainConfig,
              evaluator: QualityEvaluator | None = None, eval_every: int = 10,
              baseline_iterations: int | None = None, progress: bool = True,
              ) -> tuple[dict[int, GANTrainer], GANTrainer | None]:
    """Train one DCGAN per ratio (``g_steps_per_d_step``) from the same seed and data, each for
    ``iterations``. Returns ``(runs, baseline)``.

    ``baseline``: if 1 is in ``ratios`` and ``baseline_iterations > iterations``, a copy of the 1:1
    run continued to ``baseline_iterations`` (resumed from its state, so identical to a longer
    straight run), to compare ratios at an equal number of network updates.
    """
    runs, baseline = {}, None
    for r in ratios:
        cfg = dataclasses.replace(base, g_steps_per_d_step=int(r), d_steps_per_g_step=1,
                                  sample_at=tuple(sorted(set(base.sample_at) | set(range(eval_every, iterations + 1, eval_every)))))
        trainer = GANTrainer(images, cfg)
        trainer.fit(iterations, progress=progress, eval_every=eval_every, eval_fn=evaluator)
        runs[int(r)] = trainer
        if r == 1 and baseline_iterations and baseline_iterations > iterations:
            baseline = GANTrainer(images, cfg)
            baseline.load_state_dict(trainer.state_dict())
            baseline.fit(baseline_iterations, progress=progress, eval_every=eval_every, eval_fn=evaluator)
    return runs, baseline


def fid_at(trainer: GANTrainer, iteration: int | None = None, updates: int | None = None) -> float:
    """The FID recorded at ``iteration``, or at the evaluation whose update count is nearest ``updates``."""
    ev = trainer.evals
    if iteration is not None:
        return next(e["fid"] for e in ev if e["iteration"] == iteration)
    return min(ev, key=lambda e: abs(e["d_steps"] + e["g_steps"] - updates))["fid"]


def late_abs_log_ratio(log_ratio: np.ndarray) -> float:
    """Mean |log10(G loss / D loss)| over the second half of the epochs: distance from parity."""
    v = np.abs(np.asarray(log_ratio, float))
    return float(v[len(v) // 2:].mean())


def sweep_claims(log_ratio: dict[int, np.ndarray], quality: dict[int, dict], equal_compute: dict[int, dict],
                 collapse: dict, noise_factor: float = 2.0) -> list[dict]:
    """The document's claims with verdicts from this run's numbers.

    ``quality[r]`` holds :meth:`QualityEvaluator.full` of ratio r's final samples (``fid``,
    ``fid_noise``, ``kid``, ``kid_std``, ...); ``equal_compute[r]`` holds ``{"ratio_fid",
    "baseline_fid", "updates"}``; ``collapse`` holds the thresholds ``diversity_below``,
    ``near_duplicates_above``; ``real_between`` is the real share of in-between coats. A difference in FID counts only if it
    exceeds ``noise_factor`` times the larger bootstrap noise of the two.
    """
    ratios = sorted(log_ratio)
    claims = []

    # 1. the log ratio nears 0 as the generator's advantage grows
    dist = {r: late_abs_log_ratio(log_ratio[r]) for r in ratios}
    order = [dist[r] for r in ratios]
    monotone = all(a > b for a, b in zip(order, order[1:]))
    best_is_largest = min(dist, key=dist.get) == max(ratios)
    claims.append(claim(
        "The log of the G:D loss ratio nears 0 as the generator's advantage grows; 50:1 is closest to parity",
        f"{SOURCE}, Figure 1 and Results", verdict(monotone, partly=best_is_largest),
        {"mean_abs_log10_ratio_late_epochs": dist, "monotone_in_ratio": monotone, "largest_ratio_closest": best_is_largest}))

    def better(a: int, b: int) -> bool | None:
        """True if ratio a has a lower FID than b beyond noise, False if higher beyond noise, None if within."""
        qa, qb = quality[a], quality[b]
        margin = noise_factor * max(qa["fid_noise"], qb["fid_noise"])
        if qb["fid"] - qa["fid"] > margin:
            return True
        if qa["fid"] - qb["fid"] > margin:
            return False
        return None

    # 2. 4:1 gives better images than 2:1
    if 2 in quality and 4 in quality:
        b = better(4, 2)
        claims.append(claim(
            "4:1 gives better images than the default 2:1 (same iterations)", f"{SOURCE}, Figures 2-5",
            verdict(b), {"fid_2": quality[2]["fid"], "fid_4": quality[4]["fid"], "kid_2": quality[2]["kid"],
                         "kid_4": quality[4]["kid"], "fid_noise": max(quality[2]["fid_noise"], quality[4]["fid_noise"])}))

    # 3. non-linear gain: 50:1 only marginally better than 4:1
    if {2, 4, 50} <= set(quality):
        g24 = quality[2]["fid"] - quality[4]["fid"]
        g450 = quality[4]["fid"] - quality[50]["fid"]
        b = better(50, 4)
        if b is None:
            v = "holds" if g24 > 0 else "inconclusive"  # marginal (within noise) after a real 2->4 gain
        elif b:
            v = verdict(g450 < g24)  # better, but by less than the far cheaper 2->4 step
        else:
            v = "does not hold"  # 50:1 is worse than 4:1
        claims.append(claim(
            "The gain is non-linear: 50:1 is only marginally better than 4:1", f"{SOURCE}, Discussion",
            v, {"fid_gain_2_to_4": g24, "fid_gain_4_to_50": g450, "fid_noise_50": quality[50]["fid_noise"],
                "g_steps_ratio_50_vs_4": 50 / 4}))

    # 4. mode collapse at every ratio
    collapsed = {r: bool(q["diversity_ratio"] < collapse["diversity_below"]
                         or q["near_duplicate_rate"] > collapse["near_duplicates_above"]
                         or q.get("coats_covered", 3) < 3) for r, q in quality.items()}
    n = sum(collapsed.values())
    claims.append(claim(
        "Mode collapse is seen at every ratio", f"{SOURCE}, Results and Discussion",
        verdict(n == len(collapsed), partly=n > 0),
        {"collapsed": collapsed, "diversity_ratio": {r: q["diversity_ratio"] for r, q in quality.items()},
         "near_duplicate_rate": {r: q["near_duplicate_rate"] for r, q in quality.items()},
         "coats_covered": {r: q.get("coats_covered") for r, q in quality.items()}, "thresholds": collapse}))

    # 5. no mouse between grey and white (built-in mice only: needs the coat analysis)
    if any("share_between_grey_white" not in q for q in quality.values()):
        claims += _equal_compute_claim(equal_compute)
        return claims
    real_between = collapse.get("real_between", 0.0)
    between = {r: q["share_between_grey_white"] for r, q in quality.items()}
    worst = max(between.values())
    claims.append(claim(
        "A GAN won't make a mouse whose coat is between grey and white", f"{SOURCE}, Caveats",
        verdict(worst <= max(0.02, 2 * real_between), partly=min(between.values()) <= max(0.02, 2 * real_between)),
        {"share_between_grey_white": between, "real_share_between": real_between}))

    return claims + _equal_compute_claim(equal_compute)


def _equal_compute_claim(equal_compute: dict[int, dict]) -> list[dict]:
    """(Beyond the document) does the advantage pay at an equal number of network updates?"""
    if not equal_compute:
        return []
    wins = {r: e["ratio_fid"] < e["baseline_fid"] for r, e in equal_compute.items()}
    return [claim("A generator advantage beats 1:1 at equal compute (same number of network updates)",
                  "beyond the document", verdict(all(wins.values()), partly=any(wins.values())),
                  {str(r): e for r, e in equal_compute.items()})]


def equal_compute_table(runs: dict[int, GANTrainer], iterations: int, baseline: GANTrainer | None) -> dict[int, dict]:
    """For each ratio r > 1: its FID after ``iterations`` beside the 1:1 run's FID at the same number
    of network updates (``iterations * (1 + r)``), where the (continued) 1:1 run went that far."""
    base = baseline if baseline is not None else runs.get(1)
    if base is None:
        return {}
    reach = max(e["d_steps"] + e["g_steps"] for e in base.evals)
    out = {}
    for r, t in runs.items():
        updates = iterations * (1 + r)
        if r == 1 or updates > reach:
            continue
        out[r] = {"updates": updates, "ratio_fid": fid_at(t, iteration=iterations),
                  "baseline_fid": fid_at(base, updates=updates),
                  "baseline_iteration": min(base.evals, key=lambda e: abs(e["d_steps"] + e["g_steps"] - updates))["iteration"]}
    return out


def plot_coat_axis(images: dict[str, torch.Tensor], ax=None, between: tuple[float, float] = (0.25, 0.75)):
    """Where each mouse's coat lies between grey (0) and white (1): one histogram per set.
    Brown mice sit far from this axis and are left out (distance > 40 RGB units)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(-0.5, 1.5, 41)
    for name, ims in images.items():
        t, dist = coat_position(central_patch_colour(ims).numpy())
        ax.hist(t[dist < 40], bins=bins, histtype="step", lw=1.6, density=True, label=name)
    ax.axvspan(*between, color="orange", alpha=0.15, label="between grey and white")
    ax.set_xlabel("coat position: 0 = grey, 1 = white")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax
