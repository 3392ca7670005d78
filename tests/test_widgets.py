"""gan_helpers.widgets: the plain drawing function behind every browser, and the browser's sliders."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_helpers.widgets import (CHAR_PX, grid_browser, named_slider, show_grid_at, slider_look,  # noqa: E402
                                 text_width_px, threshold_explorer)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def per_iteration():
    return {"a": {0: torch.zeros(4, 3, 8, 8), 50: torch.ones(4, 3, 8, 8), 100: torch.zeros(4, 3, 8, 8)},
            "b": {0: torch.zeros(4, 3, 8, 8), 50: torch.ones(4, 3, 8, 8), 100: torch.ones(4, 3, 8, 8)}}


def test_show_grid_at_picks_the_nearest_stored_iteration_and_the_last_by_default():
    grids = per_iteration()
    assert show_grid_at(grids, "a", 60) == 50
    assert show_grid_at(grids, "a", 80) == 100
    assert show_grid_at(grids, "a") == 100


def test_show_grid_at_titles_with_a_score_per_key_or_per_iteration():
    show_grid_at(per_iteration(), "b", 50, {"b": {50: 12.345}}, score_name="KID")
    assert plt.gca().get_title() == "b, iteration 50, KID 12.3"
    show_grid_at(per_iteration(), "b", 0, {"b": {50: 12.345}})  # no score stored at iteration 0
    assert plt.gca().get_title() == "b, iteration 0"
    assert show_grid_at({"x": torch.zeros(4, 3, 8, 8)}, "x", scores={"x": 1.0}) is None  # a single grid
    assert plt.gca().get_title() == "x, FID 1.0"


def test_show_grid_at_names_a_missing_key():
    with pytest.raises(KeyError, match="'c'.*stored: \\['a', 'b'\\]"):
        show_grid_at(per_iteration(), "c")


def test_grid_browser_has_a_key_slider_and_an_iteration_slider_and_draws_the_default_view():
    seen = []
    w = grid_browser(per_iteration(), describe=str.upper, default=0, draw=lambda k, it: seen.append((k, it)))
    (key, readout), (iteration,) = w.children[0].children, w.children[1].children
    assert key.options == (("A", "a"), ("B", "b")) and key.value == "a" and readout.value == "A"
    assert (iteration.min, iteration.max, iteration.step, iteration.value) == (0, 100, 50, 100)
    assert seen == [("a", 100)]
    key.value = "b"  # moving the slider redraws through the same function, and its readout follows
    assert seen[-1] == ("b", 100) and readout.value == "B"


def test_grid_browser_rejects_empty_grids_and_names_that_collide():
    with pytest.raises(ValueError, match="at least one"):
        grid_browser({})
    with pytest.raises(ValueError, match="same name"):
        grid_browser({1: torch.zeros(1, 3, 8, 8), "1": torch.zeros(1, 3, 8, 8)})


# The longest names the notebooks show (01, 04, 05) and what Chromium needed to show them in JupyterLab's 13 px UI
# font (measured by tests/browser_check.py on the committed notebooks, where ipywidgets cut them at 88-95 px).
MEASURED_PX = {"1:1 + DiffAugment, seed 2": 174, "s3gan_no_rotation, seed 2": 171, "minibatch_disc, seed 0": 149,
               "variant, seed": 85}


def test_text_width_covers_the_longest_text_at_more_than_the_measured_width():
    names = ["vbn, seed 0", "s3gan_no_rotation, seed 2", "all, seed 1"]
    assert text_width_px(names) == text_width_px("s3gan_no_rotation, seed 2") > text_width_px("vbn, seed 0")
    for text, px in MEASURED_PX.items():
        assert px < text_width_px(text) <= 1.5 * px, text
    assert text_width_px([]) == text_width_px("") > 0 and CHAR_PX >= 7


def test_slider_look_sizes_the_description_for_the_longest_and_leaves_the_track_its_width():
    look = slider_look(["variant, seed", "iteration"], ["500", "2000"], track_px=300)
    description = text_width_px("variant, seed")
    assert look["style"] == {"description_width": f"{description}px"}
    assert look["layout"].width == f"{description + 300 + 71 + 16}px"  # a number's readout is at least 71 px wide
    long_readout = slider_look("x", ["a" * 40])["layout"].width  # ipywidgets shows at most 148 px of a readout
    assert long_readout == f"{text_width_px('x') + 300 + 148 + 16}px"


def test_named_slider_shows_its_value_in_a_label_as_wide_as_the_longest_name():
    names = [f"{v}, seed {s}" for v in ("baseline", "s3gan_no_rotation") for s in (0, 1)]
    slider, row = named_slider(names, list(range(4)), 1, "variant, seed", align_with=["iteration"])
    readout = row.children[1]
    assert row.children[0] is slider and slider.readout is False
    assert slider.style.description_width == f"{text_width_px('variant, seed')}px"
    assert readout.layout.width == f"{text_width_px('s3gan_no_rotation, seed 0')}px"
    assert readout.value == "baseline, seed 1"
    slider.value = 3
    assert readout.value == "s3gan_no_rotation, seed 1"


def test_grid_browser_lines_up_its_sliders_and_sizes_the_readout_for_its_longest_name():
    grids = {k: v for k, v in zip(["1:1 + DiffAugment, seed 2", "b"], per_iteration().values())}
    w = grid_browser(grids, label="arm, seed", default=1, draw=lambda k, it: None)
    (key, readout), (iteration,) = w.children[0].children, w.children[1].children
    assert key.style.description_width == iteration.style.description_width == f"{text_width_px('arm, seed')}px"
    assert readout.layout.width == f"{text_width_px('1:1 + DiffAugment, seed 2')}px" and readout.value == "b"


def test_threshold_explorer_sliders_show_their_descriptions_and_readouts(monkeypatch):
    import ipywidgets
    import numpy as np

    shown = {}
    monkeypatch.setattr(ipywidgets, "interact", lambda f, **sliders: shown.update(sliders))
    threshold_explorer(np.linspace(0, 1, 50), None)
    assert {s.style.description_width for s in shown.values()} == {f"{text_width_px('t_good')}px"}
    assert all(s.readout and s.layout.width for s in shown.values())
