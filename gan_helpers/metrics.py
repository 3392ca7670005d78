r"""Sample-quality metrics on feature vectors: FID, KID, precision/recall, density/coverage,
diversity and class-histogram coverage.

All functions take features ``(N, D)`` as NumPy arrays or torch tensors and compute in float64.
Which network produced the features matters more than anything here: FIDs from the domain
classifiers of this repository are **not** comparable with published FIDs, which use the
TF-slim Inception-v3 pool features (pytorch-fid's ``pt_inception`` weights).

* Fréchet distance (Heusel et al. 2017):
  :math:`\|\mu_a - \mu_b\|^2 + \mathrm{Tr}(\Sigma_a + \Sigma_b - 2(\Sigma_a\Sigma_b)^{1/2})`.
  The trace of the matrix square root is taken as the sum of the square roots of the
  eigenvalues of :math:`\Sigma_a\Sigma_b` (real and non-negative for PSD inputs), which avoids
  ``scipy.linalg.sqrtm``'s complex round-off; tests check it against pytorch-fid.
* Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the cubic
  polynomial kernel :math:`k(x, y) = (x^\top y / D + 1)^3`, averaged over random subsets;
  tests check it against torchmetrics.
* Improved precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem
  et al. 2020), from k-nearest-neighbour balls in feature space.
"""
from __future__ import annotations

import numpy as np
import torch


def _np64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    return x


def _trace_sqrt_product(ra: np.ndarray, rb: np.ndarray) -> float:
    r"""tr sqrt(Sa Sb) for Sa = Ra^T Ra and Sb = Rb^T Rb: the nonzero eigenvalues of Ra^T Ra Rb^T Rb are those of
    M M^T with M = Ra Rb^T, so the trace of the square root is the sum of M's singular values, the square roots
    of the eigenvalues of the smaller Gram matrix of M (symmetric: ``eigvalsh``; exact, and on a matrix no larger
    than the samples or the features, whichever is fewer)."""
    m = ra @ rb.T
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None)).sum())


def _root(sigma: np.ndarray) -> np.ndarray:
    """R with R^T R = sigma (a symmetric positive semi-definite matrix)."""
    w, v = np.linalg.eigh(sigma)
    return np.sqrt(np.clip(w, 0, None))[:, None] * v.T


def _factor(centred: np.ndarray) -> np.ndarray:
    """R with R^T R = centred^T centred / (n - 1), of at most min(n, D) rows (QR when n > D)."""
    x = centred / np.sqrt(len(centred) - 1)
    return np.linalg.qr(x, mode="r") if len(x) > x.shape[1] else x


def frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b) -> float:
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b)."""
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.atleast_2d(sigma_a).astype(np.float64), np.atleast_2d(sigma_b).astype(np.float64)
    tr_sqrt = _trace_sqrt_product(_root(sigma_a), _root(sigma_b))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sigma_a) + np.trace(sigma_b) - 2 * tr_sqrt)


def frechet_distance(a, b) -> float:
    """FID-style distance between the Gaussians fitted to features ``a`` and ``b`` (N, D).

    tr sqrt(Sa Sb) comes from the singular values of ``Ra Rb^T`` (:func:`_trace_sqrt_product`), with ``Ra`` the
    centred features themselves (or their QR factor when N > D): the same number as the eigenvalues of the
    D x D product (pytorch-fid's ``sqrtm``, checked in the tests), without a general eigen-solve of a D x D matrix,
    which took 47 s for 2,048-d Inception features on the loaded 2-core machine (this: 0.01 s at 24 and 16
    samples, about 1 s at 576 and 576)."""
    a, b = _np64(a), _np64(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if min(len(a), len(b)) < 2:
        raise ValueError("need at least 2 samples on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ra, rb = _factor(a - mu_a), _factor(b - mu_b)
    return float(((mu_a - mu_b) ** 2).sum() + (ra * ra).sum() + (rb * rb).sum() - 2 * _trace_sqrt_product(ra, rb))


def _poly_mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    m, n = len(x), len(y)
    kxx = (x @ x.T * gamma + coef0) ** degree
    kyy = (y @ y.T * gamma + coef0) ** degree
    kxy = (x @ y.T * gamma + coef0) ** degree
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kernel_inception_distance(a, b, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                              gamma: float | None = None, coef0: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD² with the polynomial kernel ``(gamma x.y + coef0)^degree``, ``gamma = 1/D``
    by default, over ``subsets`` random subsets of ``min(subset_size, len(a), len(b))`` each.
    Returns ``(mean, std)`` over the subsets. Can be slightly negative (it is unbiased)."""
    a, b = _np64(a), _np64(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("need at least 2 samples on each side")
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    rng = np.random.default_rng(seed)
    vals = [_poly_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)],
                                degree, gamma, coef0) for _ in range(subsets)]
    return float(np.mean(vals)), float(np.std(vals))


