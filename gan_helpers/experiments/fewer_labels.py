r"""Notebook 04, steps 4-5: the class-conditional GAN variants with few labels, over seeds, and the claims.

Lučić, Ritter et al., "High-Fidelity Image Generation With Fewer Labels" (ICML 2019,
https://arxiv.org/abs/1903.02271; the Google AI Blog post
https://ai.googleblog.com/2019/03/reducing-need-for-labeled-data-in.html; google/compare_gan
https://github.com/google/compare_gan/blob/master/compare_gan/gans/s3gan.py). Every variant is the same pair of
networks (:class:`~gan_helpers.models.SharedEmbedGenerator`, BigGAN's shared class embedding and hierarchical z
into a conditional batch norm at every layer; :class:`~gan_helpers.models.ProjectionDiscriminator`,
spectral norm, :math:`D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x)\rangle`) trained in the one GAN
loop under :class:`~gan_helpers.objectives.S3GANLoss`; what differs is the labels it sees and its heads:

=====================  ===============================================  ==========================================
variant                labels                                           extra
=====================  ===============================================  ==========================================
``unconditional``      none                                             none
``conditional``        every true label (the reference)                 none
``s2gan``              the labelled fraction + the probe's inferred     none
``s3gan``              the labelled fraction; D's class head the rest   class loss (1.0), rotation loss (1.0 D, 0.2 G)
``s3gan_no_rotation``  as s3gan                                         class loss only (the ablation)
=====================  ===============================================  ==========================================

An :class:`Arm` is one variant at one label fraction; :func:`train_arm` trains and measures it under
one seed (a task of :func:`gan_helpers.runtime.run_tasks`), and :func:`fewer_labels_claims` turns
every seed's numbers into verdicts with the rule of :mod:`gan_helpers.evaluate`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..evaluate import Evaluator, all_seeds_verdict, better_verdict, compare_over_seeds, spread
from ..images import to_uint8
from ..models import ProjectionDiscriminator, SharedEmbedGenerator
from ..objectives import S3GANLoss
from ..results import claim
from ..runtime import run_tasks
from ..train import GANTrainer, TrainConfig

VARIANTS = ("unconditional", "conditional", "s2gan", "s3gan", "s3gan_no_rotation")
SEMI_SUPERVISED = ("s2gan", "s3gan", "s3gan_no_rotation")  # the variants that see only the labelled fraction
SOURCE = "Lučić, Ritter et al., High-Fidelity Image Generation With Fewer Labels (Google AI blog)"


@dataclass(frozen=True)
class Arm:
    """One training: ``variant`` with ``fraction`` of the labels (1.0 where the variant uses all or none).
    ``axis``: an extra point of the label-fraction curve (its samples are measured, not saved)."""

    variant: str
    fraction: float = 1.0
    axis: bool = False

    @property
    def name(self) -> str:
        return f"{self.variant} @ {self.fraction:.0%}" if self.axis else self.variant


def make_arms(variants, label_fraction: float, fraction_axis=(), axis_variants=("s2gan", "s3gan")) -> list[Arm]:
    """Every variant at ``label_fraction`` (the comparison), then ``axis_variants`` at each other fraction
    of ``fraction_axis`` (the label-fraction curve)."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    arms = [Arm(v, label_fraction if v in SEMI_SUPERVISED else 1.0) for v in variants]
    arms += [Arm(v, float(f), axis=True) for f in fraction_axis if f != label_fraction
             for v in axis_variants if v in variants]
    return arms


def parameter_checks(n_classes: int = 10) -> dict:
    """Notebook 04's own parameter checks for :func:`gan_helpers.notebook.setup` (one error naming every bad
    value, before any work): known variants, label fractions in (0, 1] that leave ``min_labelled_per_class``
    labelled images in each of ``n_classes`` balanced classes (the GANs' fractions; at least one for the
    probe's), and a batch size the rotation loss can split. A folder's classes are checked once it is read."""
    from .selfsup import check_label_fractions

    def fractions(single: bool, least: str | None):
        def check(v, p):
            if single and (isinstance(v, bool) or not isinstance(v, (int, float))):
                return "a number in (0, 1]"
            if not single and (not isinstance(v, (list, tuple)) or not v or len(set(v)) != len(v)):
                return "a non-empty list of distinct label fractions"
            return check_label_fractions([v] if single else v, p.get("n_train", 0), n_classes,
                                         p.get(least, 1) if least else 1)
        return check

    return {"variants": lambda v, p: None if isinstance(v, (list, tuple)) and v and set(v) <= set(VARIANTS)
            and len(set(v)) == len(v) else f"a non-empty list of distinct names from {list(VARIANTS)}",
            "label_fraction": fractions(True, "min_labelled_per_class"),
            "label_fractions": fractions(False, "min_labelled_per_class"),
            "probe_fractions": fractions(False, None),
            "min_labelled_per_class": lambda v, p: None if isinstance(v, int) and not isinstance(v, bool) and v >= 1
            else "an integer >= 1",
            "batch_size": lambda v, p: None if isinstance(v, int) and v >= 8 and v % 8 == 0
            else "a multiple of 8 (the rotation loss turns a quarter of half the batch)"}


