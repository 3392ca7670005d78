r"""Notebook 04, steps 4-5: the class-conditional GAN variants with few labels, over seeds, and the claims.

Lučić, Ritter et al., "High-Fidelity Image Generation With Fewer Labels" (ICML 2019,
https://arxiv.org/abs/1903.02271; the Google AI Blog post
https://ai.googleblog.com/2019/03/reducing-need-for-labeled-data-in.html; google/compare_gan
https://github.com/google/compare_gan/blob/master/compare_gan/gans/s3gan.py). Every variant is the same pair of
networks (:class:`~gan_helpers.models.SharedEmbedGenerator`, BigGAN's shared class embedding and hierarchical z
into a conditional batch norm at every layer; :class:`~gan_helpers.models.ProjectionDiscriminator`,
spectral norm, :math:`D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x)\rangle`) trained in the one GAN
loop under :class:`~gan_helpers.objectives.S3GANLoss`; what differs is the labels it sees and its heads:

=============================  ===============================================  ==========================================
variant                        labels                                           extra
=============================  ===============================================  ==========================================
``unconditional``              none                                             none
``conditional``                every true label (the reference)                 none
``conditional_labelled_only``  the labelled fraction, trained on those images   none (what the labels give without
                               only                                             the method: the natural baseline)
``s2gan``                      the labelled fraction + the probe's inferred     none
``s3gan``                      the labelled fraction; D's class head the rest   class loss (1.0), rotation loss (1.0 D,
                                                                                0.2 G)
``s3gan_no_rotation``          as s3gan                                         class loss only (the ablation)
=============================  ===============================================  ==========================================

An :class:`Arm` is one variant at one label fraction; :func:`train_arm` trains and measures it under
one seed (a task of :func:`gan_helpers.runtime.run_tasks`). Class accuracy is read twice, by the evaluator's
CNN and by a pixel-space SVM (:class:`~gan_helpers.features.PixelClassifier`): a seed where they disagree ties.
:func:`records` flattens every seed's numbers, :func:`declare_claims` states the claims with their thresholds
(:data:`THRESHOLDS`), :func:`controls` checks each metric they read on known answers, and
:func:`gan_helpers.claims.judge` gives the verdicts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..claims import AllOf, Claim, Compare, Control, Property, Threshold, declare
from ..evaluate import Evaluator
from ..images import to_uint8
from ..models import ProjectionDiscriminator, SharedEmbedGenerator
from ..objectives import S3GANLoss
from ..runtime import run_tasks
from ..train import GANTrainer, TrainConfig

VARIANTS = ("unconditional", "conditional", "conditional_labelled_only", "s2gan", "s3gan", "s3gan_no_rotation")
SEMI_SUPERVISED = ("conditional_labelled_only", "s2gan", "s3gan", "s3gan_no_rotation")  # see only the labelled fraction
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
    if variant in ("conditional", "conditional_labelled_only"):  # the latter trains on the labelled images only
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


def measure(evaluator: Evaluator, images: torch.Tensor, asked: torch.Tensor | None, full: bool = True,
            reader=None) -> dict:
    """FID, KID (and with ``full`` every other metric) of ``images``; ``class_accuracy`` where ``asked``, and
    ``class_accuracy_svm`` as the second reader (:class:`~gan_helpers.features.PixelClassifier`) reads it."""
    if full:
        out = evaluator.full(images, asked=asked, neighbours=False)
    else:
        out = evaluator.quick(images)
        if asked is not None:
            out["class_accuracy"] = float((evaluator.probs(images).argmax(1) == asked).double().mean())
    if asked is not None and reader is not None:
        out["class_accuracy_svm"] = float((reader.predict(images) == np.asarray(asked)).mean())
    return out


def train_arm(arm: Arm, seed: int, images: torch.Tensor, true_labels: torch.Tensor, split: dict,
              evaluator: Evaluator, model: dict, train: dict, iterations: int, eval_every: int,
              keep_samples: bool = True, reader=None) -> dict:
    """Train one arm from ``seed`` on ``split`` (the seed's labelled indices and inferred labels at the arm's
    fraction) and measure it every ``eval_every`` iterations and at the end on ``evaluator.n_samples``
    samples (a conditional G draws the classes in turn). Returns plain data (a worker sends it back)."""
    torch.manual_seed(seed)
    n_classes = int(true_labels.max()) + 1
    G, D, obj = build(arm.variant, n_classes, images.shape[-1], **model)
    labels = variant_labels(arm.variant, true_labels, split["labelled"], split.get("inferred"))
    if arm.variant == "conditional_labelled_only":  # the labelled images alone, with their labels
        keep = torch.as_tensor(split["labelled"], dtype=torch.long)
        images, labels, true_labels = images[keep], labels[keep], true_labels[keep]
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
            "measured": measure(evaluator, samples, asked, reader=reader), "wall_s": t.wall_s,
            "head_accuracy": None if head is None else float(np.nanmean(head[-late:])),
            "samples": to_uint8(samples) if keep_samples and not arm.axis else None}


def arm_cost(arm: Arm) -> float:
    """Relative cost of an arm (rotations add a quarter of the batch four times), to start the longest first."""
    return 1.3 if arm.variant == "s3gan" else 1.0


def run_arms(images, true_labels, arms: list[Arm], seeds: list[int], splits: dict, evaluator: Evaluator,
             model: dict, train: dict, iterations: int, eval_every: int, workers: int | None = None,
             progress: bool = False, reader=None, cache=None) -> dict[str, dict[int, dict]]:
    """Every arm under every seed: ``runs[arm name][seed]`` is :func:`train_arm`'s record. ``splits[seed]
    [fraction]`` holds that seed's labelled indices and inferred labels (:func:`~gan_helpers.experiments.
    selfsup.selfsup_seed`). ``cache``: reuse finished arms (``run.cache``)."""
    tasks = [(a, s, images, true_labels, splits[s][a.fraction] if a.variant in SEMI_SUPERVISED else
              {"labelled": np.arange(len(images)) if a.variant == "conditional" else np.zeros(0, int)},
              evaluator, model, train, iterations, eval_every, True, reader) for a in arms for s in seeds]
    records = run_tasks(train_arm, tasks, workers, cost=[arm_cost(t[0]) for t in tasks], progress=progress,
                        desc="variants x seeds", cache=cache)
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
    return {"self_supervised": {s: {"rotation_accuracy": r["rotation"], "probe": r["probe"], "probe_fit": r["probe_fit"],
                                    "inferred_label_accuracy": {f: sp["accuracy"] for f, sp in r["splits"].items()}}
                                for s, r in selfsup.items()},
            "gan": {n: {s: {**r["measured"], "fraction": r["fraction"], "head_accuracy": r["head_accuracy"],
                            "wall_s": r["wall_s"], "evals": r["evals"]} for s, r in per.items()} for n, per in runs.items()},
            "real_floor": floor}


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------

THRESHOLDS = declare(
    Threshold("learned_fid_ratio", 0.5, "a GAN has learned when its FID is at most half the FID of the same "
              "generator untrained (measured in this run)"),
    Threshold("class_accuracy_min", 0.8, "'the generator is limited by the class': G(z, y) reads as y in at least "
              "80% of samples (chance: 10%); the readers give real held-out shapes about 0.99 (control)"),
    Threshold("inferred_accuracy_min", 0.8, "labels good enough to condition a GAN: at least 80% right, the class "
              "accuracy asked of the conditional GAN itself"),
    Threshold("chance_multiple", 2.0, "partly: at least twice chance"),
    Threshold("close_accuracy_gap", 0.05, "'comparable': class accuracy at most 5 points below the fully labelled "
              "GAN's, beyond noise_factor x the noise of the gap (the fully labelled GAN's own seeds spread by about 2)"),
    Threshold("close_fid_ratio", 1.25, "'comparable quality': FID at most 25% above the fully labelled GAN's (the "
              "paper's S3GAN with 10% of ImageNet's labels: FID 8.0 against BigGAN's 7.2 at 128 px, 11% above)",
              "Lučić et al. 2019, Table 1"),
    Threshold("stability_margin", 0.288, "more stable: late FID swings at least a quarter smaller (ln 4/3 on the log "
              "scale of the swing); a steady curve scores 0, a swinging one far above (control)"),
)
T = THRESHOLDS


def binomial_noise(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` images: the noise of an accuracy."""
    from ..claims import binomial_noise as bn

    return bn(p, n)


def learned(q: dict, untrained_fid: float) -> bool:
    return q["fid"] <= float(T["learned_fid_ratio"]) * untrained_fid


def records(selfsup: dict[int, dict], runs: dict[str, dict[int, dict]], seeds: list[int], label_fraction: float,
            n_samples: int, untrained_fid: float) -> dict[int, dict]:
    """``records[seed]``: every arm's FID (with noise), class accuracy read by the CNN and the SVM (with binomial
    noise), learned flag, its gaps to the fully labelled GAN and the log of its late FID swings; the probe's and
    the from-scratch network's accuracy on the hidden labels at each fraction (``probe@<f>``, ``scratch@<f>``,
    ``random@<f>`` as pseudo-arms), the inferred labels' and S3GAN's class head's accuracy."""
    from .techniques import fid_fluctuation

    out = {}
    for s in seeds:
        rec: dict = {}
        ref = runs["conditional"][s]["measured"] if "conditional" in runs else None
        for name, per in runs.items():
            r = per[s]
            q = r["measured"]
            a = {"fid": q["fid"], "fid_noise": q["fid_noise"], "learned": learned(q, untrained_fid)}
            if len(r["evals"]) >= 6:
                a["log_fid_swing"] = float(np.log(max(fid_fluctuation(r["evals"]), 1e-6)))
            for reader, key in (("cnn", "class_accuracy"), ("svm", "class_accuracy_svm")):
                if key in q:
                    a[f"class_accuracy[{reader}]"] = q[key]
                    a[f"class_accuracy_noise[{reader}]"] = binomial_noise(q[key], n_samples)
                    if ref is not None and key in ref:
                        a[f"accuracy_gap[{reader}]"] = ref[key] - q[key]
                        a[f"accuracy_gap_noise[{reader}]"] = float(np.hypot(binomial_noise(q[key], n_samples),
                                                                             binomial_noise(ref[key], n_samples)))
            if ref is not None:
                a["fid_ratio"] = q["fid"] / max(ref["fid"], 1e-12)
            rec[name] = a
        n_hidden = lambda f: max(1, int(round((1 - f) * len(selfsup[s]["splits"][label_fraction]["inferred"]))))
        for method in ("rotation", "random", "scratch"):
            for f, acc in selfsup[s]["probe"][method].items():
                rec[f"{method}@{f:g}"] = {"accuracy": acc, "accuracy_noise": binomial_noise(acc, n_hidden(f)), "learned": True}
        inferred = selfsup[s]["splits"][label_fraction]["accuracy"]
        rec["probe labels"] = {"accuracy": inferred, "accuracy_noise": binomial_noise(inferred, n_hidden(label_fraction)),
                               "learned": True}
        if "s3gan" in runs and runs["s3gan"][s]["head_accuracy"] is not None:
            h = runs["s3gan"][s]["head_accuracy"]
            rec["s3gan head"] = {"accuracy": h, "accuracy_noise": binomial_noise(h, n_hidden(label_fraction)),
                                 "learned": rec["s3gan"]["learned"]}
        out[s] = rec
    return out


