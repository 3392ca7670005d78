r"""Layers that the GAN variants add to the DCGAN networks.

* :class:`LinearConditionalBatchNorm2d`: conditional batch norm (de Vries et al. 2017) in BigGAN's
  form, scale and shift linear in a conditioning vector (a shared class embedding with a chunk of z).
* :class:`VirtualBatchNorm2d`: Salimans et al. 2016, section 3.5, as the ``VBN`` class of
  openai/improved-gan's ImageNet code.
* :class:`MinibatchDiscrimination`: Salimans et al. 2016, section 3.2, as ``MinibatchLayer`` of
  openai/improved-gan's ``mnist_svhn_cifar10/nn.py``.
"""
from __future__ import annotations

import torch
from torch import nn


class LinearConditionalBatchNorm2d(nn.Module):
    """BigGAN's conditional batch norm (Brock et al. 2019; compare_gan ``arch_ops.conditional_batch_norm``):
    scale and shift are linear in a conditioning vector ``c`` (B, cond_dim), e.g. a shared class embedding
    concatenated with a chunk of z: ``(1 + W_g c) * BN(h) + W_b c``. Weights start at N(0, ``init_std``),
    so the scale starts near 1."""

    def __init__(self, num_features: int, cond_dim: int, init_std: float = 0.02):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Linear(cond_dim, num_features, bias=False)
        self.shift = nn.Linear(cond_dim, num_features, bias=False)
        for m in (self.gain, self.shift):
            nn.init.normal_(m.weight, 0.0, init_std)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.to(h.dtype)
        return (1 + self.gain(c))[:, :, None, None] * self.bn(h) + self.shift(c)[:, :, None, None]


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
    0.05) and ``bias`` from ``-1`` (reference: ``b`` initialised to -1).

    ``weight_norm=True`` follows the reference's parametrisation too: each column of T is used as
    :math:`\theta_{:,b,c}\, e^{s_{b,c}} / \|\theta_{:,b,c}\|_2` (weight normalisation, log-scale ``s``
    from 0), and the first forward pass in training mode is a **data-dependent init** on its
    batch: ``s_b`` is lowered by the log of half the mean nearest-neighbour L1 distance of kernel b
    (so that distance becomes 2 and :math:`e^{-\|\cdot\|}` is not vanishingly small), and the bias
    is set to minus the mean of the resulting features (zero-mean outputs), as ``init=True`` in
    ``MinibatchLayer.get_output_for``. The buffer ``initialized`` keeps the init in checkpoints.
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5,
                 init_std: float = 0.05, include_self: bool = False, weight_norm: bool = False):
        super().__init__()
        if min(in_features, num_kernels, kernel_dim) < 1:
            raise ValueError("in_features, num_kernels and kernel_dim must be >= 1")
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.include_self = include_self
        self.weight_norm = weight_norm
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * init_std)  # (A, B*C)
        self.bias = nn.Parameter(torch.full((num_kernels,), -1.0))
        if weight_norm:
            self.log_weight_scale = nn.Parameter(torch.zeros(num_kernels, kernel_dim))  # (B, C)
            self.register_buffer("initialized", torch.tensor(False))

    def weight(self) -> torch.Tensor:
        """The (A, B*C) matrix the features are multiplied by: T, or its weight-normalised form."""
        if not self.weight_norm:
            return self.T
        return self.T * (self.log_weight_scale.exp().flatten() / self.T.norm(dim=0))  # columns of norm e^s

    def _l1(self, f: torch.Tensor) -> torch.Tensor:
        """(B, N, N): ||M_{i,b} - M_{j,b}||_1, in float32 (exp(-distance) needs more than bf16's 3 digits)."""
        with torch.autocast(device_type=f.device.type, enabled=False):
            M = f.float() @ self.T  # (N, B*C)
            if self.weight_norm:  # f (T diag(c)) = (f T) diag(c): scale the N x B*C product, not the A x B*C matrix
                M = M * (self.log_weight_scale.exp().flatten() / self.T.norm(dim=0))
            Mb = M.view(len(f), self.num_kernels, self.kernel_dim).transpose(0, 1).contiguous()  # (B, N, C)
            return torch.cdist(Mb, Mb, p=1)

    @torch.no_grad()
    def data_init(self, f: torch.Tensor) -> None:
        """The reference's data-dependent init on the batch ``f`` (N, A), N >= 2 (``weight_norm`` only)."""
        if len(f) < 2:
            raise ValueError("the data-dependent init needs a batch of at least 2")
        l1 = self._l1(f) + torch.diag(torch.full((len(f),), float("inf"), device=f.device))  # no self-distance
        half_mean_min = 0.5 * l1.min(2).values.mean(1)  # (B,)
        self.log_weight_scale.sub_(half_mean_min.clamp_min(1e-12).log()[:, None])
        o = torch.exp(-l1 / half_mean_min[:, None, None]).sum(2).T  # (N, B), the j = i term left out
        if self.include_self:
            o = o + 1.0
        self.bias.copy_(-o.mean(0))
        self.initialized.fill_(True)

    @property
    def out_features(self) -> int:
        return self.in_features + self.num_kernels

    def minibatch_features(self, f: torch.Tensor) -> torch.Tensor:
        """o(x_i) for each sample: (N, B)."""
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(f"expected features (N, {self.in_features}), got {tuple(f.shape)}")
        if self.weight_norm and self.training and not self.initialized:
            self.data_init(f)
        l1 = self._l1(f)  # (B, N, N): ||M_{i,b} - M_{j,b}||_1
        o = torch.exp(-l1).sum(2).T  # (N, B): sum over j of c_b(x_i, x_j), float32
        if not self.include_self:
            o = o - 1.0  # the j = i term is exp(0) = 1
        return o + self.bias

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f.float(), self.minibatch_features(f)], dim=1)  # (N, A + B)
