r"""GAN losses, on discriminator logits, and the auxiliary terms the objectives add.

The minimax game (Goodfellow et al. 2014) is

.. math::
    \min_G \max_D V(D, G) = \mathbb{E}_{x \sim p_{data}}[\log D(x)]
                          + \mathbb{E}_{z \sim p_z}[\log(1 - D(G(z)))]

D maximises it by minimising the binary cross-entropy with target 1 on real and 0 on fake
images. G uses the *non-saturating* loss :math:`-\log D(G(z))` (Goodfellow et al., section 3),
as DCGAN-tensorflow and pytorch/examples do. ``kind="hinge"`` is the hinge loss of SN-GAN and
BigGAN (compare_gan ``loss_lib.hinge``): :math:`L_D = \mathbb E[\max(0, 1 - D(x))] +
\mathbb E[\max(0, 1 + D(G(z)))]`, :math:`L_G = -\mathbb E[D(G(z))]`.

As in labml's implementations, :func:`discriminator_loss` returns its real and fake terms
separately so that a notebook can log and plot both. DCGAN-tensorflow reports
``d_loss = d_loss_real + d_loss_fake``: :attr:`DLoss.total`.

The auxiliary terms: :func:`feature_matching_loss` and :class:`HistoricalAverage` (Salimans et
al. 2016, sections 3.1 and 3.3), :func:`rotation_loss` (Chen et al. 2019; Gidaris et al. 2018).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

LOSS_KINDS = ("bce", "hinge")


class DLoss(NamedTuple):
    real: torch.Tensor  # -E[log D(x)] (hinge: E[max(0, 1 - D(x))])
    fake: torch.Tensor  # -E[log(1 - D(G(z)))] (hinge: E[max(0, 1 + D(G(z)))])

    @property
    def total(self) -> torch.Tensor:
        return self.real + self.fake


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_target: float = 1.0, kind: str = "bce") -> DLoss:
    """D's loss on a real and a fake batch.

    ``real_target`` < 1 gives one-sided label smoothing (Salimans et al. 2016): only the real
    targets are smoothed, the fake targets stay 0 (BCE only).
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if kind == "hinge":
        return DLoss(F.relu(1 - real_logits).mean(), F.relu(1 + fake_logits).mean())
    if kind != "bce":
        raise ValueError(f"loss kind must be one of {LOSS_KINDS}, got {kind!r}")
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return DLoss(real, fake)


def generator_loss(fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Non-saturating generator loss -E[log D(G(z))] (hinge: -E[D(G(z))])."""
    fake_logits = fake_logits.float()
    if kind == "hinge":
        return -fake_logits.mean()
    if kind != "bce":
        raise ValueError(f"loss kind must be one of {LOSS_KINDS}, got {kind!r}")
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    r""":math:`\|\mathbb E f(x) - \mathbb E f(G(z))\|_2^2` averaged over the feature dimensions, as
    ``T.mean(T.square(m1 - m2))`` in openai/improved-gan. The real side is detached: only G is
    trained by it."""
    if real_features.dim() != 2 or fake_features.dim() != 2 or real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"features must be (N, A) with the same A; got {tuple(real_features.shape)} "
                         f"and {tuple(fake_features.shape)}")
    diff = real_features.detach().float().mean(0) - fake_features.float().mean(0)  # (A,)
    return (diff ** 2).mean()


def rotation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy of a 4-way rotation head: :math:`-\mathbb{E}[\log \mathrm{softmax}(f(x_r))_r]`.

    compare_gan computes ``-mean(sum(onehot * log(softmax + 1e-10)))``; ``F.cross_entropy`` is the
    same quantity without the epsilon (and stable for large logits).
    """
    if logits.shape[-1] != 4:
        raise ValueError(f"rotation logits need 4 columns, got {tuple(logits.shape)}")
    return F.cross_entropy(logits.float(), labels.long())


class HistoricalAverage:
    r"""The running mean :math:`\bar\theta_t = \frac1t\sum_{i=1}^t \theta[i]` of a module's parameters
    and the penalty :math:`\frac1P\|\theta - \bar\theta\|^2`: the squared distance **per parameter** (P of
    them), so that a weight :math:`\lambda` means the same in a network of any size (the sum over a few hundred
    thousand parameters outweighed a feature-matching loss that is a mean over its features by about P).

    The mean starts at the parameters as they are when :meth:`penalty` or :meth:`update` is first called, not
    when the objective is built: a layer with a data-dependent initialisation (minibatch discrimination's) sets
    its parameters on the first forward pass, and a mean taken before that put a penalty of thousands on the
    very first step. Call :meth:`penalty` in the loss and :meth:`update` after each optimizer step;
    :meth:`state_dict` holds the means and the count (checkpoints).
    """

    def __init__(self, module: nn.Module):
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.n = sum(p.numel() for p in self.params)
        self.mean: list[torch.Tensor] | None = None
        self.count = 0

    def _start(self) -> None:
        if self.mean is None:
            self.mean = [p.detach().clone() for p in self.params]
            self.count = 1

    def penalty(self) -> torch.Tensor:
        self._start()
        return sum(((p - m) ** 2).sum() for p, m in zip(self.params, self.mean)) / self.n

    @torch.no_grad()
    def update(self) -> None:
        if self.mean is None:  # the first step's parameters start the mean
            self._start()
            return
        self.count += 1
        for p, m in zip(self.params, self.mean):
            m.add_((p.detach() - m) / self.count)

    def state_dict(self) -> dict:
        return {"mean": None if self.mean is None else [m.clone() for m in self.mean], "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        if state["mean"] is None:
            self.mean, self.count = None, 0
            return
        if len(state["mean"]) != len(self.params):
            raise ValueError(f"historical average of {len(state['mean'])} tensors, model has {len(self.params)}")
        self.mean = [s.clone().to(p.device) for s, p in zip(state["mean"], self.params)]
        self.count = int(state["count"])
