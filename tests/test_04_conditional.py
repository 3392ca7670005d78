"""Notebook 04, step 4-5: conditional batch norm, projection discriminator, the variants' training, claims."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_helpers import conditional as C


def test_conditional_batch_norm_uses_the_class_scale_and_shift():
    torch.manual_seed(0)
    cbn = C.ConditionalBatchNorm2d(3, n_classes=4)
    with torch.no_grad():
        cbn.gamma.weight[2] = torch.tensor([2.0, 3.0, 4.0])
        cbn.beta.weight[2] = torch.tensor([1.0, -1.0, 0.5])
    h = torch.randn(8, 3, 5, 5)
    y = torch.full((8,), 2)
    normed = F.batch_norm(h, None, None, training=True)
    expected = normed * torch.tensor([2.0, 3.0, 4.0]).view(1, 3, 1, 1) + torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1)
    torch.testing.assert_close(cbn(h, y), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(cbn(h, torch.zeros(8, dtype=torch.long)), normed, rtol=1e-4, atol=1e-4)  # class 0: identity
    with pytest.raises(ValueError, match="pass the labels"):
        cbn(h)
    plain = C.ConditionalBatchNorm2d(3, n_classes=0)
    torch.testing.assert_close(plain(h), normed, rtol=1e-4, atol=1e-4)


def test_generator_shapes_and_class_dependence():
    torch.manual_seed(0)
    G = C.CondGenerator(nz=8, ngf=4, n_classes=3, image_size=32)
    with torch.no_grad():
        for bn in [G.bn0, *G.bns]:
            bn.gamma.weight.normal_(1, 0.5)
    z = torch.randn(6, 8)
    a = G(z, torch.zeros(6, dtype=torch.long))
    b = G(z, torch.full((6,), 2))
    assert a.shape == (6, 3, 32, 32) and a.abs().max() <= 1
    assert (a - b).abs().max() > 1e-3  # the class changes the image
    assert C.CondGenerator(8, 4, 0, 64)(z).shape == (6, 3, 64, 64)
    with pytest.raises(ValueError, match="image_size"):
        C.CondGenerator(8, 4, 3, 48)


def test_projection_term_is_the_inner_product_with_the_class_embedding():
    torch.manual_seed(0)
    D = C.ProjectionDiscriminator(ndf=4, n_classes=5, image_size=32, rotation_head=True, class_head=True).eval()
    x = torch.randn(7, 3, 32, 32)
    y = torch.tensor([0, 1, 2, 3, 4, 2, -1])
    out = D(x, y)
    h = D.phi(x)
    e = D.embed.weight  # the spectrally normalised embedding used in the forward pass
    expected = D.psi(h).flatten() + (e[y.clamp(min=0)] * h).sum(1) * (y >= 0).float()
    torch.testing.assert_close(out.logits, expected, rtol=1e-5, atol=1e-5)
    # no label: only the unconditional term psi(phi(x))
    torch.testing.assert_close(out.logits[-1], D.psi(h).flatten()[-1])
    torch.testing.assert_close(D(x).logits, D.psi(h).flatten())
    # another class, another logit
    assert not torch.allclose(D(x, (y + 1) % 5).logits[:-1], out.logits[:-1])
    assert out.rotation_logits.shape == (7, 4) and out.class_logits.shape == (7, 5)
    assert D.feature_dim == 16 and out.features.shape == (7, 16)


def test_discriminator_is_spectrally_normalised():
    torch.manual_seed(0)
    D = C.ProjectionDiscriminator(ndf=4, n_classes=3).train()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        D.body[2].weight_orig.mul_(5.0)  # a raw weight far from norm 1
    for _ in range(30):  # power iterations converge
        D(x)
    w = D.body[2].weight.detach().flatten(1)  # the second conv, as a (out, in*4*4) matrix
    assert float(torch.linalg.matrix_norm(w, 2)) == pytest.approx(1.0, abs=0.05)
    assert float(torch.linalg.matrix_norm(D.body[2].weight_orig.detach().flatten(1), 2)) > 2.0  # the raw weight is not


def test_with_rotations_appends_the_last_images_turned():
    x = torch.rand(8, 3, 6, 6)
    y = torch.arange(8)
    xa, ya, r = C._with_rotations(x, y, n_rot=2)
    assert xa.shape == (14, 3, 6, 6)
    torch.testing.assert_close(xa[:8], x)
    for k in (1, 2, 3):
        torch.testing.assert_close(xa[8 + 2 * (k - 1): 8 + 2 * k], torch.rot90(x[-2:], k, dims=(2, 3)))
    assert ya.tolist() == list(range(8)) + [6, 7] * 3
    # the rotation head reads the last 4*n_rot rows: the 2 upright tail images, then the 3 turns
    assert r.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    torch.testing.assert_close(xa[-8:][:2], x[-2:])


def test_config_defaults_follow_compare_gan_and_reject_bad_values():
    cfg = C.CondGANConfig()
    assert (cfg.rotation_weight_d, cfg.rotation_weight_g, cfg.class_loss_weight) == (1.0, 0.2, 1.0)
    with pytest.raises(ValueError, match="variant"):
        C.CondGANConfig(variant="biggan")
    with pytest.raises(ValueError, match="divisible"):
        C.CondGANConfig(batch_size=12, rotated_batch_fraction=2)


def test_variant_labels():
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    lab = np.array([0, 4])
    inferred = torch.tensor([0, 2, 2, 1, 0, 2])
    assert C.variant_labels("conditional", y, lab, inferred).tolist() == y.tolist()
    assert C.variant_labels("unconditional", y, lab, inferred).tolist() == [-1] * 6
    assert C.variant_labels("s2gan", y, lab, inferred).tolist() == [0, 2, 2, 1, 1, 2]  # true labels where known
    assert C.variant_labels("s3gan", y, lab, inferred).tolist() == [0, -1, -1, -1, 1, -1]
    with pytest.raises(ValueError, match="inferred"):
        C.variant_labels("s2gan", y, lab, None)


def tiny_config(variant, **kw):
    return C.CondGANConfig(variant=variant, nz=8, ngf=4, ndf=4, batch_size=16, device="cpu", seed=1, **kw)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(48, 3, 32, 32, generator=g) * 2 - 1
    y = torch.arange(3).repeat(16)
    return x, y


@pytest.mark.parametrize("variant", C.VARIANTS)
def test_every_variant_trains_and_samples(data, variant):
    x, y = data
    labels = C.variant_labels(variant, y, np.arange(0, 48, 4), y)
    t = C.CondGANTrainer(x, labels, 3, tiny_config(variant, sample_at=(2,)), true_labels=y)
    t.fit(2)
    assert t.iteration == 2 and all(math.isfinite(v) for v in t.history["d_loss"] + t.history["g_loss"])
    rot = t.history["rot_loss_real"]
    assert all(math.isfinite(v) for v in rot) == (variant == "s3gan")  # the rotation loss only in S3GAN
    assert all(math.isfinite(v) for v in t.history["class_loss"]) == variant.startswith("s3gan")
    images, classes = t.sample(7)
    assert images.shape == (7, 3, 32, 32)
    assert (classes is None) == (variant == "unconditional")
    assert t.samples[2].shape == (3 * t.config.n_fixed, 3, 32, 32)
    assert t.interpolate(1, steps=4, rows=2).shape == (8, 3, 32, 32)


def test_only_s3gan_trains_the_rotation_head_and_g_feels_it(data):
    x, y = data
    t = C.CondGANTrainer(x, C.variant_labels("s3gan", y, np.arange(0, 48, 4)), 3, tiny_config("s3gan"))
    before = t.D.rotation.weight_orig.detach().clone()
    t.fit(1)
    assert not torch.equal(before, t.D.rotation.weight_orig.detach())
    # the generator's loss includes 0.2 * the rotation loss: zero weight changes G's update
    t0 = C.CondGANTrainer(x, C.variant_labels("s3gan", y, np.arange(0, 48, 4)), 3, tiny_config("s3gan", rotation_weight_g=0.0))
    t0.fit(1)
    t1 = C.CondGANTrainer(x, C.variant_labels("s3gan", y, np.arange(0, 48, 4)), 3, tiny_config("s3gan"))
    t1.fit(1)
    torch.testing.assert_close(t0.D.psi.weight_orig, t1.D.psi.weight_orig)  # same D step
    assert not torch.allclose(t0.G.out.weight, t1.G.out.weight)  # different G step


def test_trainer_rejects_missing_labels(data):
    x, y = data
    with pytest.raises(ValueError, match="needs a label for every image"):
        C.CondGANTrainer(x, C.variant_labels("s3gan", y, np.arange(3)), 3, tiny_config("conditional"))
    with pytest.raises(ValueError, match="some labelled images"):
        C.CondGANTrainer(x, torch.full((48,), -1), 3, tiny_config("s3gan"))
    with pytest.raises(ValueError, match="images must be"):
        C.CondGANTrainer(x[:, :, :16, :16], y, 3, tiny_config("conditional"))


def gan_numbers(**over):
    base = {"unconditional": {"fid": 50.0, "fid_noise": 1.0, "class_accuracy": None},
            "conditional": {"fid": 20.0, "fid_noise": 1.0, "class_accuracy": 0.8},
            "s2gan": {"fid": 22.0, "fid_noise": 1.0, "class_accuracy": 0.75},
            "s3gan": {"fid": 21.0, "fid_noise": 1.0, "class_accuracy": 0.78},
            "s3gan_no_rotation": {"fid": 30.0, "fid_noise": 1.0, "class_accuracy": 0.6}}
    for k, v in over.items():
        base[k] = {**base[k], **v}
    return base


def verdicts(gan, probe=None, pseudo=0.9):
    probe = probe or {"rotation": {0.01: 0.6, 0.1: 0.8, 1.0: 0.9}, "scratch": {0.01: 0.3, 0.1: 0.5, 1.0: 0.95},
                      "random": {0.01: 0.4, 0.1: 0.5, 1.0: 0.6}}
    claims = C.fewer_labels_claims(probe, pseudo, gan, 0.1, 10)
    return [c["verdict"] for c in claims]


def test_claims_follow_the_numbers():
    assert verdicts(gan_numbers()) == ["holds", "holds", "holds", "holds", "holds"]
    # S2GAN far off, S3GAN close: partly; rotation hurts: does not hold
    v = verdicts(gan_numbers(s2gan={"fid": 45.0, "class_accuracy": 0.2}, s3gan_no_rotation={"fid": 15.0, "class_accuracy": 0.8}))
    assert v[3] == "partly" and v[4] == "does not hold"
    # scratch wins at every small fraction: does not hold; pseudo labels at chance
    probe = {"rotation": {0.01: 0.2, 0.1: 0.3}, "scratch": {0.01: 0.4, 0.1: 0.6}, "random": {0.01: 0.4, 0.1: 0.6}}
    v = verdicts(gan_numbers(), probe, pseudo=0.1)
    assert v[:3] == ["does not hold", "does not hold", "does not hold"]
    # within noise on FID and accuracy: inconclusive
    v = verdicts(gan_numbers(s3gan_no_rotation={"fid": 21.5, "class_accuracy": 0.78}))
    assert v[4] == "inconclusive"
    # no arm reads as its class (accuracy at chance, 0.1): class differences are noise, FID alone gives "partly"
    at_chance = {v: {"class_accuracy": 0.11} for v in ("conditional", "s2gan", "s3gan")}
    v = verdicts(gan_numbers(**at_chance, s3gan_no_rotation={"fid": 60.0, "class_accuracy": 0.17}))
    assert v[3] == "inconclusive" and v[4] == "partly"
    v = verdicts(gan_numbers(**at_chance, s3gan_no_rotation={"fid": 5.0, "class_accuracy": 0.05}))
    assert v[4] == "does not hold"


def test_show_variant_samples_picks_the_nearest_iteration_and_labels_rows():
    import matplotlib.pyplot as plt

    grids = {"s3gan": {10: torch.zeros(3 * 4, 3, 32, 32), 20: torch.ones(3 * 4, 3, 32, 32)}}
    gan = {"s3gan": {"fid": 12.3, "class_accuracy": 0.5}}
    fig, ax = plt.subplots()
    assert C.show_variant_samples(grids, "s3gan", 18, ["a", "b", "c"], gan, ax=ax) == 20
    assert "FID 12.3" in ax.get_title() and [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert C.show_variant_samples(grids, "s3gan", 0, ["a", "b", "c"], gan, ax=ax) == 10
    with pytest.raises(ValueError, match="no stored samples"):
        C.show_variant_samples(grids, "s2gan", 10)
    plt.close("all")


def test_figures_draw():
    import matplotlib.pyplot as plt

    from gan_helpers import selfsup as S

    axes = C.plot_variant_scores(gan_numbers())
    assert len(axes[0].patches) == 5
    ax = S.plot_probe_curve({"rotation": {0.01: 0.5, 1.0: 0.9}, "scratch": {0.01: 0.2, 1.0: 0.95}}, chance=0.1)
    assert len(ax.get_lines()) == 3
    ax = S.plot_rotation_per_class([0.9, 0.25], ["triangle", "circle"], S.SHAPE_ROTATION_CEILING)
    assert len(ax.patches) == 4
    fig = S.show_rotation_task(S.RotationNet(4, 4), torch.zeros(2, 3, 32, 32), ["x"], torch.zeros(2, dtype=torch.long), n=2)
    assert len(fig.axes) == 8
    plt.close("all")


def test_close_claim_is_inconclusive_when_the_reference_never_learned_the_classes():
    v = verdicts(gan_numbers(conditional={"class_accuracy": 0.12}, s2gan={"class_accuracy": 0.11},
                             s3gan={"class_accuracy": 0.1}))
    assert v[3] == "inconclusive"


def test_variants_browser_renders_its_default_view():
    import matplotlib.pyplot as plt

    from gan_helpers.widgets import grid_browser

    grids = {v: {10: torch.zeros(6, 3, 32, 32), 20: torch.ones(6, 3, 32, 32)} for v in ("conditional", "s3gan")}
    drawn = []

    def draw(v, it):  # notebook 04's call: rows labelled by class
        drawn.append((v, it))
        return C.show_variant_samples(grids, v, it, ["a", "b", "c"])

    w = grid_browser(grids, draw=draw)
    key, iteration = w.widget.children[:2]
    assert [k for _, k in key.options] == ["conditional", "s3gan"] and key.value == "s3gan"  # the last variant shown first
    assert (iteration.min, iteration.max, iteration.step, iteration.value) == (10, 20, 10, 20)
    assert drawn == [("s3gan", 20)]
    plt.close("all")
