"""Notebook 05: the Inception Score and the techniques of Salimans et al. 2016, over seeds."""
import dataclasses

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from gan_helpers import plots
from gan_helpers.evaluate import Evaluator
from gan_helpers.experiments import techniques as tq
from gan_helpers.layers import MinibatchDiscrimination, VirtualBatchNorm2d
from gan_helpers.claims import VERDICTS
from gan_helpers.losses import HistoricalAverage, discriminator_loss, feature_matching_loss
from gan_helpers.metrics import classifier_probs, inception_score, inception_score_images
from gan_helpers.models import Generator, MinibatchDiscriminator, VBNGenerator
from gan_helpers.notebook import ParameterError, check_parameters
from gan_helpers.train import GANTrainer, TrainConfig


# ------------------------------------------------------------------ Inception Score

def reference_is(preds: np.ndarray, splits: int = 10):
    """openai/improved-gan inception_score/model.py, the scoring loop verbatim in NumPy."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return np.mean(scores), np.std(scores)


def dirichlet(n=1000, k=10, alpha=0.3, seed=0):
    return np.random.default_rng(seed).dirichlet(np.full(k, alpha), n)


def test_is_worked_cases():
    K = 10
    assert inception_score(np.full((500, K), 1 / K), splits=5) == pytest.approx((1.0, 0.0))
    one_hot = np.eye(K)[np.arange(1000) % K]  # each split holds every class equally
    assert inception_score(one_hot, splits=10) == pytest.approx((K, 0.0))
    assert inception_score(np.eye(K)[np.zeros(300, int)], splits=3)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("splits", [1, 3, 10])
def test_is_matches_the_reference_loop(splits):
    p = dirichlet(1003, 10)  # 1003: uneven contiguous splits, as the reference slices them
    ref = reference_is(p, splits)
    assert inception_score(p, splits) == pytest.approx(ref, rel=1e-10)
    assert inception_score(torch.as_tensor(p, dtype=torch.float32), splits) == pytest.approx(ref, rel=1e-4)


def test_is_matches_torchmetrics_up_to_its_shuffle_and_ddof():
    from torchmetrics.image.inception import InceptionScore

    p = dirichlet(1000, 10, seed=1)
    metric = InceptionScore(feature=torch.nn.Identity(), splits=10)
    metric.update(torch.log(torch.as_tensor(p)))
    torch.manual_seed(123)
    tm_mean, tm_std = metric.compute()
    torch.manual_seed(123)
    idx = torch.randperm(1000)  # the permutation torchmetrics draws before splitting
    m, s = inception_score(p[idx.numpy()], 10)
    assert float(tm_mean) == pytest.approx(m, rel=1e-6)
    assert float(tm_std) == pytest.approx(s * np.sqrt(10 / 9), rel=1e-5)  # torch.std is ddof=1
    assert inception_score(p, 10)[0] != pytest.approx(m, rel=1e-6)  # and the shuffle changes the number


def test_is_rejects_logits_and_bad_splits():
    with pytest.raises(ValueError, match="softmax"):
        inception_score(np.random.default_rng(0).normal(size=(20, 5)))
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.full((4, 2), 0.5), splits=5)


class TinyClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4), torch.nn.BatchNorm1d(4))

    def forward(self, x):
        return {"label": self.net(x)}


def test_classifier_probs_in_batches_equal_one_pass_and_restore_mode():
    clf = TinyClassifier().train()
    x = torch.randn(23, 3, 8, 8)
    one = classifier_probs(clf, x, batch_size=100)
    assert torch.allclose(one, classifier_probs(clf, x, batch_size=4)) and one.dtype == torch.float64 and clf.training
    assert inception_score_images(x, clf, splits=1, batch_size=5) == pytest.approx(inception_score(one, 1))


# ------------------------------------------------------------------ the techniques

def test_feature_matching_loss_and_its_gradient():
    real, fake = torch.randn(16, 7), torch.randn(16, 7, requires_grad=True)
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(((real.mean(0) - fake.mean(0)) ** 2).mean().item(), rel=1e-6)
    g, = torch.autograd.grad(loss, fake)
    assert g.abs().sum() > 0
    assert feature_matching_loss(real, real[torch.randperm(16)]).item() == pytest.approx(0.0, abs=1e-10)


def test_minibatch_layer_matches_the_formula_without_the_self_term():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, num_kernels=3, kernel_dim=2, init_std=0.5)
    f = torch.randn(5, 6)
    out = layer(f)
    assert out.shape == (5, 9) and torch.equal(out[:, :6], f)
    M = (f @ layer.T).view(5, 3, 2)
    o = torch.stack([sum(torch.exp(-(M[i] - M[j]).abs().sum(-1)) for j in range(5) if j != i) for i in range(5)])
    assert torch.allclose(out[:, 6:], o - 1.0, atol=1e-5)  # reference: j != i, bias initialised to -1
    assert not torch.allclose(layer(torch.cat([f[:1], torch.randn(4, 6)]))[0, 6:], out[0, 6:])  # sees its batch


def reference_minibatch_layer(theta, f):
    """openai/improved-gan nn.py MinibatchLayer in NumPy: an init pass on f, then a normal pass on f."""
    A, B, C = theta.shape
    n = len(f)

    def abs_dif(lws):
        W = theta * (np.exp(lws) / np.sqrt((theta ** 2).sum(0)))[None]
        act = np.tensordot(f, W, [[1], [0]])  # (N, B, C)
        return np.abs(act[:, :, :, None] - act.transpose(1, 2, 0)[None]).sum(2) + 1e6 * np.eye(n)[:, None, :]

    d = abs_dif(np.zeros((B, C)))
    mean_min = 0.5 * d.min(2).mean(0)
    lws = -np.log(mean_min)[:, None] * np.ones((1, C))
    b = -np.exp(-d / mean_min[None, :, None]).sum(2).mean(0)
    return np.exp(-abs_dif(lws)).sum(2) + b


def test_weight_normed_minibatch_layer_equals_the_reference_with_its_data_dependent_init():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(12, num_kernels=4, kernel_dim=3, weight_norm=True)
    f = torch.randn(7, 12) * 3
    theta = layer.T.detach().numpy().reshape(12, 4, 3).copy()
    out = layer(f)[:, 12:].detach().numpy()
    assert bool(layer.initialized)
    assert np.allclose(out, reference_minibatch_layer(theta, f.numpy().astype(np.float64)), atol=1e-5)
    assert np.allclose(out.mean(0), 0, atol=1e-5)  # the init centres the features on its batch
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    layer(torch.randn(7, 12))  # later batches do not re-initialise
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())
    # whatever the scale of f, after the init the mean nearest-neighbour L1 distance of every kernel is 2
    for scale in (0.01, 1.0, 100.0):
        layer = MinibatchDiscrimination(12, num_kernels=4, kernel_dim=3, weight_norm=True)
        g = torch.randn(16, 12) * scale
        layer(g)
        l1 = layer._l1(g) + torch.diag(torch.full((16,), float("inf")))
        assert torch.allclose(l1.min(2).values.mean(1), torch.full((4,), 2.0), rtol=1e-4)


def test_historical_average_penalty_is_per_parameter_and_starts_at_the_first_step():
    lin = torch.nn.Linear(3, 2)
    ha = HistoricalAverage(lin)
    with torch.no_grad():  # a data-dependent init that runs after the objective was built must not count
        for p in lin.parameters():
            p.add_(5.0)
    assert ha.penalty().item() == 0.0  # the mean starts here
    history = [torch.cat([p.detach().flatten() for p in lin.parameters()])]
    for _ in range(3):
        with torch.no_grad():
            for p in lin.parameters():
                p.add_(torch.randn_like(p))
        history.append(torch.cat([p.detach().flatten() for p in lin.parameters()]))
        ha.update()
    with torch.no_grad():
        for p in lin.parameters():
            p.add_(1.0)
    now = torch.cat([p.detach().flatten() for p in lin.parameters()])
    assert ha.penalty().item() == pytest.approx(((now - torch.stack(history).mean(0)) ** 2).mean().item(), rel=1e-5)
    state = ha.state_dict()
    again = HistoricalAverage(lin)
    again.load_state_dict(state)
    assert again.penalty().item() == pytest.approx(ha.penalty().item())


@pytest.mark.parametrize("variant", ["historical_avg", "all"])
def test_historical_averaging_starts_with_no_penalty(variant):
    """The mean was taken when the trainer was built, before minibatch discrimination's first-batch init:
    'all' started with a penalty of about 3,200 (historical_avg alone: 0)."""
    imgs = torch.rand(24, 3, 32, 32) * 2 - 1
    setup = dataclasses.replace(TINY, historical_weight=1.0)
    t = GANTrainer(imgs, *tq.build_variant(variant, setup, 0), TrainConfig(batch_size=8, seed=0, amp=False, device="cpu"))
    t.fit(1)
    assert t.history["hist_penalty_d"][0] == 0.0 and t.history["hist_penalty_g"][0] == 0.0


def test_feature_matching_reads_the_features_d_decides_with():
    _, D, _ = tq.build_variant("all", TINY, 0)
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    out = D.forward_all(x)
    assert out.features.shape[1] == D.feature_dim + TINY.minibatch_kernels  # [f(x), o(x)]: the head's input
    assert torch.allclose(D.head(out.features).flatten(), out.logits)


def test_label_smoothing_is_one_sided():
    smooth = discriminator_loss(torch.zeros(4), torch.zeros(4), real_target=0.9)  # D(x) = 0.5 everywhere
    assert smooth.real.item() == pytest.approx(F.binary_cross_entropy(torch.full((4,), 0.5), torch.full((4,), 0.9)).item())
    assert smooth.fake.item() == pytest.approx(np.log(2))  # fake target stays 0


def test_vbn_output_does_not_depend_on_the_batch_but_bn_does():
    torch.manual_seed(0)
    G = VBNGenerator(nz=8, ngf=4, image_size=32, ref_batch_size=16).train()
    z = torch.randn(6, 8)
    assert torch.allclose(G(z)[:1], G(z[:1]), atol=1e-5)
    bn = Generator(nz=8, ngf=4, image_size=32).train()
    assert not torch.allclose(bn(z)[:1], bn(z[:1]), atol=1e-3)
    vbn = VirtualBatchNorm2d(3)
    with pytest.raises(RuntimeError, match="reference"):
        vbn(torch.randn(2, 3, 4, 4))


# ------------------------------------------------------------------ the ablation

TINY = tq.Setup(iterations=10, ngf=4, ndf=4, nz=8, batch_size=8, eval_every=2, n_eval_samples=20, n_final_samples=40,
                minibatch_kernels=6, kernel_dim=3, device="cpu", amp=False)


@pytest.fixture(scope="module")
def evaluator():
    torch.manual_seed(0)
    ref = torch.rand(30, 3, 32, 32) * 2 - 1

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
            self.heads = torch.nn.ModuleDict({"label": torch.nn.Linear(12, 3)})

        def features(self, x):
            return self.body(x)

        def forward(self, x):
            return {"label": self.heads["label"](self.body(x))}

    return Evaluator(Net(), ref, torch.arange(30) % 3, n_samples=20, split_size=10)


def test_variants_share_data_order_noise_and_initial_weights():
    assert tq.VARIANTS == ("baseline", "feature_matching", "minibatch_disc", "historical_avg", "label_smoothing", "vbn", "all")
    G0, D0, _ = tq.build_variant("baseline", TINY, 3)
    for v in tq.VARIANTS:
        G, D, obj = tq.build_variant(v, TINY, 3)
        assert all(torch.equal(a, b) for a, b in zip(D.body.state_dict().values(), D0.body.state_dict().values()))
        assert all(torch.equal(a, b) for a, b in zip(G.main.parameters(), G0.main.parameters()))
        assert torch.equal(D.head.weight[:, :D0.feature_dim], D0.head.weight)
        assert not D.head.weight[:, D0.feature_dim:].any()  # o(x) starts with no say in D's decision
        assert isinstance(D, MinibatchDiscriminator) == (v in ("minibatch_disc", "all"))
        assert isinstance(G, VBNGenerator) == (v in ("vbn", "all"))
        assert obj.feature_matching == (v in ("feature_matching", "all"))
        assert (obj.real_label < 1) == (v in ("label_smoothing", "all"))
        assert (obj.historical_weight > 0) == (v in ("historical_avg", "all"))
    with pytest.raises(ValueError, match="unknown variant"):
        tq.techniques_of("dropout")


def test_every_variant_trains_and_records(evaluator):
    imgs = torch.rand(24, 3, 32, 32) * 2 - 1
    runs = tq.run_ablation(imgs, list(tq.VARIANTS), [0, 1], evaluator, TINY, workers=1)
    for v, per in runs.items():
        for s, r in per.items():
            assert [e["iteration"] for e in r["evals"]] == [2, 4, 6, 8, 10] and len(r["samples"]) == 40
            assert np.isfinite(r["history"]["d_loss"]).all() and r["final"]["inception_score"][0] >= 1 - 1e-9
    assert runs["historical_avg"][0]["historical_ratio"]["D"][0] > 0 and runs["baseline"][0]["historical_ratio"] is None
    assert tq.paired_starts(runs)["within"]
    fm = runs["feature_matching"][0]["history"]
    assert fm["g_loss"] == fm["fm_loss"] and fm["g_loss"] != fm["g_nonsat"]
    real = evaluator.full(evaluator.reference)
    ladder = {"noise_std": [0, 1], "inception_score": [3.0, 1.0], "fid": [0.0, 9.0]}
    declared, judged = tq.ablation_claims(runs, [0, 1], real, ladder, untrained_fid=1e6)
    assert len(judged) == len(declared) == 8 and {c["verdict"] for c in judged} <= set(VERDICTS)


def test_a_minibatch_discriminator_resumes_exactly(tmp_path):
    imgs = torch.rand(24, 3, 32, 32) * 2 - 1
    make = lambda: GANTrainer(imgs, *tq.build_variant("all", TINY, 0), TrainConfig(batch_size=8, seed=0, amp=False, device="cpu"))
    straight = make().fit(5)
    first = make().fit(2)
    first.save(tmp_path / "c.pt")
    resumed = GANTrainer.from_checkpoint(tmp_path / "c.pt", imgs).fit(5)
    assert bool(resumed.D.mbd.initialized)
    assert all(torch.equal(a, b) for a, b in zip(straight.D.state_dict().values(), resumed.D.state_dict().values()))


def test_fid_fluctuation_counts_swings_around_the_trend():
    tail = np.array([12.0, 10.0, 12.0])  # the last half of (50, 40, 10, 12, 10, 12): flat trend, residuals 2/3, -4/3, 2/3
    assert tq.fid_fluctuation([{"fid": v} for v in (50, 40, 10, 12, 10, 12)]) == pytest.approx(
        np.sqrt(np.mean((tail - tail.mean()) ** 2)) / tail.mean())
    assert tq.fid_fluctuation([{"fid": v} for v in (90, 80, 70, 60, 50, 40)]) == pytest.approx(0.0, abs=1e-9)  # a steady descent
    with pytest.raises(ValueError):
        tq.fid_fluctuation([{"fid": 1.0}, {"fid": 2.0}])


def fake_runs(fid, kl=None, cls=None, is_=None, fluct=None, seeds=(0, 1, 2), svm_kl=None):
    """runs[variant][seed] with the given per-seed finals (FID noise 0.5, KL noise 0.01); the SVM reads the class
    histogram as the CNN does unless ``svm_kl`` says otherwise."""
    runs = {}
    for v in fid:
        runs[v] = {}
        for i, s in enumerate(seeds):
            f = fid[v][i]
            evals = [{"fid": f * (1 + (fluct or {}).get(v, 0.0) * (-1) ** k)} for k in range(8)]
            k = (kl or {}).get(v, [0.05] * 3)[i]
            c = (cls or {}).get(v, [10] * 3)[i]
            runs[v][s] = {"final": {"fid": f, "fid_noise": 0.5, "kl_to_real": k, "kl_noise": 0.01, "classes_covered": c,
                                    "kl_to_real_svm": (svm_kl or {}).get(v, [k] * 3)[i], "kl_noise_svm": 0.01,
                                    "classes_covered_svm": c, "inception_score": ((is_ or {}).get(v, [8.0] * 3)[i], 0.1)},
                          "evals": evals, "initial_fake_logit": 0.0}
    return runs


def _verdicts(runs, real, ladder, untrained_fid=1000.0):
    return {c["key"]: c["verdict"] for c in tq.ablation_claims(runs, [0, 1, 2], real, ladder, untrained_fid)[1]}


def test_claims_follow_every_seed():
    real = {"inception_score": (9.5, 0.1), "kl_to_real": 0.0, "classes_covered": 10}
    ladder = {"noise_std": [0, 1], "inception_score": [9.5, 3.0], "fid": [0.5, 40.0]}
    fid = {"baseline": [20, 20, 20], "feature_matching": [21, 22, 20], "minibatch_disc": [15, 15, 15],
           "historical_avg": [20.3, 19.8, 20.1], "label_smoothing": [30, 30, 30], "vbn": [12, 12, 40], "all": [14, 15, 19.7]}
    runs = fake_runs(fid, kl={"baseline": [0.6, 0.5, 0.6], "minibatch_disc": [0.2, 0.2, 0.59]},
                     cls={"baseline": [6, 7, 6], "minibatch_disc": [9, 9, 6]}, fluct={"baseline": 0.3, "feature_matching": 0.05})
    v = _verdicts(runs, real, ladder)
    assert v["mbd_collapse"] == "partly"               # closer histogram and more classes in 2 seeds, a tie in the third
    assert v["fm_stability"] == "holds"                # steadier in every seed
    assert v["label_smoothing_better"] == "does not hold"
    assert v["vbn_better"] == "inconclusive"           # better in two seeds, worse in one: the seeds disagree
    assert v["historical_avg_better"] == "inconclusive"  # within noise everywhere
    assert v["all_better"] == "partly"                 # better in two, a tie in the third
    assert v["is_ranks_real"] == "holds"
    # the SVM reads MBD's histogram as no closer in seeds 0 and 1: the readers disagree there, and those seeds tie
    runs = fake_runs(fid, kl={"baseline": [0.6, 0.5, 0.6], "minibatch_disc": [0.2, 0.2, 0.2]},
                     svm_kl={"minibatch_disc": [0.6, 0.5, 0.2]}, cls={"baseline": [10] * 3})
    judged = tq.ablation_claims(runs, [0, 1, 2], real, ladder, 1000.0)[1]
    mbd = next(c for c in judged if c["key"] == "mbd_collapse")["evidence"]
    assert mbd["class histogram (KL to real)"]["per_seed"] == {0: "tie", 1: "tie", 2: "supports"}


def test_a_variant_that_did_not_learn_is_not_compared():
    real = {"inception_score": (9.5, 0.1)}
    ladder = {"noise_std": [0, 1], "inception_score": [9.5, 3.0], "fid": [0.5, 40.0]}
    runs = fake_runs({"baseline": [20, 20, 20], "all": [300, 310, 320]})
    v = _verdicts(runs, real, ladder, untrained_fid=400.0)  # 'all' stayed near an untrained generator's FID
    assert v["all_better"] == "not testable here"


def test_semi_supervised_claims_read_the_paired_test():
    real = {"inception_score": (9.5, 0.1)}
    ladder = {"noise_std": [0, 1], "inception_score": [9.5, 3.0], "fid": [0.5, 40.0]}
    runs = fake_runs({"baseline": [20, 20, 20], "minibatch_disc": [15, 15, 15]})
    right = np.ones(200, bool)
    worse = right.copy()
    worse[:40] = False
    ssl = {s: {"quality": {"fid": 60.0, "fid_noise": 1.0}, "correct": {"gan": right, "supervised_only": worse}}
           for s in (0, 1, 2)}
    judged = tq.ablation_claims(runs, [0, 1, 2], real, ladder, 1000.0, ssl=ssl, ssl_untrained_fid=1000.0)[1]
    v = {c["key"]: c["verdict"] for c in judged}
    assert v["ssl_beats_supervised"] == "holds" and v["ssl_samples_worse"] == "holds"


def test_parameter_checks_name_the_bad_value_before_any_work():
    checks = tq.parameter_checks()
    ok = dict(dataset="digits", iterations=900, variants=list(tq.VARIANTS), all_techniques=list(tq.TECHNIQUES),
              n_final_samples=1000, is_splits=10, eval_every=100)
    check_parameters(ok, checks)
    for bad, match in ((dict(iterations=0), "iterations = 0"), (dict(variants=["baseline", "dropout"]), "dropout"),
                       (dict(all_techniques=["vbn", "dropout"]), "all_techniques"), (dict(is_splits=1001), "is_splits"),
                       (dict(variants=["vbn"]), "baseline"), (dict(eval_every=200), "eval_every")):
        with pytest.raises(ParameterError, match=match) as e:
            check_parameters({**ok, **bad}, checks)
        assert str(e.value).count(" = ") == 1  # one clear error, about the one bad value


def test_figures_and_tables_render():
    import matplotlib.pyplot as plt

    runs = fake_runs({"baseline": [20, 22, 21], "vbn": [12, 13, 11]})
    for per in runs.values():
        for r in per.values():
            r["final"]["class_histogram"] = [0.1] * 10
            r["evals"] = [{"iteration": 100 * (k + 1), "fid": 20.0 - k, "inception_score": 5.0 + k} for k in range(3)]
    real = {"inception_score": (9.5, 0.1), "class_histogram": [0.1] * 10}
    plots.plot_is_spread(runs, real)
    plots.plot_class_histograms(runs, real, [str(i) for i in range(10)])
    plots.plot_ablation_curves(runs, floor={"fid": 1.0})
    plots.plot_ladder({"noise_std": [0, 1], "inception_score": [9.0, 2.0], "inception_score_std": [0.1, 0.1], "fid": [1, 9]})
    tab = plots.is_spread_table(runs, [0, 1, 2], real)
    assert list(tab.index) == ["real (held out)", "baseline", "vbn"] and tab.loc["vbn", "std over seeds"] == pytest.approx(0.0)
    fig = plots.show_variant({"baseline": torch.rand(8, 3, 32, 32)}, "baseline", {"baseline": {**runs["baseline"][0]["final"],
                             "inception_score": (2.0, 0.1)}}, real=torch.zeros(8, 3, 32, 32))
    assert len(fig.axes) == 2 and "IS 2.00" in fig.axes[0].get_title()
    with pytest.raises(KeyError, match="vbn"):
        plots.show_variant({"baseline": torch.zeros(4, 3, 32, 32)}, "vbn")
    plt.close("all")


def test_ablation_data_halves_are_disjoint_and_labelled():
    d = tq.ablation_data("digits", 32, seed=0)
    assert [len(d[k]) for k in ("train", "reference")] == [898, 899]
    assert all(d[k].labels is not None and d[k].images.shape[1:] == (3, 32, 32) for k in d)
    flat = {k: {tuple(x.flatten()[::37].tolist()) for x in d[k].images} for k in d}
    assert len(flat["train"] & flat["reference"]) < 5  # digits has a few exact duplicates; the split is by index


def test_variant_browser_renders_its_default_view():
    import matplotlib.pyplot as plt

    from gan_helpers.widgets import grid_browser

    samples = {"baseline": torch.zeros(4, 3, 32, 32), "vbn": torch.ones(4, 3, 32, 32)}
    w = grid_browser(samples, {"vbn": 3.0}, default=0)
    assert w.children[0].children[0].value == "baseline"  # the key slider, first in its row
    assert plt.gca().get_title() == "baseline"
    plt.close("all")


def test_ablation_data_reads_a_labelled_folder(tmp_path):
    """The parameter says "or a labelled folder": one subfolder per class, read with its labels (it was refused)."""
    from gan_helpers.datasets.standins import write_class_folders
    from gan_helpers.experiments.techniques import ablation_data

    data = ablation_data(str(write_class_folders(tmp_path / "classes", n=40)), 32)
    assert len(data["train"]) == len(data["reference"]) == 20 and data["train"].labels is not None
    assert len(data["train"].label_names) == 10
