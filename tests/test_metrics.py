import numpy as np
import pytest
import torch

from gan_helpers.metrics import (class_coverage, density_coverage, diversity_ratio, frechet_distance,
                                 frechet_distance_from_stats, kernel_inception_distance, near_duplicate_rate,
                                 precision_recall)


def test_fid_equals_squared_mean_distance_for_equal_covariance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 6))
    b = a + np.array([1.0, -2.0, 0.5, 0, 0, 3.0])  # same covariance exactly, shifted mean
    assert frechet_distance(a, b) == pytest.approx(1 + 4 + 0.25 + 9, rel=1e-9, abs=1e-7)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-7)


def test_fid_accepts_torch_and_matches_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 16))
    b = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    ref = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(torch.tensor(a), torch.tensor(b, dtype=torch.float32)) == pytest.approx(ref, rel=1e-4)


def test_fid_of_gaussians_closed_form_with_different_covariances():
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # for commuting covariances: tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2
    assert frechet_distance_from_stats(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx((1 - 3) ** 2 + (2 - 1) ** 2)


def test_kid_near_zero_for_one_distribution_and_positive_otherwise():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(600, 32)), rng.normal(size=(600, 32))
    m, s = kernel_inception_distance(a, b, subsets=20, subset_size=300)
    assert abs(m) < 3 * s + 1e-3
    m2, _ = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=300)
    assert m2 > 10 * abs(m)


def test_kid_matches_torchmetrics_poly_mmd():
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(200, 10)), rng.normal(size=(200, 10)) + 0.2
    ours, _ = kernel_inception_distance(a, b, subsets=1, subset_size=200)  # one subset = all of both
    ref = poly_mmd(torch.tensor(a), torch.tensor(b), degree=3, gamma=None, coef=1.0).item()
    assert ours == pytest.approx(ref, rel=1e-6)


def test_precision_recall_and_coverage_see_mode_collapse():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(500, 4))
    same = rng.normal(size=(500, 4))
    collapsed = rng.normal(size=(500, 4)) * 0.05  # all samples in one small mode at the centre
    pr_same, pr_col = precision_recall(real, same), precision_recall(real, collapsed)
    assert pr_same["precision"] > 0.8 and pr_same["recall"] > 0.8
    assert pr_col["precision"] > 0.9 and pr_col["recall"] < 0.2  # realistic but not diverse
    assert density_coverage(real, same)["coverage"] > 0.8 > 0.3 > density_coverage(real, collapsed)["coverage"]
    assert diversity_ratio(real, same) == pytest.approx(1, abs=0.1)
    assert diversity_ratio(real, collapsed) < 0.1
    assert near_duplicate_rate(real, collapsed) > 0.9 > 0.1 > near_duplicate_rate(real, same)


def test_class_coverage():
    out = class_coverage([0, 0, 0, 1], [0, 1, 2, 0, 1, 2], n_classes=3)
    assert out["classes_covered"] == 2 and out["kl_to_real"] > 0
    assert class_coverage([0, 1, 2] * 10, [0, 1, 2], 3)["kl_to_real"] == pytest.approx(0, abs=1e-9)


def test_bad_features_are_clear_errors():
    with pytest.raises(ValueError, match="2-D"):
        frechet_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="feature sizes differ"):
        kernel_inception_distance(np.zeros((3, 2)), np.zeros((3, 4)))


@pytest.mark.parametrize("n_a,n_b,d", [(30, 20, 64), (300, 200, 16), (40, 300, 32)])
def test_fid_equals_the_eigenvalue_formula_with_fewer_or_more_samples_than_features(n_a, n_b, d):
    """The singular-value route (samples or QR factors) against tr sqrt from the eigenvalues of the D x D product."""
    rng = np.random.default_rng(n_a + d)
    a = rng.normal(size=(n_a, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(n_b, d)) * 0.7 + 0.2
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(sa @ sb).real, 0, None)).sum()
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance_from_stats(a.mean(0), sa, b.mean(0), sb) == pytest.approx(ref, rel=1e-6)
