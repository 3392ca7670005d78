r"""Notebook 03: self-training a GAN discriminator into a good/bad face classifier, over seeds.

E. A. Scuccimarra, "Creating a Dataset of Faces for my Autoencoder with Semi-supervised Learning" (blog post, 2019,
http://ericscuccimarra.com/blog/autoencoder-face-dataset): the discriminator of a face GAN, its head replaced,
fine-tuned on a labelled seed set, then rounds of moving the confident pool images (p < 0.03 to bad, p > 0.99 to
good) into the training set (:class:`gan_helpers.selftrain.SelfTraining`).

Per seed, :func:`gan_start` trains the face GAN (unless a discriminator checkpoint is given) and runs
the loop from its discriminator; :func:`random_start` runs the same loop from a randomly initialised
discriminator of the same shape. Round 0 of each loop is one fine-tune on the seed set, so two loops
give the four compared methods; every training phase of both loops stops when the loss on a held-out part
of the seed set stops improving (early stopping), so the random start is not a baseline stopped early.
:func:`selftrain_claims` judges the document's claims on every seed with the one claims engine
(:mod:`gan_helpers.claims`): a paired difference in held-out accuracy counts in a seed only where an exact
McNemar test gives p < 0.05.
"""
from __future__ import annotations

import numpy as np
import torch

from ..claims import Claim, Control, Paired, Rule, Threshold, declare
from ..evaluate import Evaluator
from ..images import ImageSet
from ..models import Discriminator
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


def checkpoint_check(value, params: dict) -> str | None:
    """The notebook's check of ``discriminator_checkpoint``, before any work: ``""`` (train a GAN here) or a
    checkpoint that loads as a discriminator of this run's ``ndf`` and ``image_size`` (else why not)."""
    from ..runtime import CheckpointError

    if value == "":
        return None
    if not isinstance(value, str):
        return "'' or the path of a discriminator checkpoint"
    try:
        load_discriminator(value, params.get("ndf", 64), params.get("image_size", 32))
    except CheckpointError as e:
        return f"'' or a usable discriminator checkpoint, and {e}"
    return None


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
        workers: int | None = None, progress: bool = False, cache=None) -> dict[int, dict]:
    """Both loops under every seed, spread over worker processes: ``{seed: {"gan": record, "gan_run", "random_run"}}``.
    ``cache``: reuse finished tasks (``run.cache``); a ``checkpoint``'s content is part of their keys."""
    tasks = [(gan_start, (s, faces, pool, config, checkpoint, gan)) for s in seeds] + \
            [(random_start, (s, faces, pool, config, gan["model"]["ndf"])) for s in seeds]
    cost = [1.0 if checkpoint else 2.5] * len(seeds) + [1.0] * len(seeds)
    if cache is not None and checkpoint:
        from ..cache import file_digest

        cache = cache.depending_on(checkpoint=file_digest(checkpoint))  # the tasks read the file by its path
    out = run_tasks(call, tasks, workers, cost=cost, progress=progress, desc="seeds x starts", cache=cache)
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
    """The paired counts of two classifiers on the same test images: ``only_a_right`` (b) and ``only_b_right``
    (c), with both accuracies; the exact McNemar test of b against Binomial(b + c, 1/2) is
    :class:`gan_helpers.claims.Paired`."""
    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b_.shape:
        raise ValueError(f"need paired results, got shapes {a.shape} and {b_.shape}")
    return {"only_a_right": int((a & ~b_).sum()), "only_b_right": int((~a & b_).sum()),
            "accuracy_a": float(a.mean()), "accuracy_b": float(b_.mean())}


def _correct(run: SelfTraining, round_: int) -> np.ndarray:
    return (run.test_p[round_] > 0.5) == (run.test.labels.numpy() == 1)


