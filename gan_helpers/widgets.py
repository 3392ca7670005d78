"""ipywidgets front-ends. Each one only wires sliders to a plain plotting function that the
notebook also calls directly (``interact`` swallows exceptions in callbacks, so the function
itself is what the tests and the cell before the widget exercise)."""
from __future__ import annotations

from typing import Callable, Mapping

import matplotlib.pyplot as plt
import torch

from .plots import show_grid


def show_samples_at(samples: Mapping[int, Mapping[int, torch.Tensor]], ratio: int, iteration: int,
                    fids: Mapping[int, Mapping[int, float]] | None = None, max_images: int = 64):
    """The fixed-noise grid of one ratio at one stored iteration (nearest stored one if absent)."""
    stored = sorted(samples[ratio])
    it = min(stored, key=lambda i: abs(i - iteration))
    fid = "" if not fids or it not in fids.get(ratio, {}) else f", FID {fids[ratio][it]:.1f}"
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    show_grid(samples[ratio][it], f"G:D {ratio}:1, iteration {it}{fid}", ax=ax, max_images=max_images)
    plt.show()
    return it


def samples_browser(samples: Mapping[int, Mapping[int, torch.Tensor]], fids=None,
                    show: Callable = show_samples_at):
    """A ratio dropdown and an iteration slider over stored sample grids. Renders its default view headless."""
    import ipywidgets as W

    ratios = sorted(samples)
    its = sorted(samples[ratios[0]])
    step = its[1] - its[0] if len(its) > 1 else 1
    return W.interact(lambda ratio, iteration: show(samples, ratio, iteration, fids),
                      ratio=W.Dropdown(options=ratios, value=ratios[-1], description="G:D ratio"),
                      iteration=W.IntSlider(value=its[-1], min=its[0], max=its[-1], step=step,
                                            description="iteration", continuous_update=False))
