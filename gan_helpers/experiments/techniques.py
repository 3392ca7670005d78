r"""Notebook 05: the techniques of Salimans et al. 2016, "Improved Techniques for Training GANs"
(arXiv:1606.03498; notes in ``../shared/seeds/004_*.txt``), as an ablation over seeds.

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

from ..evaluate import Evaluator, all_seeds_verdict, better_verdict, compare_over_seeds, extract_features, spread
from ..images import ImageSet
from ..metrics import class_coverage, frechet_distance, inception_score
from ..models import Discriminator, Generator, MinibatchDiscriminator, VBNGenerator
from ..objectives import ImprovedGANLoss
from ..results import claim
from ..runtime import run_tasks
from ..train import GANTrainer, TrainConfig

SOURCE = "Salimans et al. 2016 (notes)"
TECHNIQUES = ("feature_matching", "minibatch_disc", "historical_avg", "label_smoothing", "vbn")
VARIANTS = ("baseline", *TECHNIQUES, "all")
VBN_REF_SEED = 1_000_003  # VBN's reference latents come from seed + this, apart from the trainer's noise
COST = {"vbn": 1.6, "minibatch_disc": 1.1, "feature_matching": 1.1, "historical_avg": 1.1}  # relative to baseline


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
    baseline D's body and its head's weights on f(x); only the minibatch columns (and T) are its own."""
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


def historical_share(t: GANTrainer, weight: float) -> dict[str, float]:
    """||gradient of lambda * penalty|| / ||gradient of the player's whole loss||, from the last step's .grad
    (the penalty's gradient is 2 lambda (theta - mean), against the mean after the step)."""
    out = {}
    for player, net in (("D", t.D), ("G", t.G)):
        params = [p for p in net.parameters() if p.requires_grad]
        mean = t.objective.state_dict()[player]["mean"]
        pen = torch.sqrt(sum(((2 * weight * (p.detach() - m)) ** 2).sum() for p, m in zip(params, mean)))
        tot = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in params if p.grad is not None))
        out[player] = float(pen / tot.clamp_min(1e-12))
    return out


