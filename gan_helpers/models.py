r"""DCGAN generator and discriminator (Radford, Metz & Chintala 2016, arXiv:1511.06434).

The architecture follows the paper's guidelines and pytorch/examples ``dcgan/main.py``:
strided convolutions instead of pooling, batch norm in both networks (not on G's output or
D's input layer), ReLU in G with a ``tanh`` output, LeakyReLU(0.2) in D, and weights drawn
from :math:`\mathcal{N}(0, 0.02)`.

Two deliberate differences from pytorch/examples:

* ``Discriminator.forward`` returns **logits** (no final sigmoid). The losses use
  ``binary_cross_entropy_with_logits``, which is numerically stable and safe under bf16
  autocast; ``torch.sigmoid(logits)`` is the paper's :math:`D(x)`.
* Both networks support 32 and 64 px: 64 px has one more up/down-sampling stage.

``Discriminator.features`` exposes the last convolutional feature map (flattened), which
later notebooks reuse: scoring a data set (02), fine-tuning a classifier (03).
"""
from __future__ import annotations

import torch
from torch import nn

SUPPORTED_SIZES = (32, 64)


def _check_size(image_size: int) -> int:
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES}, got {image_size!r}")
    return image_size


def weights_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z of shape (B, nz) or (B, nz, 1, 1) -> image (B, nc, S, S) in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        self.nz, self.ngf, self.nc, self.image_size = nz, ngf, nc, _check_size(image_size)
        # channel multipliers from the 4x4 seed up to the last hidden layer
        mults = [8, 4, 2, 1] if image_size == 64 else [4, 2, 1]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, ngf * mults[0], 4, 1, 0, bias=False),  # (B, ngf*m0, 4, 4)
            nn.BatchNorm2d(ngf * mults[0]),
            nn.ReLU(True),
        ]
        for m_in, m_out in zip(mults[:-1], mults[1:]):  # each doubles the side: 4 -> 8 -> 16 (-> 32)
            layers += [
                nn.ConvTranspose2d(ngf * m_in, ngf * m_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * m_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(ngf * mults[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]  # (B, nc, S, S)
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)


class Discriminator(nn.Module):
    """image (B, nc, S, S) -> logit (B,). ``sigmoid(logit)`` is the probability that the image is real."""

    def __init__(self, ndf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        self.ndf, self.nc, self.image_size = ndf, nc, _check_size(image_size)
        mults = [1, 2, 4, 8] if image_size == 64 else [1, 2, 4]
        layers: list[nn.Module] = [  # no batch norm on the input layer (DCGAN guideline)
            nn.Conv2d(nc, ndf * mults[0], 4, 2, 1, bias=False),  # (B, ndf, S/2, S/2)
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for m_in, m_out in zip(mults[:-1], mults[1:]):  # each halves the side, down to 4x4
            layers += [
                nn.Conv2d(ndf * m_in, ndf * m_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * m_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.body = nn.Sequential(*layers)  # (B, ndf*m_last, 4, 4)
        self.feature_dim = ndf * mults[-1] * 4 * 4
        self.head = nn.Conv2d(ndf * mults[-1], 1, 4, 1, 0, bias=False)  # (B, 1, 1, 1)
        self.apply(weights_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, flattened: (B, feature_dim)."""
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten()  # (B,)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
