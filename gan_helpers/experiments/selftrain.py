r"""Notebook 03: self-training a GAN discriminator into a good/bad face classifier, over seeds.

E. A. Scuccimarra, "Creating a Dataset of Faces for my Autoencoder with Semi-supervised Learning" (blog post, 2019,
http://ericscuccimarra.com/blog/autoencoder-face-dataset): the discriminator of a face GAN, its head replaced,
fine-tuned on a labelled seed set, then rounds of moving the confident pool images (p < 0.03 to bad, p > 0.99 to
good) into the training set (:class:`gan_helpers.selftrain.SelfTraining`).

Per seed, :func:`gan_start` trains the face GAN (unless a discriminator checkpoint is given) and runs
the loop from its discriminator; :func:`random_start` runs the same loop from a randomly initialised
discriminator of the same shape. Round 0 of each loop is one fine-tune on the seed set, so two loops
give the four compared methods. :func:`selftrain_claims` judges the document's claims on every seed:
a paired difference in held-out accuracy counts in a seed only where an exact McNemar test gives
p < ``alpha``; over the seeds the rule of :mod:`gan_helpers.evaluate` applies.
"""
from __future__ import annotations

import numpy as np
import torch

from ..evaluate import Evaluator, combine_verdicts
from ..images import ImageSet
from ..models import Discriminator
from ..results import claim, verdict
from ..runtime import call, run_tasks
from ..selftrain import GOOD, ImagePool, SelfTrainConfig, SelfTraining, gan_training_images, load_discriminator, replace_head
from ..train import GANTrainer, TrainConfig

SOURCE = "Faces for my Autoencoder (2019 blog)"


