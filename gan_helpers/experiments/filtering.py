r"""Notebook 02: the trained discriminator as a data filter, over seeds, and a filter during training.

The emote write-up (A. Gnolek, "ThisEmoteDoesNotExist: Training a GAN for Twitch Emotes", Twitch Blog, 2019,
https://blog.twitch.tv/en/2019/07/24/thisemotedoesnotexist-training-a-gan-for-twitch-emotes/, section 5.5)
scored every training emote with its trained discriminator (:mod:`gan_helpers.scores`), removed the low tail
(outliers) and, from the high tail, duplicates its windowed de-duplication had missed (:mod:`gan_helpers.dedup`), then
retrained. Its last paragraph wonders whether the discriminator could adjust the composition of the data
*during* training: the ``weighted`` arm does that (:func:`sampling_weights`).

Per seed, :func:`train_before` trains the first GAN on every image ("before") and scores the images with
its D; two filters decide what to remove (:data:`FILTERS`: the document's own, D's low and high tails,
"after_doc"; and D's low tail with a global hash search, "after_hash"), and :func:`train_after` retrains on
each kept set for as many iterations. :func:`train_weighted` trains on every image while the current D
re-weights the draws ("weighted"). :func:`records` flattens every seed's numbers, :func:`declare_claims`
states the claims with their thresholds (:data:`THRESHOLDS`), :func:`controls` checks each metric they read on
known answers, and :func:`gan_helpers.claims.judge` gives the verdicts.
"""
from __future__ import annotations

import numpy as np
import torch

from ..datasets import load_dataset
from ..dedup import (auroc, decide, duplicate_precision_recall, nearest_group_share, outlier_precision_recall)
from ..claims import NOISE_FACTOR, AllOf, Claim, Compare, Control, Property, Rule, Threshold, declare
from ..evaluate import Evaluator
from ..images import ImageSet
from ..runtime import call, run_tasks
from ..scores import discriminator_scores, score_summary, thresholds_from_z
from ..train import GANTrainer, TrainConfig

SOURCE = "Emote GAN write-up, section 5.5"
ARMS = ("before", "after_doc", "after_hash", "weighted")


def ids_from_paths(paths) -> np.ndarray:
    """Upload-order ids for a folder: the file stems as integers when every stem is one (files named by
    id), otherwise the rank of each path in sorted order."""
    from pathlib import Path

    stems = [Path(p).stem for p in paths]
    if stems and all(s.isdigit() for s in stems):
        return np.array([int(s) for s in stems], dtype=np.int64)
    ids = np.empty(len(paths), dtype=np.int64)
    ids[np.argsort(np.asarray(paths, dtype=object), kind="stable")] = np.arange(len(paths))
    return ids


def load_emote_data(dataset: str, image_size: int = 32, n_images: int = 1200) -> ImageSet:
    """The built-in ``"emotes"`` or a folder, with an ``emote_id`` and a path (``emotes:<id>`` in memory)
    for every image. Ground truth, where it exists, stays in ``attributes``; the method never reads it."""
    s = load_dataset(dataset, image_size=image_size, **({"n": n_images, "seed": 0} if dataset == "emotes" else {}))
    if "emote_id" not in s.attributes:
        s.attributes["emote_id"] = np.arange(len(s)) if s.paths is None else ids_from_paths(s.paths)
    if s.paths is None:
        s.paths = [f"{s.name or dataset}:{int(i)}" for i in s.attributes["emote_id"]]
    return s


def has_ground_truth(s: ImageSet) -> bool:
    return "defect" in s.attributes and "dup_group" in s.attributes


def feature_labels(s: ImageSet) -> tuple[torch.Tensor, dict[str, torch.Tensor], bool]:
    """What the FID feature network learns: expression, accessory and face colour where known; otherwise (a
    folder) the rotation by 0/90/180/270 degrees. Returns ``(images, labels, augment)``."""
    a = s.attributes
    if all(k in a for k in ("expression", "accessory", "face_colour")):
        names = {k: sorted(set(a[k].tolist())) for k in ("expression", "accessory", "face_colour")}
        return s.images, {k: torch.as_tensor([n.index(v) for v in a[k]]) for k, n in names.items()}, True
    rot = torch.cat([torch.rot90(s.images, k, (2, 3)) for k in range(4)])
    return rot, {"rotation": torch.arange(4).repeat_interleave(len(s))}, False


