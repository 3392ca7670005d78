r"""Notebook 02's method: the trained discriminator as a data-quality filter, measured.

The emote write-up (``../shared/seeds/000_5b781a01fd13fda5.txt``, section 5.5) fed every training
emote through the trained discriminator, read a score from -100 (generated) to 100 (training
set), removed the low tail (outliers: "overly simplified, heavily rotated, did not have a very
clear face in the image, or had text in the image that EAST had missed") and, from the high
tail, duplicates that its 1000-id windowed de-duplication had missed, then retrained.

**Score.** With :math:`\ell(x)` the discriminator's logit and :math:`D(x) = \sigma(\ell(x))`,

.. math::  s(x) = 200\,D(x) - 100 = 100 \tanh\!\big(\ell(x) / 2\big) \in (-100, 100),

so 0 is "undecided" and the sign is D's verdict. Batch norm uses the *population* statistics of
the real training set (the exact mean and variance of each layer's input over all of it), which
is what D saw on its real batches; so an image's score does not depend on which images
share its batch, and every score stays tied to its file.

**De-duplication.** Each image gets a perceptual hash (``imagehash.phash``: DCT of a 32x32
grayscale, :math:`h^2` bits); two images match when their hashes differ in at most
``max_distance`` bits. *Windowed* (the document's): only pairs whose emote ids differ by at
most ``window`` are compared. *Global*: every pair. Matches are joined into groups (connected
components); one copy of each group is kept (the earliest upload), the rest are duplicates.

**Scoring against ground truth.** Outliers: precision and recall of the flagged set against
the defect labels. Duplicates: a flagged image counts as correct while fewer than
``size - 1`` copies of its true group have been counted, so *which* copy is kept does not
matter, and removing every copy of a group (losing the emote) costs one false positive.
"""
from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy import stats
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn

from .data import ImageSet, load_dataset
from .metrics import frechet_distance, kernel_inception_distance
from .results import claim, verdict

SOURCE = "Emote GAN write-up, section 5.5"
REASONS = ("outlier", "duplicate")


# ----------------------------------------------------------------------------------------
# Data: ids and pseudo-paths
# ----------------------------------------------------------------------------------------

def ids_from_paths(paths: Sequence[str]) -> np.ndarray:
    """Upload-order ids for a folder: the file stems as integers when every stem is one (files
    named by id), otherwise the rank of each path in sorted order."""
    stems = [Path(p).stem for p in paths]
    if stems and all(s.isdigit() for s in stems):
        return np.array([int(s) for s in stems], dtype=np.int64)
    order = np.argsort(np.asarray(paths, dtype=object), kind="stable")
    ids = np.empty(len(paths), dtype=np.int64)
    ids[order] = np.arange(len(paths))
    return ids


def load_emote_data(dataset: str, image_size: int = 64, n_images: int = 1200, seed: int = 0) -> ImageSet:
    """The built-in ``"emotes"`` (``n_images`` of them) or a folder of images, with an
    ``emote_id`` attribute and a path for every image (``emotes:<id>`` for the built-in set,
    which lives in memory). Ground truth, where it exists, stays in ``attributes``."""
    kw = {"n": n_images, "seed": seed} if dataset == "emotes" else {}
    s = load_dataset(dataset, image_size=image_size, **kw)
    if "emote_id" not in s.attributes:
        if s.paths is None:
            s.attributes["emote_id"] = np.arange(len(s), dtype=np.int64)
        else:
            s.attributes["emote_id"] = ids_from_paths(s.paths)
    if s.paths is None:
        s.paths = [f"{s.name or dataset}:{int(i)}" for i in s.attributes["emote_id"]]
    if len(s) < 8:
        raise ValueError(f"dataset={dataset!r} has {len(s)} readable images; scoring needs at least 8")
    return s


def has_ground_truth(s: ImageSet) -> bool:
    return "defect" in s.attributes and "dup_group" in s.attributes


# ----------------------------------------------------------------------------------------
# Discriminator scores
# ----------------------------------------------------------------------------------------

