import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from gan_helpers.data import COAT_COLOURS, make_mouse_faces
from gan_helpers.plots import plot_log_loss_ratio, show_grids
from gan_helpers.ratio_sweep import (QualityEvaluator, coat_analysis, equal_compute_table, late_abs_log_ratio,
                                     mouse_attribute_labels,
                                     run_sweep, sweep_claims)
from gan_helpers.train import TrainConfig
from gan_helpers.widgets import grid_browser, show_grid_at


def _flat(rgb, n=8, size=32):
    x = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1
    return x.expand(n, 3, size, size).clone()


def test_coat_analysis_real_mice_have_no_in_between_coat():
    s = make_mouse_faces(90, 32, seed=5)
    out = coat_analysis(s.images)
    assert out["share_between_grey_white"] == 0
    assert out["coats_covered"] == 3
    assert all(abs(v - 1 / 3) < 0.05 for v in out["coat_histogram"].values())


def test_coat_analysis_detects_a_mouse_between_grey_and_white():
    mid = (np.array(COAT_COLOURS["grey"]) + np.array(COAT_COLOURS["white"])) / 2
    out = coat_analysis(torch.cat([_flat(mid), _flat(COAT_COLOURS["brown"])]))
    assert out["share_between_grey_white"] == pytest.approx(0.5)
    assert out["coat_histogram"]["brown"] == pytest.approx(0.5)


def _q(fid, noise=1.0, div=1.0, dup=0.0, coats=3, between=0.0):
    return {"fid": fid, "fid_noise": noise, "kid": fid / 100, "diversity_ratio": div, "near_duplicate_rate": dup,
            "coats_covered": coats, "share_between_grey_white": between}


COLLAPSE = {"diversity_below": 0.8, "near_duplicates_above": 0.05, "real_between": 0.0}


def _verdicts(claims):
    return {c["claim"].split(" ")[0] + c["claim"].split(" ")[-1]: c["verdict"] for c in claims}


def test_sweep_claims_follow_the_numbers():
    lr = {1: np.full(10, 2.0), 2: np.full(10, 1.0), 4: np.full(10, 0.5), 50: np.full(10, 0.1)}
    quality = {1: _q(100), 2: _q(80), 4: _q(50, div=0.5), 50: _q(45, dup=0.2)}
    claims = sweep_claims(lr, quality, {4: {"ratio_fid": 50, "baseline_fid": 70, "updates": 300}}, COLLAPSE)
    v = [c["verdict"] for c in claims]
    assert v == ["holds", "holds", "holds", "partly", "holds", "holds"]

    # the opposite world: parity gets worse, 4:1 worse than 2:1, 50:1 far worse, in-between coats everywhere
    lr2 = {1: np.full(10, 0.1), 2: np.full(10, 0.5), 4: np.full(10, 1.0), 50: np.full(10, -3.0)}
    quality2 = {r: _q(f, between=0.2) for r, f in {1: 50, 2: 40, 4: 60, 50: 90}.items()}
    claims2 = sweep_claims(lr2, quality2, {4: {"ratio_fid": 60, "baseline_fid": 30, "updates": 300}}, COLLAPSE)
    assert [c["verdict"] for c in claims2] == ["does not hold"] * 6


def test_differences_within_noise_are_inconclusive():
    lr = {r: np.zeros(4) for r in (1, 2, 4, 50)}
    quality = {r: _q(50 + 0.1 * r, noise=5.0) for r in (1, 2, 4, 50)}
    claims = sweep_claims(lr, quality, {}, COLLAPSE)
    assert claims[1]["verdict"] == "inconclusive"


def test_late_abs_log_ratio_uses_the_second_half():
    assert late_abs_log_ratio(np.array([5.0, 5.0, -1.0, 1.0])) == 1.0


def test_tiny_sweep_end_to_end():
    train, ref = make_mouse_faces(32, 32, seed=0), make_mouse_faces(64, 32, seed=1)
    ev = QualityEvaluator.fit(ref, mouse_attribute_labels(ref), n_samples=64, epochs=1)
    base = TrainConfig(image_size=32, nz=8, ngf=4, ndf=4, batch_size=16, device="cpu", sample_at=(2,))
    runs, baseline = run_sweep(train.images, [1, 3], iterations=4, base=base, evaluator=ev, eval_every=2,
                               baseline_iterations=8, progress=False)
    assert runs[1].iteration == 4 and runs[3].iteration == 4 and runs[3].g_steps == 12
    assert baseline.iteration == 8 and [e["iteration"] for e in baseline.evals] == [2, 4, 6, 8]
    assert torch.equal(torch.tensor(baseline.history["g_loss"][:4]),
                       torch.tensor(runs[1].history["g_loss"]))  # the continuation starts from the 1:1 run
    table = equal_compute_table(runs, 4, baseline)
    assert table[3]["updates"] == 16 and table[3]["baseline_iteration"] == 8
    assert [e["iteration"] for e in runs[3].evals] == [2, 4]
    assert sorted(runs[3].samples) == [2, 4]
    full = ev.full(runs[3].sample(64))
    assert {"fid", "kid", "precision", "recall", "coverage", "diversity_ratio", "share_between_grey_white"} <= set(full)


def test_plots_and_widget_default_view():
    samples = {2: {10: torch.zeros(4, 3, 32, 32), 20: torch.ones(4, 3, 32, 32)}}
    assert show_grid_at(samples, 2, 18, {2: {20: 3.0}}, describe="G:D {}:1".format) == 20  # nearest stored
    assert plt.gca().get_title() == "G:D 2:1, iteration 20, FID 3.0"
    w = grid_browser(samples, describe="G:D {}:1".format, label="G:D ratio")  # notebook 01's call
    assert w.widget.children[0].options == (("G:D 2:1", 2),)
    ax = plot_log_loss_ratio({1: [0.5, 0.2], 4: [0.1, 0.0]})
    assert len(ax.lines) == 3  # two ratios and the parity line
    fig = show_grids({"a": torch.zeros(4, 3, 8, 8), "b": torch.zeros(4, 3, 8, 8)})
    assert len(fig.axes) == 2
    plt.close("all")