def train_variant(variant: str, seed: int, images: torch.Tensor, evaluator: Evaluator, setup: Setup) -> dict:
    """Train one variant from ``seed``; track :func:`quick_eval` every ``eval_every`` iterations and score
    ``n_final_samples`` fresh samples with every metric at the end. Returns plain data."""
    G, D, objective = build_variant(variant, setup, seed)
    grid_at = sorted({setup.iterations} | {i for i in range(setup.eval_every, setup.iterations + 1, setup.eval_every)})
    cfg = TrainConfig(batch_size=setup.batch_size, lr_g=setup.lr, lr_d=setup.lr, betas=(setup.beta1, 0.999),
                      seed=seed, amp=setup.amp, device=setup.device, sample_at=tuple(grid_at), n_fixed=64)
    t = GANTrainer(images, G, D, objective, cfg)
    shares: list[dict] = []
    hooks = {max(1, setup.eval_every // 2): lambda tr: shares.append(historical_share(tr, setup.historical_weight))} \
        if objective.historical_weight else None
    t.fit(setup.iterations, eval_every=setup.eval_every,
          eval_fn=lambda tr: quick_eval(evaluator, tr.sample(setup.n_eval_samples)), hooks=hooks)
    samples = t.sample(setup.n_final_samples, seed=100_000 + seed)  # the same z for every variant of a seed
    keep = [k for k in ("d_loss", "g_loss", "g_nonsat", "fm_loss", "d_x", "d_g_z", "hist_penalty_d", "hist_penalty_g")
            if k in t.history]
    return {"variant": variant, "seed": seed, "techniques": techniques_of(variant, setup.all_techniques),
            "final": evaluator.full(samples), "evals": t.evals, "history": {k: t.history[k] for k in keep},
            "grids": {i: g[:36] for i, g in t.samples.items()}, "samples": samples, "wall_s": t.wall_s,
            "historical_share": {p: float(np.mean([s[p] for s in shares])) for p in ("D", "G")} if shares else None}


def run_ablation(images: torch.Tensor, variants: list[str], seeds: list[int], evaluator: Evaluator, setup: Setup,
                 workers: int | None = None, progress: bool = False) -> dict[str, dict[int, dict]]:
    """``runs[variant][seed]``: every variant under every seed, spread over worker processes."""
    for v in variants:
        techniques_of(v, setup.all_techniques)
    tasks = [(v, s, images, evaluator, setup) for v in variants for s in seeds]
    cost = [COST.get(v, 1.0) * (1.8 if v == "all" else 1.0) for v, *_ in tasks]
    runs: dict[str, dict[int, dict]] = {}
    for r in run_tasks(train_variant, tasks, workers, cost=cost, progress=progress, desc="variants x seeds"):
        runs.setdefault(r["variant"], {})[r["seed"]] = r
    return runs


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

def _per_seed(runs, name, key, seeds):
    return [runs[name][s]["final"][key] for s in seeds]


def ablation_claims(runs: dict[str, dict[int, dict]], seeds: list[int], real: dict, ladder: dict,
                    stable_factor: float = 0.75) -> list[dict]:
    """The document's claims, each from every seed's numbers (:func:`gan_helpers.evaluate.compare_over_seeds`:
    per seed a win beyond twice the bootstrap noise, a loss, or a tie; then :func:`better_verdict`)."""
    claims, base = [], "baseline"
    fid = lambda n: _per_seed(runs, n, "fid", seeds)
    noise = lambda n: _per_seed(runs, n, "fid_noise", seeds)

    if "minibatch_disc" in runs:  # 1. fewer collapsed modes: a closer class histogram, no fewer classes
        kl = {n: _per_seed(runs, n, "kl_to_real", seeds) for n in (base, "minibatch_disc")}
        cls = {n: _per_seed(runs, n, "classes_covered", seeds) for n in (base, "minibatch_disc")}
        out = compare_over_seeds(kl["minibatch_disc"], kl[base], _per_seed(runs, "minibatch_disc", "kl_noise", seeds),
                                 _per_seed(runs, base, "kl_noise", seeds))
        out = [o if not (o == 1 and c < b) else 0 for o, c, b in zip(out, cls["minibatch_disc"], cls[base])]
        claims.append(claim("Minibatch discrimination reduces mode collapse (class histogram closer to the real one, "
                            "no fewer classes covered)", f"{SOURCE}, minibatch discrimination", better_verdict(out),
                            {"kl_to_real": kl, "classes_covered": cls, "per_seed": out,
                             "real_kl_to_real": real["kl_to_real"], "real_classes_covered": real["classes_covered"]}))

    if "feature_matching" in runs:  # 2. more stable: over training (per seed) and over seeds
        fl = {n: [fid_fluctuation(runs[n][s]["evals"]) for s in seeds] for n in (base, "feature_matching")}
        over_training = [1 if f < stable_factor * b else -1 if f > b / stable_factor else 0
                         for f, b in zip(fl["feature_matching"], fl[base])]
        cv = {n: spread(fid(n))["std"] / spread(fid(n))["mean"] for n in (base, "feature_matching")}
        seeds_ok = None if len(seeds) < 2 else cv["feature_matching"] < stable_factor * cv[base]
        seeds_worse = len(seeds) >= 2 and cv["feature_matching"] > cv[base] / stable_factor
        v_train = better_verdict(over_training)
        v = ("holds" if v_train == "holds" and seeds_ok else "does not hold" if v_train == "does not hold" and seeds_worse
             else "partly" if v_train in ("holds", "partly") or seeds_ok else
             "does not hold" if v_train == "does not hold" or seeds_worse else "inconclusive")
        claims.append(claim("Feature matching makes training more stable (smaller swings of FID around its trend late "
                            "in training, and a smaller spread of final FID between seeds)", f"{SOURCE}, feature matching", v,
                            {"fid_fluctuation_late": fl, "per_seed": over_training, "over_training": v_train,
                             "final_fid": {n: fid(n) for n in (base, "feature_matching")},
                             "fid_cv_over_seeds": cv, "threshold": stable_factor}))

    for name, text in (("label_smoothing", "One-sided label smoothing (0.9) gives better samples than the baseline"),
                       ("vbn", "Virtual batch normalization in G gives better samples than the baseline"),
                       ("historical_avg", "Historical averaging gives better samples than the baseline"),
                       ("all", "All techniques together give better samples than the baseline")):
        if name in runs:  # 3-6: FID against the baseline's, per seed beyond twice the bootstrap noise
            out = compare_over_seeds(fid(name), fid(base), noise(name), noise(base))
            ev = {"fid": {n: fid(n) for n in (base, name)}, "fid_noise": {n: noise(n) for n in (base, name)},
                  "per_seed": out, "inception_score": {n: _per_seed(runs, n, "inception_score", seeds) for n in (base, name)}}
            if name == "historical_avg":
                ev["penalty_gradient_share"] = [runs[name][s]["historical_share"] for s in seeds]
            claims.append(claim(text, f"{SOURCE}, {name.replace('_', ' ')}", better_verdict(out), ev))

    # 7. the IS ranks held-out real images above every generated set, in every seed (beyond both split stds)
    is_real, sd_real = real["inception_score"]
    gen = {n: _per_seed(runs, n, "inception_score", seeds) for n in runs}
    above = [all(is_real - sd_real > m + s for m, s in (gen[n][i] for n in runs)) for i in range(len(seeds))]
    claims.append(claim("The Inception Score ranks real images above every generated set", f"{SOURCE}, Inception Score",
                        all_seeds_verdict(above), {"real": real["inception_score"], "generated": gen, "per_seed": above}))

    # 8. the IS agrees with quality: falls down the ladder, and ranks the variants as FID does in every seed
    lad = ladder["inception_score"]
    monotone = all(a > b for a, b in zip(lad, lad[1:]))
    names = list(runs)
    rho = [_spearman([gen[n][i][0] for n in names], [-fid(n)[i] for n in names]) for i in range(len(seeds))]
    agree = [monotone and r >= 0.5 for r in rho]
    claims.append(claim("The Inception Score agrees with sample quality (falls as real images are degraded; ranks the "
                        "variants as FID does)", f"{SOURCE}, Inception Score", all_seeds_verdict(agree),
                        {"ladder_noise_std": ladder["noise_std"], "ladder_is": lad, "ladder_fid": ladder["fid"],
                         "ladder_monotone": monotone, "spearman_is_vs_minus_fid_per_seed": rho}))
    return claims


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 2 else float("nan")


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