def _pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.sqrt(np.clip(d, 0, None))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real, fake, k: int = 3) -> dict[str, float]:
    """Improved precision (share of fake samples inside some real k-NN ball) and recall (share of
    real samples inside some fake k-NN ball), Kynkäänniemi et al. 2019."""
    real, fake = _np64(real), _np64(fake)
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = _pairwise(real, fake)  # (R, F)
    precision = float((d <= r_real[:, None]).any(0).mean())
    recall = float((d <= r_fake[None, :]).any(1).mean())
    return {"precision": precision, "recall": recall}


def density_coverage(real, fake, k: int = 5) -> dict[str, float]:
    """Density (mean number of real k-NN balls containing each fake sample, / k) and coverage
    (share of real samples whose k-NN ball contains a fake sample), Naeem et al. 2020."""
    real, fake = _np64(real), _np64(fake)
    r_real = _knn_radii(real, k)
    inside = _pairwise(real, fake) <= r_real[:, None]  # (R, F)
    return {"density": float(inside.sum(0).mean() / k), "coverage": float(inside.any(1).mean())}


def diversity_ratio(real, fake, max_n: int = 1000, seed: int = 0) -> float:
    """Mean pairwise distance of ``fake`` divided by that of ``real``: about 1 when the samples are
    as varied as the data, near 0 under mode collapse."""
    real, fake = _np64(real), _np64(fake)
    rng = np.random.default_rng(seed)

    def mean_pd(x):
        x = x[rng.choice(len(x), min(max_n, len(x)), replace=False)]
        d = _pairwise(x, x)
        return d[np.triu_indices(len(x), 1)].mean()

    return float(mean_pd(fake) / mean_pd(real))


def near_duplicate_rate(real, fake, quantile: float = 0.01, max_n: int = 1000, seed: int = 0) -> float:
    """Share of generated samples whose nearest other generated sample is closer than the
    ``quantile`` of real nearest-neighbour distances: the "Helvetica scenario" made countable."""
    real, fake = _np64(real), _np64(fake)
    rng = np.random.default_rng(seed)
    fake = fake[rng.choice(len(fake), min(max_n, len(fake)), replace=False)]
    nn_real = _knn_radii(real, 1)
    nn_fake = _knn_radii(fake, 1)
    return float((nn_fake < np.quantile(nn_real, quantile)).mean())


def class_coverage(pred_labels, real_labels, n_classes: int, min_share: float = 0.0) -> dict[str, float]:
    """How the class histogram of generated samples compares with the real one.

    ``classes_covered``: classes with more than ``min_share`` of the samples; ``kl_to_real``:
    KL(real histogram || generated histogram), with one pseudo-count per class so it stays finite.
    """
    p = np.bincount(np.asarray(pred_labels).ravel(), minlength=n_classes).astype(float)
    q = np.bincount(np.asarray(real_labels).ravel(), minlength=n_classes).astype(float)
    gen = (p + 1) / (p + 1).sum()
    real = q / q.sum()
    nz = real > 0
    return {"classes_covered": int((p / max(p.sum(), 1) > min_share).sum()),
            "kl_to_real": float((real[nz] * np.log(real[nz] / gen[nz])).sum()),
            "histogram": (p / max(p.sum(), 1)).round(4).tolist()}