def logits_to_score(logits) -> np.ndarray:
    """D's logit -> score in (-100, 100): ``200 * sigmoid(logit) - 100 = 100 * tanh(logit / 2)``."""
    return 100.0 * np.tanh(np.asarray(logits, dtype=np.float64) / 2.0)


class _Stop(Exception):
    pass


@torch.no_grad()
def population_bn(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
                  device: str | torch.device = "cpu") -> nn.Module:
    """A copy of ``model`` in eval mode whose batch-norm layers normalise with the exact mean and
    (biased) variance of their inputs over all of ``images``: what training-mode batch norm would
    do with the whole real set as one batch, which is what D saw on its real batches. Layer by
    layer (each layer's statistics depend on the ones before), in batches of ``batch_size``."""
    m = copy.deepcopy(model).to(device).eval()
    bns = [b for b in m.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        acc = {"n": 0, "s": 0.0, "ss": 0.0}

        def collect(_mod, inp, acc=acc):
            x = inp[0].double().transpose(0, 1).flatten(1)  # (C, B*H*W)
            acc["n"] += x.shape[1]
            acc["s"] = acc["s"] + x.sum(1)
            acc["ss"] = acc["ss"] + (x * x).sum(1)
            raise _Stop  # the layers after this one are not needed yet

        handle = bn.register_forward_pre_hook(collect)
        try:
            for i in range(0, len(images), batch_size):
                try:
                    m(images[i:i + batch_size].to(device))
                except _Stop:
                    pass
        finally:
            handle.remove()
        mean = acc["s"] / acc["n"]
        bn.running_mean.copy_(mean.to(bn.running_mean.dtype))
        bn.running_var.copy_((acc["ss"] / acc["n"] - mean * mean).clamp_min(0).to(bn.running_var.dtype))
    return m


@torch.no_grad()
def discriminator_scores(D: nn.Module, images: torch.Tensor, batch_size: int = 256,
                         device: str | torch.device | None = None) -> dict[str, np.ndarray]:
    """Score every image with the trained discriminator: ``{"score" (N,) in (-100, 100), "logit" (N,),
    "features" (N, F)}``, in the order of ``images``. ``D`` itself is left unchanged."""
    device = device or next(D.parameters()).device
    m = population_bn(D, images, batch_size, device)
    logits, feats = [], []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        f = m.body(x) if hasattr(m, "body") else None
        logits.append((m.head(f).flatten() if f is not None else m(x)).float().cpu())
        if f is not None:
            feats.append(f.flatten(1).float().cpu())
    logit = torch.cat(logits).numpy().astype(np.float64)
    return {"score": logits_to_score(logit), "logit": logit,
            "features": torch.cat(feats).numpy() if feats else np.zeros((len(logit), 0))}


def thresholds_from_z(logits: np.ndarray, low_z: float = -1.5, high_z: float = 1.5) -> tuple[float, float]:
    """The low and high score thresholds ``low_z`` and ``high_z`` standard deviations from the mean,
    measured on D's logits (the -100..100 score saturates when D is confident; its logit does not),
    returned as scores."""
    if low_z > high_z:
        raise ValueError(f"low_z ({low_z}) must not be above high_z ({high_z})")
    m, sd = float(np.mean(logits)), float(np.std(logits))
    return float(logits_to_score(m + low_z * sd)), float(logits_to_score(m + high_z * sd))


def score_summary(scores: np.ndarray) -> dict[str, float]:
    """Mean, sd, skewness, excess kurtosis and the normal Q-Q correlation (Filliben's r: 1 for a
    perfect normal; about 0.999 for 1000 normal draws) of the scores."""
    s = np.asarray(scores, dtype=np.float64)
    (_, _), (_, _, r) = stats.probplot(s, dist="norm")
    return {"mean": float(s.mean()), "sd": float(s.std()), "median": float(np.median(s)),
            "skewness": float(stats.skew(s)), "excess_kurtosis": float(stats.kurtosis(s)),
            "qq_r": float(r), "share_positive": float((s > 0).mean()),
            "share_saturated": float((np.abs(s) > 99).mean())}


# ----------------------------------------------------------------------------------------
# Near-duplicate search
# ----------------------------------------------------------------------------------------

def perceptual_hashes(images: torch.Tensor, hash_size: int = 8) -> np.ndarray:
    """``imagehash.phash`` of every image (N, 3, S, S) in [-1, 1]: (N, hash_size**2) booleans."""
    import imagehash
    from PIL import Image

    arr = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return np.stack([imagehash.phash(Image.fromarray(a), hash_size=hash_size).hash.ravel() for a in arr])


def near_duplicate_pairs(codes: np.ndarray, max_distance: int, ids: np.ndarray | None = None,
                         window: int | None = None, chunk: int = 2048) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, whose binary codes differ in at most ``max_distance`` bits;
    with ``window``, only pairs with ``|ids[i] - ids[j]| <= window`` (the document's windowed search).

    Memory is bounded by ``chunk`` rows at a time; time is O(N^2) bit comparisons.
    """
    b = np.asarray(codes, dtype=np.float32)
    if b.ndim != 2:
        raise ValueError(f"codes must be (N, bits), got shape {b.shape}")
    if window is not None and ids is None:
        raise ValueError("a windowed search needs the ids")
    ids = None if ids is None else np.asarray(ids, dtype=np.int64)
    out = []
    for s in range(0, len(b), chunk):
        blk = b[s:s + chunk]
        d = blk @ (1 - b).T + (1 - blk) @ b.T  # Hamming distances (rows s.., all columns)
        ok = d <= max_distance + 0.5
        rows = np.arange(s, s + len(blk))[:, None]
        ok &= np.arange(len(b))[None, :] > rows  # each pair once
        if window is not None:
            ok &= np.abs(ids[s:s + len(blk), None] - ids[None, :]) <= window
        i, j = np.nonzero(ok)
        out.append(np.stack([i + s, j], 1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def duplicate_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the match graph: a group label per image (singletons have their own)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def redundant_copies(groups: np.ndarray, ids: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """True for every member of a group of two or more except one keeper: the earliest upload among
    the ``eligible`` members (e.g. not outliers), or the earliest of all if none is eligible."""
    groups, ids = np.asarray(groups), np.asarray(ids)
    eligible = np.ones(len(groups), bool) if eligible is None else np.asarray(eligible, bool)
    out = np.zeros(len(groups), bool)
    labels, counts = np.unique(groups, return_counts=True)
    for g in labels[counts > 1]:
        members = np.nonzero(groups == g)[0]
        pool = members[eligible[members]] if eligible[members].any() else members
        keep = pool[np.argmin(ids[pool])]
        out[members] = True
        out[keep] = False
    return out


def far_apart_matches(pairs: np.ndarray, ids: np.ndarray, window: int) -> int:
    """How many matched pairs have ids more than ``window`` apart (invisible to the windowed search)."""
    if len(pairs) == 0:
        return 0
    return int((np.abs(ids[pairs[:, 0]] - ids[pairs[:, 1]]) > window).sum())


# ----------------------------------------------------------------------------------------
# Precision and recall against the ground truth
# ----------------------------------------------------------------------------------------

def _pr(tp: float, n_flagged: int, n_true: int) -> dict[str, float | None]:
    return {"precision": (tp / n_flagged) if n_flagged else None, "recall": (tp / n_true) if n_true else None,
            "n_flagged": int(n_flagged), "n_true": int(n_true)}


def outlier_precision_recall(flagged: np.ndarray, defect: np.ndarray) -> dict:
    """Precision and recall of ``flagged`` against ``defect != "none"``, and the recall per defect kind."""
    flagged, defect = np.asarray(flagged, bool), np.asarray(defect).astype(str)
    is_def = defect != "none"
    out = _pr(float((flagged & is_def).sum()), int(flagged.sum()), int(is_def.sum()))
    out["recall_by_kind"] = {k: float(flagged[defect == k].mean()) for k in sorted(set(defect[is_def]))}
    return out


def duplicate_precision_recall(flagged: np.ndarray, dup_group: np.ndarray) -> dict:
    """Group-aware precision and recall of flagged duplicates: in a true group of ``m`` copies, up to
    ``m - 1`` flagged copies are correct (whichever they are); more, or any outside a group, are not."""
    flagged, grp = np.asarray(flagged, bool), np.asarray(dup_group)
    tp, n_true = 0, 0
    for g in np.unique(grp[grp >= 0]):
        m = grp == g
        tp += min(int((flagged & m).sum()), int(m.sum()) - 1)
        n_true += int(m.sum()) - 1
    return _pr(float(tp), int(flagged.sum()), n_true)


def auroc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve of ``score`` for ``positive`` (None if one class is empty)."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, score))


# ----------------------------------------------------------------------------------------
# The decision, the manifest
# ----------------------------------------------------------------------------------------

DEDUP_METHODS = ("global", "window", "score", "score+global")


def decide(scores: np.ndarray, ids: np.ndarray, low: float, high: float, global_groups: np.ndarray,
           window_groups: np.ndarray, dedup: str = "global") -> np.ndarray:
    """A reason per image: ``"outlier"`` (score below ``low``), ``"duplicate"`` or ``""`` (kept).

    ``dedup`` picks how duplicates are found: ``"global"`` (every hash group, keep the earliest
    copy), ``"window"`` (the document's windowed groups), ``"score"`` (the document's high tail,
    every image above ``high``), ``"score+global"`` (hash groups that reach into the high tail).
    Outliers are decided first; a group's keeper is never an outlier when another copy is not.
    """
    if dedup not in DEDUP_METHODS:
        raise ValueError(f"dedup must be one of {DEDUP_METHODS}, got {dedup!r}")
    if low > high:
        raise ValueError(f"the low threshold ({low}) is above the high threshold ({high})")
    scores, ids = np.asarray(scores, float), np.asarray(ids)
    outlier = scores < low
    if dedup == "score":
        dup = scores > high
    else:
        groups = window_groups if dedup == "window" else global_groups
        if dedup == "score+global":
            hot = np.unique(groups[scores > high])
            groups = np.where(np.isin(groups, hot), groups, -1 - np.arange(len(groups)))  # others: singletons
        dup = redundant_copies(groups, ids, eligible=~outlier)
    reason = np.full(len(scores), "", dtype=object)
    reason[dup] = "duplicate"
    reason[outlier] = "outlier"
    return reason


def write_manifest(path: str | Path, paths: Sequence[str], ids: np.ndarray, scores: np.ndarray,
                   reasons: np.ndarray) -> Path:
    """``path`` as CSV: ``path, emote_id, score, decision (keep/remove), reason``, one row per image, in
    upload order. Only this file is written; the images themselves are never touched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "emote_id", "score", "decision", "reason"])
        for i in np.argsort(ids, kind="stable"):
            w.writerow([paths[i], int(ids[i]), f"{float(scores[i]):.3f}", "remove" if reasons[i] else "keep", reasons[i]])
    return path