def variant_labels(variant: str, true_labels: torch.Tensor, labelled: np.ndarray,
                   inferred: torch.Tensor | None = None) -> torch.Tensor:
    """The labels a variant may see: all true ones (``conditional``), the labelled fraction plus the
    inferred rest (``s2gan``), the labelled fraction and -1 elsewhere (S3GAN variants), or all -1
    (``unconditional``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "conditional":
        return true_labels.clone()
    out = torch.full_like(true_labels, -1)
    if variant == "unconditional":
        return out
    if variant == "s2gan":
        if inferred is None:
            raise ValueError("s2gan needs the inferred labels (gan_helpers.experiments.selfsup.infer_labels)")
        out = inferred.clone().long()
    lab = torch.as_tensor(labelled, dtype=torch.long)
    out[lab] = true_labels[lab]
    return out


def build(variant: str, n_classes: int, image_size: int, nz: int, ngf: int, ndf: int, loss: str = "hinge",
          embed_dim: int = 32, cond_init_std: float = 0.02):
    """``(G, D, objective)`` of a variant. G reads the class through a shared embedding of ``embed_dim`` that,
    with its chunk of z, sets every batch norm's scale and shift (BigGAN); the unconditional G reads its z chunks
    only. D is the projection discriminator with the variant's heads."""
    k = 0 if variant == "unconditional" else n_classes
    s3 = variant.startswith("s3gan")
    rotation = variant == "s3gan"
    G = SharedEmbedGenerator(nz, ngf, k, image_size, embed_dim, cond_init_std=cond_init_std)
    D = ProjectionDiscriminator(ndf, k, image_size, rotation_head=rotation, class_head=s3)
    return G, D, S3GANLoss(loss=loss, predictor=s3, rotation=rotation)


def measure(evaluator: Evaluator, images: torch.Tensor, asked: torch.Tensor | None, full: bool = True) -> dict:
    """FID, KID (and with ``full`` every other metric) of ``images``; ``class_accuracy`` where ``asked``."""
    if full:
        return evaluator.full(images, asked=asked, neighbours=False)
    out = evaluator.quick(images)
    if asked is not None:
        out["class_accuracy"] = float((evaluator.probs(images).argmax(1) == asked).double().mean())
    return out


