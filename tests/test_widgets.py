"""gan_helpers.widgets: the plain drawing function behind every browser, and the browser's sliders."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_helpers.widgets import grid_browser, show_grid_at  # noqa: E402


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
    key, iteration = w.widget.children[:2]
    assert key.options == (("A", "a"), ("B", "b")) and key.value == "a"
    assert (iteration.min, iteration.max, iteration.step, iteration.value) == (0, 100, 50, 100)
    assert seen == [("a", 100)]
    key.value = "b"  # moving the slider redraws through the same function
    assert seen[-1] == ("b", 100)


def test_grid_browser_rejects_empty_grids_and_names_that_collide():
    with pytest.raises(ValueError, match="at least one"):
        grid_browser({})
    with pytest.raises(ValueError, match="same name"):
        grid_browser({1: torch.zeros(1, 3, 8, 8), "1": torch.zeros(1, 3, 8, 8)})
