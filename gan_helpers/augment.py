r"""Differentiable Augmentation (DiffAugment) for data-efficient GAN training.

Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN Training"
(NeurIPS 2020, arXiv:2006.10738); reference code: mit-han-lab/data-efficient-gans,
``DiffAugment_pytorch.py``.

With a few hundred images, D memorises the training set and G's gradient stops carrying
information. DiffAugment applies the *same family* of random, differentiable transforms
:math:`T` to **every** input of D, real and fake, in both players' steps:

.. math::
    L_D = f(-D(T(x))) + f(D(T(G(z)))), \qquad L_G = f(-D(T(G(z))))

so D never sees an un-augmented image and G is not pushed to produce augmented-looking ones
(augmenting only the reals leaks the augmentation into G's samples; the paper's Figure 3).
Because :math:`T` is differentiable, G's gradient flows through it.

The policy ``"color,translation,cutout"`` (the paper's choice for small data) is, per sample:

* ``color``: brightness :math:`+ (u - 0.5)`, saturation :math:`\times 2u` around the pixel's
  channel mean, contrast :math:`\times (u + 0.5)` around the image mean, :math:`u \sim U[0, 1)`;
* ``translation``: a shift of up to 1/8 of the side in each direction, zero fill;
* ``cutout``: one zeroed square of half the side at a random position (clipped at the border).

The transforms, their order and their parameters are those of the reference. One difference:
the random draws come from a ``torch.Generator`` passed in (the trainer's), so that a run is
reproducible and a resumed run repeats them; the reference draws from the global RNG. Under data
parallelism (``share=(rank, world_size)``) every process draws the parameters of the whole global batch
from the same generator and keeps its slice: the processes' images get different transforms, and the
generator's state, the same on every process, goes into one checkpoint that resumes on any number of them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> ``("color", "translation", "cutout")``; ``""``/None -> ``()``.

    An unknown name is a ``ValueError`` that lists the known ones."""
    names = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; use a comma-separated subset of {POLICIES}, "
                         f"e.g. 'color,translation,cutout', or '' for none")
    return names


Share = tuple[int, int]  # (rank, world size): this process's slice of draws made for the global batch


def _slice(t: torch.Tensor, share: Share | None) -> torch.Tensor:
    if share is None or share[1] == 1:
        return t
    n = len(t) // share[1]
    return t[share[0] * n:(share[0] + 1) * n]


def _global(n: int, share: Share | None) -> int:
    return n if share is None else n * share[1]


def _uniform(x: torch.Tensor, generator: torch.Generator | None, share: Share | None = None) -> torch.Tensor:
    """One U[0, 1) draw per sample, shaped (B, 1, 1, 1), on x's device and dtype."""
    u = torch.rand(_global(x.size(0), share), 1, 1, 1, generator=generator, device=_gen_device(generator, x))
    return _slice(u, share).to(device=x.device, dtype=x.dtype)


def _randint(low: int, high: int, n: int, generator: torch.Generator | None, x: torch.Tensor,
             share: Share | None = None) -> torch.Tensor:
    r = torch.randint(low, high, (_global(n, share), 1, 1), generator=generator, device=_gen_device(generator, x))
    return _slice(r, share).to(x.device)


def _gen_device(generator: torch.Generator | None, x: torch.Tensor) -> torch.device:
    return generator.device if generator is not None else x.device


def brightness(x: torch.Tensor, generator: torch.Generator | None = None, share: Share | None = None) -> torch.Tensor:
    return x + (_uniform(x, generator, share) - 0.5)


def saturation(x: torch.Tensor, generator: torch.Generator | None = None, share: Share | None = None) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W): grey level of each pixel
    return (x - mean) * (_uniform(x, generator, share) * 2) + mean


def contrast(x: torch.Tensor, generator: torch.Generator | None = None, share: Share | None = None) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * (_uniform(x, generator, share) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator | None = None, share: Share | None = None,
                ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side (independently in x and y), zero fill."""
    B, _, H, W = x.shape
    sx, sy = int(H * ratio + 0.5), int(W * ratio + 0.5)
    tx = _randint(-sx, sx + 1, B, generator, x, share)  # (B, 1, 1)
    ty = _randint(-sy, sy + 1, B, generator, x, share)
    gb, gx, gy = torch.meshgrid(torch.arange(B, device=x.device), torch.arange(H, device=x.device),
                                torch.arange(W, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, H + 1)
    gy = torch.clamp(gy + ty + 1, 0, W + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # the one-pixel zero border is what shifted-in pixels read
    return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, share: Share | None = None,
           ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` times the side per image, centred at a random pixel."""
    B, _, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    ox = _randint(0, H + (1 - ch % 2), B, generator, x, share)
    oy = _randint(0, W + (1 - cw % 2), B, generator, x, share)
    gb, gx, gy = torch.meshgrid(torch.arange(B, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, min=0, max=H - 1)
    gy = torch.clamp(gy + oy - cw // 2, min=0, max=W - 1)
    mask = torch.ones(B, H, W, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


_FNS = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def diff_augment(x: torch.Tensor, policy: str | tuple[str, ...] = "color,translation,cutout",
                 generator: torch.Generator | None = None, share: Share | None = None) -> torch.Tensor:
    """Apply the DiffAugment ``policy`` to a batch (B, C, H, W); identity for an empty policy.

    Every transform draws its parameters per sample (with ``share=(rank, world_size)``, those of a global batch
    of ``B * world_size`` samples, keeping slice ``rank``). The output keeps x's memory format."""
    names = parse_policy(policy) if isinstance(policy, str) else policy
    if not names:
        return x
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    for name in names:
        for fn in _FNS[name]:
            x = fn(x, generator, share)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
