"""Figures shared by the notebooks: image grids, loss curves, the document's log-ratio plot."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from torchvision.utils import make_grid


def grid_image(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> an (H, W, 3) array in [0, 1] laid out by torchvision's ``make_grid``."""
    g = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, normalize=True, value_range=(-1, 1))
    return g.permute(1, 2, 0).numpy()


def show_grid(images: torch.Tensor, title: str = "", nrow: int = 8, ax=None, max_images: int = 64):
    """Show up to ``max_images`` images as a grid; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(grid_image(images[:max_images], nrow=nrow), interpolation="nearest")  # crisp pixels, small PNGs
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def show_grids(grids: Mapping[str, torch.Tensor], nrow: int = 8, ncols: int | None = None, size: float = 3.6,
               max_images: int = 64, suptitle: str = ""):
    """Several titled grids side by side (e.g. real beside fake, or one per ratio)."""
    n = len(grids)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax, (title, ims) in zip(axes.flat, grids.items()):
        show_grid(ims, title, nrow=nrow, ax=ax, max_images=max_images)
    for ax in axes.flat[n:]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_log_loss_ratio(log_ratio: Mapping[str | int, Sequence[float]], ax=None,
                        title: str = "Figure 1: Log of loss ratio of generator to discriminator"):
    """The document's Figure 1: log10(G loss / D loss) per epoch, one line per ratio; 0 is parity."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    palette = sns.color_palette("viridis", len(log_ratio))
    for colour, (name, values) in zip(palette, log_ratio.items()):
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, color=colour, label=f"{name}:1")
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("log10(G loss / D loss)")
    ax.set_title(title, fontsize=10)
    ax.legend(title="G:D")
    return ax


