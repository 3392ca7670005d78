r"""Notebook 02: the trained discriminator as a data filter, over seeds, and a filter during training.

The emote write-up (A. Gnolek, "ThisEmoteDoesNotExist: Training a GAN for Twitch Emotes", Twitch Blog, 2019,
https://blog.twitch.tv/en/2019/07/24/thisemotedoesnotexist-training-a-gan-for-twitch-emotes/, section 5.5)
scored every training emote with its trained discriminator (:mod:`gan_helpers.scores`), removed the low tail
(outliers) and, from the high tail, duplicates its windowed de-duplication had missed (:mod:`gan_helpers.dedup`), then
retrained. Its last paragraph wonders whether the discriminator could adjust the composition of the data
*during* training: the ``weighted`` arm does that (:func:`sampling_weights`).

Per seed, :func:`train_seed` trains the first GAN on every image ("before"), scores the images with its
D, decides what to remove, and retrains on the kept images for as many iterations ("after");
:func:`train_weighted` trains on every image while the current D re-weights the draws ("weighted").
:func:`filtering_claims` judges the document's claims on every seed (:mod:`gan_helpers.evaluate`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..datasets import load_dataset
from ..dedup import (auroc, decide, duplicate_precision_recall, nearest_group_share, outlier_precision_recall)
from ..evaluate import Evaluator, better_verdict, combine_verdicts, compare_over_seeds
from ..images import ImageSet
from ..results import claim, verdict
from ..runtime import call, run_tasks
from ..scores import discriminator_scores, score_summary, thresholds_from_z
from ..train import GANTrainer, TrainConfig

SOURCE = "Emote GAN write-up, section 5.5"
ARMS = ("before", "after", "weighted")


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


def train_seed(seed: int, images: torch.Tensor, ids: np.ndarray, groups: dict, evaluator: Evaluator,
               train_features: np.ndarray, iterations: int, model: dict, train: dict, eval_every: int,
               low_z: float, high_z: float, dedup: str) -> dict:
    """The document's procedure under one seed: train, score, decide, retrain on the kept images."""
    late = max(1, iterations // 10)
    before = _gan(images, seed, model, dict(train)).fit(iterations, eval_every=eval_every, eval_fn=evaluator)
    scored = discriminator_scores(before.D, images)
    low, high = thresholds_from_z(scored["logit"], low_z, high_z)
    reasons = decide(scored["score"], ids, low, high, groups["global"], groups["window"], dedup)
    keep = np.nonzero(reasons == "")[0]
    after = _gan(images[keep], seed, model, dict(train)).fit(iterations, eval_every=eval_every, eval_fn=evaluator)
    return {"seed": seed, "score": scored["score"], "logit": scored["logit"], "low": low, "high": high,
            "reasons": reasons, "kept": keep,
            "before": _record(before, evaluator, train_features, groups["global"], seed, late),
            "after": _record(after, evaluator, train_features, groups["global"], seed, late)}


def train_weighted(seed: int, images: torch.Tensor, groups: dict, evaluator: Evaluator, train_features: np.ndarray,
                   iterations: int, model: dict, train: dict, eval_every: int, low_z: float, reweight_every: int,
                   reweight_from: int) -> dict:
    """Beyond the document: train on every image, and from ``reweight_from`` on, every ``reweight_every``
    iterations, re-weight the draws with the current D (:func:`sampling_weights`)."""
    t = _gan(images, seed, model, dict(train))
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


def run(images, ids, groups, evaluator, train_features, seeds, iterations, model, train, eval_every, low_z, high_z,
        dedup, reweight_every, reweight_from, workers=None, progress=False) -> dict[int, dict]:
    """Every seed's three arms, spread over worker processes: ``{seed: {"before", "after", "weighted", ...}}``."""
    common = (evaluator, train_features, iterations, model, train, eval_every)
    tasks = [(train_seed, (s, images, ids, groups, *common, low_z, high_z, dedup)) for s in seeds] + \
            [(train_weighted, (s, images, groups, *common, low_z, reweight_every, reweight_from)) for s in seeds]
    out = run_tasks(call, tasks, workers, cost=[2.0] * len(seeds) + [1.1] * len(seeds), progress=progress)
    runs = {r["seed"]: r for r in out[:len(seeds)]}
    for r in out[len(seeds):]:
        runs[r["seed"]]["weighted"] = r
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


def filtering_claims(runs: dict[int, dict], truth: dict | None, windowed: dict, qq_min: float = 0.97,
                     weak_max: float = 25.0, won_below: float = 0.05) -> list[dict]:
    """The document's claims (and the weighted arm's), each judged on every seed.

    ``truth``: ``{"defect", "dup_group"}`` arrays or None (a folder without ground truth); ``windowed``:
    what the windowed and global hash searches found. Below ``won_below`` a seed's D has won outright
    (late D(G(z))): its score distribution says nothing of the document's balanced D (claim 1 is then
    inconclusive in that seed)."""
    seeds = sorted(runs)
    claims = []
    per = {s: score_summary(runs[s]["score"]) for s in seeds}
    won = {s: runs[s]["before"]["d_g_z_late"] < won_below for s in seeds}
    v1 = {s: "inconclusive" if won[s] else verdict(per[s]["qq_r"] >= qq_min and 0 < per[s]["mean"] <= weak_max,
                                                   partly=per[s]["qq_r"] >= qq_min or 0 < per[s]["mean"] <= weak_max)
          for s in seeds}
    claims.append(claim("The training emotes' scores are roughly normal, with tails both ways and a weakly positive mean",
                        SOURCE, combine_verdicts(list(v1.values())),
                        {"per_seed": v1, **{k: [per[s][k] for s in seeds] for k in ("mean", "sd", "skewness", "qq_r")},
                         "d_x_late": [runs[s]["before"]["d_x_late"] for s in seeds],
                         "d_g_z_late": [runs[s]["before"]["d_g_z_late"] for s in seeds],
                         "rule": f"normal: Q-Q r >= {qq_min}; weakly positive: 0 < mean <= {weak_max}; "
                                 f"inconclusive in a seed whose D has won (late D(G(z)) < {won_below})"}))
    if truth is not None:
        t = {s: tails(runs[s]["score"], runs[s]["low"], runs[s]["high"], truth["defect"], truth["dup_group"]) for s in seeds}
        v2 = {s: verdict((t[s][0]["auroc"] or 0) >= 0.8 and (t[s][0]["precision"] or 0) >= 0.5,
                         partly=(t[s][0]["auroc"] or 0) >= 0.65) for s in seeds}
        claims.append(claim("Emotes scored very low are the defects (simplified, rotated, no clear face, missed text)",
                            SOURCE, combine_verdicts(list(v2.values())),
                            {"per_seed": v2, "low_tail": {s: t[s][0] for s in seeds},
                             "rule": "AUROC >= 0.8 and precision >= 0.5 below the low threshold; partly: AUROC >= 0.65"}))
        v3 = {s: verdict((t[s][1]["dup_share_in_tail"] or 0) > 0.5,
                         partly=(t[s][1]["dup_share_in_tail"] or 0) >= 2 * t[s][1]["dup_share_overall"]) for s in seeds}
        claims.append(claim("The very high-scored emotes are dominated by duplicates", SOURCE,
                            combine_verdicts(list(v3.values())),
                            {"per_seed": v3, "high_tail": {s: t[s][1] for s in seeds},
                             "rule": "duplicates are more than half of the high tail; partly: twice their share overall"}))
    rec_w, rec_g = windowed.get("window_recall"), windowed.get("global_recall")
    holds = windowed["far_apart_matches"] > 0 and (rec_g - rec_w >= 0.1 if rec_w is not None else
                                                   windowed["global_flagged"] > windowed["window_flagged"])
    claims.append(claim(f"The windowed de-duplication ({windowed['window']} ids) misses duplicates uploaded far apart",
                        SOURCE, verdict(holds, partly=windowed["global_flagged"] > windowed["window_flagged"]),
                        {**windowed, "note": "perceptual hashes: the same under every seed"}))

    def fid_claim(text, a, b, source):
        qa = [runs[s][a]["quality"] for s in seeds]
        qb = [runs[s][b]["quality"] for s in seeds]
        out = compare_over_seeds([q["fid"] for q in qa], [q["fid"] for q in qb],
                                 [q["fid_noise"] for q in qa], [q["fid_noise"] for q in qb])
        return claim(text, source, better_verdict(out),
                     {f"fid_{a}": [q["fid"] for q in qa], f"fid_{b}": [q["fid"] for q in qb],
                      f"kid_{a}": [q["kid"] for q in qa], f"kid_{b}": [q["kid"] for q in qb],
                      "fid_noise": [max(x["fid_noise"], y["fid_noise"]) for x, y in zip(qa, qb)], "per_seed": out})

    claims.append(fid_claim("Retraining on the filtered set gives a better GAN (same iterations)", "after", "before", SOURCE))
    if truth is not None:
        share = {s: {a: runs[s][a]["quality"]["sample_share"] for a in ARMS} for s in seeds}
        uniform = runs[seeds[0]]["before"]["quality"]["uniform_share"]
        over = [share[s]["before"] >= 3 * uniform for s in seeds]
        undone = [share[s]["after"] < share[s]["before"] for s in seeds]
        v6 = combine_verdicts([verdict(o and u, partly=o) for o, u in zip(over, undone)])
        claims.append(claim("The duplicates make the GAN over-weight those emotes in its samples (and filtering undoes it)",
                            SOURCE, v6, {"sample_share": share, "uniform_share": uniform,
                                         "rule": "before: at least 3x the share of duplicated emotes among distinct ones"}))
    claims.append(fid_claim("(Beyond the document) Re-weighting the draws with the current discriminator during training "
                            "gives a better GAN than uniform draws", "weighted", "before", "the document's last paragraph"))
    claims.append(fid_claim("(Beyond the document) ... and a better one than filtering once and retraining",
                            "weighted", "after", "the document's last paragraph"))
    return claims


def manifest_decisions(runs: dict[int, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Majority decision over the seeds: ``(reason per image, how many seeds removed it)``; an image is
    removed when more than half the seeds remove it, for the reason most of them gave."""
    seeds = sorted(runs)
    reasons = np.stack([runs[s]["reasons"].astype(str) for s in seeds])
    removed = (reasons != "").sum(0)
    out = np.full(reasons.shape[1], "", dtype=object)
    for i in np.nonzero(removed * 2 > len(seeds))[0]:
        vals, counts = np.unique(reasons[:, i][reasons[:, i] != ""], return_counts=True)
        out[i] = vals[np.argmax(counts)]
    return out, removed
