"""Notebook 04, steps 1-3: rotations, the rotation network, labelled splits, linear probe, inferred labels."""
import numpy as np
import pytest
import torch

from gan_helpers.experiments import selfsup as S
from gan_helpers.losses import rotation_loss


def corner_image(size=8):
    """One bright pixel in the top-left corner of a dark image: (1, 3, S, S)."""
    x = -torch.ones(1, 3, size, size)
    x[:, :, 0, 0] = 1
    return x


def test_rotation_labels_match_the_rotations_applied():
    x = corner_image(8)
    rotated, labels = S.all_rotations(x)
    assert labels.tolist() == [0, 1, 2, 3]
    # counter-clockwise quarter turns: the top-left corner goes to bottom-left, bottom-right, top-right
    expected_corner = {0: (0, 0), 1: (7, 0), 2: (7, 7), 3: (0, 7)}
    for img, k in zip(rotated, labels.tolist()):
        assert torch.nonzero(img[0] > 0).tolist() == [list(expected_corner[k])], k
        np.testing.assert_array_equal(img.numpy(), np.rot90(x[0].numpy(), k, axes=(1, 2)))  # an independent implementation


def test_all_rotations_layout_follows_compare_gan():
    x = torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    rotated, labels = S.all_rotations(x)
    assert rotated.shape == (20, 3, 6, 6)
    assert labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    for r in range(4):
        torch.testing.assert_close(rotated[5 * r:5 * r + 5], torch.rot90(x, r, dims=(2, 3)))
    with pytest.raises(ValueError, match="square"):
        S.all_rotations(torch.zeros(2, 3, 4, 5))


def test_rotation_loss_is_compare_gans_formula():
    logits = torch.randn(12, 4, generator=torch.Generator().manual_seed(2)) * 3
    labels = torch.arange(4).repeat_interleave(3)
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    reference = -np.mean(np.sum(np.eye(4)[labels.numpy()] * np.log(p + 1e-10), 1))  # compare_gan s3gan.py
    assert float(rotation_loss(logits, labels)) == pytest.approx(reference, rel=1e-5)


def oriented_images(n, size=32, seed=0):
    """A bright top third over a dark rest, with noise: the orientation is obvious."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 0.4 - 0.8
    x[:, :, : size // 3] += 1.2
    return x.clamp(-1, 1)


def symmetric_images(n, size=32, seed=0):
    """A centred bright square on a flat background: every rotation looks the same."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 3, size, size) + 0.3 * torch.rand(n, 3, 1, 1, generator=g)
    x[:, :, 8:24, 8:24] = 0.8
    return x


def test_rotation_net_learns_orientation_and_not_symmetric_images():
    model, losses = S.train_rotation_net(oriented_images(64), steps=40, batch_size=16, width=8, seed=0)
    assert len(losses) == 40 and not model.training
    assert S.rotation_accuracy(model, oriented_images(64, seed=1))["accuracy"] > 0.9
    # ground truth: a rotation-symmetric image carries no rotation signal, so accuracy stays at chance
    model_s, _ = S.train_rotation_net(symmetric_images(64), steps=40, batch_size=16, width=8, seed=0)
    assert S.rotation_accuracy(model_s, symmetric_images(64, seed=1))["accuracy"] < 0.4


