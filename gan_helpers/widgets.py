"""ipywidgets front-ends. Each one only wires sliders to a plain plotting function that the
notebook also calls directly (``interact`` swallows exceptions in callbacks, so the function
itself is what the tests and the cell before the widget exercise).

Every description and readout is as wide as its longest text (:func:`text_width_px`). ipywidgets
caps a slider's own readout at 148 px (``--jp-widgets-inline-width-short``; no style or layout
setting lifts it: jupyter-widgets/ipywidgets issues #1759, #2855), too narrow for option names such
as "s3gan_no_rotation, seed 2", so a slider over named options shows its value in a
:class:`~ipywidgets.Label` beside it instead (:func:`named_slider`), sized to the longest name."""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, Mapping, Union

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


# JupyterLab draws widget text in its 13 px UI font (--jp-ui-font-size1). Measured in Chromium (tests/browser_check.py):
# 6.5-7.0 px a character for these labels ("1:1 + DiffAugment, seed 2", 25 characters: 174 px). 8 px a
# character plus the label's padding leaves room for wider fonts.
CHAR_PX = 8
LABEL_PAD_PX = 12
SLIDER_TRACK_PX = 300  # the draggable part of a slider: ~14 px a step for the 21 variant x seed views of notebook 05


def text_width_px(texts: str | Iterable[str]) -> int:
    """Pixels a label needs to show the longest of ``texts`` in full (at :data:`CHAR_PX` a character)."""
    texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
    return LABEL_PAD_PX + CHAR_PX * max((len(t) for t in texts), default=0)


def slider_look(descriptions: str | Iterable[str], readout_texts: Iterable[str] = (),
                track_px: int = SLIDER_TRACK_PX) -> dict:
    """``style`` and ``layout`` keyword arguments for a slider whose description is shown in full and whose
    own readout (a number: ipywidgets shows at most 148 px of it) fits the longest of ``readout_texts``.
    The description is as wide as the longest of ``descriptions``: give every slider of a view all of them,
    and their tracks line up."""
    import ipywidgets as W

    description_px = text_width_px(descriptions)
    readout_px = min(max(text_width_px(readout_texts), 71), 148) if readout_texts else 0  # ipywidgets: 71-148 px
    return {"style": {"description_width": f"{description_px}px"},
            "layout": W.Layout(width=f"{description_px + track_px + readout_px + 16}px")}


def named_slider(names: list[str], values: list, value, description: str, align_with: Iterable[str] = (),
                 track_px: int = SLIDER_TRACK_PX):
    """A :class:`~ipywidgets.SelectionSlider` over ``values`` named by ``names``, with its readout in a Label
    as wide as the longest name (kept in step with the slider). ``align_with``: the descriptions of the view's
    other sliders. Returns ``(slider, row)``: ``row`` is what to show, the slider and its readout side by side."""
    import ipywidgets as W

    slider = W.SelectionSlider(options=list(zip(names, values)), value=value, description=description,
                               readout=False, continuous_update=False,
                               **slider_look([description, *align_with], (), track_px))
    readout = W.Label(value=names[values.index(value)], layout=W.Layout(width=f"{text_width_px(names)}px"))
    readout.add_class("gan-helpers-readout")

    def follow(change):
        readout.value = names[slider.index]

    slider.observe(follow, names="index")
    return slider, W.HBox([slider, readout])


def grid_browser(grids: Grids, scores: Scores | None = None, describe: Callable[[Hashable], str] = str,
                 label: str = "variant", default: int = -1, score_name: str = "FID", max_images: int = 64,
                 draw: Callable[[Hashable, int | None], object] | None = None):
    """A slider over the keys of ``grids`` (named by ``describe``; ``default`` indexes the one shown
    first) and, where grids were stored per iteration, an iteration slider. Each move calls ``draw(key,
    iteration)``, by default :func:`show_grid_at` (a notebook passes its own to label rows, say).
    Displays the view and returns it (an ``ipywidgets.interactive``); it renders its default view headless,
    so papermill and nbval run it."""
    import ipywidgets as W
    from IPython.display import display

    keys = list(grids)
    if not keys:
        raise ValueError("grid_browser needs at least one sample grid")
    names = [describe(k) for k in keys]
    if len(set(names)) != len(names):
        raise ValueError(f"describe gives the same name to two keys: {names}")
    per_iteration = isinstance(grids[keys[0]], Mapping)
    key_slider, key_row = named_slider(names, keys, keys[default], label, ["iteration"] if per_iteration else [])

    def show(key, iteration):  # returns nothing: interact would print a return value under the figure
        if draw is None:
            show_grid_at(grids, key, iteration, scores, describe, score_name, max_images)
        else:
            draw(key, iteration)
            plt.show()  # the widget's output area shows the figure the callback drew

    if not per_iteration:
        view = W.interactive(show, key=key_slider, iteration=W.fixed(None))
    else:
        its = sorted(grids[keys[0]])
        step = its[1] - its[0] if len(its) > 1 else 1
        view = W.interactive(show, key=key_slider, iteration=W.IntSlider(
            value=its[-1], min=its[0], max=its[-1], step=step, description="iteration", continuous_update=False,
            **slider_look([label, "iteration"], [str(i) for i in its])))
    # one row per slider, each in a box (the saved view then marks every row alike while no kernel is connected)
    view.children = (key_row,) + tuple(W.HBox([c]) if isinstance(c, W.IntSlider) else c
                                       for c in view.children if c is not key_slider)
    display(view)
    return view


def threshold_browser(images: torch.Tensor, scores, logits, defect=None, dup_group=None,
                      low_z: float = -1.5, high_z: float = 1.5):
    """Notebook 02: two sliders, the low and the high threshold (standard deviations of D's logit from
    its mean), over :func:`gan_helpers.plots.show_threshold_effect`. Renders its default view headless."""
    import ipywidgets as W

    from .plots import show_threshold_effect

    def show(low_z, high_z):  # returns nothing: interact would print a return value under the figure
        show_threshold_effect(images, scores, logits, low_z, high_z, defect, dup_group)

    readouts = ["-4.00", "4.00"]
    W.interact(show, low_z=W.FloatSlider(value=low_z, min=-4.0, max=0.0, step=0.25, description="low (sd)",
                                         continuous_update=False, **slider_look(["low (sd)", "high (sd)"], readouts)),
               high_z=W.FloatSlider(value=high_z, min=0.0, max=4.0, step=0.25, description="high (sd)",
                                    continuous_update=False, **slider_look(["low (sd)", "high (sd)"], readouts)))


T_BAD_OPTIONS = (0.001, 0.005, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)
T_GOOD_OPTIONS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)


def threshold_explorer(p, truth, t_bad: float = 0.03, t_good: float = 0.99):
    """Notebook 03: two sliders over :func:`gan_helpers.plots.show_pool_thresholds`. Renders its default view headless."""
    import ipywidgets as W

    from .plots import show_pool_thresholds

    def show(t_bad, t_good):  # returns nothing: interact would print a return value under the figure
        show_pool_thresholds(p, truth, t_bad, t_good)
        plt.show()

    readouts = [str(t) for t in T_BAD_OPTIONS + T_GOOD_OPTIONS]
    W.interact(show,
               t_bad=W.SelectionSlider(options=T_BAD_OPTIONS, value=t_bad, description="t_bad",
                                       continuous_update=False, **slider_look(["t_bad", "t_good"], readouts)),
               t_good=W.SelectionSlider(options=T_GOOD_OPTIONS, value=t_good, description="t_good",
                                        continuous_update=False, **slider_look(["t_bad", "t_good"], readouts)))
