"""Notebook 04, steps 4-5: the variants' labels and networks, one training per arm, the claims over seeds, figures."""
import math

import numpy as np
import pytest

from gan_helpers.features import PixelClassifier
import torch

from gan_helpers import plots
from gan_helpers.evaluate import Evaluator
from gan_helpers.experiments import fewer_labels as FL
from gan_helpers.features import DomainClassifier
from gan_helpers.models import ProjectionDiscriminator
from gan_helpers.objectives import S3GANLoss


def test_variant_labels():
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    lab = np.array([0, 4])
    inferred = torch.tensor([0, 2, 2, 1, 0, 2])
    assert FL.variant_labels("conditional", y, lab, inferred).tolist() == y.tolist()
    assert FL.variant_labels("conditional_labelled_only", y, lab).tolist() == y.tolist()  # trained on images[lab] only
    assert FL.variant_labels("unconditional", y, lab, inferred).tolist() == [-1] * 6
    assert FL.variant_labels("s2gan", y, lab, inferred).tolist() == [0, 2, 2, 1, 1, 2]  # true labels where known
    assert FL.variant_labels("s3gan", y, lab, inferred).tolist() == [0, -1, -1, -1, 1, -1]
    with pytest.raises(ValueError, match="inferred"):
        FL.variant_labels("s2gan", y, lab, None)
    with pytest.raises(ValueError, match="variant"):
        FL.variant_labels("biggan", y, lab)


def test_make_arms_puts_the_comparison_first_then_the_fraction_axis():
    arms = FL.make_arms(list(FL.VARIANTS), 0.1, [0.05, 0.1, 0.2])
    assert [a.name for a in arms] == ["unconditional", "conditional", "conditional_labelled_only", "s2gan", "s3gan",
                                      "s3gan_no_rotation", "s2gan @ 5%", "s3gan @ 5%", "s2gan @ 20%", "s3gan @ 20%"]
    assert [a.fraction for a in arms[:6]] == [1.0, 1.0, 0.1, 0.1, 0.1, 0.1]
    assert FL.make_arms(["conditional", "s3gan"], 0.1, [0.05])[-1].name == "s3gan @ 5%"
    with pytest.raises(ValueError, match="unknown variant"):
        FL.make_arms(["conditional", "s4gan"], 0.1)


def test_build_gives_each_variant_its_heads_and_objective():
    for v in FL.VARIANTS:
        G, D, obj = FL.build(v, 4, 32, nz=8, ngf=4, ndf=4)
        assert G.n_classes == (0 if v == "unconditional" else 4)
        assert (D.rotation is not None) == obj.rotation == (v == "s3gan")
        assert (D.classifier is not None) == obj.predictor == v.startswith("s3gan")
        assert isinstance(obj, S3GANLoss) and obj.loss == "hinge"


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(48, 3, 32, 32, generator=g) * 2 - 1
    y = torch.arange(3).repeat(16)
    torch.manual_seed(0)
    ev = Evaluator(DomainClassifier(3, width=4, feature_dim=8).eval(), x[:24], y[:24], n_samples=12)
    return x, y, ev


@pytest.mark.parametrize("variant", FL.VARIANTS)
def test_every_variant_trains_measures_and_returns_plain_data(data, variant):
    x, y, ev = data
    arm = FL.Arm(variant, 0.25 if variant in FL.SEMI_SUPERVISED else 1.0)
    split = {"labelled": np.arange(0, 48, 2), "inferred": y.flip(0)}
    reader = PixelClassifier(size=8).fit(x, y)
    r = FL.train_arm(arm, 1, x, y, split, ev, dict(nz=8, ngf=4, ndf=4), dict(batch_size=16, device="cpu", amp=False), 4, 2,
                     reader=reader)
    assert r["arm"] == variant and r["seed"] == 1 and [e["iteration"] for e in r["evals"]] == [2, 4]
    assert all(math.isfinite(v) for v in r["history"]["d_loss"] + r["history"]["g_loss"])
    assert ("rot_loss_real" in r["history"]) == (variant == "s3gan")
    assert (r["head_accuracy"] is not None) == variant.startswith("s3gan")
    assert ("class_accuracy" in r["measured"]) == ("class_accuracy_svm" in r["measured"]) == (variant != "unconditional")
    assert r["samples"].dtype == torch.uint8 and r["samples"].shape == (12, 3, 32, 32)
    assert set(r["grids"]) == {2, 4} and len(r["grids"][4]) == 8 * 3  # eight columns, one row per class


