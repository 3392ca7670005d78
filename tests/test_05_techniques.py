"""Notebook 05: the Inception Score and the techniques of Salimans et al. 2016."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_helpers.losses import discriminator_loss
from gan_helpers.metrics import classifier_probs, inception_score, inception_score_images
from gan_helpers.models import Generator
from gan_helpers.train import TrainConfig
from gan_helpers import techniques as T


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
    single = np.eye(K)[np.zeros(300, int)]
    assert inception_score(single, splits=3)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("splits", [1, 3, 10])
def test_is_matches_the_reference_loop(splits):
    p = dirichlet(1003, 10)  # 1003: uneven contiguous splits, as the reference slices them
    ours = inception_score(p, splits)
    ref = reference_is(p, splits)
    assert ours == pytest.approx(ref, rel=1e-10)
    assert inception_score(torch.as_tensor(p, dtype=torch.float32), splits) == pytest.approx(ref, rel=1e-4)


def test_is_matches_torchmetrics_up_to_its_shuffle_and_ddof():
    from torchmetrics.image.inception import InceptionScore

    p = dirichlet(1000, 10, seed=1)
    logits = torch.log(torch.as_tensor(p))
    metric = InceptionScore(feature=torch.nn.Identity(), splits=10)
    metric.update(logits)
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
    many = classifier_probs(clf, x, batch_size=4)
    assert torch.allclose(one, many) and one.dtype == torch.float64 and clf.training
    assert inception_score_images(x, clf, splits=1, batch_size=5) == pytest.approx(inception_score(one, 1))


def test_inception_v3_path_with_random_weights():
    from gan_helpers.features import load_inception

    net = load_inception(None)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    p = classifier_probs(net, x, batch_size=2)
    assert p.shape == (3, 1000) and torch.allclose(p.sum(1), torch.ones(3, dtype=torch.float64))
    m, s = inception_score_images(x, net, splits=1, batch_size=2)
    assert 1.0 - 1e-9 <= m <= 3.0 and s == 0.0


# ------------------------------------------------------------------ the techniques

def test_feature_matching_loss_and_its_gradient():
    real, fake = torch.randn(16, 7), torch.randn(16, 7, requires_grad=True)
    loss = T.feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(((real.mean(0) - fake.mean(0)) ** 2).mean().item(), rel=1e-6)
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    shifted = real + (torch.randn(1, 7) * 0)  # same mean -> zero loss even for other samples
    assert T.feature_matching_loss(real, shifted[torch.randperm(16)]).item() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError):
        T.feature_matching_loss(real, torch.randn(16, 6))


def test_minibatch_layer_matches_the_formula_and_sees_the_batch():
    torch.manual_seed(0)
    layer = T.MinibatchDiscrimination(6, num_kernels=3, kernel_dim=2, init_std=0.5)
    f = torch.randn(5, 6)
    out = layer(f)
    assert out.shape == (5, 6 + 3) and torch.equal(out[:, :6], f)
    M = (f @ layer.T).view(5, 3, 2)
    o = torch.zeros(5, 3)
    for i in range(5):
        for j in range(5):
            o[i] += torch.exp(-(M[i] - M[j]).abs().sum(-1))
    assert torch.allclose(out[:, 6:], o, atol=1e-5)
    # a sample's output depends on the rest of its batch
    other = torch.cat([f[:1], torch.randn(4, 6)])
    assert not torch.allclose(layer(other)[0, 6:], out[0, 6:])
    # the reference code leaves out j = i: the same up to the constant exp(0) = 1
    layer.include_self = False
    assert torch.allclose(layer(f)[:, 6:], o - 1, atol=1e-5)


def test_improved_discriminator_shapes_and_features():
    D = T.ImprovedDiscriminator(ndf=4, image_size=32, minibatch_kernels=5, kernel_dim=3)
    x = torch.randn(6, 3, 32, 32)
    logits, f = D.logits_and_features(x)
    assert logits.shape == (6,) and f.shape == (6, D.feature_dim) and torch.allclose(D(x), logits)
    assert torch.allclose(D.features(x), f)


def test_historical_average_penalty():
    lin = torch.nn.Linear(3, 2)
    ha = T.HistoricalAverage(lin)
    assert ha.penalty().item() == 0.0
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
    expected = ((now - torch.stack(history).mean(0)) ** 2).sum()
    pen = ha.penalty()
    assert pen.item() == pytest.approx(expected.item(), rel=1e-5)
    pen.backward()
    assert lin.weight.grad is not None


def test_label_smoothing_is_one_sided():
    real, fake = torch.zeros(4), torch.zeros(4)  # D(x) = 0.5 everywhere
    smooth = discriminator_loss(real, fake, real_target=0.9)
    assert smooth.real.item() == pytest.approx(F.binary_cross_entropy(torch.full((4,), 0.5), torch.full((4,), 0.9)).item())
    assert smooth.fake.item() == pytest.approx(np.log(2))  # fake target stays 0


def test_vbn_output_does_not_depend_on_the_batch_but_bn_does():
    torch.manual_seed(0)
    G = T.VBNGenerator(nz=8, ngf=4, image_size=32, ref_batch_size=16).train()
    z = torch.randn(6, 8)
    assert torch.allclose(G(z)[:1], G(z[:1]), atol=1e-5)
    assert torch.allclose(G(z)[2], G(torch.cat([torch.randn(3, 8), z[2:3]]))[3], atol=1e-5)
    bn = Generator(nz=8, ngf=4, image_size=32).train()
    assert not torch.allclose(bn(z)[:1], bn(z[:1]), atol=1e-3)


def test_vbn_reference_statistics():
    vbn = T.VirtualBatchNorm2d(3)
    with pytest.raises(RuntimeError, match="reference"):
        vbn(torch.randn(2, 3, 4, 4))
    ref = torch.randn(10, 3, 4, 4) * 2 + 1
    vbn.collect = True
    out = vbn(ref)
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    vbn.collect = False
    x = torch.randn(1, 3, 4, 4)
    mean = (x.mean((2, 3)) + 10 * ref.mean((0, 2, 3))) / 11
    var = ((x ** 2).mean((2, 3)) + 10 * (ref ** 2).mean((0, 2, 3))) / 11 - mean ** 2
    expected = (x - mean[..., None, None]) / torch.sqrt(var[..., None, None] + 1e-5)
    assert torch.allclose(vbn(x), expected, atol=1e-5)


def tiny_cfg(**kw):
    return TrainConfig(**{**dict(image_size=32, nz=8, ngf=4, ndf=4, batch_size=8, device="cpu", seed=1), **kw})


def test_every_variant_trains_and_the_penalties_apply():
    imgs = torch.rand(24, 3, 32, 32) * 2 - 1
    variants = T.ablation_variants(minibatch_kernels=4, kernel_dim=3, historical_weight=0.01, real_label=0.9)
    assert set(variants) == {"baseline", "feature_matching", "minibatch_disc", "historical_avg", "label_smoothing", "vbn", "all"}
    runs = T.run_ablation(imgs, variants, iterations=3, base=tiny_cfg(), progress=False)
    for name, tr in runs.items():
        assert tr.iteration == 3 and np.isfinite(tr.history["d_loss"]).all()
    assert runs["label_smoothing"].config.real_label == 0.9 and runs["baseline"].config.real_label == 1.0
    assert runs["historical_avg"].history["hist_penalty_d"][-1] > 0 and runs["baseline"].history["hist_penalty_d"][-1] == 0
    fm = runs["feature_matching"].history
    assert fm["g_loss"] == fm["fm_loss"] and fm["g_loss"] != fm["g_nonsat"]
    assert isinstance(runs["vbn"].G, T.VBNGenerator) and runs["all"].D.mbd is not None
    # same seed: the baseline and label smoothing start from the same weights
    a, b = T.ImprovedGANTrainer(imgs, tiny_cfg()), T.ImprovedGANTrainer(imgs, tiny_cfg(), T.Techniques(real_label=0.9))
    assert all(torch.equal(p, q) for p, q in zip(a.G.parameters(), b.G.parameters()))


def test_fid_fluctuation():
    evals = [{"fid": v} for v in (50, 40, 10, 12, 10, 12)]
    assert T.fid_fluctuation(evals) == pytest.approx(2 / (34 / 3))  # tail: 12, 10, 12
    with pytest.raises(ValueError):
        T.fid_fluctuation([{"fid": 1.0}])


# ------------------------------------------------------------------ claims

def q(fid, is_m, classes=10, kl=0.01, hist=None):
    return {"fid": fid, "fid_noise": 0.5, "inception_score": (is_m, 0.1), "classes_covered": classes,
            "kl_to_real": kl, "kl_noise": 0.01, "class_histogram": hist or [0.1] * 10}


def test_claims_follow_the_numbers():
    real = {**q(0.5, 9.5), "kl_to_real": 0.0}
    quality = {"baseline": q(20, 5, classes=6, kl=0.6), "feature_matching": q(21, 5), "minibatch_disc": q(15, 6, classes=9, kl=0.2),
               "historical_avg": q(20.3, 5), "label_smoothing": q(30, 4), "vbn": q(12, 7), "all": q(14, 6.5)}
    stability = {"baseline": {"fid_fluctuation": 0.2}, "feature_matching": {"fid_fluctuation": 0.05}}
    ladder = {"noise_std": [0, 1], "inception_score": [9.5, 3], "fid": [0.5, 40]}
    claims = {c["claim"].split(" ")[0] + c["source"].split(", ")[-1]: c["verdict"]
              for c in T.ablation_claims(quality, real, stability, ladder)}
    v = list(claims.values())
    assert v[0] == "holds"            # MBD: 9 classes vs 6, KL 0.2 vs 0.6
    assert v[1] == "holds"            # FM fluctuates 4x less
    assert v[2] == "does not hold"    # label smoothing: FID 30 vs 20
    assert v[3] == "holds"            # VBN: 12 vs 20
    assert v[4] == "inconclusive"     # historical averaging: within noise
    assert v[5] == "holds"            # all
    assert v[6] == "holds"            # real IS above every variant
    # no collapse in the baseline: nothing to reduce; unless minibatch discrimination makes coverage worse
    quality["baseline"] = q(20, 5)
    assert T.ablation_claims(quality, real, stability, ladder)[0]["verdict"] == "does not hold"
    quality["minibatch_disc"] = q(15, 6)
    assert T.ablation_claims(quality, real, stability, ladder)[0]["verdict"] == "inconclusive"
    # both collapsed to one class; minibatch discrimination only a little less peaked: partly, not holds
    quality["baseline"], quality["minibatch_disc"] = q(600, 1, classes=1, kl=3.92), q(500, 1, classes=1, kl=3.80)
    assert T.ablation_claims(quality, real, stability, ladder)[0]["verdict"] == "partly"
    quality["minibatch_disc"] = q(500, 2, classes=6, kl=1.5)
    assert T.ablation_claims(quality, real, stability, ladder)[0]["verdict"] == "holds"


def test_show_variant_draws_and_names_missing():
    import matplotlib.pyplot as plt

    samples = {"baseline": torch.rand(8, 3, 32, 32) * 2 - 1}
    fig = T.show_variant(samples, "baseline", {"baseline": q(3.0, 2.0)}, real=torch.zeros(8, 3, 32, 32))
    assert len(fig.axes) == 2 and "IS 2.00" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(KeyError, match="baseline"):
        T.show_variant(samples, "vbn")


def test_ablation_data_splits_are_disjoint_and_labelled():
    d = T.ablation_data("digits", 32, seed=0)
    assert [len(d[k]) for k in ("train", "reference", "test")] == [898, 539, 360]
    assert all(d[k].labels is not None and d[k].images.shape[1:] == (3, 32, 32) for k in d)
    flat = {k: {tuple(x.flatten()[::37].tolist()) for x in d[k].images} for k in d}
    assert len(flat["test"] & flat["train"]) < 5  # digits has a few exact duplicates; splits are by index


def test_summary_table_has_real_and_every_variant():
    real = {**q(0.5, 9.5)}
    tab = T.summary_table({"baseline": q(20, 5)}, real, {"baseline": {"fid_fluctuation": 0.1, "d_loss_std": 0.2}})
    assert list(tab.index) == ["real (held out)", "baseline"] and np.isnan(tab.loc["real (held out)", "FID fluctuation"])


def test_variant_browser_renders_its_default_view():
    import matplotlib.pyplot as plt

    from gan_helpers.widgets import grid_browser

    samples = {"baseline": torch.zeros(4, 3, 32, 32), "vbn": torch.ones(4, 3, 32, 32)}
    w = grid_browser(samples, {"vbn": 3.0}, default=0)  # notebook 05's call: one grid per variant
    assert w.widget.children[0].value == "baseline"
    assert sum(hasattr(c, "options") or hasattr(c, "max") for c in w.widget.children) == 1  # no iteration slider
    assert plt.gca().get_title() == "baseline"
    plt.close("all")
