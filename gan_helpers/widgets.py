"""ipywidgets front-ends. Each one only wires sliders to a plain plotting function that the
notebook also calls directly (``interact`` swallows exceptions in callbacks, so the function
itself is what the tests and the cell before the widget exercise)."""
from __future__ import annotations

from typing import Callable, Hashable, Mapping, Union

import matplotlib.pyplot as plt
import torch

from .plots import show_grid

# key (a G:D ratio, a variant name) -> one grid, or iteration -> grid for grids stored during training
Grids = Mapping[Hashable, Union[torch.Tensor, Mapping[int, torch.Tensor]]]
# key -> one score, or key -> {iteration: score}
Scores = Mapping[Hashable, Union[float, Mapping[int, float]]]


def show_grid_at(grids: Grids, key: Hashable, iteration: int | None = None, scores: Scores | None = None,
                 describe: Callable[[Hashable], str] = str, score_name: str = "FID", max_images: int = 64):
    """Draw the grid stored under ``key`` in a fresh figure. Where the entry holds grids per
    iteration, the stored iteration nearest ``iteration`` is shown (the last one if None).
    Returns the iteration shown, or None for an entry that is a single grid."""
    if key not in grids:
        raise KeyError(f"no sample grid for {key!r}; stored: {list(grids)}")
    entry, shown = grids[key], None
    if isinstance(entry, Mapping):
        stored = sorted(entry)
        shown = stored[-1] if iteration is None else min(stored, key=lambda i: abs(i - iteration))
        entry = entry[shown]
    score = (scores or {}).get(key)
    if isinstance(score, Mapping):
        score = score.get(shown)
    title = describe(key) + ("" if shown is None else f", iteration {shown}") \
        + ("" if score is None else f", {score_name} {score:.1f}")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    show_grid(entry, title, ax=ax, max_images=max_images)
    plt.show()
    return shown


def grid_browser(grids: Grids, scores: Scores | None = None, describe: Callable[[Hashable], str] = str,
                 label: str = "variant", default: int = -1, score_name: str = "FID", max_images: int = 64,
                 draw: Callable[[Hashable, int | None], object] | None = None):
    """A slider over the keys of ``grids`` (named by ``describe``; ``default`` indexes the one shown
    first) and, where grids were stored per iteration, an iteration slider. Each move calls ``draw(key,
    iteration)``, by default :func:`show_grid_at` (a notebook passes its own to label rows, say).
    Renders its default view headless, so papermill and nbval run it."""
    import ipywidgets as W

    keys = list(grids)
    if not keys:
        raise ValueError("grid_browser needs at least one sample grid")
    names = [describe(k) for k in keys]
    if len(set(names)) != len(names):
        raise ValueError(f"describe gives the same name to two keys: {names}")
    key_slider = W.SelectionSlider(options=list(zip(names, keys)), value=keys[default], description=label,
                                   continuous_update=False)

    def show(key, iteration):  # returns nothing: interact would print a return value under the figure
        if draw is None:
            show_grid_at(grids, key, iteration, scores, describe, score_name, max_images)
        else:
            draw(key, iteration)
            plt.show()  # the widget's output area shows the figure the callback drew

    if not isinstance(grids[keys[0]], Mapping):
        return W.interact(show, key=key_slider, iteration=W.fixed(None))
    its = sorted(grids[keys[0]])
    step = its[1] - its[0] if len(its) > 1 else 1
    return W.interact(show, key=key_slider,
                      iteration=W.IntSlider(value=its[-1], min=its[0], max=its[-1], step=step,
                                            description="iteration", continuous_update=False))


def threshold_browser(images: torch.Tensor, scores, logits, defect=None, dup_group=None,
                      low_z: float = -1.5, high_z: float = 1.5):
    """Notebook 02: two sliders, the low and the high threshold (standard deviations of D's logit from
    its mean), over :func:`gan_helpers.plots.show_threshold_effect`. Renders its default view headless."""
    import ipywidgets as W

    from .plots import show_threshold_effect

    def show(low_z, high_z):  # returns nothing: interact would print a return value under the figure
        show_threshold_effect(images, scores, logits, low_z, high_z, defect, dup_group)

    W.interact(show, low_z=W.FloatSlider(value=low_z, min=-4.0, max=0.0, step=0.25, description="low (sd)",
                                         continuous_update=False),
               high_z=W.FloatSlider(value=high_z, min=0.0, max=4.0, step=0.25, description="high (sd)",
                                    continuous_update=False))


T_BAD_OPTIONS = (0.001, 0.005, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)
T_GOOD_OPTIONS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)


def threshold_explorer(p, truth, t_bad: float = 0.03, t_good: float = 0.99):
    """Notebook 03: two sliders over :func:`gan_helpers.plots.show_pool_thresholds`. Renders its default view headless."""
    import ipywidgets as W

    from .plots import show_pool_thresholds

    def show(t_bad, t_good):  # returns nothing: interact would print a return value under the figure
        show_pool_thresholds(p, truth, t_bad, t_good)
        plt.show()

    W.interact(show,
               t_bad=W.SelectionSlider(options=T_BAD_OPTIONS, value=t_bad, description="t_bad", continuous_update=False),
               t_good=W.SelectionSlider(options=T_GOOD_OPTIONS, value=t_good, description="t_good",
                                        continuous_update=False))