def sampling_weights(logits: np.ndarray, groups: np.ndarray, low_z: float, sharpness: float = 3.0) -> np.ndarray:
    r"""Draw weights from D's logits and the hash groups: :math:`w_i = \sigma(k (z_i - z_{low})) / m_i`, with
    :math:`z_i` the logit's standard score, :math:`z_{low}` the low threshold and :math:`m_i` the size of
    image i's near-duplicate group. The low tail fades out instead of being cut, and a group of m copies
    weighs as one image."""
    z = (logits - logits.mean()) / max(float(logits.std()), 1e-12)
    sizes = np.bincount(groups)[groups]
    return 1.0 / (1.0 + np.exp(-sharpness * (z - low_z))) / sizes


def _gan(images: torch.Tensor, seed: int, model: dict, train: dict) -> GANTrainer:
    """The DCGAN pair (``model``: nz, ngf, ndf), initialised from ``seed``, in the one loop."""
    train = dict(train)
    return GANTrainer(images, config=TrainConfig(seed=seed, sample_at=tuple(train.pop("sample_at", ())), **train), **model)


def _record(t: GANTrainer, evaluator: Evaluator, train_features: np.ndarray, groups: np.ndarray, seed: int,
            late: int) -> dict:
    samples = t.sample(evaluator.n_samples, seed=seed)
    q = evaluator.full(samples, neighbours=False)
    q.update(nearest_group_share(evaluator.features(samples).numpy(), train_features, groups))
    h = t.history
    return {"quality": q, "samples": samples, "evals": t.evals, "grids": t.samples, "wall_s": t.wall_s,
            "d_x_late": float(np.mean(h["d_x"][-late:])), "d_g_z_late": float(np.mean(h["d_g_z"][-late:])),
            "history": {k: h[k] for k in ("d_loss", "g_loss", "d_x", "d_g_z")}}


