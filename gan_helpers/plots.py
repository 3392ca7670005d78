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