def train_face_gan(images: torch.Tensor, seed: int, iterations: int, model: dict, train: dict, evaluator: Evaluator,
                   eval_every: int) -> tuple[Discriminator, dict]:
    """The DCGAN behind the classifier: trained on ``images`` (seed set plus unlabelled pool images, no
    labels) for ``iterations``; FID against real faces every ``eval_every``. Returns D and a record."""
    t = GANTrainer(images, config=TrainConfig(seed=seed, sample_at=(iterations,), **train), **model)
    t.fit(iterations, eval_every=eval_every, eval_fn=evaluator)
    late = max(1, iterations // 10)
    samples = t.sample(evaluator.n_samples, seed=seed)
    return t.D.cpu(), {"evals": t.evals, "grid": t.samples[iterations], "samples": samples, "wall_s": t.wall_s,
                       "quality": evaluator.full(samples, neighbours=False),
                       "d_x_late": float(np.mean(t.history["d_x"][-late:])),
                       "d_g_z_late": float(np.mean(t.history["d_g_z"][-late:])),
                       "history": {k: t.history[k] for k in ("d_loss", "g_loss", "d_x", "d_g_z")}}


def _loop(D: Discriminator, seed: int, seed_set: ImageSet, pool: ImagePool, config: SelfTrainConfig, test, pool_good,
          pool_kind, name: str) -> SelfTraining:
    import dataclasses

    cfg = dataclasses.replace(config, seed=seed)
    return SelfTraining(replace_head(D), seed_set, pool, cfg, test, pool_good, pool_kind, name).run(progress=False).detach()


def gan_start(seed: int, faces, pool: ImagePool, config: SelfTrainConfig, checkpoint: str, gan: dict) -> dict:
    """One seed's GAN (or the checkpoint's discriminator) and the self-training loop started from it."""
    if checkpoint:
        D, record = load_discriminator(checkpoint, gan["model"]["ndf"], faces.seed.image_size), None
    else:
        images = gan_training_images(faces.seed, pool, gan["pool_images"], seed)
        D, record = train_face_gan(images, seed, gan["iterations"], gan["model"], gan["train"], gan["evaluator"],
                                   gan["eval_every"])
    run = _loop(D, seed, faces.seed, pool, config, faces.test, faces.pool_good, faces.pool_kind, "gan")
    return {"seed": seed, "kind": "gan", "gan": record, "run": run}


def random_start(seed: int, faces, pool: ImagePool, config: SelfTrainConfig, ndf: int) -> dict:
    """The same loop from a randomly initialised discriminator of the same shape (DCGAN initialisation)."""
    torch.manual_seed(seed)
    D = Discriminator(ndf, 3, faces.seed.image_size)
    return {"seed": seed, "kind": "random",
            "run": _loop(D, seed, faces.seed, pool, config, faces.test, faces.pool_good, faces.pool_kind, "random_init")}


def run(seeds: list[int], faces, pool: ImagePool, config: SelfTrainConfig, checkpoint: str, gan: dict,
        workers: int | None = None, progress: bool = False) -> dict[int, dict]:
    """Both loops under every seed, spread over worker processes: ``{seed: {"gan": record, "gan_run", "random_run"}}``."""
    tasks = [(gan_start, (s, faces, pool, config, checkpoint, gan)) for s in seeds] + \
            [(random_start, (s, faces, pool, config, gan["model"]["ndf"])) for s in seeds]
    cost = [1.0 if checkpoint else 2.5] * len(seeds) + [1.0] * len(seeds)
    out = run_tasks(call, tasks, workers, cost=cost, progress=progress, desc="seeds x starts")
    runs = {s: {} for s in seeds}
    for r in out:
        runs[r["seed"]][f"{r['kind']}_run"] = r["run"]
        if r["kind"] == "gan":
            runs[r["seed"]]["gan"] = r["gan"]
    return runs


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


def _paired(a: SelfTraining, ra: int, b: SelfTraining, rb: int, alpha: float) -> tuple[str, dict]:
    """The verdict of "A (after round ra) beats B (after round rb)" in one seed, and the test."""
    st = mcnemar(_correct(a, ra), _correct(b, rb))
    w = better(st, alpha)
    return ("inconclusive" if w is None else verdict(w)), st


def selftrain_claims(runs: dict[int, dict], min_precision: float = 0.98, min_sorted_accuracy: float = 0.95,
                     alpha: float = 0.05) -> list[dict]:
    """The document's claims, each judged in every seed and combined over the seeds
    (:func:`gan_helpers.evaluate.combine_verdicts`). ``runs[seed]`` holds ``gan_run`` and ``random_run``."""
    seeds = sorted(runs)
    g = {s: runs[s]["gan_run"] for s in seeds}
    r = {s: runs[s]["random_run"] for s in seeds}
    truth = g[seeds[0]].pool_truth is not None
    has_test = g[seeds[0]].test is not None
    claims = []

    # 1. what moves is correctly classified
    prec = {s: [x["precision_moved"] for x in g[s].rounds if x["round"] > 0 and x["precision_moved"] is not None] for s in seeds}
    wrong_kinds = {}
    v1 = {}
    for s in seeds:
        moved = sum(x["moved_to_good"] + x["moved_to_bad"] for x in g[s].rounds if x["round"] > 0)
        wrong = sum(x["wrong_moved"] or 0 for x in g[s].rounds if x["round"] > 0)
        overall = None if not truth or moved == 0 else 1 - wrong / moved
        v1[s] = "inconclusive" if overall is None else verdict(all(p >= min_precision for p in prec[s]), partly=overall >= 0.9)
        if truth and g[s].pool_kind is not None:
            bad_to_good = np.flatnonzero((g[s].status == GOOD) & (g[s].pool_truth == 0))
            wrong_kinds[s] = {str(k): int(n) for k, n in zip(*np.unique(g[s].pool_kind[bad_to_good], return_counts=True))}
    claims.append(claim("The images which are moved all seem to be correctly classified", f"{SOURCE}, paragraph 7",
                        combine_verdicts(list(v1.values())),
                        {"per_seed": v1, "precision_per_round": prec, "required_every_round": min_precision,
                         "bad_kinds_moved_to_good": wrong_kinds, "ground_truth": truth}))

    # 2. the labelled set grows every round
    growth = {s: [x["moved_to_good"] + x["moved_to_bad"] for x in g[s].rounds if x["round"] > 0] for s in seeds}
    v2 = {s: "inconclusive" if not growth[s] else verdict(all(n > 0 for n in growth[s]), partly=any(growth[s]))
          for s in seeds}
    claims.append(claim("After each iteration the size of the training dataset grows", f"{SOURCE}, paragraph 7",
                        combine_verdicts(list(v2.values())),
                        {"per_seed": v2, "growth_per_round": growth, "stop_reason": {s: g[s].stop_reason for s in seeds}}))

    # 3. a GAN discriminator is a better start than random weights; 5. self-training beats one fine-tune
    if has_test:
        v3, ev3 = {}, {}
        for s in seeds:
            loop_v, loop = _paired(g[s], g[s].rounds[-1]["round"], r[s], r[s].rounds[-1]["round"], alpha)
            once_v, once = _paired(g[s], 0, r[s], 0, alpha)
            v3[s] = combine_verdicts([loop_v, once_v]) if "does not hold" not in (loop_v, once_v) else "does not hold"
            ev3[s] = {"selftrain_gan_vs_random_init": loop, "once_gan_vs_scratch": once}
        claims.append(claim("Starting from a GAN discriminator (transfer learning) beats starting from scratch",
                            f"{SOURCE}, paragraphs 5 and 7", combine_verdicts(list(v3.values())),
                            {"per_seed": v3, "tests": ev3, "alpha": alpha,
                             "rule": "per seed: exact McNemar test on the held-out set, after the loop and after one fine-tune"}))
    s_sum = {s: g[s].summary() for s in seeds}
    v4 = {s: verdict(s_sum[s]["sorted_fraction"] >= 0.99 and (s_sum[s]["sorted_accuracy"] is None
                                                              or s_sum[s]["sorted_accuracy"] >= min_sorted_accuracy),
                     partly=s_sum[s]["sorted_fraction"] >= 0.5) for s in seeds}
    claims.append(claim("The whole pool can be sorted this way", f"{SOURCE}, paragraph 7", combine_verdicts(list(v4.values())),
                        {"per_seed": v4, "sorted_fraction": {s: s_sum[s]["sorted_fraction"] for s in seeds},
                         "sorted_accuracy": {s: s_sum[s]["sorted_accuracy"] for s in seeds},
                         "required_sorted_accuracy": min_sorted_accuracy}))
    if has_test:
        v5, ev5 = {}, {}
        for s in seeds:
            v5[s], ev5[s] = _paired(g[s], g[s].rounds[-1]["round"], g[s], 0, alpha)
        claims.append(claim("Self-training improves the classifier over the one fine-tune on the seed set",
                            f"{SOURCE}, paragraph 7 (\"works a lot better than I thought\")",
                            combine_verdicts(list(v5.values())),
                            {"per_seed": v5, "selftrain_vs_once": ev5, "alpha": alpha}))
    return claims


def face_feature_labels(s: ImageSet) -> dict[str, torch.Tensor]:
    """What the FID feature network learns on the built-in faces: the kind (good and the four bad kinds),
    binned yaw and the number of faces, so that its features see layout and pose as well as style."""
    kinds = sorted(set(s.attributes["kind"].tolist()))
    return {"kind": torch.as_tensor([kinds.index(k) for k in s.attributes["kind"]]),
            "yaw": torch.as_tensor(np.digitize(np.abs(s.attributes["yaw"]), [10, 30, 60])),
            "n_faces": torch.as_tensor(np.minimum(s.attributes["n_faces"].astype(int), 2))}


def consensus(runs: dict[int, dict]) -> SelfTraining:
    """The seeds' GAN-start loops combined: each pool image goes to the list most seeds sorted it into
    (a tie: unsure), with the mean of the seeds' last p(good). A copy of the first seed's record otherwise."""
    import copy

    seeds = sorted(runs)
    first = copy.copy(runs[seeds[0]]["gan_run"])
    status = np.stack([runs[s]["gan_run"].status for s in seeds])
    out = np.full(status.shape[1], -1)
    for v in (1, 0, -2):  # GOOD, BAD, UNREADABLE
        out[(status == v).sum(0) * 2 > len(seeds)] = v
    first.status = out
    first.moved_round = np.where(out == runs[seeds[0]]["gan_run"].status, first.moved_round, 0)
    with np.errstate(invalid="ignore"):
        p = np.stack([runs[s]["gan_run"].last_p for s in seeds])
        first.last_p = np.where(np.isnan(p).all(0), np.nan, np.nansum(p, 0) / np.maximum((~np.isnan(p)).sum(0), 1))
    return first