def flagged_list(paths: Sequence[str], scores: np.ndarray, reasons: np.ndarray) -> list[dict]:
    """``[{path, reason, score}]`` of every removed image (results.json's ``flagged``)."""
    return [{"path": paths[i], "reason": str(reasons[i]), "score": float(scores[i])}
            for i in np.nonzero(np.asarray(reasons) != "")[0]]


# ----------------------------------------------------------------------------------------
# Retraining: quality and the weight of the duplicated emotes in the samples
# ----------------------------------------------------------------------------------------

def fid_kid(ref_features: np.ndarray, features: np.ndarray, n_boot: int = 10, seed: int = 0) -> dict[str, float]:
    """FID and KID of ``features`` against ``ref_features``, with ``fid_noise``: the std of FID over
    bootstrap resamples of ``features``."""
    f = np.asarray(features, np.float64)
    kid, kid_std = kernel_inception_distance(ref_features, f, subsets=50, subset_size=min(len(f), len(ref_features), 500), seed=seed)
    rng = np.random.default_rng(seed)
    noise = float(np.std([frechet_distance(ref_features, f[rng.integers(0, len(f), len(f))]) for _ in range(n_boot)]))
    return {"fid": frechet_distance(ref_features, f), "kid": kid, "kid_std": kid_std, "fid_noise": noise}