def test_run_arms_feeds_each_arm_its_seed_and_fraction(data):
    x, y, ev = data
    splits = {s: {f: {"labelled": np.arange(0, 48, int(1 / f)), "inferred": y} for f in (0.25, 0.5)} for s in (0, 1)}
    arms = FL.make_arms(["conditional", "s3gan"], 0.25, [0.5], axis_variants=("s3gan",))
    runs = FL.run_arms(x, y, arms, [0, 1], splits, ev, dict(nz=8, ngf=4, ndf=4),
                       dict(batch_size=16, device="cpu", amp=False), 2, 2, workers=1)
    assert set(runs) == {"conditional", "s3gan", "s3gan @ 50%"} and set(runs["s3gan"]) == {0, 1}
    assert runs["s3gan @ 50%"][1]["fraction"] == 0.5 and runs["s3gan @ 50%"][1]["samples"] is None  # axis: not saved


def test_only_s3gan_trains_the_rotation_head_and_g_feels_it(data):
    from gan_helpers.train import GANTrainer, TrainConfig

    x, y, _ = data
    labels = FL.variant_labels("s3gan", y, np.arange(0, 48, 4))

    def trainer(weight_g):
        G, D, obj = FL.build("s3gan", 3, 32, nz=8, ngf=4, ndf=4)
        obj.rotation_weight_g = weight_g
        return GANTrainer(x, G, D, obj, TrainConfig(batch_size=16, seed=1, device="cpu", amp=False), labels=labels)

    t0, t1 = trainer(0.0), trainer(0.2)
    before = t1.D.rotation.weight_orig.detach().clone()
    t0.fit(1), t1.fit(1)
    assert not torch.equal(before, t1.D.rotation.weight_orig.detach())
    torch.testing.assert_close(t0.D.psi.weight_orig, t1.D.psi.weight_orig)  # the same D step
    assert not torch.allclose(t0.G.out.weight, t1.G.out.weight)  # G's step feels 0.2 x the rotation loss


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------

SEEDS = [0, 1, 2]
BASE = {"unconditional": (40.0, None), "conditional": (20.0, 0.9), "conditional_labelled_only": (35.0, 0.5),
        "s2gan": (22.0, 0.89), "s3gan": (21.0, 0.88), "s3gan_no_rotation": (30.0, 0.6), "s2gan @ 5%": (30.0, 0.5),
        "s3gan @ 5%": (25.0, 0.6)}


def curve(fid, swing=0.0, n=8):
    """Evaluations falling towards ``fid``, with ``swing`` added and subtracted in turn."""
    return [{"iteration": 250 * (i + 1), "fid": fid + 3 * (n - i) + (swing if i % 2 else -swing)} for i in range(n)]


def fake_runs(swing=None, **over):
    """runs[arm][seed] with FID and class accuracy per seed (a per-seed list, or one value for every seed); both
    readers read the same accuracy unless ``class_accuracy_svm`` is given."""
    runs = {}
    for name, (fid, acc) in BASE.items():
        fid, acc = over.get(name, (fid, acc))
        variant, frac = (name.split(" @ ")[0], float(name.split(" @ ")[1][:-1]) / 100) if "@" in name else \
            (name, 0.1 if name in FL.SEMI_SUPERVISED else 1.0)
        runs[name] = {}
        for i, s in enumerate(SEEDS):
            f = fid[i] if isinstance(fid, list) else fid + 0.3 * i
            a = acc[i] if isinstance(acc, list) else acc
            m = {"fid": f, "fid_noise": 0.5}
            if a is not None:
                m["class_accuracy"] = m["class_accuracy_svm"] = a
            runs[name][s] = {"variant": variant, "fraction": frac, "measured": m, "axis": "@" in name,
                             "evals": curve(f, (swing or {}).get(name, 0.0)),
                             "head_accuracy": 0.7 if variant.startswith("s3gan") else None}
    return runs


