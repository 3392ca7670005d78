"""Figures shared by the notebooks: image grids, loss curves, the document's log-ratio plot."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from torchvision.utils import make_grid

from .outputs import record


def save_figure(fig, path, dpi: int = 100):
    """Save ``fig`` (a figure, or an axes' figure) at ``path`` (PNG, tight bounding box), recorded first in the
    run's manifest (:mod:`gan_helpers.outputs`): the one way the notebooks write figures."""
    fig = fig if hasattr(fig, "savefig") else fig.figure
    path = Path(path)
    record(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


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
    the per-seed values: ``values[name][seed][key]`` (a metric a row lacks is left empty)."""
    import pandas as pd

    rows = {}
    for name, per_seed in values.items():
        row = {}
        for k in keys:
            if any(k not in m or m[k] is None for m in per_seed.values()):
                continue
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


# ---------------------------------------------------------------------------------------------
# Notebook 04: rotations, the linear probe, the conditional GAN variants
# ---------------------------------------------------------------------------------------------

def show_class_rows(grid: torch.Tensor, label_names: Sequence[str] | None, title: str = "", ax=None,
                    per_row: int | None = None):
    """A conditional G's fixed-noise grid, one row per class (``len(label_names)`` rows) labelled with the
    class asked for; without ``label_names`` (the unconditional G), rows of ``per_row`` draws."""
    n_rows = len(label_names) if label_names else max(1, len(grid) // (per_row or 8))
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    show_grid(grid, title, nrow=max(1, len(grid) // n_rows), ax=ax, max_images=len(grid))
    if label_names:
        S = grid.shape[-1] + 2
        ax.axis("on")
        ax.set_yticks([S * (i + 0.5) + 1 for i in range(n_rows)], label_names, fontsize=7)
        ax.set_xticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    return ax


def show_rotation_task(model, images: torch.Tensor, label_names=None, labels=None, n: int = 6):
    """Figure "rotation task": ``n`` images at 0/90/180/270 degrees, each titled with the network's
    predicted rotation (green if right, red if wrong). Returns the figure."""
    rotated = torch.cat([torch.rot90(images[:n], r, dims=(2, 3)) for r in range(4)])
    with torch.no_grad():
        model.eval()
        pred = model(rotated.to(next(model.parameters()).device)).argmax(1).cpu()
    fig, axes = plt.subplots(n, 4, figsize=(6, 1.55 * n), squeeze=False)
    for j in range(4):
        for i in range(n):
            k, ax = j * n + i, axes[i, j]
            ax.imshow(((rotated[k].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
            ax.set_title(f"pred {90 * int(pred[k])}°", fontsize=8, color="green" if int(pred[k]) == j else "red")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_xlabel(f"turned {90 * j}°", fontsize=8)
                ax.xaxis.set_label_position("top")
            if j == 0 and labels is not None and label_names is not None:
                ax.set_ylabel(label_names[int(labels[i])], fontsize=8)
    fig.suptitle("Figure (rotation task): the network predicts how far each image was turned", fontsize=9)
    fig.tight_layout()
    return fig


def plot_rotation_per_class(per_class: Mapping[int, Sequence[float]], label_names, ceiling=None, ax=None):
    """Rotation accuracy per class (mean over seeds, the seeds as dots), beside the symmetry ceiling."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    xs = np.arange(len(label_names))
    v = np.array([list(p) for p in per_class.values()], float)  # (seeds, classes)
    ax.bar(xs - 0.2, v.mean(0), 0.4, label=f"measured, held-out images (mean of {len(v)} seeds)")
    for row in v:
        ax.plot(xs - 0.2, row, "k.", ms=3)
    if ceiling:
        ax.bar(xs + 0.2, [ceiling.get(n, np.nan) for n in label_names], 0.4, color="lightgray", edgecolor="k",
               label="ceiling from the shape's symmetry")
    ax.axhline(0.25, color="k", ls="--", lw=0.8, label="chance (1 of 4)")
    ax.set_xticks(xs, label_names, rotation=30, fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="rotation accuracy")
    ax.set_title("Rotation task per class: what the self-supervised network can and cannot learn", fontsize=10)
    ax.legend(fontsize=8)
    return ax


PROBE_NAMES = {"rotation": "linear probe on rotation features", "random": "linear probe on random-init features",
               "scratch": "same network trained from scratch"}


def plot_probe_curve(curves: Mapping[int, Mapping[str, Mapping[float, float]]], chance: float | None = None,
                     ax=None, title: str = "Linear probe: accuracy on the hidden labels against the label fraction"):
    """Accuracy against the labelled fraction (log scale), one line per method: the mean over seeds with
    the seeds' range as a band. ``curves[seed][method][fraction]``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    seeds = list(curves)
    per = {PROBE_NAMES.get(m, m): {s: ([100 * f for f in sorted(curves[s][m])], [curves[s][m][f] for f in sorted(curves[s][m])])
                                   for s in seeds} for m in curves[seeds[0]]}
    plot_over_seeds(per, "labelled images (% of the training set)", "accuracy on the hidden labels", ax=ax, logx=True,
                    title=title, palette=sns.color_palette("tab10", len(per)))
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=0.8, label="chance")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return ax


def plot_variant_scores(measured: Mapping[str, Mapping[int, Mapping]], axes=None, chance: float | None = None):
    """Bars per arm, the mean over seeds with each seed as a dot: FID (left) and the class accuracy of
    G(z, y) (right; none for the unconditional G). ``measured[arm][seed]`` holds ``fid`` and ``class_accuracy``."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    names = list(measured)
    xs = np.arange(len(names))
    for ax, key, colour in ((axes[0], "fid", "tab:blue"), (axes[1], "class_accuracy", "tab:green")):
        vals = [[m.get(key) for m in measured[n].values()] for n in names]
        ax.bar(xs, [np.mean(v) if None not in v else np.nan for v in vals], color=colour, alpha=0.7)
        for x, v in zip(xs, vals):
            if None not in v:
                ax.plot([x] * len(v), v, "k.", ms=5)
        ax.set_xticks(xs, names, rotation=25, fontsize=8, ha="right")
    axes[0].set(ylabel="FID (domain features, lower is better)")
    axes[1].set(ylabel="class accuracy of G(z, y)", ylim=(0, 1))
    if chance is not None:
        axes[1].axhline(chance, color="k", ls="--", lw=0.8, label="chance")
        axes[1].legend(fontsize=8)
    axes[0].set_title("Sample quality (bars: mean, dots: seeds)", fontsize=10)
    axes[1].set_title("Does G(z, y) show class y? (unconditional: none asked)", fontsize=10)
    return axes


def plot_label_fraction(points: Mapping[str, Mapping[float, Sequence[Mapping]]], reference: Sequence[Mapping],
                        axes=None):
    """The document's "10 times fewer labels" as a curve: class accuracy (left) and FID (right) of each
    variant against its label fraction, the mean over seeds with their range, beside the fully labelled
    GAN (a line with its seeds' band). ``points[variant][fraction]`` and ``reference``: per-seed metrics."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    palette = sns.color_palette("tab10")
    for ax, key, label in ((axes[0], "class_accuracy", "class accuracy of G(z, y)"), (axes[1], "fid", "FID (domain features)")):
        curves = {v: {i: ([100 * f for f in sorted(per)], [per[f][i][key] for f in sorted(per)])
                      for i in range(len(next(iter(per.values()))))} for v, per in points.items()}
        plot_over_seeds(curves, "labelled images (% of the training set)", label, ax=ax, logx=True,
                        palette=palette[1:1 + len(curves)])
        ref = np.array([m[key] for m in reference], float)
        ax.axhline(ref.mean(), color=palette[0], lw=1.5, label="conditional, all labels")
        ax.axhspan(ref.min(), ref.max(), color=palette[0], alpha=0.15, lw=0)
        ax.legend(fontsize=8)
    axes[0].set_ylim(0, 1)
    axes[0].set_title("Conditioning against the share of labels", fontsize=10)
    axes[1].set_title("Sample quality against the share of labels", fontsize=10)
    return axes


def plot_head_accuracy(histories: Mapping[str, Mapping[int, Mapping[str, Sequence[float]]]], inferred: Sequence[float] | None = None,
                       key: str = "head_acc_hidden", window: int = 50, ax=None, ylabel: str | None = None):
    """S3GAN's class head during training: its accuracy on the unlabelled real images (running mean over
    ``window`` iterations), per variant over seeds; ``inferred``: the rotation probe's inferred-label
    accuracy per seed (what S2GAN conditions on), as a line with its band."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    curves = {}
    for name, per_seed in histories.items():
        curves[name] = {}
        for s, h in per_seed.items():
            v = np.asarray(h[key], float)
            w = min(window, len(v))
            curves[name][s] = (list(range(w, len(v) + 1)), np.convolve(np.nan_to_num(v), np.ones(w) / w, "valid").tolist())
    plot_over_seeds(curves, "iteration", ylabel or f"{key} (running mean over {window})", ax=ax,
                    palette=sns.color_palette("tab10", len(curves) + 1)[1:])
    if inferred is not None:
        ax.axhline(np.mean(inferred), color="k", ls="--", lw=1, label="rotation probe's inferred labels (S2GAN)")
        ax.axhspan(min(inferred), max(inferred), color="k", alpha=0.08, lw=0)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------------------------------------
# Notebook 05: Improved Techniques and the Inception Score
# ---------------------------------------------------------------------------------------------

def plot_curves_05(doc: Mapping, keys: Sequence[str] = ("fid", "inception_score", "classes_covered")):
    """The committed learning curves of notebook 05 (``benchmarks/learning_curves_05.json``): FID, IS and
    classes covered against iterations, one line per setting, the band spanning the seeds."""
    labels = {"fid": "FID (domain features, log scale)", "inception_score": "Inception Score (domain classifier)",
              "classes_covered": "classes covered (of 10)"}
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 3.8), squeeze=False)
    for ax, k in zip(axes[0], keys):
        curves: dict[str, dict[int, tuple]] = {}
        for r in doc["runs"]:
            curves.setdefault(r["setting"], {})[r["seed"]] = (r["iterations"], r[k])
        plot_over_seeds(curves, "iteration", labels.get(k, k), ax=ax, logy=k == "fid",
                        palette=sns.color_palette("tab10", len(curves)))
    fig.suptitle("Notebook 05's baseline DCGAN on 898 digits: quality against iterations", fontsize=11)
    fig.tight_layout()
    return fig