def train_arm(arm: Arm, seed: int, images: torch.Tensor, true_labels: torch.Tensor, split: dict,
              evaluator: Evaluator, model: dict, train: dict, iterations: int, eval_every: int,
              keep_samples: bool = True) -> dict:
    """Train one arm from ``seed`` on ``split`` (the seed's labelled indices and inferred labels at the arm's
    fraction) and measure it every ``eval_every`` iterations and at the end on ``evaluator.n_samples``
    samples (a conditional G draws the classes in turn). Returns plain data (a worker sends it back)."""
    torch.manual_seed(seed)
    n_classes = int(true_labels.max()) + 1
    G, D, obj = build(arm.variant, n_classes, images.shape[-1], **model)
    labels = variant_labels(arm.variant, true_labels, split["labelled"], split.get("inferred"))
    cfg = TrainConfig(seed=seed, sample_at=tuple(range(eval_every, iterations + 1, eval_every)),
                      n_fixed=8 * n_classes, **train)
    t = GANTrainer(images, G, D, obj, cfg, labels=labels,
                   eval_labels=true_labels if arm.variant.startswith("s3gan") else None)
    n = evaluator.n_samples
    asked = None if arm.variant == "unconditional" else torch.arange(n) % n_classes
    t.fit(iterations, eval_every=eval_every, eval_fn=lambda tr: measure(evaluator, tr.sample(n, seed=seed), asked, False))
    samples = t.sample(n, seed=seed)
    keep = [k for k in ("d_loss", "g_loss", "d_loss_real", "d_loss_fake", "class_loss", "head_acc_hidden",
                        "rot_acc_real", "rot_loss_real", "rot_loss_fake") if k in t.history]
    head = t.history.get("head_acc_hidden")
    late = max(1, iterations // 10)
    return {"arm": arm.name, "variant": arm.variant, "fraction": arm.fraction, "axis": arm.axis, "seed": seed,
            "iterations": iterations, "evals": t.evals, "grids": t.samples, "history": {k: t.history[k] for k in keep},
            "measured": measure(evaluator, samples, asked), "wall_s": t.wall_s,
            "head_accuracy": None if head is None else float(np.nanmean(head[-late:])),
            "samples": to_uint8(samples) if keep_samples and not arm.axis else None}


def arm_cost(arm: Arm) -> float:
    """Relative cost of an arm (rotations add a quarter of the batch four times), to start the longest first."""
    return 1.3 if arm.variant == "s3gan" else 1.0


def run_arms(images, true_labels, arms: list[Arm], seeds: list[int], splits: dict, evaluator: Evaluator,
             model: dict, train: dict, iterations: int, eval_every: int, workers: int | None = None,
             progress: bool = False) -> dict[str, dict[int, dict]]:
    """Every arm under every seed: ``runs[arm name][seed]`` is :func:`train_arm`'s record. ``splits[seed]
    [fraction]`` holds that seed's labelled indices and inferred labels (:func:`~gan_helpers.experiments.
    selfsup.selfsup_seed`)."""
    tasks = [(a, s, images, true_labels, splits[s][a.fraction] if a.variant in SEMI_SUPERVISED else
              {"labelled": np.arange(len(images)) if a.variant == "conditional" else np.zeros(0, int)},
              evaluator, model, train, iterations, eval_every) for a in arms for s in seeds]
    records = run_tasks(train_arm, tasks, workers, cost=[arm_cost(t[0]) for t in tasks], progress=progress,
                        desc="variants x seeds")
    runs: dict[str, dict[int, dict]] = {}
    for r in records:
        runs.setdefault(r["arm"], {})[r["seed"]] = r
    return runs


def sample_sets(runs: dict, main: list[str], seeds: list[int], reference, names: list[str]) -> dict:
    """What :func:`gan_helpers.images.save_samples` writes: ``real/<class>``, ``<variant>/<class>`` (a
    conditional G's samples asked for that class, every seed) and ``unconditional``."""
    from ..images import from_uint8

    sets = {f"real/{c}": reference.images[reference.labels == i] for i, c in enumerate(names)}
    for n in main:
        per = {s: from_uint8(runs[n][s]["samples"]) for s in seeds}
        if runs[n][seeds[0]]["variant"] == "unconditional":
            sets[n] = per
        else:  # sample i was asked for class i % K
            sets.update({f"{n}/{c}": {s: x[i::len(names)] for s, x in per.items()} for i, c in enumerate(names)})
    return sets


def results_extra(selfsup: dict, runs: dict, seeds: list[int], floor: dict) -> dict:
    """The numbers ``results.json`` keeps beside the claims: steps 1-3 and every arm's metrics, per seed."""
    return {"self_supervised": {s: {"rotation_accuracy": r["rotation"], "probe": r["probe"],
                                    "inferred_label_accuracy": {f: sp["accuracy"] for f, sp in r["splits"].items()}}
                                for s, r in selfsup.items()},
            "gan": {n: {s: {**r["measured"], "fraction": r["fraction"], "head_accuracy": r["head_accuracy"],
                            "wall_s": r["wall_s"], "evals": r["evals"]} for s, r in per.items()} for n, per in runs.items()},
            "real_floor": floor}


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------

def binomial_noise(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` images: the noise of an accuracy."""
    return float(np.sqrt(max(p * (1 - p), 0.25 / max(n, 1)) / max(n, 1)))


def _per_seed(runs, name, seeds, key):
    return [runs[name][s]["measured"][key] for s in seeds]


def close_to_reference(a: dict, ref: dict, n: int, fid_share: float = 0.25, acc_share: float = 0.25) -> bool:
    """Under one seed, arm ``a`` is close to the fully labelled ``ref`` if its class accuracy is at least
    ``1 - acc_share`` of ref's and its FID at most ``1 + fid_share`` times ref's, each beyond 2x its noise."""
    acc_ok = a["class_accuracy"] >= (1 - acc_share) * ref["class_accuracy"] - 2 * binomial_noise(a["class_accuracy"], n)
    fid_ok = a["fid"] <= (1 + fid_share) * ref["fid"] + 2 * max(a["fid_noise"], ref["fid_noise"])
    return bool(acc_ok and fid_ok)


def _two_metric_outcomes(runs, a: str, b: str, seeds, n: int) -> tuple[list[int], dict]:
    """Per seed: A better than B on FID and on class accuracy (each beyond 2x its noise); +1 where one wins
    and the other does not lose, -1 where one loses and the other does not win, 0 otherwise."""
    fa, fb = _per_seed(runs, a, seeds, "fid"), _per_seed(runs, b, seeds, "fid")
    fid = compare_over_seeds(fa, fb, _per_seed(runs, a, seeds, "fid_noise"), _per_seed(runs, b, seeds, "fid_noise"))
    aa, ab = _per_seed(runs, a, seeds, "class_accuracy"), _per_seed(runs, b, seeds, "class_accuracy")
    acc = compare_over_seeds(aa, ab, [binomial_noise(x, n) for x in aa], [binomial_noise(x, n) for x in ab],
                             lower_is_better=False)
    both = [(1 if max(f, c) == 1 and min(f, c) >= 0 else -1 if min(f, c) == -1 and max(f, c) <= 0 else 0)
            for f, c in zip(fid, acc)]
    return both, {f"fid_{a}": fa, f"fid_{b}": fb, f"class_accuracy_{a}": aa, f"class_accuracy_{b}": ab,
                  "fid_per_seed": fid, "class_accuracy_per_seed": acc, "per_seed": both}


def fewer_labels_claims(selfsup: dict[int, dict], runs: dict[str, dict[int, dict]], seeds: list[int],
                        label_fraction: float, n_classes: int, n_samples: int, small_fraction: float = 0.1,
                        stable_factor: float = 3.0) -> list[dict]:
    """The document's claims, each judged on every seed with the rule of :mod:`gan_helpers.evaluate`.

    ``selfsup[seed]``: :func:`~gan_helpers.experiments.selfsup.selfsup_seed`'s record; ``runs[arm][seed]``:
    :func:`train_arm`'s record; ``n_samples``: images behind each class accuracy."""
    claims, chance = [], 1.0 / n_classes
    probe = {s: selfsup[s]["probe"] for s in seeds}
    small = sorted(f for f in probe[seeds[0]]["rotation"] if f <= small_fraction)
    n_hidden = {f: max(1, int(round((1 - f) * len(selfsup[seeds[0]]["splits"][label_fraction]["inferred"])))) for f in small}

    # 1-2. rotation features against training from scratch and against random features, at the small fractions
    for other, text, source in (
            ("scratch", "A linear classifier on rotation-trained features needs fewer labels than the same network "
             "trained from scratch", f"{SOURCE}: 'more efficient by examples than training the entire network from scratch'"),
            ("random", "Rotation prediction learns meaningful features: a linear probe on them beats the same "
             "network with random weights", "beyond the document: the blog's premise, against the untrained twin")):
        outcomes, ev = [], {}
        for f in small:
            a = [probe[s]["rotation"][f] for s in seeds]
            b = [probe[s][other][f] for s in seeds]
            per = compare_over_seeds(a, b, [binomial_noise(x, n_hidden[f]) for x in a],
                                     [binomial_noise(x, n_hidden[f]) for x in b], lower_is_better=False)
            outcomes += per
            ev[f"{f:g}"] = {"rotation": a, other: b, "per_seed": per}
        claims.append(claim(text, source, better_verdict(outcomes) if outcomes else "inconclusive",
                            {"by_fraction": ev, "rule": "per fraction and seed: higher accuracy on the hidden labels "
                             "by more than 2x its binomial noise"}))

    # 3. the inferred labels are usable
    acc = [selfsup[s]["splits"][label_fraction]["accuracy"] for s in seeds]
    v = all_seeds_verdict([a >= 0.8 for a in acc])
    if v == "does not hold" and all(a >= 2 * chance for a in acc):
        v = "partly"
    claims.append(claim(f"The linear probe labels the unlabelled part well enough to condition a GAN (at {label_fraction:.0%} labels)",
                        f"{SOURCE}: 'we use this classifier to mark up unallocated data'", v,
                        {"inferred_label_accuracy": acc, "holds_at": 0.8, "partly_at": 2 * chance}))

    # 4. the premise: the fully labelled conditional GAN draws the class it is asked for
    if "conditional" in runs:
        acc = _per_seed(runs, "conditional", seeds, "class_accuracy")
        claims.append(claim("The fully labelled conditional GAN draws the class it is asked for (class accuracy of "
                            "G(z, y) >= 0.8)", f"{SOURCE}: 'the generator is limited by the class of the image'",
                            all_seeds_verdict([a >= 0.8 for a in acc]),
                            {"class_accuracy": acc, "fid": _per_seed(runs, "conditional", seeds, "fid"), "chance": chance}))

    # 5. S2GAN / S3GAN with few labels come close to the fully labelled GAN, at each fraction
    if "conditional" in runs:
        ref = {s: runs["conditional"][s]["measured"] for s in seeds}
        for v in ("s2gan", "s3gan"):
            names = {f: n for n in runs for f in [runs[n][seeds[0]]["fraction"]] if runs[n][seeds[0]]["variant"] == v}
            if label_fraction not in names:
                continue
            close = {f"{f:g}": [close_to_reference(runs[n][s]["measured"], ref[s], n_samples) for s in seeds]
                     for f, n in sorted(names.items())}
            ev = {"close_per_seed": close, "class_accuracy_conditional": [ref[s]["class_accuracy"] for s in seeds],
                  "fid_conditional": [ref[s]["fid"] for s in seeds],
                  **{f"class_accuracy_{f:g}": _per_seed(runs, n, seeds, "class_accuracy") for f, n in sorted(names.items())},
                  **{f"fid_{f:g}": _per_seed(runs, n, seeds, "fid") for f, n in sorted(names.items())},
                  "rule": "per seed: class accuracy >= 75% of the conditional GAN's and FID <= 1.25x its FID "
                          "(each beyond 2x its noise)"}
            learned = [ref[s]["class_accuracy"] >= 2 * chance for s in seeds]  # else "close" to chance says nothing
            ev["reference_learned_classes"] = learned
            claims.append(claim(f"With {label_fraction:.0%} of the labels, {v.upper()} comes close to the conditional "
                                "GAN trained on all labels", f"{SOURCE}: 'comparable-quality natural images using 10 "
                                "times fewer tags'",
                                all_seeds_verdict(close[f"{label_fraction:g}"]) if all(learned) else "inconclusive", ev))

    # 6. the rotation loss helps: S3GAN against S3GAN without it
    if {"s3gan", "s3gan_no_rotation"} <= set(runs):
        out, ev = _two_metric_outcomes(runs, "s3gan", "s3gan_no_rotation", seeds, n_samples)
        claims.append(claim("The discriminator's auxiliary rotation loss helps (S3GAN against S3GAN without it)",
                            f"{SOURCE}: 'auxiliary losses ... improve the quality of the model and the stability of training'",
                            better_verdict(out), ev))

    # 7. S3GAN trains stably: its FID spread over seeds is of the order of the conditional GAN's
    if {"s3gan", "conditional"} <= set(runs) and len(seeds) > 1:
        s3, cond = spread(_per_seed(runs, "s3gan", seeds, "fid")), spread(_per_seed(runs, "conditional", seeds, "fid"))
        floor = float(np.mean(_per_seed(runs, "conditional", seeds, "fid_noise")))
        ok = s3["std"] <= stable_factor * max(cond["std"], floor)
        claims.append(claim("S3GAN trains stably: its FID spread over seeds is of the same order as the conditional GAN's",
                            f"{SOURCE}: 'improve ... the stability of training'", "holds" if ok else "does not hold",
                            {"fid_s3gan": s3, "fid_conditional": cond, "fid_noise_conditional": floor,
                             "rule": f"std over seeds of S3GAN's FID <= {stable_factor} x max(the conditional GAN's, "
                                     "its bootstrap noise)"}))

    # 8. (beyond) S3GAN's class head labels the unlabelled reals as well as the rotation probe does
    if "s3gan" in runs:
        head = [runs["s3gan"][s]["head_accuracy"] for s in seeds]
        inferred = [selfsup[s]["splits"][label_fraction]["accuracy"] for s in seeds]
        n_h = n_hidden.get(label_fraction, 1000)
        out = compare_over_seeds(head, inferred, [binomial_noise(x, n_h) for x in head],
                                 [binomial_noise(x, n_h) for x in inferred], lower_is_better=False)
        claims.append(claim("S3GAN's class head labels the unlabelled real images better than the rotation probe "
                            "behind S2GAN (last 10% of training)", "beyond the document", better_verdict(out),
                            {"head_accuracy": head, "inferred_label_accuracy": inferred, "per_seed": out}))
    return claims
