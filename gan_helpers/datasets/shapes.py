"""The built-in 10-class shapes of notebooks 04 (and 05's alternative): one coloured shape (the class)
at a random position, size, rotation and colour on a random background."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..images import ImageSet, to_tensor_transform

_SUPERSAMPLE = 4

SHAPE_CLASSES = ("circle", "square", "triangle", "diamond", "cross", "ring", "star", "hbars", "vbars", "crescent")


def _draw_shape(d: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill, bg) -> None:
    if kind == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif kind == "square":
        d.rectangle([cx - 0.8 * r, cy - 0.8 * r, cx + 0.8 * r, cy + 0.8 * r], fill=fill)
    elif kind == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + 0.8 * r), (cx + r, cy + 0.8 * r)], fill=fill)
    elif kind == "diamond":
        d.polygon([(cx, cy - r), (cx + 0.75 * r, cy), (cx, cy + r), (cx - 0.75 * r, cy)], fill=fill)
    elif kind == "cross":
        t = 0.3 * r
        d.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
        d.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
    elif kind == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        d.ellipse([cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r], fill=bg)
    elif kind == "star":
        pts = [(cx + (r if i % 2 == 0 else 0.45 * r) * np.sin(i * np.pi / 5),
                cy - (r if i % 2 == 0 else 0.45 * r) * np.cos(i * np.pi / 5)) for i in range(10)]
        d.polygon(pts, fill=fill)
    elif kind == "hbars":
        for k in (-1, 0, 1):
            d.rectangle([cx - r, cy + k * 0.6 * r - 0.18 * r, cx + r, cy + k * 0.6 * r + 0.18 * r], fill=fill)
    elif kind == "vbars":
        for k in (-1, 0, 1):
            d.rectangle([cx + k * 0.6 * r - 0.18 * r, cy - r, cx + k * 0.6 * r + 0.18 * r, cy + r], fill=fill)
    elif kind == "crescent":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        d.ellipse([cx - 0.45 * r, cy - 1.05 * r, cx + 1.25 * r, cy + 0.75 * r], fill=bg)
    else:
        raise ValueError(f"unknown shape {kind!r}")


def make_shapes(n: int = 2000, image_size: int = 32, seed: int = 0, n_classes: int = 10) -> ImageSet:
    """A built-in 10-class set: one coloured shape (the class) at a random position, size and
    colour on a random background. Balanced classes; ``attributes`` keeps colour and pose."""
    if not 2 <= n_classes <= len(SHAPE_CLASSES):
        raise ValueError(f"n_classes must be in 2..{len(SHAPE_CLASSES)}, got {n_classes}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % n_classes)
    C = image_size * _SUPERSAMPLE
    ims, hues = [], []
    for y in labels:
        bg = tuple(int(v) for v in rng.integers(0, 90, 3)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(165, 256, 3))
        fill = tuple(int(v) for v in (rng.integers(150, 256, 3) if sum(bg) < 300 else rng.integers(0, 110, 3)))
        img = Image.new("RGB", (C, C), bg)
        d = ImageDraw.Draw(img)
        r = rng.uniform(0.26, 0.38) * C
        cx, cy = rng.uniform(r, C - r, 2)
        _draw_shape(d, SHAPE_CLASSES[y], cx, cy, r, fill, bg)
        img = img.rotate(rng.uniform(-15, 15), resample=Image.BICUBIC, center=(cx, cy), fillcolor=bg)
        ims.append(to_tensor_transform(image_size)(img.resize((image_size, image_size), Image.LANCZOS)))
        hues.append(fill)
    return ImageSet(images=torch.stack(ims), labels=torch.as_tensor(labels, dtype=torch.long),
                    label_names=list(SHAPE_CLASSES[:n_classes]), attributes={"fill_rgb": np.array(hues)},
                    name="shapes")