def plot_ablation_curves(runs: Mapping[str, Mapping[int, Mapping]], keys: Sequence[str] = ("fid", "inception_score"),
                         floor: Mapping[str, float] | None = None):
    """Every variant's tracked metrics against iterations: mean over seeds, band from the seeds' min to max."""
    labels = {"fid": "FID (domain features, log scale)", "inception_score": "Inception Score (domain classifier)"}
    fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4), squeeze=False)
    palette = sns.color_palette("tab10", len(runs))
    for ax, k in zip(axes[0], keys):
        curves = {n: {s: ([e["iteration"] for e in r["evals"]], [e[k] for e in r["evals"]]) for s, r in per.items()}
                  for n, per in runs.items()}
        plot_over_seeds(curves, "iteration", labels.get(k, k), ax=ax, logy=k == "fid", palette=palette)
        if floor and k in floor:
            ax.axhline(floor[k], color="k", ls=":", lw=1, label="held-out real")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_class_histograms(runs: Mapping[str, Mapping[int, Mapping]], real: Mapping, label_names: Sequence[str], ax=None):
    """Share of each variant's final samples per predicted class (mean over seeds, bars from min to max); the
    held-out real histogram as black ticks: mode coverage at a glance."""
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.6))
    K, names = len(label_names), list(runs)
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        h = np.array([r["final"]["class_histogram"] for r in runs[n].values()])  # (seeds, K)
        x = np.arange(K) + (i - len(names) / 2 + 0.5) * width
        ax.bar(x, h.mean(0), width, label=n, yerr=np.clip([h.mean(0) - h.min(0), h.max(0) - h.mean(0)], 0, None),
               error_kw={"elinewidth": 0.6, "capsize": 0})
    ax.scatter(np.arange(K), real["class_histogram"], marker="_", s=400, color="k", label="real (held out)", zorder=3)
    ax.set_xticks(np.arange(K), label_names)
    ax.set_ylabel("share of samples")
    ax.set_title("Mode coverage: the classes the domain classifier reads in each variant's samples", fontsize=10)
    ax.legend(fontsize=7, ncol=4)
    return ax


