r"""Near-duplicate search, the filter's decision, its manifest, and precision/recall against ground truth.

**De-duplication.** Each image gets a perceptual hash (``imagehash.phash``: DCT of a 32x32
grayscale, :math:`h^2` bits); two images match when their hashes differ in at most
``max_distance`` bits. *Windowed* (the emote write-up's): only pairs whose emote ids differ by at
most ``window`` are compared. *Global*: every pair. Matches are joined into groups (connected
components); one copy of each group is kept (the earliest upload), the rest are duplicates.

**Scoring against ground truth.** Outliers: precision and recall of the flagged set against the
defect labels. Duplicates: a flagged image counts as correct while fewer than ``size - 1``
copies of its true group have been counted, so *which* copy is kept does not matter, and
removing every copy of a group (losing the emote) costs one false positive.

**The manifest** lists every file found, with its decision (keep / remove) or the reason it was
skipped (unreadable, broken link, unsupported extension). Nothing else is ever written: the
images themselves are never moved, changed or deleted.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .outputs import record

REASONS = ("outlier", "duplicate")

def perceptual_hashes(images: torch.Tensor, hash_size: int = 8) -> np.ndarray:
    """``imagehash.phash`` of every image (N, 3, S, S) in [-1, 1]: (N, hash_size**2) booleans."""
    import imagehash
    from PIL import Image

    from .images import to_uint8

    arr = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
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


def write_manifest(path: str | Path, paths: Sequence[str], ids: np.ndarray, scores: dict[int, np.ndarray],
                   reasons: np.ndarray, removed_in: np.ndarray | None = None,
                   skipped: Sequence[tuple[str, str]] = ()) -> Path:
    """``path`` as CSV, one row for **every file found**: ``path, emote_id, score_seed<S>... (one column per
    seed), decision (keep / remove / skipped), reason, removed_in_seeds``, images in upload order, then the
    skipped files (unreadable, broken links, other extensions) with the reason. Only this file is written;
    the images themselves are never touched."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    record(path, tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    seeds = sorted(scores)
    removed_in = np.zeros(len(paths), int) if removed_in is None else removed_in
    with tmp.open("w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["path", "emote_id", *[f"score_seed{s}" for s in seeds], "decision", "reason", "removed_in_seeds"])
        for i in np.argsort(ids, kind="stable"):
            w.writerow([paths[i], int(ids[i]), *[f"{float(scores[s][i]):.3f}" for s in seeds],
                        "remove" if reasons[i] else "keep", reasons[i], int(removed_in[i])])
        for p, why in skipped:
            w.writerow([p, "", *[""] * len(seeds), "skipped", why, ""])
    tmp.replace(path)
    return path


def flagged_list(paths: Sequence[str], scores: np.ndarray, reasons: np.ndarray) -> list[dict]:
    """``[{path, reason, score}]`` of every removed image (results.json's ``flagged``)."""
    return [{"path": paths[i], "reason": str(reasons[i]), "score": float(scores[i])}
            for i in np.nonzero(np.asarray(reasons) != "")[0]]


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