THRESHOLDS = declare(
    Threshold("learned_fid_ratio", 0.5, "the face GAN has learned when its FID is at most half the FID of the same "
              "generator untrained (measured in this run): its discriminator has seen faces worth transferring"),
    Threshold("moved_precision_every_round", 0.98, "'all seem to be correctly classified': at most 2% of what "
              "moves in any round is wrong, about what a person scanning a grid of moved faces would miss"),
    Threshold("moved_precision_overall", 0.9, "partly: at least 90% of everything moved is right"),
    Threshold("sorted_fraction_all", 0.99, "'the whole pool': at least 99% of the pool ends in good or bad"),
    Threshold("sorted_fraction_most", 0.5, "partly: at least half of the pool ends in good or bad"),
    Threshold("sorted_accuracy_min", 0.95, "'sorted' means sorted right: at least 95% of the sorted pool in the right "
              "list, the seed set's own label quality (about 1 in 20 hand labels is debatable)"),
)
T = THRESHOLDS


def records(runs: dict[int, dict], untrained_fid: float | None) -> dict[int, dict]:
    """``records[seed]``: the paired held-out tests (GAN start against random start after the loop and after one
    fine-tune, and the loop against one fine-tune), the moves' precision per round, the growth of the labelled
    set, and how much of the pool was sorted, how well; ``gan.learned`` from the face GAN's FID."""
    out = {}
    for s, r in runs.items():
        g, rnd = r["gan_run"], r["random_run"]
        rec = {"gan": {"learned": True if r.get("gan") is None or untrained_fid is None else
                       r["gan"]["quality"]["fid"] <= float(T["learned_fid_ratio"]) * untrained_fid}}
        moves = [x for x in g.rounds if x["round"] > 0]
        rec["precision_per_round"] = [x["precision_moved"] for x in moves if x["precision_moved"] is not None]
        n_moved = sum(x["moved_to_good"] + x["moved_to_bad"] for x in moves)
        wrong = sum(x["wrong_moved"] or 0 for x in moves)
        rec["precision_overall"] = None if g.pool_truth is None or n_moved == 0 else 1 - wrong / n_moved
        rec["growth"] = [x["moved_to_good"] + x["moved_to_bad"] for x in moves]
        summ = g.summary()
        rec.update(sorted_fraction=summ["sorted_fraction"], sorted_accuracy=summ["sorted_accuracy"])
        if g.test is not None:
            last_g, last_r = g.rounds[-1]["round"], rnd.rounds[-1]["round"]
            rec["mc_loop"] = mcnemar(_correct(g, last_g), _correct(rnd, last_r))
            rec["mc_once"] = mcnemar(_correct(g, 0), _correct(rnd, 0))
            rec["mc_selftrain"] = mcnemar(_correct(g, last_g), _correct(g, 0))
        out[s] = rec
    return out


def _moves_rule(rec, every, overall):
    if rec["precision_overall"] is None:
        return None, {"why": "no ground truth for the pool, or nothing moved"}
    all_rounds = all(p >= float(every) for p in rec["precision_per_round"])
    v = 1.0 if all_rounds else 0.5 if rec["precision_overall"] >= float(overall) else -1.0
    return v, {"precision_per_round": rec["precision_per_round"], "precision_overall": rec["precision_overall"]}


def _growth_rule(rec):
    g = rec["growth"]
    if not g:
        return None, {"why": "no round after the first fine-tune (max_rounds = 0)"}
    return (1.0 if all(n > 0 for n in g) else 0.5 if any(g) else -1.0), {"growth_per_round": g}


def _sorted_rule(rec, all_, most, acc):
    frac, a = rec["sorted_fraction"], rec["sorted_accuracy"]
    right = a is None or a >= float(acc)
    v = 1.0 if frac >= float(all_) and right else 0.5 if frac >= float(most) else -1.0
    return v, {"sorted_fraction": frac, "sorted_accuracy": a}