# ---------------------------------------------------------------------------------------------
# Inception Score (Salimans et al. 2016, section 4; notebook 05)
# ---------------------------------------------------------------------------------------------

def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    r"""Inception Score from class probabilities ``probs`` (N, K): ``(mean, std)`` over splits.

    .. math:: \mathrm{IS} = \exp\big(\mathbb{E}_x\, \mathrm{KL}(p(y \mid x) \,\|\, p(y))\big),
              \quad p(y) = \mathbb{E}_x\, p(y \mid x)

    computed in float64 per split, with the conventions of the reference implementation
    (openai/improved-gan ``inception_score/model.py``): ``splits`` *contiguous* chunks in the
    order given (no shuffling; chunk k is ``probs[k*N//splits:(k+1)*N//splits]``), the marginal
    :math:`p(y)` estimated within each chunk, and the mean and **population** standard deviation
    (``np.std``, ddof=0) of the per-chunk scores. One deviation: a probability of exactly 0
    contributes 0 (the limit of :math:`p \log p`) instead of the reference's NaN.

    It lies in ``[1, K]``: 1 when every :math:`p(y\mid x)` is the same, K when each is one-hot and
    the classes are used evenly. torchmetrics' ``InceptionScore`` shuffles before splitting and
    reports ``torch.std`` (ddof=1), so its numbers differ from this one by design.
    """
    p = _np64(probs)
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise ValueError("probs must be (N, K) class probabilities (non-negative rows summing to 1); "
                         "got something else -- logits? apply a softmax first")
    n = len(p)
    if not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n:
        raise ValueError(f"splits must be an integer in 1..N={n}, got {splits!r}")
    scores = []
    for k in range(splits):
        part = p[k * n // splits:(k + 1) * n // splits]
        py = part.mean(0, keepdims=True)  # the marginal p(y) of this split
        safe = part > 0
        kl = np.where(safe, part * (np.log(np.where(safe, part, 1.0)) - np.log(np.where(safe, py, 1.0))), 0.0)
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


@torch.no_grad()
def classifier_probs(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int = 100,
                     head: str | None = None) -> torch.Tensor:
    """Softmax class probabilities ``(N, K)`` (float64, CPU) of ``classifier`` over ``images`` in batches.

    ``classifier(x)`` may return logits ``(B, K)`` (torchvision's Inception-v3 through
    :class:`~gan_helpers.features.InceptionFeatures`) or a dict of logits per head (a
    :class:`~gan_helpers.features.DomainClassifier`; ``head`` picks one, default the first).
    The model runs in eval mode and is put back in the mode it was in.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("no images to score")
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    out = []
    try:
        for i in range(0, len(images), batch_size):
            logits = classifier(images[i:i + batch_size].to(device))
            if isinstance(logits, dict):
                logits = logits[head or next(iter(logits))]
            out.append(torch.softmax(logits.double(), dim=1).cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(out)


def inception_score_images(images: torch.Tensor, classifier: torch.nn.Module, splits: int = 10,
                           batch_size: int = 100, head: str | None = None) -> tuple[float, float]:
    """The Inception Score of ``images`` (N, C, H, W) under ``classifier``, scored in batches:
    :func:`classifier_probs` then :func:`inception_score`. With ``load_inception("imagenet")``
    this is the paper's score (up to the differences its docstring lists); with a domain
    classifier it is the same formula in that classifier's label space."""
    return inception_score(classifier_probs(classifier, images, batch_size, head), splits)


def spearman(a, b) -> float:
    """Spearman's rank correlation of two sequences (scipy.stats.spearmanr); NaN for fewer than 3 pairs."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")
