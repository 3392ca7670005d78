r"""GAN losses (Goodfellow et al. 2014), on discriminator logits.

The minimax game is

.. math::
    \min_G \max_D V(D, G) = \mathbb{E}_{x \sim p_{data}}[\log D(x)]
                          + \mathbb{E}_{z \sim p_z}[\log(1 - D(G(z)))]

D maximises it by minimising the binary cross-entropy with target 1 on real and 0 on fake
images. G uses the *non-saturating* loss :math:`-\log D(G(z))` (Goodfellow et al., section 3),
as DCGAN-tensorflow and pytorch/examples do.

As in labml's implementations, the discriminator loss returns its real and fake terms
separately so that a notebook can log and plot both. DCGAN-tensorflow reports
``d_loss = d_loss_real + d_loss_fake``; :func:`discriminator_loss` does the same sum in
:attr:`DLoss.total`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class DLoss(NamedTuple):
    real: torch.Tensor  # -E[log D(x)]
    fake: torch.Tensor  # -E[log(1 - D(G(z)))]

    @property
    def total(self) -> torch.Tensor:
        return self.real + self.fake


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_target: float = 1.0) -> DLoss:
    """BCE of D on a real and a fake batch.

    ``real_target`` < 1 gives one-sided label smoothing (Salimans et al. 2016): only the
    real targets are smoothed, the fake targets stay 0.
    """
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.full_like(real_logits.float(), real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits.float()))
    return DLoss(real, fake)


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -E[log D(G(z))]."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits.float()))