def plot_is_spread(runs: Mapping[str, Mapping[int, Mapping]], real: Mapping, ax=None):
    """Each variant's Inception Score per seed (dots, error bars: the std over the 10 splits, what papers report)
    beside the spread between seeds (grey box: mean ± std over seeds, the variation of training itself)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    names = list(runs)
    for i, n in enumerate(names):
        ms = [r["final"]["inception_score"] for r in runs[n].values()]
        m = np.array([a for a, _ in ms])
        sd = m.std(ddof=1) if len(m) > 1 else 0.0
        ax.add_patch(plt.Rectangle((i - 0.3, m.mean() - sd), 0.6, 2 * sd, color="0.85", zorder=0))
        ax.hlines(m.mean(), i - 0.3, i + 0.3, color="0.4")
        offs = np.linspace(-0.15, 0.15, len(ms)) if len(ms) > 1 else [0.0]
        ax.errorbar(i + np.asarray(offs), m, yerr=[s for _, s in ms], fmt="o", ms=4, capsize=2, color=f"C{i}")
    rm, rs = real["inception_score"]
    ax.axhspan(rm - rs, rm + rs, color="k", alpha=0.08)
    ax.axhline(rm, color="k", ls=":", lw=1, label=f"held-out real: {rm:.2f} ± {rs:.2f} (splits)")
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("Inception Score (domain classifier)")
    ax.set_title("IS per seed ± std over splits (dots) and mean ± std over seeds (grey box)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_ladder(ladder: Mapping, ax=None):
    """Inception Score (left axis) and FID (right axis) of real images under growing pixel noise."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    x = ladder["noise_std"]
    ax.errorbar(x, ladder["inception_score"], yerr=ladder["inception_score_std"], marker="o", color="C0")
    ax.set_xlabel("std of Gaussian pixel noise added to real images")
    ax.set_ylabel("Inception Score (domain classifier)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(x, ladder["fid"], marker="s", color="C3")
    ax2.set_ylabel("FID (domain features)", color="C3")
    ax.set_title("A known quality ladder: IS should fall, FID rise", fontsize=10)
    return ax


def variant_title(name: str, q: Mapping | None) -> str:
    """``name`` and its scores: IS ± std over splits, FID, classes covered."""
    if not q:
        return name
    m, s = q["inception_score"]
    return f"{name}\nIS {m:.2f}±{s:.2f}, FID {q['fid']:.1f}, {q['classes_covered']} classes"


def show_variant(samples: Mapping[str, torch.Tensor], variant: str, quality: Mapping[str, Mapping] | None = None,
                 real: torch.Tensor | None = None, max_images: int = 64):
    """One variant's samples (beside real images if given), titled with its scores."""
    if variant not in samples:
        raise KeyError(f"no samples for variant {variant!r}; have {sorted(samples)}")
    n = 2 if real is not None else 1
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.9), squeeze=False)
    show_grid(samples[variant], variant_title(variant, (quality or {}).get(variant)), ax=axes[0, 0], max_images=max_images)
    if real is not None:
        show_grid(real, "real (training set)", ax=axes[0, 1], max_images=max_images)
    fig.tight_layout()
    return fig