def declare_claims(variants: list[str], label_fraction: float, small_fractions: list[float], n_classes: int) -> list[Claim]:
    """The document's claims (and those beyond it) as declarations."""
    readers = ("cnn", "svm")
    chance = Threshold("twice_chance", float(T["chance_multiple"]) / n_classes, f"partly: at least twice chance "
                       f"(1/{n_classes})")
    acc = lambda a, b: Compare("class_accuracy", a, b, higher_is_better=True, noise="{metric}_noise", readers=readers)
    pct = f"{label_fraction:.0%}"
    claims = [
        Claim("probe_vs_scratch", "A linear classifier on rotation-trained features needs fewer labels than the same "
              "network trained from scratch", f"{SOURCE}: 'more efficient by examples than training the entire network "
              "from scratch'", settings={f"{f:.0%} labels": Compare("accuracy", f"rotation@{f:g}", f"scratch@{f:g}",
                                                                     higher_is_better=True) for f in small_fractions},
              note="both trained to convergence and tuned on the same labelled validation set (10 per class)"),
        Claim("rotation_vs_random", "Rotation prediction learns meaningful features: a linear probe on them beats the "
              "same network with random weights", "beyond the document: the blog's premise, against the untrained twin",
              settings={f"{f:.0%} labels": Compare("accuracy", f"rotation@{f:g}", f"random@{f:g}", higher_is_better=True)
                        for f in small_fractions}),
        Claim("inferred_labels", f"The linear probe labels the unlabelled part well enough to condition a GAN (at {pct} "
              "labels)", f"{SOURCE}: 'we use this classifier to mark up unallocated data'",
              Property("accuracy", "probe labels", T["inferred_accuracy_min"], partly=chance)),
    ]
    if "conditional" in variants:
        claims.append(Claim("conditional_follows", "The fully labelled conditional GAN draws the class it is asked for",
                            f"{SOURCE}: 'the generator is limited by the class of the image'",
                            Property("class_accuracy", "conditional", T["class_accuracy_min"], readers=readers)))
        for v in ("s2gan", "s3gan"):
            if v not in variants:
                continue
            claims.append(Claim(f"{v}_close", f"With {pct} of the labels, {v.upper()} comes close to the conditional GAN "
                                "trained on all labels", f"{SOURCE}: 'comparable-quality natural images using 10 times "
                                "fewer tags'",
                                AllOf((Property("accuracy_gap", v, T["close_accuracy_gap"], at_least=False,
                                                noise="{metric}_noise", readers=readers),
                                       Property("fid_ratio", v, T["close_fid_ratio"], at_least=False))),
                                requires=("conditional",)))
            if "conditional_labelled_only" in variants:
                claims.append(Claim(f"{v}_uses_unlabelled", f"{v.upper()} makes use of the unlabelled images: it beats the "
                                    f"conditional GAN trained on its {pct} of labelled images alone",
                                    "beyond the document: the baseline the method must beat",
                                    settings={"class accuracy": acc(v, "conditional_labelled_only"),
                                              "FID": Compare("fid", v, "conditional_labelled_only")}))
    if {"s3gan", "s3gan_no_rotation"} <= set(variants):
        claims.append(Claim("rotation_loss_helps", "The discriminator's auxiliary rotation loss helps (S3GAN against "
                            "S3GAN without it)", f"{SOURCE}: 'auxiliary losses ... improve the quality of the model'",
                            settings={"class accuracy": acc("s3gan", "s3gan_no_rotation"),
                                      "FID": Compare("fid", "s3gan", "s3gan_no_rotation")}))
        others = [o for o in ("s3gan_no_rotation", "unconditional") if o in variants]
        claims.append(Claim("rotation_loss_stability", "The auxiliary rotation loss makes training more stable (smaller "
                            "late swings of FID around its trend)", f"{SOURCE}: 'improve ... the stability of training'",
                            settings={f"against {o}": Compare("log_fid_swing", "s3gan", o, noise=None,
                                                              margin=T["stability_margin"]) for o in others}))
    if "s3gan" in variants:
        claims.append(Claim("head_vs_probe", "S3GAN's class head labels the unlabelled real images better than the "
                            "rotation probe behind S2GAN (last 10% of training)", "beyond the document",
                            Compare("accuracy", "s3gan head", "probe labels", higher_is_better=True)))
    return claims


