r"""Notebook 05: the techniques of Salimans et al. 2016, "Improved Techniques for Training GANs"
(https://arxiv.org/abs/1606.03498; the notes this notebook follows:
https://rajatsharma2204.github.io/AML_Tutorial_GANs/improvedtraining/), as an ablation over seeds.

Each technique is a small part of the one loop's objective or of the models:

* **feature matching** (3.1), :math:`L_G = \|\mathbb E_x f(x) - \mathbb E_z f(G(z))\|_2^2` on D's last
  hidden layer: ``ImprovedGANLoss(feature_matching=True)``;
* **minibatch discrimination** (3.2), :math:`o(x_i)_b = \sum_{j \ne i} \exp(-\|M_{i,b} - M_{j,b}\|_{1})`
  concatenated to :math:`f(x_i)`: :class:`~gan_helpers.models.MinibatchDiscriminator` (openai/improved-gan's
  ``MinibatchLayer``: 100 kernels x 5, weight norm with its data-dependent init);
* **historical averaging** (3.3), :math:`\lambda \|\theta - \frac1t \sum_i \theta[i]\|^2` on both players:
  ``ImprovedGANLoss(historical_weight=lambda)``;
* **one-sided label smoothing** (3.4), D's real target :math:`\alpha = 0.9`: ``real_label=0.9``;
* **virtual batch norm** (3.5) in G: :class:`~gan_helpers.models.VBNGenerator`.

Every variant of one seed shares the trainer, the data order, the noise, the budget and the initial
weights (:func:`build_variant`); :func:`train_variant` is one training (a task of
:func:`~gan_helpers.runtime.run_tasks`); :func:`ablation_claims` judges every claim on all seeds with the rule
of :mod:`gan_helpers.evaluate`. The Inception Score lessons (known answers, the conventions that move it, a
ladder of degraded real images) are :func:`classes_kept_scores`, :func:`pitfall_scores` and
:func:`degradation_ladder`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..claims import Claim, Compare, Control, Paired, Rule, Threshold, declare
from ..evaluate import Evaluator, extract_features, reader_coverage
from ..images import ImageSet
from ..metrics import class_coverage, frechet_distance, inception_score
from ..models import Discriminator, Generator, MinibatchDiscriminator, VBNGenerator
from ..objectives import ImprovedGANLoss
from ..runtime import call, run_tasks
from ..train import GANTrainer, TrainConfig

SOURCE = "Salimans et al. 2016 (notes)"
TECHNIQUES = ("feature_matching", "minibatch_disc", "historical_avg", "label_smoothing", "vbn")
VARIANTS = ("baseline", *TECHNIQUES, "all")
VBN_REF_SEED = 1_000_003  # VBN's reference latents come from seed + this, apart from the trainer's noise
# a task's time relative to a baseline run, for scheduling only (the costliest first; results do not depend on it).
# Rough estimates: measured on 2 cores (2026-12-04/05) vbn 1.43, minibatch_disc 1.33, feature_matching 1.04,
# all 2.04, a semi-supervised seed about 2.6, which give the same order for the costliest tasks
COST = {"vbn": 1.6, "minibatch_disc": 1.1, "feature_matching": 1.1, "historical_avg": 1.1, "all": 1.8,
        "semi_supervised": 2.6}


@dataclass(frozen=True)
class Setup:
    """What every variant shares: models, training, budget and measurement, and each technique's setting."""

    iterations: int = 1000
    image_size: int = 32
    nz: int = 100
    ngf: int = 32
    ndf: int = 32
    d_norm: str = "batch"         # D's normalisation: "batch" (DCGAN), "spectral" or "none"
    joint_batch: bool = False     # D scores real and fake in one batch (one set of batch-norm statistics)
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    amp: bool = True
    device: str = "auto"
    eval_every: int = 100
    n_eval_samples: int = 500     # samples per evaluation during training
    n_final_samples: int = 1000   # samples scored at the end (and written as PNG files)
    minibatch_kernels: int = 100  # B (reference: 100)
    kernel_dim: int = 5           # C (reference: 5)
    historical_weight: float = 1.0
    real_label: float = 0.9
    all_techniques: tuple[str, ...] = TECHNIQUES


