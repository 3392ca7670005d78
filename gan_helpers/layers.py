r"""Layers that the GAN variants add to the DCGAN networks.

* :class:`ConditionalBatchNorm2d`: class-conditional batch norm (de Vries et al. 2017; BigGAN,
  compare_gan ``arch_ops.conditional_batch_norm``): :math:`\gamma_y \hat h + \beta_y`.
* :class:`VirtualBatchNorm2d`: Salimans et al. 2016, section 3.5, as the ``VBN`` class of
  openai/improved-gan's ImageNet code.
* :class:`MinibatchDiscrimination`: Salimans et al. 2016, section 3.2, as ``MinibatchLayer`` of
  openai/improved-gan's ``mnist_svhn_cifar10/nn.py``.
"""
from __future__ import annotations

import torch
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift depend on the class: ``gamma[y] * BN(h) + beta[y]``.

    ``n_classes=0`` gives an ordinary affine batch norm (one shared ``gamma``, ``beta``).
    """

    def __init__(self, num_features: int, n_classes: int = 0):
        super().__init__()
        self.n_classes = n_classes
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gamma = nn.Embedding(max(n_classes, 1), num_features)
        self.beta = nn.Embedding(max(n_classes, 1), num_features)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and y is None:
            raise ValueError("this batch norm is class-conditional: pass the labels y")
        if not self.n_classes:
            y = torch.zeros(len(h), dtype=torch.long, device=h.device)
        out = self.bn(h)
        return self.gamma(y)[:, :, None, None] * out + self.beta(y)[:, :, None, None]


class VirtualBatchNorm2d(nn.Module):
    """Batch norm whose statistics come from a fixed reference batch plus the example itself.

    Reference pass (``collect=True``): per-channel mean and mean square over the reference batch
    (N, C, H, W); the reference batch is normalised with them. Live pass: for each example,
    ``mean = 1/(n+1) * its own spatial mean + n/(n+1) * reference mean`` (the same for the mean
    square), so an example's output never depends on the other examples of its batch.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.collect = False
        self._ref: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def _normalize(self, x, mean, mean_sq):
        std = torch.sqrt(self.eps + (mean_sq - mean ** 2).clamp_min(0))
        return (x - mean) / std * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.collect:  # the reference batch: its own statistics
            mean = x.mean((0, 2, 3), keepdim=True)  # (1, C, 1, 1)
            mean_sq = (x ** 2).mean((0, 2, 3), keepdim=True)
            self._ref = (mean, mean_sq, len(x))
            return self._normalize(x, mean, mean_sq)
        if self._ref is None:
            raise RuntimeError("VirtualBatchNorm2d needs a reference pass first (set collect=True and run the reference batch)")
        ref_mean, ref_mean_sq, n = self._ref
        new = 1.0 / (n + 1.0)
        mean = new * x.mean((2, 3), keepdim=True) + (1 - new) * ref_mean  # (B, C, 1, 1): per example
        mean_sq = new * (x ** 2).mean((2, 3), keepdim=True) + (1 - new) * ref_mean_sq
        return self._normalize(x, mean, mean_sq)


class MinibatchDiscrimination(nn.Module):
    r"""f (N, A) -> [f, o(f)] (N, A + B): B minibatch features of C dimensions each.

    :math:`M_i = f(x_i) T \in \mathbb R^{B \times C}`, :math:`c_b(x_i, x_j) = \exp(-\|M_{i,b} - M_{j,b}\|_1)`,
    :math:`o(x_i)_b = \sum_j c_b(x_i, x_j) + \text{bias}_b`.

    ``include_self=False`` (the default) leaves the j = i term out, as openai/improved-gan's
    ``MinibatchLayer`` does (``T.sum(abs_dif) ... - 1`` via the mask); the paper's formula sums over
    every j, which adds the constant exp(0) = 1. ``T`` starts from N(0, ``init_std``) (reference:
    0.05) and ``bias`` from ``-1`` (reference: ``b`` initialised to -1); the reference also
    weight-normalises T with a data-dependent init, which this layer does not.
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5,
                 init_std: float = 0.05, include_self: bool = False):
        super().__init__()
        if min(in_features, num_kernels, kernel_dim) < 1:
            raise ValueError("in_features, num_kernels and kernel_dim must be >= 1")
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.include_self = include_self
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * init_std)  # (A, B*C)
        self.bias = nn.Parameter(torch.full((num_kernels,), -1.0))

    @property
    def out_features(self) -> int:
        return self.in_features + self.num_kernels

    def minibatch_features(self, f: torch.Tensor) -> torch.Tensor:
        """o(x_i) for each sample: (N, B)."""
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(f"expected features (N, {self.in_features}), got {tuple(f.shape)}")
        M = (f.float() @ self.T).view(len(f), self.num_kernels, self.kernel_dim)  # (N, B, C)
        Mb = M.transpose(0, 1).contiguous()  # (B, N, C)
        l1 = torch.cdist(Mb, Mb, p=1)  # (B, N, N): ||M_{i,b} - M_{j,b}||_1
        o = torch.exp(-l1).sum(2).T  # (N, B): sum over j of c_b(x_i, x_j)
        if not self.include_self:
            o = o - 1.0  # the j = i term is exp(0) = 1
        return o + self.bias

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f.float(), self.minibatch_features(f)], dim=1)  # (N, A + B)
