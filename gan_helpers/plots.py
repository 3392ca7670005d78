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
