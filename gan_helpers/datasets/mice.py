"""The built-in mouse faces of notebook 01 (Weaver, *Robot vs. Robot*: 192 mouse faces).

Each mouse has a round head, two large round ears with pink insides, eyes with a highlight, a
pink nose, mouth and whiskers, a random pose, scale and background, and a coat drawn from a
**discrete** set (white, grey, brown): the document's caveat that a GAN will not make a mouse
*between* grey and white is testable because no real mouse is. ``attributes`` keep each mouse's
exact fur colour, rotation, scale and background kind, for evaluation only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from ..images import ImageSet, to_tensor_transform

COAT_COLOURS = {  # name -> mean RGB; each mouse jitters around its coat's mean
    "white": (236, 234, 228),
    "grey": (138, 138, 144),
    "brown": (128, 84, 48),
}
_BACKGROUNDS = [(104, 142, 96), (88, 112, 150), (196, 180, 146), (64, 64, 72), (170, 120, 110),
                (120, 160, 170), (150, 150, 110), (90, 70, 90)]
_SUPERSAMPLE = 4


def _background(rng: np.random.Generator, size: int) -> tuple[Image.Image, str]:
    kind = rng.choice(["solid", "gradient", "texture"])
    c1 = np.array(_BACKGROUNDS[rng.integers(len(_BACKGROUNDS))], dtype=float) + rng.normal(0, 10, 3)
    if kind == "solid":
        arr = np.broadcast_to(c1, (size, size, 3))
    elif kind == "gradient":
        c2 = np.array(_BACKGROUNDS[rng.integers(len(_BACKGROUNDS))], dtype=float)
        t = np.linspace(0, 1, size)[:, None, None]
        arr = np.broadcast_to((1 - t) * c1 + t * c2, (size, size, 3))
    else:
        noise = rng.normal(0, 1, (size // 16, size // 16, 1))
        noise = np.kron(noise, np.ones((16, 16, 1)))
        arr = c1 + 18 * noise
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if kind == "texture":
        img = img.filter(ImageFilter.GaussianBlur(size / 40))
    return img, str(kind)


def draw_mouse_face(rng: np.random.Generator, image_size: int = 64, coat: str = "grey") -> tuple[Image.Image, dict]:
    """One procedurally drawn mouse face: round head, two large round ears with pink insides,
    eyes with a highlight, pink nose, mouth and whiskers, on a random background and pose."""
    C = image_size * _SUPERSAMPLE
    fur = np.clip(np.array(COAT_COLOURS[coat], dtype=float) + rng.normal(0, 6, 3), 0, 255)
    fur_t = tuple(int(v) for v in fur)
    outline = tuple(int(v * 0.55) for v in fur_t)
    pink = tuple(int(v) for v in np.clip(np.array((236, 160, 170)) + rng.normal(0, 8, 3), 0, 255))
    scale = rng.uniform(0.85, 1.15)
    angle = rng.uniform(-20, 20)
    dx, dy = rng.uniform(-0.05, 0.05, 2) * C
    ear_size = rng.uniform(0.55, 0.7)

    layer = Image.new("RGBA", (C, C), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy, r = C / 2, C / 2 + 0.06 * C, 0.28 * C * scale
    w = max(1, int(C / 90))

    def ellipse(x, y, rx, ry, fill, width=0):
        d.ellipse([x - rx, y - ry, x + rx, y + ry], fill=fill, outline=outline if width else None, width=width)

    for sx in (-1, 1):  # ears, behind the head
        ex, ey, er = cx + sx * 0.82 * r, cy - 0.78 * r, ear_size * r
        ellipse(ex, ey, er, er, fur_t, w)
        ellipse(ex + sx * 0.04 * r, ey + 0.04 * r, 0.66 * er, 0.66 * er, pink)
    ellipse(cx, cy, r, 0.9 * r, fur_t, w)  # head
    for sx in (-1, 1):  # eyes with a highlight
        ex, ey = cx + sx * 0.36 * r, cy - 0.12 * r
        ellipse(ex, ey, 0.12 * r, 0.14 * r, (20, 16, 16))
        ellipse(ex - 0.04 * r, ey - 0.05 * r, 0.04 * r, 0.04 * r, (250, 250, 250))
    ellipse(cx, cy + 0.32 * r, 0.11 * r, 0.08 * r, pink)  # nose
    d.arc([cx - 0.14 * r, cy + 0.32 * r, cx, cy + 0.5 * r], 0, 180, fill=outline, width=w)  # mouth
    d.arc([cx, cy + 0.32 * r, cx + 0.14 * r, cy + 0.5 * r], 0, 180, fill=outline, width=w)
    whisker = (60, 56, 56) if coat == "white" else (225, 225, 225)
    for sx in (-1, 1):
        for k in (-1, 0, 1):
            x0, y0 = cx + sx * 0.2 * r, cy + 0.38 * r + k * 0.05 * r
            d.line([x0, y0, x0 + sx * 0.95 * r, y0 + k * 0.22 * r - 0.05 * r], fill=whisker, width=w)

    layer = layer.rotate(angle, resample=Image.BICUBIC, center=(cx, cy), translate=(dx, dy))
    bg, bg_kind = _background(rng, C)
    bg.paste(layer, (0, 0), layer)
    img = bg.resize((image_size, image_size), Image.LANCZOS)
    return img, {"fur_rgb": fur, "angle": angle, "scale": scale, "background": bg_kind}


def make_mouse_faces(n: int = 192, image_size: int = 64, seed: int = 0,
                     coats: Sequence[str] = ("white", "grey", "brown")) -> ImageSet:
    """The built-in mouse-face set: ``n`` faces (192 as in the document), coat colour as the label.

    Coats are balanced (cycled, then shuffled). ``attributes`` holds each mouse's exact fur RGB,
    rotation, scale and background kind, for evaluation only.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    coat_idx = rng.permutation(np.arange(n) % len(coats))
    ims, attrs = [], {"fur_rgb": [], "angle": [], "scale": [], "background": []}
    for c in coat_idx:
        img, a = draw_mouse_face(rng, image_size, coats[c])
        ims.append(to_tensor_transform(image_size)(img))
        for k in attrs:
            attrs[k].append(a[k])
    return ImageSet(images=torch.stack(ims), labels=torch.as_tensor(coat_idx, dtype=torch.long),
                    label_names=list(coats), attributes={k: np.array(v) for k, v in attrs.items()},
                    name="mice")