def fake_selfsup(rotation=0.6, scratch=0.3, random=0.4, inferred=0.9):
    return {s: {"probe": {"rotation": {0.05: rotation, 0.1: rotation, 1.0: 0.9},
                          "scratch": {0.05: scratch, 0.1: scratch, 1.0: 0.95},
                          "random": {0.05: random, 0.1: random, 1.0: 0.6}},
                "splits": {0.1: {"accuracy": inferred, "inferred": torch.zeros(2000)}}} for s in SEEDS}


def verdicts(runs=None, selfsup=None, untrained_fid=300.0):
    _, judged = FL.fewer_labels_claims(selfsup or fake_selfsup(), runs or fake_runs(), SEEDS, 0.1, 10, 1000, untrained_fid)
    return {c["key"]: c["verdict"] for c in judged}, judged


def test_claims_follow_the_numbers_of_every_seed():
    v, judged = verdicts(fake_runs(swing={"s3gan_no_rotation": 3.0, "unconditional": 3.0}))
    assert list(v) == ["probe_vs_scratch", "rotation_vs_random", "inferred_labels", "conditional_follows", "s2gan_close",
                       "s2gan_uses_unlabelled", "s3gan_close", "s3gan_uses_unlabelled", "rotation_loss_helps",
                       "rotation_loss_stability", "head_vs_probe"]
    assert all(x == "holds" for k, x in v.items() if k != "head_vs_probe"), v
    assert v["head_vs_probe"] == "does not hold"  # the head (0.7) reads the hidden labels worse than the probe (0.9)
    close = next(c for c in judged if c["key"] == "s3gan_close")["evidence"]
    assert close["thresholds"] == {"close_accuracy_gap": 0.05, "noise_factor": 2.0, "close_fid_ratio": 1.25}


def test_a_gap_of_ten_points_is_not_close_and_the_labelled_only_baseline_must_be_beaten():
    v, _ = verdicts(fake_runs(s3gan=(21.0, 0.78)))  # 12 points below the fully labelled GAN
    assert v["s3gan_close"] == "does not hold"
    v, _ = verdicts(fake_runs(conditional_labelled_only=(21.0, 0.88)))  # the labelled 10% alone do as well
    assert v["s3gan_uses_unlabelled"] == "inconclusive" and v["s2gan_uses_unlabelled"] != "holds"


def test_a_claim_holds_only_where_every_seed_agrees():
    # conditional reads its class in two seeds of three and not in the third: the seeds disagree
    v, _ = verdicts(fake_runs(conditional=(20.0, [0.9, 0.9, 0.5])))
    assert v["conditional_follows"] == "inconclusive"
    # the rotation loss helps in one seed and hurts in another: inconclusive
    v, _ = verdicts(fake_runs(s3gan_no_rotation=([30.0, 10.0, 21.0], [0.6, 0.95, 0.88])))
    assert v["rotation_loss_helps"] == "inconclusive"
    # the rotation loss hurts in every seed: does not hold
    v, _ = verdicts(fake_runs(s3gan_no_rotation=(10.0, 0.95)))
    assert v["rotation_loss_helps"] == "does not hold"


def test_readers_that_disagree_tie():
    runs = fake_runs()
    for s in SEEDS:
        runs["conditional"][s]["measured"]["class_accuracy_svm"] = 0.4  # the SVM does not read the classes
    v, judged = verdicts(runs)
    assert v["conditional_follows"] == "inconclusive"
    assert next(c for c in judged if c["key"] == "conditional_follows")["evidence"]["values"][0]["readers_disagree"]


def test_stability_compares_late_swings_with_and_without_the_rotation_loss():
    v, _ = verdicts(fake_runs(swing={"s3gan": 4.0}))  # S3GAN swings, its ablation does not
    assert v["rotation_loss_stability"] == "does not hold"
    v, _ = verdicts(fake_runs(swing={"s3gan": 1.0, "s3gan_no_rotation": 1.1, "unconditional": 2.0}))  # alike, relative to FID
    assert v["rotation_loss_stability"] == "inconclusive"