def nearest_group_share(sample_features: np.ndarray, train_features: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Where generated samples land among the *distinct* training emotes (one representative per
    duplicate group): the share whose nearest distinct emote is a duplicated one (``sample_share``),
    against the share of duplicated emotes among the distinct ones (``uniform_share``: what a GAN
    that weights every distinct emote equally would give) and among the images (``data_share``)."""
    groups = np.asarray(groups)
    labels, first, counts = np.unique(groups, return_index=True, return_counts=True)
    reps = first  # one image per group (singletons are their own group)
    is_dup_rep = counts > 1
    t = np.asarray(train_features, np.float64)[reps]
    s = np.asarray(sample_features, np.float64)
    d = (s * s).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2 * s @ t.T
    nearest = np.argmin(d, 1)
    return {"sample_share": float(is_dup_rep[nearest].mean()), "uniform_share": float(is_dup_rep.mean()),
            "data_share": float(counts[is_dup_rep].sum() / len(groups))}


def emote_feature_labels(s: ImageSet) -> tuple[torch.Tensor, dict[str, torch.Tensor], bool]:
    """Images and labels to train the FID feature network on: the emotes' expression, accessory and
    face colour where known; otherwise (a folder) self-supervised rotation by 0/90/180/270 degrees.
    Returns ``(images, labels, augment)`` (flip augmentation would confuse 90 and 270 degrees)."""
    a = s.attributes
    if all(k in a for k in ("expression", "accessory", "face_colour")):
        labels = {}
        for k in ("expression", "accessory", "face_colour"):
            names = sorted(set(a[k].tolist()))
            labels[k] = torch.as_tensor([names.index(v) for v in a[k]])
        return s.images, labels, True
    rot = torch.cat([torch.rot90(s.images, k, (2, 3)) for k in range(4)])
    return rot, {"rotation": torch.arange(4).repeat_interleave(len(s))}, False


# ----------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------

def filtering_claims(summary: dict, detection: dict | None, low_tail: dict | None, high_tail: dict | None,
                     windowed: dict, retrain: dict, weight: dict | None, d_g_z: float | None = None,
                     qq_min: float = 0.97, weak_max: float = 25.0, won_below: float = 0.05,
                     noise_factor: float = 2.0) -> list[dict]:
    """The document's claims with verdicts from this run's numbers.

    ``summary``: :func:`score_summary`; ``low_tail``/``high_tail``: AUROCs and tail shares against
    the ground truth (None without it); ``windowed``: counts of what the windowed and global
    searches found; ``retrain``: ``{before, after}`` of :func:`fid_kid`; ``weight``: the
    :func:`nearest_group_share` of the samples before and after filtering; ``d_g_z``: the first
    GAN's mean ``D(G(z))`` late in training. Below ``won_below`` the discriminator has won the game
    (it rejects every sample), unlike the document's, and the score distribution (claim 1) says
    nothing about the document's regime: that claim is then inconclusive.
    """
    claims = []
    # 1. roughly normal, weakly positive mean
    normal = summary["qq_r"] >= qq_min
    weak = 0 < summary["mean"] <= weak_max
    won = d_g_z is not None and d_g_z < won_below
    ev = {**{k: summary[k] for k in ("mean", "sd", "skewness", "excess_kurtosis", "qq_r", "share_positive")},
          "d_g_z_late": d_g_z, "rule": f"roughly normal: normal Q-Q r >= {qq_min}; weakly positive: 0 < mean <= {weak_max}; "
                                       f"inconclusive if D has won (D(G(z)) < {won_below})"}
    claims.append(claim(
        "The training emotes' scores are roughly normal, with tails both ways and a weakly positive mean",
        SOURCE, "inconclusive" if won else verdict(normal and weak, partly=normal or weak), ev))

    # 2. the low tail is the defects
    if low_tail is None:
        claims.append(claim("Emotes scored very low are the defects (simplified, rotated, no clear face, missed text)",
                            SOURCE, "inconclusive", {"reason": "no ground truth for this data set"}))
    else:
        a, p = low_tail["auroc"], low_tail["precision"] or 0.0
        claims.append(claim(
            "Emotes scored very low are the defects (simplified, rotated, no clear face, missed text)", SOURCE,
            verdict(a is not None and a >= 0.8 and p >= 0.5, partly=a is not None and a >= 0.65), low_tail))

    # 3. the high tail is dominated by duplicates
    if high_tail is None:
        claims.append(claim("The very high-scored emotes are dominated by duplicates", SOURCE, "inconclusive",
                            {"reason": "no ground truth for this data set"}))
    else:
        share, base = high_tail["dup_share_in_tail"], high_tail["dup_share_overall"]
        claims.append(claim(
            "The very high-scored emotes are dominated by duplicates", SOURCE,
            verdict(share is not None and share > 0.5, partly=share is not None and share >= 2 * base), high_tail))

    # 4. the windowed de-duplication misses far-apart duplicates
    missed = windowed["global_flagged"] - windowed["window_flagged"]
    rec_w, rec_g = windowed.get("window_recall"), windowed.get("global_recall")
    if rec_w is not None and rec_g is not None:
        holds = rec_g - rec_w >= 0.1 and windowed["far_apart_matches"] > 0
        v = verdict(holds, partly=rec_g > rec_w)
    else:
        v = verdict(missed > 0 and windowed["far_apart_matches"] > 0) if windowed["global_flagged"] else "inconclusive"
    claims.append(claim(
        f"The windowed de-duplication ({windowed['window']} ids) misses duplicates uploaded far apart", SOURCE, v,
        {**windowed, "missed_by_window": missed}))

    # 5. filtering improves the retrained GAN
    b, a = retrain["before"], retrain["after"]
    margin = noise_factor * max(b["fid_noise"], a["fid_noise"])
    fid_better, fid_worse = b["fid"] - a["fid"] > margin, a["fid"] - b["fid"] > margin
    kid_margin = noise_factor * max(b["kid_std"], a["kid_std"])  # the spread over (overlapping) subsets
    kid_better, kid_worse = b["kid"] - a["kid"] > kid_margin, a["kid"] - b["kid"] > kid_margin
    if fid_better and kid_better:
        v = "holds"
    elif fid_worse and kid_worse:
        v = "does not hold"
    elif fid_better or kid_better:
        v = "partly" if not (fid_worse or kid_worse) else "inconclusive"
    else:
        v = "does not hold" if (fid_worse or kid_worse) else "inconclusive"
    claims.append(claim(
        "Retraining on the filtered set gives a better GAN", SOURCE, v,
        {"fid_before": b["fid"], "fid_after": a["fid"], "fid_margin": margin, "kid_before": b["kid"],
         "kid_after": a["kid"], "kid_margin": kid_margin, "reference": retrain.get("reference", ""),
         "note": "one training each: the margins are sampling noise of the metrics, not seed-to-seed spread of training"}))

    # 6. duplication over-weights those emotes in the samples
    if weight is not None and weight["before"]["uniform_share"] > 0:
        wb, wa = weight["before"], weight["after"]
        over = wb["sample_share"] >= 3 * wb["uniform_share"]
        claims.append(claim(
            "The duplicates make the GAN over-weight those emotes in its samples (and filtering undoes it)", SOURCE,
            verdict(over and wa["sample_share"] < wb["sample_share"], partly=over),
            {"sample_share_before": wb["sample_share"], "sample_share_after": wa["sample_share"],
             "uniform_share": wb["uniform_share"], "data_share": wb["data_share"]}))
    return claims


# ----------------------------------------------------------------------------------------
# Evaluation of the two tails and of the de-duplication, against the ground truth
# ----------------------------------------------------------------------------------------

def tail_evaluation(scores: np.ndarray, low: float, high: float, defect: np.ndarray, dup_group: np.ndarray,
                    doc_low: float = 0.0) -> tuple[dict, dict]:
    """``(low_tail, high_tail)``: how the discriminator's tails line up with the ground truth.

    Low tail: AUROC of the negated score for "is a defect", AUROC per defect kind, precision and
    recall below ``low`` and below the document's cut ``doc_low`` (0). High tail: the share of
    duplicate-group members above ``high`` against their share overall, and the AUROC of the score
    for "is a duplicate-group member"."""
    scores, defect, grp = np.asarray(scores, float), np.asarray(defect).astype(str), np.asarray(dup_group)
    is_def, is_dup = defect != "none", grp >= 0
    low_pr, doc_pr = outlier_precision_recall(scores < low, defect), outlier_precision_recall(scores < doc_low, defect)
    clean = ~is_def
    low_tail = {"auroc": auroc(-scores, is_def), "threshold": low, "precision": low_pr["precision"],
                "recall": low_pr["recall"], "recall_by_kind": low_pr["recall_by_kind"],
                "auroc_by_kind": {k: auroc(-scores[(defect == k) | clean], defect[(defect == k) | clean] == k)
                                  for k in sorted(set(defect[is_def]))},
                "doc_threshold_0": {"precision": doc_pr["precision"], "recall": doc_pr["recall"],
                                    "n_flagged": doc_pr["n_flagged"]}}
    tail = scores > high
    high_tail = {"auroc": auroc(scores, is_dup), "threshold": high, "n_in_tail": int(tail.sum()),
                 "dup_share_in_tail": float(is_dup[tail].mean()) if tail.any() else None,
                 "dup_share_overall": float(is_dup.mean()),
                 "defect_share_in_tail": float(is_def[tail].mean()) if tail.any() else None}
    return low_tail, high_tail


def detection_table(scores: np.ndarray, low: float, high: float, groups: dict[str, np.ndarray], ids: np.ndarray,
                    defect: np.ndarray, dup_group: np.ndarray) -> dict:
    """results.json's ``detection``: ``{kind: {method: {precision, recall, ...}}}`` for the outliers
    (the discriminator's low tail; the document's cut at 0) and the duplicates (the discriminator's
    high tail; each de-duplication in ``groups``, e.g. ``{"window": ..., "global": ...}``, keeping
    the earliest copy of each group; and the hash groups that reach into the high tail)."""
    scores = np.asarray(scores, float)
    out = {"outlier": {"d_score_low_tail": outlier_precision_recall(scores < low, defect),
                       "d_score_below_0": outlier_precision_recall(scores < 0, defect)},
           "duplicate": {"d_score_high_tail": duplicate_precision_recall(scores > high, dup_group)}}
    for name, g in groups.items():
        out["duplicate"][name] = duplicate_precision_recall(redundant_copies(g, ids), dup_group)
    if "global" in groups:
        hot = decide(scores, ids, -np.inf, high, groups["global"], groups["global"], "score+global") == "duplicate"
        out["duplicate"]["d_score_high_tail+global"] = duplicate_precision_recall(hot, dup_group)
    return out


# ----------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------

def plot_score_histogram(scores: np.ndarray, low: float | None = None, high: float | None = None,
                         truth: dict[str, np.ndarray] | None = None, ax=None, bins: int = 60,
                         title: str = "Discriminator scores of the training emotes"):
    """Histogram of the scores with their mean (and the thresholds); with ``truth``
    (``{"clean": mask, "defect": mask, "duplicate": mask}``) the bars are stacked by kind."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    scores = np.asarray(scores, float)
    edges = np.linspace(min(-100.0, scores.min()), 100.0, bins + 1)
    if truth:
        ax.hist([scores[m] for m in truth.values()], bins=edges, stacked=True, label=list(truth),
                color=["#9aa7b8", "#d1495b", "#edae49"][:len(truth)])
    else:
        ax.hist(scores, bins=edges, color="#9aa7b8")
    ax.axvline(scores.mean(), color="k", lw=1.5, label=f"mean {scores.mean():.1f}")
    for t, name in ((low, "low"), (high, "high")):
        if t is not None:
            ax.axvline(t, color="#30638e", ls="--", lw=1, label=f"{name} threshold {t:.1f}")
    ax.set_xlabel("score = 200 D(x) - 100  (-100: generated, 100: training set)")
    ax.set_ylabel("emotes")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def show_threshold_effect(images: torch.Tensor, scores: np.ndarray, logits: np.ndarray, low_z: float, high_z: float,
                          defect: np.ndarray | None = None, dup_group: np.ndarray | None = None,
                          max_images: int = 32, show: bool = True) -> dict:
    """What two thresholds (in standard deviations of D's logit) would remove: the low tail and the
    high tail as image grids, lowest and highest first, with precision and recall where the ground
    truth exists. Returns the numbers shown."""
    import matplotlib.pyplot as plt

    from .plots import show_grid

    low, high = thresholds_from_z(logits, low_z, high_z)
    lo_idx = np.nonzero(scores < low)[0]
    hi_idx = np.nonzero(scores > high)[0]
    lo_idx, hi_idx = lo_idx[np.argsort(scores[lo_idx])], hi_idx[np.argsort(-scores[hi_idx])]
    out = {"low": low, "high": high, "n_low": len(lo_idx), "n_high": len(hi_idx)}
    if defect is not None and dup_group is not None:
        o = outlier_precision_recall(scores < low, defect)
        d = duplicate_precision_recall(scores > high, dup_group)
        out.update(outlier_precision=o["precision"], outlier_recall=o["recall"],
                   duplicate_precision=d["precision"], duplicate_recall=d["recall"])

    def fmt(v):
        return "-" if v is None else f"{v:.2f}"

    if show:
        fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
        t_lo = f"score < {low:.1f}: {len(lo_idx)} outliers"
        t_hi = f"score > {high:.1f}: {len(hi_idx)} in the high tail"
        if "outlier_precision" in out:
            t_lo += f"\nprecision {fmt(out['outlier_precision'])}, recall {fmt(out['outlier_recall'])} (defects)"
            t_hi += f"\nprecision {fmt(out['duplicate_precision'])}, recall {fmt(out['duplicate_recall'])} (duplicates)"
        for ax, idx, title in ((axes[0], lo_idx, t_lo), (axes[1], hi_idx, t_hi)):
            if len(idx):
                show_grid(images[idx[:max_images]], title, ax=ax, max_images=max_images)
            else:
                ax.set_title(title + "\n(none)", fontsize=10)
                ax.axis("off")
        fig.tight_layout()
        plt.show()
    return out


def threshold_browser(images: torch.Tensor, scores: np.ndarray, logits: np.ndarray, defect=None, dup_group=None,
                      low_z: float = -1.5, high_z: float = 1.5):
    """Two sliders, low and high threshold (standard deviations of D's logit from its mean), over
    :func:`show_threshold_effect`. Renders its default view headless."""
    import ipywidgets as W

    return W.interact(lambda low_z, high_z: show_threshold_effect(images, scores, logits, low_z, high_z, defect, dup_group),
                      low_z=W.FloatSlider(value=low_z, min=-4.0, max=0.0, step=0.25, description="low (sd)",
                                          continuous_update=False),
                      high_z=W.FloatSlider(value=high_z, min=0.0, max=4.0, step=0.25, description="high (sd)",
                                           continuous_update=False))