def techniques_of(variant: str, all_techniques=TECHNIQUES) -> tuple[str, ...]:
    """The techniques a variant switches on: none, one, or ``all_techniques``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {list(VARIANTS)}")
    return () if variant == "baseline" else tuple(all_techniques) if variant == "all" else (variant,)


def parameter_checks() -> dict:
    """Notebook 05's own parameter rules for :func:`gan_helpers.notebook.setup` (checked before any work)."""
    from .. import notebook as nb
    from ..datasets import check_dataset

    known = lambda names: lambda x: None if x in names else f"one of {list(names)}"
    variants = nb.list_of(known(VARIANTS), distinct=True)
    return {"dataset": lambda v, p: check_dataset(v),
            "variants": lambda v, p: variants(v, p) or (None if "baseline" in v else "a list that holds 'baseline'"),
            "all_techniques": nb.list_of(known(TECHNIQUES), distinct=True), "d_norm": nb.one_of("batch", "spectral", "none"),
            "joint_batch": nb.one_of(True, False), "minibatch_kernels": nb.integer(1), "kernel_dim": nb.integer(1),
            "historical_weight": nb.number(0), "real_label": nb.number(0, 1),
            "classifier_epochs": nb.integer(1), "classifier_width": nb.integer(1), "inception_weights": lambda v, p: None,
            "n_final_samples": nb.integer(10), "is_splits": lambda v, p: nb.integer(1, p.get("n_final_samples"))(v, p),
            "eval_every": _eval_every_rule}


def _eval_every_rule(v, p) -> str | None:
    """At least 5 evaluations, so that the late half of training has 3 to fit a trend to (FID fluctuation)."""
    it = p.get("iterations")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1 or (isinstance(it, int) and it >= 1 and v > it // 5):
        return "an integer >= 1 and <= iterations // 5 (5 evaluations at least)"
    return None


def build_variant(variant: str, setup: Setup, seed: int):
    """(G, D, objective) of a variant. Under one seed every variant starts from the baseline's weights: VBN's
    G copies the baseline G's convolutions (VBN has no running statistics); the minibatch D copies the
    baseline D's body and its head's weights on f(x), and its head's weights on the minibatch features o(x) start at
    zero, so that D's first outputs are the baseline's (paired starts). openai/improved-gan initialises its
    weight-normed output layer from data instead, which here put the first fake logit at +6 on one seed (D(G(z)) =
    1.00) and 0 on another; the minibatch layer's own data-dependent init (on the first real batch) is the
    reference's."""
    on = techniques_of(variant, setup.all_techniques)
    torch.manual_seed(seed)
    G = Generator(setup.nz, setup.ngf, 3, setup.image_size)
    D = Discriminator(setup.ndf, 3, setup.image_size, norm=setup.d_norm)
    if "vbn" in on:
        # the reference batch must not be the trainer's fixed noise (also drawn from ``seed``): G's output on its own
        # reference latents is atypical (measured: grey, low contrast), so the sample grids would misrepresent it
        vbn = VBNGenerator(setup.nz, setup.ngf, 3, setup.image_size, ref_batch_size=setup.batch_size,
                           ref_seed=VBN_REF_SEED + seed)
        vbn.load_state_dict({k: v for k, v in G.state_dict().items() if "running" not in k and "num_batches" not in k},
                            strict=False)  # ref_z stays VBN's own
        G = vbn
    if "minibatch_disc" in on:
        mbd = MinibatchDiscriminator(setup.ndf, 3, setup.image_size, setup.d_norm, setup.minibatch_kernels,
                                     setup.kernel_dim)
        mbd.body.load_state_dict(D.body.state_dict())
        with torch.no_grad():
            w = mbd.head.weight if setup.d_norm != "spectral" else mbd.head.weight_orig
            w0 = D.head.weight if setup.d_norm != "spectral" else D.head.weight_orig
            w[:, :D.feature_dim] = w0
            w[:, D.feature_dim:] = 0.0  # o(x) enters D's decision only as training gives it weight
            if setup.d_norm == "spectral":
                mbd.head.weight_u.copy_(D.head.weight_u)
        D = mbd
    objective = ImprovedGANLoss(feature_matching="feature_matching" in on, joint_batch=setup.joint_batch,
                                historical_weight=setup.historical_weight if "historical_avg" in on else 0.0,
                                real_label=setup.real_label if "label_smoothing" in on else 1.0)
    return G, D, objective


def quick_eval(evaluator: Evaluator, images: torch.Tensor) -> dict:
    """FID, Inception Score and class coverage: what is tracked during training (KID only at the end: it cost
    most of an evaluation)."""
    out = {"fid": frechet_distance(evaluator.ref_features, evaluator.features(images))}
    p = evaluator.probs(images)
    out["inception_score"] = inception_score(p, evaluator.splits(len(p)))[0]
    cov = class_coverage(p.argmax(1).numpy(), evaluator.reference_labels.numpy(), evaluator.n_classes,
                         evaluator.min_share)
    out.update(classes_covered=cov["classes_covered"], kl_to_real=cov["kl_to_real"])
    return out


def historical_ratio(t: GANTrainer, weight: float) -> dict[str, float]:
    """The gradient balance of historical averaging, a **ratio of norms** (not a share): for each player,
    ||gradient of lambda * penalty|| / ||gradient of the rest of its loss||, from the last step's ``.grad`` (the
    penalty's gradient is 2 lambda (theta - mean) / P, taken against the mean after the step). 1 means the
    penalty pulls as hard as the game."""
    out = {}
    for player, net in (("D", t.D), ("G", t.G)):
        params = [p for p in net.parameters() if p.requires_grad]
        h = t.objective._hist[player]
        if h.mean is None:
            continue
        pen = [2 * weight * (p.detach() - m) / h.n for p, m in zip(params, h.mean)]
        rest = [(p.grad.float() - q) if p.grad is not None else -q for p, q in zip(params, pen)]
        norm = lambda xs: torch.sqrt(sum((x.float() ** 2).sum() for x in xs))
        out[player] = float(norm(pen) / norm(rest).clamp_min(1e-12))
    return out


def initial_fake_logit(G, D, seed: int, n: int = 64, nz: int = 100) -> float:
    """D's mean logit on a batch of G's fakes before any training (both in training mode, as in the first step;
    their running statistics are restored): the check that every variant of a seed starts where the baseline does."""
    nets = (G, D)
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in nets]
    with torch.no_grad():
        z = torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed))
        out = float(D(G(z)).float().mean())
    for m, st in zip(nets, saved):
        m.load_state_dict(st)
    return out