def train_before(seed: int, images: torch.Tensor, groups: dict, evaluator: Evaluator, train_features: np.ndarray,
                 iterations: int, model: dict, train: dict, eval_every: int, low_z: float, high_z: float) -> dict:
    """The document's first GAN under one seed, and its discriminator's score of every training image."""
    before = _gan(images, seed, model, train).fit(iterations, eval_every=eval_every, eval_fn=evaluator)
    scored = discriminator_scores(before.D, images)
    low, high = thresholds_from_z(scored["logit"], low_z, high_z)
    return {"seed": seed, "score": scored["score"], "logit": scored["logit"], "low": low, "high": high,
            "before": _record(before, evaluator, train_features, groups["global"], seed, max(1, iterations // 10))}


def train_after(seed: int, images: torch.Tensor, keep: np.ndarray, groups: dict, evaluator: Evaluator,
                train_features: np.ndarray, iterations: int, model: dict, train: dict, eval_every: int) -> dict:
    """A GAN retrained from ``seed`` on the kept images, for as many iterations as the first."""
    t = _gan(images[keep], seed, model, train).fit(iterations, eval_every=eval_every, eval_fn=evaluator)
    return _record(t, evaluator, train_features, groups["global"], seed, max(1, iterations // 10))


def train_weighted(seed: int, images: torch.Tensor, groups: dict, evaluator: Evaluator, train_features: np.ndarray,
                   iterations: int, model: dict, train: dict, eval_every: int, low_z: float, reweight_every: int,
                   reweight_from: int) -> dict:
    """Beyond the document: train on every image, and from ``reweight_from`` on, every ``reweight_every``
    iterations, re-weight the draws with the current D (:func:`sampling_weights`)."""
    t = _gan(images, seed, model, train)
    history = []

    def reweight(tr: GANTrainer) -> None:
        if tr.iteration >= reweight_from:
            w = sampling_weights(discriminator_scores(tr.D, images)["logit"], groups["global"], low_z)
            tr.set_sampling_weights(w)
            history.append((tr.iteration, w / w.sum()))

    t.fit(iterations, eval_every=eval_every, eval_fn=evaluator, hooks={reweight_every: reweight})
    rec = _record(t, evaluator, train_features, groups["global"], seed, max(1, iterations // 10))
    rec.update(seed=seed, weights=history[-1][1] if history else None, reweighted_at=[i for i, _ in history])
    return rec


FILTERS = {"after_doc": "score", "after_hash": "global"}
"""The two retraining arms and how each finds duplicates (:func:`gan_helpers.dedup.decide`): the document's own
filter removes D's low tail and D's high tail; the hash filter removes D's low tail and the copies a global
perceptual-hash search finds (the earliest copy of each group kept)."""


def run(images, ids, groups, evaluator, train_features, seeds, iterations, model, train, eval_every, low_z, high_z,
        reweight_every, reweight_from, workers=None, progress=False, cache=None) -> dict[int, dict]:
    """Every seed's four arms in two rounds of worker processes: the first GAN and the re-weighted GAN, then
    (once the first GAN's D has scored the images) the two retrained GANs.
    ``{seed: {"score", "logit", "low", "high", "reasons": {arm: ...}, "kept": {arm: ...}, "before", "after_doc",
    "after_hash", "weighted"}}``. ``cache``: reuse finished tasks (``run.cache``)."""
    common = (evaluator, train_features, iterations, model, train, eval_every)
    tasks = [(train_before, (s, images, groups, *common, low_z, high_z)) for s in seeds] + \
            [(train_weighted, (s, images, groups, *common, low_z, reweight_every, reweight_from)) for s in seeds]
    out = run_tasks(call, tasks, workers, cost=[1.05] * len(seeds) + [1.1] * len(seeds), progress=progress,
                    desc="first and re-weighted GANs", cache=cache)
    runs = {r["seed"]: r for r in out[:len(seeds)]}
    for s, r in zip(seeds, out[len(seeds):]):
        runs[s]["weighted"] = r
    for s in seeds:
        r = runs[s]
        r["reasons"] = {a: decide(r["score"], ids, r["low"], r["high"], groups["global"], groups["window"], how)
                        for a, how in FILTERS.items()}
        r["kept"] = {a: np.nonzero(reason == "")[0] for a, reason in r["reasons"].items()}
    which = [(s, a) for s in seeds for a in FILTERS]
    out = run_tasks(call, [(train_after, (s, images, runs[s]["kept"][a], groups, *common)) for s, a in which],
                    workers, progress=progress, desc="retrained GANs", cache=cache)
    for (s, a), rec in zip(which, out):
        runs[s][a] = rec
    return runs


def tails(scores: np.ndarray, low: float, high: float, defect: np.ndarray, dup_group: np.ndarray) -> tuple[dict, dict]:
    """How D's two tails line up with the ground truth: AUROC of the negated score for "is a defect" (per
    kind too), precision and recall below ``low`` and below the document's cut 0; the share of
    duplicate-group members above ``high`` against their share overall."""
    defect, grp = np.asarray(defect).astype(str), np.asarray(dup_group)
    is_def, is_dup, clean = defect != "none", grp >= 0, defect == "none"
    low_pr, doc_pr = outlier_precision_recall(scores < low, defect), outlier_precision_recall(scores < 0, defect)
    low_tail = {"auroc": auroc(-scores, is_def), "precision": low_pr["precision"], "recall": low_pr["recall"],
                "auroc_by_kind": {k: auroc(-scores[(defect == k) | clean], defect[(defect == k) | clean] == k)
                                  for k in sorted(set(defect[is_def]))},
                "cut_at_0": {"precision": doc_pr["precision"], "recall": doc_pr["recall"]}}
    tail = scores > high
    high_tail = {"auroc": auroc(scores, is_dup), "n_in_tail": int(tail.sum()),
                 "dup_share_in_tail": float(is_dup[tail].mean()) if tail.any() else None,
                 "dup_share_overall": float(is_dup.mean()),
                 "duplicate_recall": duplicate_precision_recall(tail, grp)["recall"]}
    return low_tail, high_tail


# ---------------------------------------------------------------------------------------------
# Thresholds, records, controls and the claims (judged by gan_helpers.claims)
# ---------------------------------------------------------------------------------------------

THRESHOLDS = declare(
    Threshold("learned_fid_ratio", 0.5, "a GAN has learned when its FID is at most half the FID of the same "
              "generator untrained (measured in this run): half the way to the data"),
    Threshold("d_won_below", 0.05, "a discriminator has won outright when its mean D(G(z)) over the last tenth of "
              "training is below 0.05: it rejects every fake, and its scores of real images say nothing of the "
              "document's balanced discriminator (whose scores had a weakly positive mean)"),
    Threshold("qq_min", 0.97, "'roughly normal': the normal Q-Q correlation of the scores is at least 0.97 (a normal "
              "sample of this size gives about 0.999, an exponential one about 0.90: the control)",
              "Filliben 1975, the probability-plot correlation coefficient"),
    Threshold("weak_mean_max", 25.0, "'weakly positive': a mean score above 0 and at most 25 on the -100..100 scale, "
              "a quarter of the way to 'certainly real'"),
    Threshold("auroc_good", 0.8, "the low tail 'generally' holds defects: AUROC of the negated score for 'is a "
              "defect' at least 0.8, the conventional 'excellent' discrimination", "Hosmer & Lemeshow 2000, ch. 5"),
    Threshold("auroc_some", 0.65, "partly: AUROC at least 0.65, clearly above chance (0.5; a shuffled score: the "
              "control)"),
    Threshold("precision_majority", 0.5, "'generally': at least half of what falls below the low threshold is a defect"),
    Threshold("dominated_share", 0.5, "'dominated by duplicates': duplicates are a majority of the high tail"),
    Threshold("enrichment", 2.0, "partly: duplicates make at least twice their share of the whole set in the high "
              "tail, beyond noise_factor x the tail's binomial noise"),
    Threshold("recall_gap", 0.1, "the windowed search 'misses' duplicates when its recall is at least 10 points "
              "below the global search's"),
    Threshold("overweight_factor", 3.0, "'over-weighted': the duplicated emotes draw at least 3x the share of "
              "samples that weighting every distinct emote equally would give them (the data itself gives them about "
              "20x: the control)"),
)
T = THRESHOLDS


def learned(q: dict, untrained_fid: float) -> bool:
    return q["fid"] <= float(T["learned_fid_ratio"]) * untrained_fid


def records(runs: dict[int, dict], truth: dict | None, windowed: dict, untrained_fid: float) -> dict[int, dict]:
    """``records[seed]``: every arm's FID (with its noise), sample share of duplicated emotes (with its binomial
    noise), learned flag and late D(G(z)); the score shape, the two tails against the ground truth and the
    de-duplication numbers at the seed's level."""
    from ..claims import binomial_noise

    out = {}
    for s, r in runs.items():
        rec: dict = {}
        for a in ARMS:
            q = r[a]["quality"]
            rec[a] = {"fid": q["fid"], "fid_noise": q["fid_noise"], "learned": learned(q, untrained_fid),
                      "d_g_z_late": r[a]["d_g_z_late"]}
            if "sample_share" in q:
                n = max(1, len(r[a]["samples"]))
                rec[a].update(sample_share=q["sample_share"], sample_share_noise=binomial_noise(q["sample_share"], n),
                              overweight=q["sample_share"] / max(q["uniform_share"], 1e-12))
        summ = score_summary(r["score"])
        rec.update(qq_r=summ["qq_r"], score_mean=summ["mean"], **{k: v for k, v in windowed.items()})
        if truth is not None:
            lo, hi = tails(r["score"], r["low"], r["high"], truth["defect"], truth["dup_group"])
            rec.update(low_auroc=lo["auroc"], low_precision=lo["precision"], high_dup_share=hi["dup_share_in_tail"],
                       dup_base_rate=hi["dup_share_overall"], high_tail_n=hi["n_in_tail"])
        out[s] = rec
    return out


def _shape_rule(rec, won, qq, weak):
    if rec["before"]["d_g_z_late"] < float(won):
        return None, {"why": f"the first discriminator had won (late D(G(z)) {rec['before']['d_g_z_late']:.3f})"}
    normal, weak_pos = rec["qq_r"] >= float(qq), 0 < rec["score_mean"] <= float(weak)
    v = 1.0 if normal and weak_pos else 0.5 if normal or weak_pos else -1.0
    return v, {"qq_r": rec["qq_r"], "mean": rec["score_mean"], "normal": normal, "weakly_positive": weak_pos}


def _high_tail_rule(rec, dominated, enrich, factor):
    from ..claims import binomial_noise

    share, base, n = rec["high_dup_share"], rec["dup_base_rate"], rec["high_tail_n"]
    if share is None:
        return None, {"why": "nothing scored above the high threshold"}
    noise = binomial_noise(share, n)
    enriched = share >= float(enrich) * base and share - float(factor) * noise > base
    v = 1.0 if share > float(dominated) else 0.5 if enriched else -1.0
    return v, {"dup_share_in_tail": share, "base_rate": base, "tail_size": n, "noise": noise, "enriched": enriched}


def _window_rule(rec, gap):
    w, g = rec.get("window_recall"), rec.get("global_recall")
    misses = rec["far_apart_matches"] > 0 and (g - w >= float(gap) if w is not None else
                                              rec["global_flagged"] > rec["window_flagged"])
    v = 1.0 if misses else 0.5 if rec["global_flagged"] > rec["window_flagged"] else -1.0
    return v, {k: rec.get(k) for k in ("window_recall", "global_recall", "far_apart_matches", "window_flagged",
                                       "global_flagged")}


def declare_claims(truth: bool) -> list[Claim]:
    """The document's claims (and the re-weighting ones beyond it) as declarations."""
    fid = lambda a, b: Compare("fid", a, b)
    claims = [Claim("score_shape", "The training emotes' scores are roughly normal, with tails both ways and a weakly "
                    "positive mean", SOURCE,
                    Rule(_shape_rule, "Q-Q r >= qq_min AND 0 < mean <= weak_mean_max (one of the two: partly); not "
                         "testable in a seed whose first GAN had not learned or whose D had won (late D(G(z)) < "
                         "d_won_below)", uses=(T["d_won_below"], T["qq_min"], T["weak_mean_max"]), reads=("qq_r",)),
                    requires=("before",))]
    if truth:
        claims += [
            Claim("low_tail_defects", "Emotes scored very low are the defects (simplified, rotated, no clear face, "
                  "missed text)", SOURCE,
                  AllOf((Property("low_auroc", None, T["auroc_good"], partly=T["auroc_some"]),
                         Property("low_precision", None, T["precision_majority"])), partial=True), requires=("before",)),
            Claim("high_tail_duplicates", "The very high-scored emotes are dominated by duplicates", SOURCE,
                  Rule(_high_tail_rule, "duplicate share of the high tail > dominated_share (supports); at least "
                       "enrichment x the base rate and beyond noise_factor x its binomial noise (partly); else refutes",
                       uses=(T["dominated_share"], T["enrichment"], NOISE_FACTOR), reads=("high_dup_share",)),
                  requires=("before",))]
    claims.append(Claim("window_misses", "The windowed de-duplication (1,000 ids) misses duplicates uploaded far apart",
                        SOURCE, Rule(_window_rule, "far-apart matches exist and the global search's recall exceeds the "
                                     "window's by recall_gap (without ground truth: it flags more); flags more only: "
                                     "partly", uses=(T["recall_gap"],)),
                        note="perceptual hashes: the same under every seed"))
    claims.append(Claim("retrain_better", "Retraining on the filtered set gives a better GAN (same iterations)", SOURCE,
                        settings={"the document's filter (D's two tails)": fid("after_doc", "before"),
                                  "D's low tail + a global hash search": fid("after_hash", "before")}))
    if truth:
        claims.append(Claim("duplicates_overweighted", "The duplicates make the GAN over-weight those emotes in its "
                            "samples", SOURCE, Property("overweight", "before", T["overweight_factor"]),
                            note="the sample share's binomial noise is in the records"))
        claims.append(Claim("filtering_undoes_overweight", "Filtering undoes the over-weighting (fewer samples land on "
                            "the duplicated emotes)", SOURCE,
                            settings={"the document's filter": Compare("sample_share", "after_doc", "before"),
                                      "the hash filter": Compare("sample_share", "after_hash", "before")}))
    claims.append(Claim("weighted_vs_uniform", "(Beyond the document) Re-weighting the draws with the current "
                        "discriminator during training gives a better GAN than uniform draws",
                        "the document's last paragraph", fid("weighted", "before")))
    claims.append(Claim("weighted_vs_filter", "(Beyond the document) ... and a better one than filtering once and "
                        "retraining", "the document's last paragraph",
                        settings={"the document's filter": fid("weighted", "after_doc"),
                                  "the hash filter": fid("weighted", "after_hash")}))
    return claims


def filtering_claims(runs: dict[int, dict], truth: dict | None, windowed: dict, untrained_fid: float,
                     controls: list[Control] = (), smoke: bool = False) -> tuple[list[Claim], list[dict]]:
    """``(declared, judged)``: the claims and their verdicts from every seed's records."""
    from ..claims import judge

    declared = declare_claims(truth is not None)
    return declared, judge(declared, records(runs, truth, windowed, untrained_fid), controls, smoke)


def controls(evaluator: Evaluator, real_draw: torch.Tensor, untrained_fid: float, other_untrained: torch.Tensor,
             n_scores: int, truth: dict | None, train_features: np.ndarray, images: torch.Tensor,
             groups: np.ndarray, seed: int = 0) -> list[Control]:
    """Every metric a verdict of this notebook reads, on cases whose answer is known."""
    from scipy import stats

    from ..evaluate import fid_control

    rng = np.random.default_rng(seed)
    out = [fid_control(evaluator, real_draw)]
    q_real, q_other = evaluator.quick(real_draw), evaluator.quick(other_untrained)
    out.append(Control("learned", f"FID against {float(T['learned_fid_ratio']):g} x the untrained generator's "
                       f"({untrained_fid:.1f})", "a real draw", "another untrained generator", q_real["fid"],
                       q_other["fid"], learned(q_real, untrained_fid) and not learned(q_other, untrained_fid),
                       "real passes, untrained does not"))
    normal, expo = stats.probplot(rng.normal(size=n_scores))[1][2], stats.probplot(rng.exponential(size=n_scores))[1][2]
    out.append(Control("qq_r", "normal Q-Q correlation", "an exponential sample", "a normal sample", expo, normal,
                       bool(normal >= float(T["qq_min"]) > expo), "normal >= qq_min > exponential"))
    if truth is not None:
        is_def = np.asarray(truth["defect"]).astype(str) != "none"
        is_dup = np.asarray(truth["dup_group"]) >= 0
        aligned = rng.normal(size=len(is_def)) - 3.0 * is_def  # a score that knows the defects
        shuffled = rng.permutation(aligned)
        a_pos, a_neg = auroc(-aligned, is_def), auroc(-shuffled, is_def)
        out.append(Control("low_auroc", "AUROC of the negated score for 'is a defect'", "a score that knows the "
                           "defects (defects 3 sd lower)", "the same score shuffled", a_pos, a_neg,
                           bool(a_pos >= float(T["auroc_good"]) and a_neg < float(T["auroc_some"])),
                           "knowing >= auroc_good; shuffled < auroc_some"))
        cut = lambda x: outlier_precision_recall(x < np.quantile(x, is_def.mean()), truth["defect"])["precision"]
        p_pos, p_neg = cut(aligned), cut(shuffled)
        out.append(Control("low_precision", "precision below the low threshold", "the knowing score", "shuffled",
                           p_pos, p_neg, bool(p_pos >= float(T["precision_majority"]) > p_neg),
                           "knowing >= precision_majority > shuffled"))
        dup_score = rng.normal(size=len(is_dup)) + 3.0 * is_dup
        shuf = rng.permutation(dup_score)
        top = lambda x: is_dup[x > np.quantile(x, 1 - is_dup.mean())].mean()
        out.append(Control("high_dup_share", "duplicate share of the high tail", "a score that knows the duplicates",
                           "the same score shuffled", float(top(dup_score)), float(top(shuf)),
                           bool(top(dup_score) > float(T["dominated_share"]) and top(shuf) < float(T["enrichment"]) * is_dup.mean()),
                           "knowing > dominated_share; shuffled below enrichment x base rate"))
        # over-weighting: real draws with replacement (copies at their share of the data) against one image per group
        first = np.unique(groups, return_index=True)[1]
        pos = images[torch.as_tensor(rng.integers(0, len(images), len(real_draw)))]
        neg = images[torch.as_tensor(rng.choice(first, len(real_draw)))]
        share = lambda x: nearest_group_share(evaluator.features(x).numpy(), train_features, groups)
        sp, sn = share(pos), share(neg)
        out.append(Control("overweight", "sample share of duplicated emotes / their share among distinct emotes",
                           "training images drawn as the data weighs them", "one image per distinct emote",
                           sp["sample_share"] / sp["uniform_share"], sn["sample_share"] / sn["uniform_share"],
                           bool(sp["sample_share"] / sp["uniform_share"] >= float(T["overweight_factor"]) >
                                sn["sample_share"] / sn["uniform_share"]), "data-weighted >= overweight_factor > uniform"))
    return out


def manifest_decisions(runs: dict[int, dict], ids: np.ndarray, groups: dict, dedup: str) -> tuple[np.ndarray, np.ndarray]:
    """Majority decision over the seeds of the filter ``dedup`` (:func:`gan_helpers.dedup.decide`): ``(reason per
    image, how many seeds removed it)``; an image is removed when more than half the seeds remove it, for the
    reason most of them gave."""
    seeds = sorted(runs)
    reasons = np.stack([decide(runs[s]["score"], ids, runs[s]["low"], runs[s]["high"], groups["global"],
                               groups["window"], dedup).astype(str) for s in seeds])
    removed = (reasons != "").sum(0)
    out = np.full(reasons.shape[1], "", dtype=object)
    for i in np.nonzero(removed * 2 > len(seeds))[0]:
        vals, counts = np.unique(reasons[:, i][reasons[:, i] != ""], return_counts=True)
        out[i] = vals[np.argmax(counts)]
    return out, removed