def fewer_labels_claims(selfsup: dict[int, dict], runs: dict[str, dict[int, dict]], seeds: list[int],
                        label_fraction: float, n_classes: int, n_samples: int, untrained_fid: float,
                        controls: list[Control] = (), small_fraction: float = 0.1,
                        smoke: bool = False) -> tuple[list[Claim], list[dict]]:
    """``(declared, judged)``: the claims and their verdicts from every seed's records. The probe claims are
    judged at every probe fraction up to ``small_fraction`` (the regime the document means by "fewer labels")."""
    from ..claims import judge

    small = sorted(f for f in selfsup[seeds[0]]["probe"]["rotation"] if f <= small_fraction)
    variants = [n for n in runs if not runs[n][seeds[0]]["axis"]]
    declared = declare_claims(variants, label_fraction, small, n_classes)
    return declared, judge(declared, records(selfsup, runs, seeds, label_fraction, n_samples, untrained_fid),
                           controls, smoke)


def controls(evaluator: Evaluator, reader, real: torch.Tensor, real_labels: torch.Tensor, untrained_fid: float,
             other_untrained: torch.Tensor, seed: int = 0) -> list[Control]:
    """Every metric a verdict of this notebook reads, on known answers: FID, the learned-check, class accuracy as
    each reader reads it (real images asked for their own class, against the same images asked for a shuffled
    class), and the late-swing measure of stability (a steady curve against a swinging one)."""
    from ..evaluate import fid_control
    from .techniques import fid_fluctuation

    g = torch.Generator().manual_seed(seed)
    out = [fid_control(evaluator, real)]
    q_real, q_other = evaluator.quick(real), evaluator.quick(other_untrained)
    out.append(Control("learned", f"FID against {float(T['learned_fid_ratio']):g} x the untrained generator's "
                       f"({untrained_fid:.1f})", "real images", "another untrained generator", q_real["fid"],
                       q_other["fid"], learned(q_real, untrained_fid) and not learned(q_other, untrained_fid),
                       "real passes, untrained does not"))
    shuffled = real_labels[torch.randperm(len(real_labels), generator=g)]
    t = float(T["class_accuracy_min"])
    for name, pred in (("cnn", evaluator.probs(real).argmax(1).numpy()), ("svm", reader.predict(real))):
        pos, neg = float((pred == real_labels.numpy()).mean()), float((pred == shuffled.numpy()).mean())
        out.append(Control("class_accuracy", f"class accuracy as the {name} reads it", "real images asked for their "
                           "own class", "the same images asked for a shuffled class", pos, neg, bool(pos >= t > neg),
                           f"own class >= {t:g} > shuffled"))
    steps = np.arange(8)
    steady = [{"fid": 40.0 - 3 * i} for i in steps]
    swing = [{"fid": 40.0 - 3 * i + (8 if i % 2 else -8)} for i in steps]
    fs, fw = fid_fluctuation(steady), fid_fluctuation(swing)
    out.append(Control("log_fid_swing", "late swing of FID around its trend", "a curve that swings by 8 around its "
                       "trend", "a steady descent", fw, fs, bool(np.log(max(fw, 1e-6)) - np.log(max(fs, 1e-6)) >
                                                               float(T["stability_margin"])),
                       "swinging above steady by more than stability_margin (log scale)"))
    return out