def plot_history(history: Mapping[str, Sequence[float]], keys=("d_loss", "g_loss"), ax=None, smooth: int = 5, title=""):
    """Per-iteration curves from a trainer's ``history``, with a running mean over ``smooth`` iterations."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    it = np.asarray(history["iteration"])
    for k in keys:
        v = np.asarray(history[k], float)
        if smooth > 1 and len(v) >= smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
            ax.plot(it[smooth - 1:], v, label=k)
        else:
            ax.plot(it, v, label=k)
    ax.set_xlabel("iteration")
    ax.set_title(title, fontsize=10)
    ax.legend()
    return ax


def plot_metric_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
                       ax=None, title: str = "", logx: bool = False):
    """One line per run from ``{name: (x, y)}``, e.g. FID against network updates."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    palette = sns.color_palette("viridis", len(curves))
    for colour, (name, (x, y)) in zip(palette, curves.items()):
        ax.plot(x, y, marker="o", ms=3, color=colour, label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend()
    return ax


def _band(ax, x, ys, colour, label, marker="o"):
    """Mean over seeds as a line, min..max as a shaded band; ``ys``: (seeds, points)."""
    ys = np.asarray(ys, float)
    ax.plot(x, ys.mean(0), marker=marker, ms=3, color=colour, label=label)
    if len(ys) > 1:
        ax.fill_between(x, ys.min(0), ys.max(0), color=colour, alpha=0.2, lw=0)


def plot_over_seeds(curves: Mapping[str, Mapping[int, tuple[Sequence[float], Sequence[float]]]], xlabel: str,
                    ylabel: str, ax=None, title: str = "", logx: bool = False, logy: bool = False, palette=None):
    """One line per run name: the mean over seeds, with the min..max band of the seeds around it.

    ``curves[name][seed] = (x, y)``; seeds of one name share their x (points missing in some seed are
    dropped)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    palette = palette or sns.color_palette("viridis", len(curves))
    for colour, (name, per_seed) in zip(palette, curves.items()):
        common = sorted(set.intersection(*(set(x) for x, _ in per_seed.values())))
        ys = [[dict(zip(x, y))[c] for c in common] for x, y in per_seed.values()]
        _band(ax, common, ys, colour, f"{name} ({len(per_seed)} seeds)" if len(per_seed) > 1 else name)
    ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log" if logx else "linear", yscale="log" if logy else "linear")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_log_loss_ratio_over_seeds(log_ratio: Mapping[str, Mapping[int, Sequence[float]]], ax=None, max_epoch=None,
                                   title: str = "Figure 1: Log of loss ratio of generator to discriminator"):
    """The document's Figure 1 over seeds: log10(G loss / D loss) per epoch, mean and min..max band per ratio."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    palette = sns.color_palette("viridis", len(log_ratio))
    for colour, (name, per_seed) in zip(palette, log_ratio.items()):
        n = min(len(v) for v in per_seed.values())
        n = n if max_epoch is None else min(n, max_epoch)
        _band(ax, np.arange(1, n + 1), [np.asarray(v[:n]) for v in per_seed.values()], colour, name, marker=None)
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.set(xlabel="epoch", ylabel="log10(G loss / D loss)")
    ax.set_title(title, fontsize=10)
    ax.legend(title="G:D", fontsize=8)
    return ax


def seed_table(values: Mapping[str, Mapping[int, Mapping[str, float]]], keys: Sequence[str], digits: int = 3):
    """A table with one row per run name and, for each metric in ``keys``, "mean ± std" over seeds and
    the per-seed values: ``values[name][seed][key]``."""
    import pandas as pd

    rows = {}
    for name, per_seed in values.items():
        row = {}
        for k in keys:
            v = np.array([float(m[k]) for m in per_seed.values()])
            row[k] = f"{v.mean():.{digits}g} ± {v.std(ddof=1) if len(v) > 1 else 0:.2g}"
            row[f"{k} per seed"] = ", ".join(f"{x:.{digits}g}" for x in v)
        rows[name] = row
    return pd.DataFrame(rows).T


def plot_learning_curves(doc: Mapping, settings: Sequence[str] | None = None, ax=None):
    """The committed learning curves (``benchmarks/learning_curves_01.json``): FID against iterations,
    one line per setting, the band spanning the seeds."""
    curves: dict[str, dict[int, tuple]] = {}
    for r in doc["runs"]:
        if settings is None or r["setting"] in settings:
            curves.setdefault(r["setting"], {})[r["seed"]] = (r["iterations"], r["fid"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4.2))
    plot_over_seeds(curves, "iteration", "FID (domain features, log scale)", ax=ax, logy=True,
                    title="Quality against iterations, 1:1 DCGAN on the 192 built-in mice",
                    palette=sns.color_palette("tab10", len(curves)))
    return ax.figure


def plot_coat_axis(images: Mapping[str, torch.Tensor], ax=None, between: tuple[float, float] = (0.25, 0.75)):
    """Notebook 01: where each mouse's coat lies between grey (0) and white (1), one histogram per set.
    Brown mice sit far from this axis and are left out (distance > 40 RGB units)."""
    from .datasets.mice import central_patch_colour, coat_position

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(-0.5, 1.5, 41)
    for name, ims in images.items():
        t, dist = coat_position(central_patch_colour(ims).numpy())
        ax.hist(t[dist < 40], bins=bins, histtype="step", lw=1.6, density=True, label=name)
    ax.axvspan(*between, color="orange", alpha=0.15, label="between grey and white")
    ax.set_xlabel("coat position: 0 = grey, 1 = white")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def plot_figure1(runs: Mapping[str, Mapping[int, Mapping]], names: Sequence[str], max_epoch: int | None = None):
    """Notebook 01's Figure 1 over seeds (left) and how sure D is on real images (right, running mean of D(x))."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    plot_log_loss_ratio_over_seeds({n: {s: r["log_loss_ratio"] for s, r in runs[n].items()} for n in names},
                                   ax=axes[0], max_epoch=max_epoch)
    k = 15
    curves = {n: {s: (list(range(k, len(r["history"]["d_x"]) + 1)),
                      np.convolve(r["history"]["d_x"], np.ones(k) / k, "valid").tolist()) for s, r in runs[n].items()}
              for n in runs}
    plot_over_seeds(curves, "iteration", "D(x) on real batches (running mean)", ax=axes[1],
                    title="How sure D is that real images are real")
    fig.tight_layout()
    return fig


def plot_score_histogram(scores: np.ndarray, low: float | None = None, high: float | None = None,
                         truth: Mapping[str, np.ndarray] | None = None, ax=None, bins: int = 60,
                         title: str = "Discriminator scores of the training emotes"):
    """Notebook 02: histogram of D's scores with their mean and the thresholds; with ``truth``
    (``{"clean": mask, "defect": mask, "duplicate group": mask}``) the bars are stacked by kind."""
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
                          max_images: int = 32) -> None:
    """Notebook 02: what two thresholds (standard deviations of D's logit) would remove: the low tail and
    the high tail as image grids, lowest and highest first, with precision and recall where the ground
    truth exists. Draws; returns nothing (a slider callback)."""
    from .dedup import duplicate_precision_recall, outlier_precision_recall
    from .scores import thresholds_from_z

    low, high = thresholds_from_z(logits, low_z, high_z)
    lo_idx, hi_idx = np.nonzero(scores < low)[0], np.nonzero(scores > high)[0]
    lo_idx, hi_idx = lo_idx[np.argsort(scores[lo_idx])], hi_idx[np.argsort(-scores[hi_idx])]
    t_lo = f"score < {low:.1f}: {len(lo_idx)} outliers"
    t_hi = f"score > {high:.1f}: {len(hi_idx)} in the high tail"
    if defect is not None and dup_group is not None:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        o, d = outlier_precision_recall(scores < low, defect), duplicate_precision_recall(scores > high, dup_group)
        t_lo += f"\nprecision {fmt(o['precision'])}, recall {fmt(o['recall'])} (defects)"
        t_hi += f"\nprecision {fmt(d['precision'])}, recall {fmt(d['recall'])} (duplicates)"
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    for ax, idx, title in ((axes[0], lo_idx, t_lo), (axes[1], hi_idx, t_hi)):
        if len(idx):
            show_grid(images[idx[:max_images]], title, ax=ax, max_images=max_images)
        else:
            ax.set_title(title + "\n(none)", fontsize=10)
            ax.axis("off")
    fig.tight_layout()
    plt.show()


def plot_rounds(runs: Mapping, figsize=(12, 7)):
    """Notebook 03: per round, one line a loop: labelled set sizes, images moved each way, precision of what
    moved, and images left in the pool."""
    fig, axes = plt.subplots(2, 2, figsize=figsize)
    for (name, run), colour in zip(runs.items(), ("C0", "C3", "C2", "C1")):
        r = np.array([x["round"] for x in run.rounds])
        get = lambda k: np.array([np.nan if x[k] is None else x[k] for x in run.rounds], float)
        axes[0, 0].plot(r, get("labelled_good"), "-o", color=colour, label=f"{name}: good")
        axes[0, 0].plot(r, get("labelled_bad"), "--s", color=colour, label=f"{name}: bad")
        axes[0, 1].plot(r[1:], get("moved_to_good")[1:], "-o", color=colour, label=f"{name}: to good")
        axes[0, 1].plot(r[1:], get("moved_to_bad")[1:], "--s", color=colour, label=f"{name}: to bad")
        axes[1, 0].plot(r[1:], get("precision_to_good")[1:], "-o", color=colour, label=f"{name}: to good")
        axes[1, 0].plot(r[1:], get("precision_to_bad")[1:], "--s", color=colour, label=f"{name}: to bad")
        axes[1, 1].plot(r, get("pool_left"), "-o", color=colour, label=name)
    for ax, title in zip(axes.flat, ("labelled set size", "images moved this round", "precision of what moved (ground truth)",
                                     "images left in the pool")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("round")
        ax.legend(fontsize=7)
    axes[1, 0].set_ylim(None, 1.01)
    fig.tight_layout()
    return fig


def plot_methods(methods: Mapping[str, Mapping], figsize=(11, 3.4)):
    """Notebook 03: bars per method: held-out accuracy, precision of the final good set, and its recall."""
    keys = [("test_accuracy", "held-out accuracy"), ("good_precision", "precision of the 'good' set"),
            ("good_recall", "recall of truly good pool images")]
    fig, axes = plt.subplots(1, len(keys), figsize=figsize)
    names = list(methods)
    for ax, (k, title) in zip(axes, keys):
        vals = [np.nan if methods[n][k] is None else methods[n][k] for n in names]
        bars = ax.bar(range(len(names)), vals, color=["C0", "C3", "C9", "C1"][:len(names)])
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=8)
        lo = np.nanmin(vals) if np.isfinite(vals).any() else 0
        ax.set_ylim(max(0, lo - 0.1), 1.02)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_pool_thresholds(p: np.ndarray, truth: np.ndarray | None, t_bad: float = 0.03, t_good: float = 0.99, ax=None):
    """Notebook 03: histogram of the pool's p(good) on a log-odds axis, truly good and bad apart where known,
    with the two thresholds and what would move (:func:`gan_helpers.selftrain.threshold_effect`)."""
    from .selftrain import threshold_effect

    eff = threshold_effect(p, truth, t_bad, t_good)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    logit = lambda q: np.log(np.clip(q, 1e-6, 1 - 1e-6) / (1 - np.clip(q, 1e-6, 1 - 1e-6)))
    z = logit(np.asarray(p, float))
    bins = np.linspace(min(z.min(), logit(t_bad)) - 0.5, max(z.max(), logit(t_good)) + 0.5, 60)
    if truth is None:
        ax.hist(z, bins, color="grey", alpha=0.7, label="pool")
    else:
        tr = np.asarray(truth, int)
        ax.hist(z[tr == 1], bins, color="C2", alpha=0.6, label="truly good")
        ax.hist(z[tr == 0], bins, color="C3", alpha=0.6, label="truly bad")
    for t, c in ((t_bad, "C3"), (t_good, "C2")):
        ax.axvline(logit(t), color=c, ls="--")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    ax.set_title(f"t_bad={t_bad}, t_good={t_good}: {eff['to_bad']} to bad (precision {fmt(eff['precision_to_bad'])}), "
                 f"{eff['to_good']} to good (precision {fmt(eff['precision_to_good'])}), {eff['left']} left", fontsize=9)
    ticks = [0.001, 0.01, 0.03, 0.1, 0.5, 0.9, 0.99, 0.999]
    ax.set_xticks(logit(np.array(ticks)), [str(t) for t in ticks])
    ax.set_xlabel("p(good) (log-odds scale)")
    ax.set_ylabel("pool images")
    ax.legend(fontsize=8)
    return ax