def test_arms_that_did_not_learn_are_not_testable():
    v, _ = verdicts(untrained_fid=30.0)  # every FID above half of 30
    assert v["conditional_follows"] == v["s3gan_close"] == v["rotation_loss_helps"] == "not testable here"
    assert v["probe_vs_scratch"] == "holds"  # no GAN involved


def test_self_supervised_claims():
    v, _ = verdicts(selfsup=fake_selfsup(rotation=0.2, scratch=0.4, random=0.5, inferred=0.25))
    assert (v["probe_vs_scratch"], v["rotation_vs_random"], v["inferred_labels"]) == ("does not hold", "does not hold", "partly")
    v, _ = verdicts(selfsup=fake_selfsup(inferred=0.1))
    assert v["inferred_labels"] == "does not hold"
    ss = fake_selfsup()
    for s in SEEDS:
        ss[s]["probe"]["scratch"][0.1] = 0.95  # scratch wins at 10%, the probe at 5%: partly over the fractions
    v, judged = verdicts(selfsup=ss)
    ev = next(c for c in judged if c["key"] == "probe_vs_scratch")["evidence"]
    assert ev["per_setting"] == {"5% labels": "holds", "10% labels": "does not hold"} and v["probe_vs_scratch"] == "partly"


def test_figures_draw():
    import matplotlib.pyplot as plt

    from gan_helpers.experiments.selfsup import SHAPE_ROTATION_CEILING, RotationNet

    runs = fake_runs()
    axes = plots.plot_variant_scores({n: {s: r["measured"] for s, r in runs[n].items()} for n in runs}, chance=0.1)
    assert len(axes[0].patches) == len(runs)
    ax = plots.plot_probe_curve({s: fake_selfsup()[s]["probe"] for s in SEEDS}, chance=0.1)
    assert len(ax.get_lines()) == 4  # three methods and chance
    ax = plots.plot_rotation_per_class({0: [0.9, 0.25], 1: [0.8, 0.3]}, ["triangle", "circle"], SHAPE_ROTATION_CEILING)
    assert len(ax.patches) == 4
    fig = plots.show_rotation_task(RotationNet(4, 4), torch.zeros(2, 3, 32, 32), ["x"], torch.zeros(2, dtype=torch.long), n=2)
    assert len(fig.axes) == 8
    pts = {"s3gan": {f: [runs[f"s3gan @ 5%" if f == 0.05 else "s3gan"][s]["measured"] for s in SEEDS] for f in (0.05, 0.1)}}
    axes = plots.plot_label_fraction(pts, [runs["conditional"][s]["measured"] for s in SEEDS])
    assert axes[0].get_ylim() == (0, 1)
    hist = {"s3gan": {s: {"head_acc_hidden": list(np.linspace(0.1, 0.8, 100))} for s in SEEDS}}
    ax = plots.plot_head_accuracy(hist, inferred=[0.8, 0.82, 0.79], window=10)
    assert ax.get_lines()
    ax = plots.show_class_rows(torch.zeros(3 * 4, 3, 32, 32), ["a", "b", "c"], "t")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    plt.close("all")


def test_class_row_browser_renders_its_default_view():
    import matplotlib.pyplot as plt

    from gan_helpers.widgets import grid_browser

    grids = {v: {10: torch.zeros(6, 3, 32, 32), 20: torch.ones(6, 3, 32, 32)} for v in ("conditional", "s3gan")}
    drawn = []

    def draw(v, it):  # notebook 04's call: rows labelled by class
        drawn.append((v, it))
        plots.show_class_rows(grids[v][it], ["a", "b", "c"], f"{v}, iteration {it}")

    w = grid_browser(grids, draw=draw)
    (key, _), (iteration,) = w.children[0].children, w.children[1].children  # each slider in its row
    assert [k for _, k in key.options] == ["conditional", "s3gan"] and key.value == "s3gan"
    assert (iteration.min, iteration.max, iteration.step, iteration.value) == (10, 20, 10, 20)
    assert drawn == [("s3gan", 20)]
    plt.close("all")