def train_variant(variant: str, seed: int, images: torch.Tensor, evaluator: Evaluator, setup: Setup,
                  reader=None) -> dict:
    """Train one variant from ``seed``; track :func:`quick_eval` every ``eval_every`` iterations and score
    ``n_final_samples`` fresh samples with every metric at the end (the class histogram read by the evaluator's CNN
    and, with ``reader``, by a second classifier). Returns plain data."""
    G, D, objective = build_variant(variant, setup, seed)
    initial_logit = initial_fake_logit(G, D, seed)
    grid_at = sorted({setup.iterations} | {i for i in range(setup.eval_every, setup.iterations + 1, setup.eval_every)})
    cfg = TrainConfig(batch_size=setup.batch_size, lr_g=setup.lr, lr_d=setup.lr, betas=(setup.beta1, 0.999),
                      seed=seed, amp=setup.amp, device=setup.device, sample_at=tuple(grid_at), n_fixed=64)
    t = GANTrainer(images, G, D, objective, cfg)
    ratios: list[dict] = []
    hooks = {max(1, setup.eval_every // 2): lambda tr: ratios.append(historical_ratio(tr, setup.historical_weight))} \
        if objective.historical_weight else None
    t.fit(setup.iterations, eval_every=setup.eval_every,
          eval_fn=lambda tr: quick_eval(evaluator, tr.sample(setup.n_eval_samples)), hooks=hooks)
    samples = t.sample(setup.n_final_samples, seed=100_000 + seed)  # the same z for every variant of a seed
    keep = [k for k in ("d_loss", "g_loss", "g_nonsat", "fm_loss", "d_x", "d_g_z", "hist_penalty_d", "hist_penalty_g")
            if k in t.history]
    final = evaluator.full(samples)
    if reader is not None:
        final.update(reader_coverage(reader, samples, evaluator, seed=seed))
    first = t.history["d_g_z"][0] if "d_g_z" in t.history else None
    return {"variant": variant, "seed": seed, "techniques": techniques_of(variant, setup.all_techniques),
            "final": final, "evals": t.evals, "history": {k: t.history[k] for k in keep},
            "grids": {i: g[:36] for i, g in t.samples.items()}, "samples": samples, "wall_s": t.wall_s,
            "first_d_g_z": first, "initial_fake_logit": initial_logit,
            "historical_ratio": {p: [r[p] for r in ratios if p in r] for p in ("D", "G")} if ratios else None}


def run_ablation(images: torch.Tensor, variants: list[str], seeds: list[int], evaluator: Evaluator, setup: Setup,
                 workers: int | None = None, progress: bool = False, cache=None, reader=None) -> dict[str, dict[int, dict]]:
    """``runs[variant][seed]``: every variant under every seed, spread over worker processes. ``cache``: reuse
    finished variants (``run.cache``); ``reader``: the second classifier of the class histogram."""
    return run_experiments(images, variants, seeds, evaluator, setup, workers, progress, cache, reader)[0]


def run_experiments(images: torch.Tensor, variants: list[str], seeds: list[int], evaluator: Evaluator, setup: Setup,
                    workers: int | None = None, progress: bool = False, cache=None, reader=None,
                    ssl: tuple | None = None) -> tuple[dict[str, dict[int, dict]], dict[int, dict]]:
    """The ablation (:func:`run_ablation`) and, with ``ssl = (SSLSetup, images, labels, test_images, test_labels)``,
    the semi-supervised experiment's seeds (:func:`gan_helpers.experiments.semi_supervised.train_seed`) in **one**
    pool of workers, the costliest tasks first: run one after the other, the few semi-supervised seeds left one
    worker idle while the other trained the last (about a minute on 2 cores). Each task's result is what it would
    be alone (its seed, its thread count). Returns ``(runs[variant][seed], ssl_results[seed])``."""
    for v in variants:
        techniques_of(v, setup.all_techniques)
    tasks = [(train_variant, (v, s, images, evaluator, setup, reader)) for v in variants for s in seeds]
    cost = [COST.get(v, 1.0) for v in variants for _ in seeds]
    if ssl is not None:
        from . import semi_supervised

        ssl_setup, *ssl_data = ssl
        tasks += [(semi_supervised.train_seed, (s, *ssl_data, evaluator, ssl_setup)) for s in seeds]
        cost += [COST["semi_supervised"]] * len(seeds)
    runs: dict[str, dict[int, dict]] = {}
    ssl_results: dict[int, dict] = {}
    for (fn, _), r in zip(tasks, run_tasks(call, tasks, workers, cost=cost, progress=progress,
                                           desc="variants x seeds", cache=cache)):
        if fn is train_variant:
            runs.setdefault(r["variant"], {})[r["seed"]] = r
        else:
            ssl_results[r["seed"]] = r
    return runs, ssl_results


def ablation_data(dataset: str = "digits", image_size: int = 32, seed: int = 0) -> dict[str, ImageSet]:
    """Two disjoint labelled halves: ``train``, the GAN's data, which the domain classifier never sees (its test
    set, and the real images of the Inception Score and of FID's floor), and ``reference``, the classifier's
    training data and FID's reference. Digits (1,797) are split at random (898/899); ``shapes`` draws 2,000 each."""
    from ..datasets import load_dataset, make_shapes

    if dataset == "shapes":
        return {"train": make_shapes(2000, image_size, seed), "reference": make_shapes(2000, image_size, seed + 1)}
    from ..images import load_labelled_folder

    # a folder is read with one subfolder per class (its labels); load_dataset would read it unlabelled
    full = load_labelled_folder(dataset, image_size) if Path(dataset).expanduser().is_dir() \
        else load_dataset(dataset, image_size)
    if full.labels is None:
        raise ValueError(f"dataset {dataset!r} has no class labels; the ablation needs a labelled set")
    perm = np.random.default_rng(seed).permutation(len(full))
    return {"train": full.subset(perm[:len(full) // 2]), "reference": full.subset(perm[len(full) // 2:])}


def fid_fluctuation(evals: list[dict], tail: float = 0.5) -> float:
    """Swings of quality late in training: over the last ``tail`` of the evaluations, the std of FID around a
    straight line fitted to it (so that a steady descent is not counted as a swing), divided by its mean FID.
    0 for a run whose FID moves steadily or not at all."""
    fids = np.array([e["fid"] for e in evals], float)
    last = fids[int(len(fids) * (1 - tail)):]
    if len(last) < 3:
        raise ValueError("need at least 3 evaluations in the tail; evaluate more often")
    x = np.arange(len(last))
    residual = last - np.polyval(np.polyfit(x, last, 1), x)
    return float(residual.std() / last.mean())


# ---------------------------------------------------------------------------------------------
# The claims
# ---------------------------------------------------------------------------------------------

THRESHOLDS = declare(
    Threshold("learned_fid_ratio", 0.5, "a GAN has learned when its FID is at most half the FID of the same "
              "generator untrained (measured in this run)"),
    Threshold("stability_margin", 0.288, "more stable: late FID swings at least a quarter smaller (ln 4/3 on the log "
              "scale of the swing); a steady curve against a swinging one clears it by far (control)"),
    Threshold("spearman_min", 0.5, "the Inception Score agrees with quality when it ranks the variants as FID does "
              "with a Spearman correlation of at least 0.5 (a clear positive association)"),
    Threshold("paired_starts", 0.5, "paired starts: every variant's first mean fake logit within 0.5 of the "
              "baseline's (0.5 in logit is D(G(z)) 0.5 against 0.62)"),
)
T = THRESHOLDS


def learned(fid: float, untrained_fid: float) -> bool:
    return fid <= float(T["learned_fid_ratio"]) * untrained_fid


def records(runs: dict[str, dict[int, dict]], seeds: list[int], real: dict, ladder: dict, untrained_fid: float,
            ssl: dict[int, dict] | None = None, ssl_untrained_fid: float | None = None) -> dict[int, dict]:
    """``records[seed]``: every variant's FID (with noise), learned flag, log late swing of FID, class histogram as
    the CNN and the SVM read it (KL to the real one with its noise, classes covered), Inception Score; the
    semi-supervised GAN's FID and learned flag, and its paired test against the supervised network; the real
    images' Inception Score and the ladder at the seed's level."""
    from ..metrics import spearman

    out = {}
    for i, s in enumerate(seeds):
        rec: dict = {}
        for v, per in runs.items():
            q = per[s]["final"]
            a = {"fid": q["fid"], "fid_noise": q["fid_noise"], "learned": learned(q["fid"], untrained_fid),
                 "inception_score": q["inception_score"][0], "inception_score_std": q["inception_score"][1],
                 "kl_to_real[cnn]": q["kl_to_real"], "kl_to_real_noise[cnn]": q["kl_noise"],
                 "classes_covered[cnn]": q["classes_covered"]}
            if "kl_to_real_svm" in q:
                a.update({"kl_to_real[svm]": q["kl_to_real_svm"], "kl_to_real_noise[svm]": q["kl_noise_svm"],
                          "classes_covered[svm]": q["classes_covered_svm"]})
            if len(per[s]["evals"]) >= 6:
                a["log_fid_swing"] = float(np.log(max(fid_fluctuation(per[s]["evals"]), 1e-6)))
            rec[v] = a
        if ssl is not None and s in ssl:
            r = ssl[s]
            rec["semi_supervised"] = {"fid": r["quality"]["fid"], "fid_noise": r["quality"]["fid_noise"],
                                      "learned": learned(r["quality"]["fid"], ssl_untrained_fid)}
            from .selftrain import mcnemar

            rec["mc_ssl"] = mcnemar(r["correct"]["gan"], r["correct"]["supervised_only"])
        rec["real"] = {"inception_score": real["inception_score"][0], "inception_score_std": real["inception_score"][1]}
        names = list(runs)
        rec["ladder_monotone"] = bool(all(a > b for a, b in zip(ladder["inception_score"], ladder["inception_score"][1:])))
        rec["spearman_is_fid"] = spearman([runs[n][s]["final"]["inception_score"][0] for n in names],
                                          [-runs[n][s]["final"]["fid"] for n in names]) if len(names) > 2 else None
        out[s] = rec
    return out


def _is_ranks_real(rec):
    gen = {v: a for v, a in rec.items() if isinstance(a, dict) and "inception_score" in a and v != "real"}
    r = rec["real"]
    below = {v: bool(a["inception_score"] + a["inception_score_std"] < r["inception_score"] - r["inception_score_std"])
             for v, a in gen.items()}
    return (1.0 if all(below.values()) else -1.0), {"real": r["inception_score"], "below_real": below}


def _is_agrees(rec, rho_min):
    rho = rec["spearman_is_fid"]
    if rho is None or not np.isfinite(rho):
        return None, {"why": "fewer than 3 variants to rank"}
    v = 1.0 if rec["ladder_monotone"] and rho >= float(rho_min) else 0.5 if rec["ladder_monotone"] or rho >= float(rho_min) else -1.0
    return v, {"ladder_monotone": rec["ladder_monotone"], "spearman_is_vs_minus_fid": rho}


def declare_claims(variants: list[str], with_ssl: bool) -> list[Claim]:
    """The paper's claims as the notes state them (and the notebook's own "all together") as declarations."""
    readers = ("cnn", "svm")
    claims = []
    if "minibatch_disc" in variants:
        claims.append(Claim("mbd_collapse", "Minibatch discrimination reduces mode collapse (a class histogram closer "
                            "to the real one, and no fewer classes covered)", f"{SOURCE}, minibatch discrimination",
                            settings={"class histogram (KL to real)": Compare("kl_to_real", "minibatch_disc", "baseline",
                                                                              noise="{metric}_noise", readers=readers),
                                      "classes covered": Compare("classes_covered", "minibatch_disc", "baseline",
                                                                 higher_is_better=True, noise=None, readers=readers)},
                            note="class histograms read by the CNN and by a pixel-space SVM: a seed where they "
                                 "disagree ties"))
    if "feature_matching" in variants:
        claims.append(Claim("fm_stability", "Feature matching makes training more stable (smaller late swings of FID "
                            "around its trend)", f"{SOURCE}, feature matching",
                            Compare("log_fid_swing", "feature_matching", "baseline", noise=None,
                                    margin=T["stability_margin"])))
    for name, text in (("label_smoothing", "One-sided label smoothing (0.9) gives better samples than the baseline"),
                       ("vbn", "Virtual batch normalization in G gives better samples than the baseline"),
                       ("historical_avg", "Historical averaging gives better samples than the baseline"),
                       ("all", "All techniques together give better samples than the baseline (this notebook's "
                               "combination; the paper trained none)")):
        if name in variants:
            claims.append(Claim(f"{name}_better", text, f"{SOURCE}, {name.replace('_', ' ')}" if name != "all"
                                else "beyond the document", Compare("fid", name, "baseline")))
    claims.append(Claim("is_ranks_real", "The Inception Score ranks real images above every generated set",
                        f"{SOURCE}, Inception Score",
                        Rule(_is_ranks_real, "every variant's IS + its split std below the real IS - its split std",
                             reads=("inception_score",))))
    claims.append(Claim("is_agrees_quality", "The Inception Score agrees with sample quality (falls as real images are "
                        "degraded; ranks the variants as FID does)", f"{SOURCE}, Inception Score",
                        Rule(_is_agrees, "IS falls at every rung of the noise ladder AND its Spearman correlation with "
                             "-FID over the variants >= spearman_min (one of the two: partly)",
                             uses=(T["spearman_min"],), reads=("inception_score", "fid"))))
    if with_ssl:
        claims.append(Claim("ssl_beats_supervised", "With 100 labels, the semi-supervised GAN's discriminator "
                            "classifies better than the same network trained on the 100 labels alone",
                            "Salimans et al. 2016, section 5 and Table 1 (the notes leave it out)",
                            Paired("mc_ssl", "semi-supervised GAN", "supervised only"),
                            note="exact McNemar test on the held-out digits, per seed"))
        if "minibatch_disc" in variants:
            claims.append(Claim("ssl_samples_worse", "The semi-supervised (feature-matching) generator's samples are "
                                "worse than minibatch discrimination's", "Salimans et al. 2016, section 5: 'feature "
                                "matching ... did not produce good samples'",
                                Compare("fid", "minibatch_disc", "semi_supervised")))
    return claims


def ablation_claims(runs: dict[str, dict[int, dict]], seeds: list[int], real: dict, ladder: dict, untrained_fid: float,
                    ssl: dict[int, dict] | None = None, ssl_untrained_fid: float | None = None,
                    controls: list[Control] = (), smoke: bool = False) -> tuple[list[Claim], list[dict]]:
    """``(declared, judged)``: the claims and their verdicts from every seed's records."""
    from ..claims import judge

    declared = declare_claims(list(runs), ssl is not None)
    return declared, judge(declared, records(runs, seeds, real, ladder, untrained_fid, ssl, ssl_untrained_fid),
                           controls, smoke)


def controls(evaluator: Evaluator, reader, real: ImageSet, untrained_fid: float, other_untrained: torch.Tensor,
             kept: dict[int, float], ssl: dict[int, dict] | None = None) -> list[Control]:
    """Every metric a verdict of this notebook reads, on known answers: FID; the learned-check; each reader's class
    histogram on real digits against one class only; the Inception Score on real digits of k classes (about k);
    the late-swing measure on a steady and a swinging curve; the paired test on a planted difference."""
    from ..evaluate import fid_control, reader_coverage

    out = [fid_control(evaluator, real.images)]
    q_real, q_other = evaluator.quick(real.images)["fid"], evaluator.quick(other_untrained)["fid"]
    out.append(Control("learned", f"FID against {float(T['learned_fid_ratio']):g} x the untrained generator's "
                       f"({untrained_fid:.1f})", "real images", "another untrained generator", q_real, q_other,
                       learned(q_real, untrained_fid) and not learned(q_other, untrained_fid),
                       "real passes, untrained does not"))
    one = real.images[real.labels == real.labels[0]]
    for name in ("cnn", "svm"):
        if name == "cnn":
            pos, neg = evaluator.full(one, neighbours=False), evaluator.full(real.images, neighbours=False)
            cov = lambda q: (q["classes_covered"], q["kl_to_real"])
        else:
            pos, neg = reader_coverage(reader, one, evaluator), reader_coverage(reader, real.images, evaluator)
            cov = lambda q: (q["classes_covered_svm"], q["kl_to_real_svm"])
        (cp, kp), (cn, kn) = cov(pos), cov(neg)
        out.append(Control("kl_to_real", f"class histogram as the {name} reads it (KL to real)", "real digits of one "
                           "class", "real digits", kp, kn, bool(kp > kn + 1.0), "one class far above real"))
        out.append(Control("classes_covered", f"classes covered as the {name} reads them", "real digits of one class",
                           "real digits", cp, cn, bool(cp < cn), "one class < real"))
    ks = sorted(kept)
    out.append(Control("inception_score", "Inception Score of real digits of the first k classes", f"k = {ks[-1]}",
                       f"k = {ks[0]}", kept[ks[-1]], kept[ks[0]],
                       bool(all(kept[a] < kept[b] for a, b in zip(ks, ks[1:]))), "rises with k at every step"))
    steps = np.arange(8)
    fs = fid_fluctuation([{"fid": 40.0 - 3 * i} for i in steps])
    fw = fid_fluctuation([{"fid": 40.0 - 3 * i + (8 if i % 2 else -8)} for i in steps])
    out.append(Control("log_fid_swing", "late swing of FID around its trend", "a curve that swings by 8 around its "
                       "trend", "a steady descent", fw, fs,
                       bool(np.log(max(fw, 1e-6)) - np.log(max(fs, 1e-6)) > float(T["stability_margin"])),
                       "swinging above steady by more than stability_margin (log scale)"))
    if ssl:
        from .selftrain import mcnemar

        right = next(iter(ssl.values()))["correct"]["gan"]
        worse = right.copy()
        worse[np.flatnonzero(right)[::10]] = False  # every tenth right answer made wrong
        test = Paired("mc", "A", "B")
        pos, neg = test.judge({"mc": mcnemar(right, worse)}), test.judge({"mc": mcnemar(right, right)})
        out.append(Control("held_out_accuracy", "exact McNemar test on the held-out digits", "the GAN's classifier "
                           "against a copy with a tenth of its right answers made wrong", "the classifier against "
                           "itself", pos.evidence["p_value"], neg.evidence["p_value"],
                           bool(pos.value == 1 and neg.value == 0), "planted difference found, none against itself"))
    return out


def paired_starts(runs: dict[str, dict[int, dict]]) -> dict:
    """Each variant's first mean fake logit against the baseline's, per seed, and whether all are within
    ``paired_starts`` (the check that every variant of a seed starts where the baseline does)."""
    base = runs["baseline"]
    gap = {v: {s: r["initial_fake_logit"] - base[s]["initial_fake_logit"] for s, r in per.items()}
           for v, per in runs.items()}
    return {"gap": gap, "within": bool(all(abs(g) <= float(T["paired_starts"]) for per in gap.values()
                                           for g in per.values()))}


# ---------------------------------------------------------------------------------------------
# The Inception Score: known answers, pitfalls, a ladder of degraded real images
# ---------------------------------------------------------------------------------------------

def classes_kept_scores(evaluator: Evaluator, s: ImageSet, ks=(1, 2, 5, 10)) -> dict[int, float]:
    """IS (one split) of real images restricted to their first k classes: about k for a confident classifier."""
    probs = evaluator.probs(s.images)
    return {k: inception_score(probs[s.labels < k], 1)[0] for k in ks}


def degradation_ladder(evaluator: Evaluator, images: torch.Tensor, noise_std=(0.0, 0.2, 0.4, 0.8, 1.6),
                       splits: int = 10, seed: int = 0) -> dict:
    """Real images with Gaussian pixel noise of growing std (an order known in advance): IS and FID per rung."""
    g = torch.Generator().manual_seed(seed)
    out = {"noise_std": list(noise_std), "inception_score": [], "inception_score_std": [], "fid": []}
    for sd in noise_std:
        x = (images + sd * torch.randn(images.shape, generator=g)).clamp(-1, 1)
        m, s = inception_score(evaluator.probs(x), min(splits, len(x)))
        out["inception_score"].append(m), out["inception_score_std"].append(s)
        out["fid"].append(evaluator.quick(x)["fid"])
    return out


def pitfall_scores(evaluator: Evaluator, s: ImageSet, seed: int = 0, splits: int = 10) -> dict[str, float]:
    """The same real images scored under the conventions that make published numbers disagree."""
    clf, x = evaluator.network, s.images
    probs = evaluator.probs(x)
    shuffled = torch.randperm(len(probs), generator=torch.Generator().manual_seed(seed))
    head = clf.heads[next(iter(clf.heads))]
    no_bias = torch.softmax(extract_features(clf, x).double() @ head.weight.double().T, 1)  # the reference drops the bias
    logits = torch.log(probs)
    extra = torch.softmax(torch.cat([logits, logits.mean(1, keepdim=True).expand(-1, 8)], 1), 1)  # 8 unused classes
    half = F.interpolate(x, scale_factor=0.5, mode="area")
    up = {m: evaluator.probs(F.interpolate(half, size=x.shape[-2:], mode=m)) for m in ("nearest", "bilinear")}
    m, sd = inception_score(probs, splits)
    return {f"reference ({splits} contiguous splits, np.std)": m, "reference std (np.std, ddof=0)": sd,
            "std with ddof=1 (torch.std, torchmetrics)": float(sd * np.sqrt(splits / (splits - 1))),
            "1 split (sbarratt/inception-score-pytorch default)": inception_score(probs, 1)[0],
            "splits of 10 images": inception_score(probs, max(1, len(probs) // 10))[0],
            f"{splits} splits, shuffled first (torchmetrics)": inception_score(probs[shuffled], splits)[0],
            f"{splits} splits, data sorted by class": inception_score(probs[torch.argsort(s.labels, stable=True)], splits)[0],
            "logits without the bias term": inception_score(no_bias, splits)[0],
            "8 extra unused classes (1008 vs 1000)": inception_score(extra, splits)[0],
            "half resolution, nearest upsampling": inception_score(up["nearest"], splits)[0],
            "half resolution, bilinear upsampling": inception_score(up["bilinear"], splits)[0]}

