"""The built-in synthetic emote set of notebook 02, with ground truth for evaluation.

The emote write-up (A. Gnolek, "ThisEmoteDoesNotExist: Training a GAN for Twitch Emotes", Twitch Blog, 2019,
https://blog.twitch.tv/en/2019/07/24/thisemotedoesnotexist-training-a-gan-for-twitch-emotes/, section 5.5)
trained a GAN on Twitch emotes: small cartoon faces. Its training set still held low-quality emotes ("overly
simplified, heavily rotated, did not have a very clear face in the image, or had text in the
image that EAST had missed") and emotes "duplicated dozens of times", uploaded "many days apart"
so that their emote ids fell outside the 1000-id window of its de-duplication.

:func:`make_emotes` draws such a set procedurally, so it needs no download and every image's
status is known:

* clean emotes: a round face in one of :data:`FACE_COLOURS`, one of :data:`EXPRESSIONS`, one of
  :data:`ACCESSORIES`, a small random pose, on white (transparent emotes composited) or a pastel;
* defects, one of :data:`DEFECTS`: ``text`` (a word over the face), ``rotated`` (70-180 degrees),
  ``simplified`` (a flat blob with dots for eyes), ``no_face`` (a heart, star or scribble);
* duplicate groups: one clean emote uploaded dozens of times in bursts far apart in time; some
  copies re-encoded as JPEG or resized down and up, so they are near, not exact, copies.

Every image has an ``emote_id`` in upload order (increasing, with gaps: other uploads that are not
in the set). ``attributes`` holds, per image: ``emote_id``, ``defect`` (``"none"`` or a kind),
``dup_group`` (-1, or the group), ``copy`` (how a duplicate copy was altered), ``expression``,
``accessory``, ``face_colour``. :func:`save_emote_folder` writes the set as files named by id, for
trying the folder path of the notebook.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..images import ImageSet, to_tensor_transform, to_uint8

FACE_COLOURS = {  # name -> RGB; each emote jitters around it
    "yellow": (250, 204, 72), "orange": (240, 150, 60), "peach": (242, 196, 160), "tan": (196, 140, 96),
    "brown": (128, 84, 56), "green": (110, 170, 90), "blue": (110, 150, 230), "purple": (160, 110, 200),
}
EXPRESSIONS = ("smile", "grin", "sad", "surprised", "wink", "angry", "laugh", "neutral")
ACCESSORIES = ("none", "party_hat", "glasses", "bow", "headphones", "blush")
DEFECTS = ("text", "rotated", "simplified", "no_face")
WORDS = ("GG", "LOL", "POG", "EZ", "HYPE", "RIP", "GL", "NO", "W", "OK")
_PASTELS = [(255, 255, 255)] * 4 + [(230, 240, 255), (255, 236, 236), (236, 255, 240), (248, 244, 224)]
_SS = 4  # supersampling factor: draw at 4x and downsample (anti-aliased edges)
OUTLINE = (40, 30, 30)


def _jitter(rng: np.random.Generator, rgb, sd: float = 10.0) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(rgb, float) + rng.normal(0, sd, 3), 0, 255))


def _draw_face(rng: np.random.Generator, C: int, colour: str, expression: str, accessory: str) -> Image.Image:
    """A transparent RGBA layer (C x C) with one cartoon face centred on it."""
    layer = Image.new("RGBA", (C, C), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy, r = C / 2, C / 2 + 0.03 * C, 0.36 * C
    w = max(2, C // 48)
    fill = _jitter(rng, FACE_COLOURS[colour])

    def ell(x, y, rx, ry, fill=None, outline=None, width=0):
        d.ellipse([x - rx, y - ry, x + rx, y + ry], fill=fill, outline=outline, width=width)

    if accessory == "headphones":  # band behind the head
        d.arc([cx - 1.12 * r, cy - 1.15 * r, cx + 1.12 * r, cy + 0.9 * r], 180, 360, fill=(50, 50, 60), width=3 * w)
    ell(cx, cy, r, r, fill, OUTLINE, w)  # head
    ex, ey, er = 0.38 * r, -0.18 * r, 0.13 * r  # eye offsets and radius
    for sx in (-1, 1):
        x, y = cx + sx * ex, cy + ey
        closed = expression == "laugh" or (expression == "wink" and sx == 1)
        if closed:  # ^ ^ or a wink: an arc
            d.arc([x - er, y - er, x + er, y + er], 200, 340, fill=OUTLINE, width=w)
        else:
            ry = er * (1.35 if expression == "surprised" else 1.1)
            ell(x, y, er, ry, (25, 20, 20))
            ell(x - 0.35 * er, y - 0.4 * ry, 0.35 * er, 0.35 * er, (255, 255, 255))
        if expression == "angry":  # slanted brows
            d.line([x - sx * 1.4 * er, y - 2.0 * er, x + sx * 1.2 * er, y - 1.0 * er], fill=OUTLINE, width=2 * w)
        elif expression == "sad":
            d.line([x - sx * 1.3 * er, y - 1.2 * er, x + sx * 1.1 * er, y - 2.0 * er], fill=OUTLINE, width=w)
    my, mw = cy + 0.38 * r, 0.42 * r  # mouth centre and half-width
    if expression in ("smile", "wink"):
        d.arc([cx - mw, my - 0.5 * mw, cx + mw, my + 0.5 * mw], 15, 165, fill=OUTLINE, width=w)
    elif expression in ("grin", "laugh"):
        d.chord([cx - mw, my - 0.55 * mw, cx + mw, my + 0.75 * mw], 0, 180, fill=(120, 30, 40), outline=OUTLINE, width=w)
        d.rectangle([cx - 0.7 * mw, my - 0.02 * mw, cx + 0.7 * mw, my + 0.18 * mw], fill=(255, 255, 255))  # teeth
    elif expression == "sad":
        d.arc([cx - 0.8 * mw, my, cx + 0.8 * mw, my + 0.8 * mw], 200, 340, fill=OUTLINE, width=w)
    elif expression == "surprised":
        ell(cx, my + 0.1 * mw, 0.28 * mw, 0.38 * mw, (120, 30, 40), OUTLINE, w)
    elif expression == "angry":
        d.line([cx - 0.6 * mw, my + 0.25 * mw, cx + 0.6 * mw, my + 0.1 * mw], fill=OUTLINE, width=2 * w)
    else:  # neutral
        d.line([cx - 0.5 * mw, my + 0.15 * mw, cx + 0.5 * mw, my + 0.15 * mw], fill=OUTLINE, width=w)

    acc_col = _jitter(rng, [(220, 50, 60), (60, 120, 220), (250, 190, 40), (60, 170, 90)][rng.integers(4)], 8)
    if accessory == "party_hat":
        d.polygon([(cx - 0.45 * r, cy - 0.82 * r), (cx + 0.45 * r, cy - 0.82 * r), (cx + 0.1 * r, cy - 1.45 * r)],
                  fill=acc_col, outline=OUTLINE)
        ell(cx + 0.1 * r, cy - 1.45 * r, 0.1 * r, 0.1 * r, (255, 255, 255))
    elif accessory == "glasses":
        for sx in (-1, 1):
            ell(cx + sx * ex, cy + ey, 0.24 * r, 0.22 * r, None, (20, 20, 20), 2 * w)
        d.line([cx - ex + 0.24 * r, cy + ey, cx + ex - 0.24 * r, cy + ey], fill=(20, 20, 20), width=2 * w)
    elif accessory == "bow":
        bx, by = cx + 0.55 * r, cy - 0.8 * r
        d.polygon([(bx, by), (bx - 0.35 * r, by - 0.22 * r), (bx - 0.35 * r, by + 0.22 * r)], fill=acc_col, outline=OUTLINE)
        d.polygon([(bx, by), (bx + 0.35 * r, by - 0.22 * r), (bx + 0.35 * r, by + 0.22 * r)], fill=acc_col, outline=OUTLINE)
        ell(bx, by, 0.08 * r, 0.08 * r, acc_col, OUTLINE, w)
    elif accessory == "headphones":
        for sx in (-1, 1):
            ell(cx + sx * 1.02 * r, cy - 0.05 * r, 0.16 * r, 0.28 * r, acc_col, OUTLINE, w)
    elif accessory == "blush":
        for sx in (-1, 1):
            ell(cx + sx * 0.6 * r, cy + 0.18 * r, 0.15 * r, 0.08 * r, (240, 120, 130))
    return layer


def _affine(img: Image.Image, angle: float, scale: float = 1.0, shift=(0.0, 0.0), fill=None) -> Image.Image:
    """Scale about the centre, rotate by ``angle`` degrees and shift, in one bilinear pass (the image is
    supersampled, so the final box downsampling removes the aliasing)."""
    C = img.size[0]
    c0, (tx, ty) = C / 2, (float(shift[0]), float(shift[1]))
    t = np.deg2rad(angle)
    a, b, d, e = np.cos(t) / scale, np.sin(t) / scale, -np.sin(t) / scale, np.cos(t) / scale
    data = (a, b, c0 - a * (c0 + tx) - b * (c0 + ty), d, e, c0 - d * (c0 + tx) - e * (c0 + ty))
    return img.transform(img.size, Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=fill)


def _compose(rng: np.random.Generator, layer: Image.Image, angle: float, scale: float, shift) -> Image.Image:
    """The face layer posed and composited on a white or pastel background (transparent emotes)."""
    C = layer.size[0]
    bg = Image.new("RGBA", (C, C), _PASTELS[rng.integers(len(_PASTELS))] + (255,))
    return Image.alpha_composite(bg, _affine(layer, angle, scale, shift)).convert("RGB")


def draw_emote(rng: np.random.Generator, image_size: int = 64, defect: str = "none") -> tuple[Image.Image, dict]:
    """One emote as a PIL RGB image, clean (``defect="none"``) or with one of :data:`DEFECTS`."""
    C = image_size * _SS
    colour = list(FACE_COLOURS)[rng.integers(len(FACE_COLOURS))]
    expression = EXPRESSIONS[rng.integers(len(EXPRESSIONS))]
    accessory = ACCESSORIES[rng.integers(len(ACCESSORIES))]
    angle, scale = rng.uniform(-12, 12), rng.uniform(0.9, 1.08)
    shift = rng.uniform(-0.04, 0.04, 2) * C
    meta = {"face_colour": colour, "expression": expression, "accessory": accessory, "defect": defect}
    if defect in ("none", "text", "rotated"):
        layer = _draw_face(rng, C, colour, expression, accessory)
        if defect == "rotated":  # heavily rotated: sideways to upside down
            angle = float(rng.choice([-1, 1]) * rng.uniform(70, 180))
        img = _compose(rng, layer, angle, scale, shift)
        if defect == "text":  # a word the text detector missed, over the lower half or across the face
            word = WORDS[rng.integers(len(WORDS))]
            font = ImageFont.load_default(size=int(C * rng.uniform(0.22, 0.34)))
            d = ImageDraw.Draw(img)
            x0, y0, x1, y1 = d.textbbox((0, 0), word, font=font, stroke_width=C // 40)
            tx = (C - (x1 - x0)) / 2 + rng.uniform(-0.05, 0.05) * C
            ty = rng.uniform(0.45, 0.7) * C - (y1 - y0) / 2
            colour_t = [(255, 255, 255), (255, 60, 60), (40, 40, 40), (255, 230, 0)][rng.integers(4)]
            stroke = (0, 0, 0) if colour_t != (40, 40, 40) else (255, 255, 255)
            d.text((tx - x0, ty - y0), word, font=font, fill=colour_t, stroke_width=C // 40, stroke_fill=stroke)
        return img.reduce(_SS), meta
    bg = _PASTELS[rng.integers(len(_PASTELS))]
    img = Image.new("RGB", (C, C), bg)
    d = ImageDraw.Draw(img)
    col = _jitter(rng, FACE_COLOURS[colour], 25)
    if defect == "simplified":  # a flat blob, no outline, no shading, dots for eyes (sometimes a dash mouth)
        rx, ry = rng.uniform(0.28, 0.46, 2) * C
        cx, cy = C / 2 + rng.uniform(-0.05, 0.05) * C, C / 2 + rng.uniform(-0.05, 0.05) * C
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=col)
        for sx in (-1, 1):
            e = 0.035 * C
            d.ellipse([cx + sx * 0.3 * rx - e, cy - 0.15 * ry - e, cx + sx * 0.3 * rx + e, cy - 0.15 * ry + e], fill=(0, 0, 0))
        if rng.random() < 0.5:
            d.line([cx - 0.2 * rx, cy + 0.35 * ry, cx + 0.2 * rx, cy + 0.35 * ry], fill=(0, 0, 0), width=C // 60)
    elif defect == "no_face":
        kind = ["heart", "star", "scribble"][rng.integers(3)]
        cx, cy, r = C / 2, C / 2, rng.uniform(0.28, 0.42) * C
        if kind == "heart":
            d.ellipse([cx - r, cy - 0.7 * r, cx, cy + 0.1 * r], fill=col)
            d.ellipse([cx, cy - 0.7 * r, cx + r, cy + 0.1 * r], fill=col)
            d.polygon([(cx - 0.97 * r, cy - 0.15 * r), (cx + 0.97 * r, cy - 0.15 * r), (cx, cy + r)], fill=col)
        elif kind == "star":
            pts = [(cx + (r if i % 2 == 0 else 0.45 * r) * np.sin(i * np.pi / 5),
                    cy - (r if i % 2 == 0 else 0.45 * r) * np.cos(i * np.pi / 5)) for i in range(10)]
            d.polygon(pts, fill=col, outline=OUTLINE, width=C // 60)
        else:
            pts = rng.uniform(0.12, 0.88, (6, 2)) * C
            d.line([tuple(p) for p in pts], fill=col, width=C // 14, joint="curve")
        meta["no_face_kind"] = kind
    else:
        raise ValueError(f"unknown defect {defect!r}; use 'none' or one of {DEFECTS}")
    return _affine(img, angle, fill=bg).reduce(_SS), meta


def alter_copy(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """A re-upload of ``img``: unchanged, JPEG re-encoded, resized down and up, or both."""
    kind = ["exact", "jpeg", "resized", "jpeg+resized"][rng.integers(4)]
    out = img
    if "resized" in kind:
        s = int(rng.integers(int(img.size[0] * 0.5), int(img.size[0] * 0.85)))
        out = out.resize((s, s), Image.BILINEAR).resize(img.size, Image.BICUBIC)
    if "jpeg" in kind:
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=int(rng.integers(45, 90)))
        buf.seek(0)
        out = Image.open(buf).convert("RGB")
    return out, kind


def make_emotes(n: int = 1200, image_size: int = 64, seed: int = 0, defect_rate: float = 0.08,
                n_dup_groups: int = 5, copies: tuple[int, int] = (18, 36), bursts: tuple[int, int] = (8, 14),
                mean_id_gap: float = 100.0, first_id: int = 100_000) -> ImageSet:
    """The built-in emote set: ``n`` images in upload order, ground truth in ``attributes``.

    ``defect_rate`` of the images are defects (the four kinds in equal shares); ``n_dup_groups``
    clean emotes are each uploaded ``copies`` times (inclusive range), in ``bursts`` upload sessions
    spread over the whole timeline; the rest are clean unique emotes. Ids increase with the upload
    time, with gaps of mean ``mean_id_gap`` (the set is a sparse sample of all uploads), so ``n``
    images span about ``n * mean_id_gap`` ids: about 120,000 with the defaults, where the bursts of
    one emote lie thousands of ids apart and the copies within a burst a few hundred at most.
    """
    rng = np.random.default_rng(seed)
    n_copies = rng.integers(copies[0], copies[1] + 1, n_dup_groups) if n_dup_groups else np.zeros(0, int)
    n_defects = int(round(defect_rate * n))
    n_clean = n - int(n_copies.sum()) - n_defects
    if n_clean < 1 or min(copies) < 2:
        raise ValueError(f"n={n} is too small for {int(n_copies.sum())} duplicate copies and {n_defects} defects "
                         f"(and each duplicate group needs at least 2 copies)")
    ims, meta, times = [], [], []
    for i in range(n_clean + n_defects):  # unique uploads, at uniform random times
        defect = "none" if i < n_clean else DEFECTS[(i - n_clean) % len(DEFECTS)]
        img, m = draw_emote(rng, image_size, defect)
        ims.append(img)
        meta.append({**m, "dup_group": -1, "copy": "unique"})
        times.append(rng.random())
    for g, k in enumerate(n_copies):  # each duplicate group: one clean emote, k uploads in bursts days apart
        base, m = draw_emote(rng, image_size, "none")
        centres = rng.random(int(rng.integers(bursts[0], bursts[1] + 1)))
        for j in range(int(k)):
            img, how = (base, "exact") if j == 0 else alter_copy(base, rng)
            ims.append(img)
            meta.append({**m, "dup_group": g, "copy": how})
            times.append(float(np.clip(centres[j % len(centres)] + rng.normal(0, 0.002), 0, 1)))
    order = np.argsort(times, kind="stable")
    ids = first_id + np.cumsum(rng.geometric(1.0 / mean_id_gap, len(order)))
    tf = to_tensor_transform(image_size)
    images = torch.stack([tf(ims[i]) for i in order])
    meta = [meta[i] for i in order]
    attrs = {k: np.array([m[k] for m in meta]) for k in ("defect", "dup_group", "copy", "expression", "accessory", "face_colour")}
    attrs["emote_id"] = ids.astype(np.int64)
    labels = torch.as_tensor([EXPRESSIONS.index(e) for e in attrs["expression"]], dtype=torch.long)
    return ImageSet(images=images, labels=labels, label_names=list(EXPRESSIONS), attributes=attrs, name="emotes")


def make_clean_emotes(n: int, image_size: int = 64, seed: int = 1) -> ImageSet:
    """A held-out draw of clean, unique emotes (no defects, no duplicates): the distribution that
    filtering aims for, and the reference of FID/KID."""
    return make_emotes(n, image_size, seed=seed, defect_rate=0.0, n_dup_groups=0)


def save_emote_folder(s: ImageSet, root: str | Path, jpeg_for_reencoded: bool = True) -> list[Path]:
    """Write ``s`` as ``root/<emote_id>.png`` (JPEG-re-encoded copies as ``.jpg``), so a notebook can
    read it back as a folder. Refuses a folder that already holds files (it never overwrites)."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{str(root)!r} is not empty; choose a new folder (nothing is overwritten)")
    root.mkdir(parents=True, exist_ok=True)
    out = []
    arr = to_uint8(s.images).permute(0, 2, 3, 1).numpy()
    for i, a in enumerate(arr):
        jpg = jpeg_for_reencoded and "jpeg" in str(s.attributes.get("copy", ["unique"] * len(arr))[i])
        p = root / f"{int(s.attributes['emote_id'][i]):07d}{'.jpg' if jpg else '.png'}"
        Image.fromarray(a).save(p, quality=90) if jpg else Image.fromarray(a).save(p)
        out.append(p)
    return out