def is_spread_table(runs: Mapping[str, Mapping[int, Mapping]], seeds: Sequence[int], real: Mapping):
    """Per variant: the IS of each seed with its std over splits (what papers report), and the spread of the
    IS over seeds (the variation of training itself)."""
    import pandas as pd

    rows = {"real (held out)": {"IS per seed (± std over splits)": f"{real['inception_score'][0]:.2f} ± "
                                f"{real['inception_score'][1]:.2f}", "mean std over splits": real["inception_score"][1]}}
    for n, per in runs.items():
        ms = [per[s]["final"]["inception_score"] for s in seeds]
        m = np.array([a for a, _ in ms])
        sp = {"mean": m.mean(), "std": m.std(ddof=1) if len(m) > 1 else 0.0, "min": m.min(), "max": m.max()}
        rows[n] = {"IS per seed (± std over splits)": ", ".join(f"{m:.2f} ± {s:.2f}" for m, s in ms),
                   "mean std over splits": float(np.mean([s for _, s in ms])), "IS mean over seeds": sp["mean"],
                   "std over seeds": sp["std"], "min..max over seeds": f"{sp['min']:.2f}..{sp['max']:.2f}"}
    return pd.DataFrame(rows).T


def curve_table_05(doc: Mapping, at: Sequence[int] = (300, 500, 700, 900, 1000)):
    """Notebook 05's learning curves as a table: FID, IS and classes covered (mean ± std over seeds) at a few
    iterations, and the training time per 100 iterations (one thread)."""
    import pandas as pd

    rows = {}
    for name in dict.fromkeys(r["setting"] for r in doc["runs"]):
        runs = [r for r in doc["runs"] if r["setting"] == name]
        row = {}
        for it in at:
            for key, short in (("fid", "FID"), ("inception_score", "IS"), ("classes_covered", "classes")):
                v = [r[key][r["iterations"].index(it)] for r in runs if it in r["iterations"]]
                if v:
                    row[f"{short} @{it}"] = f"{np.mean(v):.1f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.1f}"
        row["s / 100 it."] = round(float(np.mean([100 * r["train_s"] / r["iterations"][-1] for r in runs])), 1)
        rows[name] = row
    return pd.DataFrame(rows).T