def central_patch_colour(images: torch.Tensor, frac: float = 0.24) -> torch.Tensor:
    """Median RGB (0..255) of the central ``frac`` x ``frac`` box of each image: (N, 3).

    On the built-in mice the box always lies on the head (pose offsets are smaller than the
    head), so this measures the coat colour of real and generated mice alike, without learning.
    """
    S = images.shape[-1]
    a, b = int(round(S * (0.5 - frac / 2))), int(round(S * (0.5 + frac / 2)))
    patch = images[:, :, a:b, a:b].flatten(2)
    return ((patch.median(dim=2).values + 1) * 127.5).clamp(0, 255)


def coat_position(rgb) -> tuple[np.ndarray, np.ndarray]:
    """Where each RGB colour lies on the segment from grey (t=0) to white (t=1), and its
    distance from that segment's line, in RGB units."""
    rgb = np.asarray(rgb, dtype=float)
    grey, white = np.array(COAT_COLOURS["grey"], float), np.array(COAT_COLOURS["white"], float)
    axis = white - grey
    t = (rgb - grey) @ axis / (axis @ axis)
    dist = np.linalg.norm(rgb - grey - t[:, None] * axis, axis=1)
    return t, dist


def coat_analysis(images: torch.Tensor, between: tuple[float, float] = (0.25, 0.75), max_dist: float = 40.0) -> dict:
    """Coat colour of each (real or generated) mouse, read from the centre of its face.

    ``share_between_grey_white``: share whose colour lies in the middle of the grey-white segment
    (``between``) and within ``max_dist`` of it; ``coat_histogram``: share nearest to each coat
    colour; ``coats_covered``: coats with at least 5% of the images.
    """
    rgb = central_patch_colour(images).numpy()
    t, dist = coat_position(rgb)
    means = np.array(list(COAT_COLOURS.values()), float)
    nearest = np.argmin(((rgb[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    hist = np.bincount(nearest, minlength=len(means)) / len(rgb)
    return {"share_between_grey_white": float(((t > between[0]) & (t < between[1]) & (dist < max_dist)).mean()),
            "coat_histogram": dict(zip(COAT_COLOURS, hist.round(4).tolist())),
            "coats_covered": int((hist >= 0.05).sum())}


def coat_of(images: torch.Tensor) -> np.ndarray:
    """The coat each image reads as (index into :data:`COAT_COLOURS`, nearest mean colour of the central patch)."""
    rgb = central_patch_colour(images).numpy()
    means = np.array(list(COAT_COLOURS.values()), float)
    return np.argmin(((rgb[:, None, :] - means[None]) ** 2).sum(-1), axis=1)


def blend_coats(images: torch.Tensor) -> torch.Tensor:
    """Control for the grey-white caveat: each grey mouse averaged pixel by pixel with a white one, i.e. mice whose
    coat lies half way between grey and white (what a generator that mixes the two coats would draw)."""
    names = list(COAT_COLOURS)
    coat = coat_of(images)
    grey, white = images[coat == names.index("grey")], images[coat == names.index("white")]
    n = min(len(grey), len(white))
    if n == 0:
        raise ValueError("blend_coats needs grey and white mice among the images")
    return (grey[:n] + white[:n]) / 2


def only_coat(images: torch.Tensor) -> torch.Tensor:
    """Control for coat coverage: only the mice of the most common coat (a generator that dropped the others)."""
    coat = coat_of(images)
    return images[torch.as_tensor(coat == np.bincount(coat).argmax())]


def mouse_attribute_labels(s: ImageSet) -> dict[str, torch.Tensor]:
    """Labels a feature network learns on the built-in mice: coat, background kind, and binned
    rotation and scale (so its features see shape and pose, not only colour)."""
    kinds = {k: i for i, k in enumerate(sorted(set(s.attributes["background"])))}
    return {
        "coat": s.labels,
        "background": torch.as_tensor([kinds[b] for b in s.attributes["background"]]),
        "angle": torch.as_tensor(np.digitize(s.attributes["angle"], [-10, 0, 10])),
        "scale": torch.as_tensor(np.digitize(s.attributes["scale"], [0.95, 1.05])),
    }