def declare_claims(has_test: bool) -> list[Claim]:
    """The document's claims as declarations."""
    claims = [Claim("moved_correct", "The images which are moved all seem to be correctly classified",
                    f"{SOURCE}, paragraph 7",
                    Rule(_moves_rule, "every round's moves at least moved_precision_every_round right (supports); "
                         "overall at least moved_precision_overall (partly)",
                         uses=(T["moved_precision_every_round"], T["moved_precision_overall"]),
                         reads=("precision_moved",)), requires=("gan",)),
              Claim("set_grows", "After each iteration the size of the training dataset grows", f"{SOURCE}, paragraph 7",
                    Rule(_growth_rule, "images move in every round (supports), in some (partly)"), requires=("gan",))]
    if has_test:
        claims.append(Claim("gan_start_better", "Starting from a GAN discriminator (transfer learning) beats starting "
                            "from scratch", f"{SOURCE}, paragraphs 5 and 7",
                            settings={"after the self-training loop": Paired("mc_loop", "GAN start", "random start"),
                                      "after one fine-tune on the seed set": Paired("mc_once", "GAN start", "random start")},
                            requires=("gan",),
                            note="both starts train each phase until the held-out loss stops improving"))
    claims.append(Claim("pool_sorted", "The whole pool can be sorted this way", f"{SOURCE}, paragraph 7",
                        Rule(_sorted_rule, "sorted fraction >= sorted_fraction_all and sorted accuracy >= "
                             "sorted_accuracy_min (supports); sorted fraction >= sorted_fraction_most (partly)",
                             uses=(T["sorted_fraction_all"], T["sorted_fraction_most"], T["sorted_accuracy_min"]),
                             reads=("sorted_accuracy",)), requires=("gan",)))
    if has_test:
        claims.append(Claim("selftrain_better", "Self-training improves the classifier over the one fine-tune on the "
                            "seed set", f"{SOURCE}, paragraph 7 (\"works a lot better than I thought\")",
                            Paired("mc_selftrain", "after the loop", "after one fine-tune"), requires=("gan",)))
    return claims


def selftrain_claims(runs: dict[int, dict], untrained_fid: float | None = None, controls: list[Control] = (),
                     smoke: bool = False) -> tuple[list[Claim], list[dict]]:
    """``(declared, judged)``: the claims and their verdicts from every seed's records."""
    from ..claims import judge

    first = runs[sorted(runs)[0]]["gan_run"]
    declared = declare_claims(first.test is not None)
    return declared, judge(declared, records(runs, untrained_fid), controls, smoke)


def controls(runs: dict[int, dict], flip_share: float = 0.1, seed: int = 0) -> list[Control]:
    """The paired test and the moves' precision on known answers: the first seed's final classifier against
    itself (no difference) and against a copy with ``flip_share`` of its right answers made wrong (a known
    difference); a mover that reads the ground truth against one that moves at random."""
    from ..claims import ALPHA, Paired

    out = []
    g = runs[sorted(runs)[0]]["gan_run"]
    rng = np.random.default_rng(seed)
    if g.test is not None:
        right = _correct(g, g.rounds[-1]["round"])
        worse = right.copy()
        worse[rng.choice(np.flatnonzero(right), max(1, int(flip_share * right.sum())), replace=False)] = False
        test = Paired("mc", "A", "B")
        pos = test.judge({"mc": mcnemar(right, worse)})
        neg = test.judge({"mc": mcnemar(right, right)})
        out.append(Control("held_out_accuracy", "exact McNemar test on the held-out set", f"the classifier against a "
                           f"copy with {flip_share:.0%} of its right answers made wrong", "the classifier against "
                           "itself", pos.evidence["p_value"], neg.evidence["p_value"],
                           bool(pos.value == 1 and neg.value == 0), f"known difference: p < {ALPHA.name}; none: a tie"))
    if g.pool_truth is not None:
        t = g.pool_truth
        k = min(len(t), 500)
        truth_mover = 1.0  # moves exactly the images whose truth is good to good: every move right
        random_mover = float((t[rng.choice(len(t), k, replace=False)] == 1).mean())  # moves k at random to good
        out.append(Control("precision_moved", "precision of the images moved to good", "a mover that reads the "
                           "ground truth", "a mover that picks at random", truth_mover, random_mover,
                           bool(truth_mover >= float(T["moved_precision_every_round"]) > random_mover),
                           "truth >= moved_precision_every_round > random"))
    return out


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