def test_rotation_accuracy_per_class_and_features():
    model = S.RotationNet(4, width=4).eval()
    out = S.rotation_accuracy(model, oriented_images(20), torch.tensor([0, 1] * 10), n_classes=3)
    assert len(out["per_class"]) == 3 and np.isnan(out["per_class"][2])
    x = torch.zeros(3, 3, 32, 32)
    for b in (1, 2, 3):
        assert model.features(x, b).shape == (3, model.feature_dim(b))
    with pytest.raises(ValueError, match="block"):
        model.features(x, 4)


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.1, 0.5, 1.0])
def test_labelled_split_is_stratified_disjoint_and_nested(fraction):
    labels = torch.arange(10).repeat(100)[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    lab, hidden = S.labelled_split(labels, fraction, seed=3)
    assert len(np.intersect1d(lab, hidden)) == 0 and len(lab) + len(hidden) == 1000
    assert np.bincount(labels[lab].numpy(), minlength=10).tolist() == [int(fraction * 100)] * 10  # exactly per class
    np.testing.assert_array_equal(lab, S.labelled_split(labels, fraction, seed=3)[0])
    smaller, _ = S.labelled_split(labels, 0.01, seed=3)
    assert set(smaller) <= set(lab)  # the same seed gives nested splits


def test_labelled_split_and_fraction_check_reject_bad_values():
    y = torch.arange(10).repeat(10)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            S.labelled_split(y, bad)
    with pytest.raises(ValueError, match="leaves 0 labelled images of class"):
        S.labelled_split(y, 0.05)
    assert S.check_label_fractions([0.05, 0.1], 2000, 10, 5) is None
    assert "in (0, 1]" in S.check_label_fractions([0.1, 1.2], 2000, 10, 5)
    assert "in (0, 1]" in S.check_label_fractions([True], 2000, 10, 5)
    assert "leaves 2" in S.check_label_fractions([0.01], 2000, 10, 5)


def test_linear_probe_separates_separable_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (4, 16))
    y = np.repeat(np.arange(4), 50)
    x = centres[y] + rng.normal(0, 1, (200, 16))
    assert (S.LinearProbe.fit(x[::2], y[::2]).predict(x[1::2]) == y[1::2]).mean() > 0.95
    with pytest.raises(ValueError, match="at least 2 classes"):
        S.LinearProbe.fit(x[:5], np.zeros(5))
    with pytest.raises(ValueError, match="labels for"):
        S.LinearProbe.fit(x[:5], y[:4])


def test_infer_labels_keeps_known_labels_and_probe_curve_keys():
    x = torch.cat([oriented_images(30), -oriented_images(30, seed=2)])
    y = torch.tensor([0] * 30 + [1] * 30)
    torch.manual_seed(0)
    model = S.RotationNet(4, width=4).eval()
    lab = np.array([0, 1, 2, 30, 31, 32])
    inferred = S.infer_labels(model, x, y, lab)
    assert inferred.shape == (60,) and inferred.dtype == torch.long
    np.testing.assert_array_equal(inferred[lab].numpy(), y[lab].numpy())
    assert (inferred == y).float().mean() > 0.9  # the two groups differ in mean brightness: easy
    vx, vy = S.validation_set(x, y, per_class=5)
    curve, fits = S.probe_curve(x, y, [0.1, 1.0], model, 2, vx, vy, scratch=dict(max_steps=6, check_every=2), width=4)
    assert set(curve) == set(fits) == {"rotation", "random", "scratch"}
    assert all(set(v) == {0.1, 1.0} and all(0 <= a <= 1 for a in v.values()) for v in curve.values())
    assert fits["rotation"][0.1]["C"] in S.PROBE_CS and {"train_accuracy", "val_accuracy"} <= set(fits["scratch"][0.1])


def test_the_scratch_baseline_trains_until_the_validation_loss_stops_improving():
    x = torch.cat([oriented_images(30), -oriented_images(30, seed=2)])
    y = torch.tensor([0] * 30 + [1] * 30)
    vx, vy = S.validation_set(x, y, per_class=10)
    net, rec = S.train_from_scratch(x, y, 2, vx, vy, max_steps=2000, check_every=10, patience=3, width=4, seed=0)
    assert rec["stopped"] == "patience" and rec["steps_run"] < 2000  # stopped by the validation loss, not the budget
    assert rec["best_step"] == rec["steps_run"] - 30 and rec["val_accuracy"] > 0.9 and rec["train_accuracy"] > 0.9


def test_selfsup_seed_returns_plain_data_for_every_fraction():
    x = torch.cat([oriented_images(40), -oriented_images(40, seed=2)])
    y = torch.tensor([0, 1] * 40)
    cfg = {"rotation_steps": 3, "rotation_width": 4, "probe_block": 3, "val_per_class": 3,
           "scratch": dict(max_steps=4, check_every=2)}
    out = S.selfsup_seed(1, x, y, x[:10], y[:10], 2, [0.1, 1.0], [0.1, 0.2], cfg)
    assert out["seed"] == 1 and len(out["rotation_losses"]) == 3
    assert set(out["splits"]) == {0.1, 0.2} and set(out["probe"]["rotation"]) == {0.1, 1.0}
    s = out["splits"][0.1]
    assert len(s["labelled"]) == 8 and s["inferred"].shape == (80,) and 0 <= s["accuracy"] <= 1
    assert set(s["labelled"]) <= set(out["splits"][0.2]["labelled"])
