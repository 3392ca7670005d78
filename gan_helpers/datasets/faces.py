"""The built-in synthetic face set of notebook 03, and the folder layout for real use.

The document (E. A. Scuccimarra, "Creating a Dataset of Faces for my Autoencoder with Semi-supervised
Learning", blog post, 2019, http://ericscuccimarra.com/blog/autoencoder-face-dataset) sorts the ETHZ
IMDB-WIKI faces into *good* (one roughly centred face looking toward the camera) and *bad*. Its bad kinds
are drawn here, each with ground truth that is used only for evaluation:

* ``multi``: several faces or parts of faces (a second face beside the first, or a face cut by
  the image border);
* ``occluded``: something blocking part of the face (a hand, a cup, a microphone);
* ``profile``: a profile or strongly turned face (yaw 50-90 degrees; good faces stay within 20);
* ``drawing``: not a photograph (a flat-coloured cartoon with black outlines, or a pencil sketch).

Photographs get an out-of-focus background, shoulders, directional light, exposure and
sensor noise; drawings get none of that. :func:`make_faces` draws a mixed set;
:func:`make_face_split` draws the document's three parts: a labelled seed set of mostly good
images with ~10% hand-labelled bad ones (the document: ~6,300 + ~700), a larger unlabelled pool
with a realistic share of bad images (the document: ~200,000), and a held-out test set drawn like
the pool. :func:`write_face_folder` writes a split to disk in the layout :func:`load_face_folder`
reads for real data::

    root/good/*.png   root/bad/*.png   root/unlabelled/*.png   [root/test/{good,bad}/*.png]   [root/truth.csv]

``truth.csv`` (``path,kind``, optional) is ground truth for the unlabelled pool, for evaluation only.
The pool is *not* loaded into memory: :class:`FaceFolder` keeps its paths, and notebook 03 scores
it in batches streamed from disk.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from ..images import ImageSet, list_images, load_image_folder, to_tensor_transform, to_uint8
from ..outputs import record

KINDS = ("good", "multi", "occluded", "profile", "drawing")
BAD_KINDS = KINDS[1:]
SKIN = [(244, 204, 178), (230, 180, 146), (205, 150, 112), (170, 116, 84), (124, 84, 60), (96, 64, 48)]
HAIR = [(28, 22, 20), (62, 40, 28), (112, 74, 42), (190, 150, 92), (150, 148, 146), (120, 44, 26)]
CARTOON_SKIN = [(255, 224, 96), (120, 200, 120), (130, 180, 255), (255, 170, 200), (250, 210, 170)]
_SS = 4  # supersampling factor: draw at 4x, then downsample with LANCZOS


def _jitter(rng, colour, sd=8):
    return tuple(int(v) for v in np.clip(np.array(colour, float) + rng.normal(0, sd, 3), 0, 255))


def _photo_background(rng: np.random.Generator, S: int) -> Image.Image:
    """A room-like S x S background: a muted vertical gradient with blurred blobs (out-of-focus
    objects). Drawn at 1/2 size and scaled up, which is part of the blur."""
    c = max(8, S // 2)
    base = rng.integers(40, 220, 3).astype(float)
    c1, c2 = base + rng.normal(0, 25, 3), base + rng.normal(0, 25, 3)
    t = np.linspace(0, 1, c)[:, None, None]
    arr = np.broadcast_to((1 - t) * c1 + t * c2, (c, c, 3)).copy()
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(rng.integers(2, 6)):
        x, y, r = rng.uniform(0, c), rng.uniform(0, c), rng.uniform(0.08, 0.3) * c
        col = 0.5 * base + 0.5 * rng.integers(20, 250, 3)  # muted towards the room colour
        d.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in np.clip(col, 0, 255)))
    return img.filter(ImageFilter.GaussianBlur(c / 14)).resize((S, S), Image.BILINEAR)


def draw_head(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, yaw: float, skin, hair, clothes=None,
              outline=None, width: int = 0, eye_scale: float = 1.0) -> None:
    """One head (and shoulders if ``clothes``) centred at (cx, cy), head height 2r, turned by ``yaw`` degrees.

    Facial features sit on a vertical cylinder: a feature at azimuth phi (0 = the nose) is drawn at
    ``cx + rx sin(phi + yaw)`` and only while it faces the camera (``cos(phi + yaw) > 0``), so a
    profile shows one eye and a nose that sticks out of the outline.
    """
    rx, ry = 0.78 * r, r
    yr = np.deg2rad(yaw)
    s, side = np.sin(yr), (1 if yaw >= 0 else -1)
    ol = {"outline": outline, "width": width} if outline else {}

    def ell(x, y, ax, ay, fill, **kw):
        d.ellipse([x - ax, y - ay, x + ax, y + ay], fill=fill, **kw)

    if clothes is not None:  # neck and shoulders
        d.rectangle([cx - 0.32 * rx, cy + 0.6 * ry, cx + 0.32 * rx, cy + 1.3 * ry],
                    fill=tuple(int(v * 0.85) for v in skin), **ol)
        ell(cx, cy + 1.95 * ry, 1.9 * rx, 0.85 * ry, clothes, **ol)
    ell(cx - 0.3 * s * rx, cy - 0.12 * ry, 1.06 * rx, 1.0 * ry, hair, **ol)  # back of the hair
    for phi in (-np.pi / 2, np.pi / 2):  # ears
        if np.cos(phi + yr) > -0.35:
            ell(cx + 0.95 * rx * np.sin(phi + yr), cy + 0.05 * ry, 0.16 * rx, 0.24 * ry, skin, **ol)
    hx = 1 - 0.12 * abs(s)
    ell(cx, cy, hx * rx, ry, skin, **ol)  # face
    d.chord([cx - 1.04 * rx, cy - 1.04 * ry, cx + 1.04 * rx, cy + 0.6 * ry], 195 + 25 * s, 345 + 25 * s, fill=hair)
    dark = tuple(int(v * 0.7) for v in skin)
    for phi in (-0.52, 0.52):  # eyes and brows
        c = np.cos(phi + yr)
        if c <= 0.08:
            continue
        ex, ey = cx + 0.95 * rx * np.sin(phi + yr), cy - 0.08 * ry
        ew, eh = 0.17 * rx * c * eye_scale, 0.09 * ry * eye_scale
        ell(ex, ey, ew, eh, (245, 245, 240), **ol)
        ell(ex + 0.3 * ew * s, ey, 0.55 * min(ew, eh * 1.6), 0.75 * eh, (40, 30, 30))
        d.line([ex - ew, ey - 0.22 * ry, ex + ew, ey - 0.24 * ry], fill=hair, width=max(1, int(r / 12)))
    nx = cx + 0.95 * rx * s  # nose
    if abs(yaw) > 40:  # sticks out of the outline in profile
        d.polygon([(nx, cy - 0.05 * ry), (nx + side * 0.2 * rx, cy + 0.22 * ry), (nx, cy + 0.28 * ry)], fill=skin)
    d.line([nx, cy + 0.02 * ry, nx + 0.05 * rx * side, cy + 0.24 * ry], fill=dark, width=max(1, int(r / 14)))
    mw = 0.3 * rx * max(np.cos(yr), 0.25)  # mouth
    mx = cx + 0.9 * rx * np.sin(yr)
    ell(mx, cy + 0.5 * ry, mw, 0.06 * ry, (170, 70, 70), **ol)


def _occluder(d: ImageDraw.ImageDraw, rng, cx, cy, r, skin) -> str:
    """Draw something over part of the face; returns its name."""
    kind = rng.choice(["hand", "cup", "microphone"])
    ox, oy = cx + rng.uniform(-0.45, 0.45) * r, cy + rng.uniform(-0.25, 0.45) * r
    if kind == "hand":
        w, h = rng.uniform(0.45, 0.7) * r, rng.uniform(0.55, 0.8) * r
        col = _jitter(rng, skin, 14)
        d.rounded_rectangle([ox - w, oy - 0.3 * h, ox + w, oy + h], radius=int(0.3 * w), fill=col)
        for k in range(4):  # fingers
            fx = ox - w + (k + 0.5) * 2 * w / 4
            d.rounded_rectangle([fx - 0.2 * w, oy - h, fx + 0.2 * w, oy], radius=int(0.15 * w), fill=col)
    elif kind == "cup":
        w, h = rng.uniform(0.4, 0.65) * r, rng.uniform(0.55, 0.9) * r
        d.rectangle([ox - w, oy - h / 2, ox + w, oy + h], fill=tuple(int(v) for v in rng.integers(40, 255, 3)))
        d.ellipse([ox + 0.8 * w, oy - 0.1 * h, ox + 1.5 * w, oy + 0.6 * h], outline=(200, 200, 200), width=int(r / 8))
    else:  # microphone: a dark ball on a handle
        b = rng.uniform(0.35, 0.55) * r
        d.line([ox, oy, ox + rng.uniform(-0.5, 0.5) * r, oy + 2.5 * r], fill=(20, 20, 20), width=int(0.35 * b))
        d.ellipse([ox - b, oy - b, ox + b, oy + b], fill=(55, 55, 60))
    return str(kind)


def draw_face(rng: np.random.Generator, kind: str, image_size: int = 32) -> tuple[Image.Image, dict]:
    """One image of ``kind`` (one of :data:`KINDS`) and its ground-truth attributes."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    C = image_size * _SS
    skin, hair = _jitter(rng, SKIN[rng.integers(len(SKIN))]), _jitter(rng, HAIR[rng.integers(len(HAIR))])
    clothes = tuple(int(v) for v in rng.integers(20, 240, 3))
    r = rng.uniform(0.24, 0.3) * C
    cx, cy = C / 2 + rng.uniform(-0.05, 0.05) * C, C * 0.46 + rng.uniform(-0.04, 0.04) * C
    yaw, roll = rng.uniform(-20, 20), rng.uniform(-10, 10)
    attrs = {"kind": kind, "yaw": yaw, "n_faces": 1, "detail": ""}
    drawing = kind == "drawing"
    if kind == "profile":
        yaw = float(rng.choice([-1, 1]) * rng.uniform(50, 90))
        attrs["yaw"] = yaw
    if drawing:
        style = str(rng.choice(["cartoon", "sketch"]))
        attrs["detail"] = style
        if style == "cartoon":
            bg = Image.new("RGB", (image_size, image_size), _jitter(rng, (250, 246, 236) if rng.random() < 0.5 else
                                                   tuple(int(v) for v in rng.integers(150, 255, 3)), 4))
            skin = CARTOON_SKIN[rng.integers(len(CARTOON_SKIN))]
            hair = tuple(int(v) for v in rng.integers(0, 255, 3))
        else:
            bg = Image.new("RGB", (image_size, image_size), _jitter(rng, (245, 243, 238), 3))
            skin = hair = clothes = (250, 250, 248)
        kw = {"outline": (15, 15, 15) if style == "cartoon" else (70, 70, 70), "width": max(2, C // 40),
              "eye_scale": 1.5 if style == "cartoon" else 1.0}
    else:
        bg, kw = _photo_background(rng, image_size), {}

    layer = Image.new("RGBA", (C, C), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    if kind == "multi":
        layout = str(rng.choice(["pair", "edge"]))
        attrs["detail"] = layout
        if layout == "pair":  # two smaller faces side by side
            r2 = r * rng.uniform(0.7, 0.85)
            gap = rng.uniform(0.22, 0.3) * C
            second = (cx + gap, cy + rng.uniform(-0.05, 0.05) * C, r2 * rng.uniform(0.85, 1.1))
            cx, r = cx - gap, r2
        else:  # part of another face cut by the border
            sx = rng.choice([-1, 1])
            second = (C / 2 + sx * rng.uniform(0.5, 0.62) * C, cy + rng.uniform(-0.1, 0.1) * C, r * rng.uniform(0.85, 1.15))
        s_skin, s_hair = _jitter(rng, SKIN[rng.integers(len(SKIN))]), _jitter(rng, HAIR[rng.integers(len(HAIR))])
        draw_head(d, *second, rng.uniform(-30, 30), s_skin, s_hair, tuple(int(v) for v in rng.integers(20, 240, 3)))
        attrs["n_faces"] = 2
    draw_head(d, cx, cy, r, yaw, skin, hair, clothes, **kw)
    if kind == "occluded":
        attrs["detail"] = _occluder(d, rng, cx, cy, r, skin)
    # supersampled: rotate with NEAREST, anti-alias in the LANCZOS downsampling (premultiplied alpha)
    layer = layer.rotate(roll, resample=Image.NEAREST, center=(cx, cy)).resize((image_size, image_size), Image.LANCZOS)
    img = Image.alpha_composite(bg.convert("RGBA"), layer).convert("RGB")
    if not drawing:  # a photograph: directional light, exposure, sensor noise
        S = image_size
        ang = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(ang) * np.linspace(-1, 1, S)[None, :] + np.sin(ang) * np.linspace(-1, 1, S)[:, None]
        arr = np.asarray(img, dtype=float) * (1 + rng.uniform(0.1, 0.3) * ramp[..., None]) * rng.uniform(0.8, 1.15)
        arr += rng.normal(0, rng.uniform(2, 7), (S, S, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img, attrs


def _kinds_for(rng: np.random.Generator, n: int, bad_fraction: float) -> list[str]:
    """Exactly round(n * bad_fraction) bad images, the bad kinds in equal shares, shuffled."""
    if not 0 <= bad_fraction <= 1:
        raise ValueError(f"bad_fraction must be in [0, 1], got {bad_fraction}")
    n_bad = int(round(n * bad_fraction))
    kinds = ["good"] * (n - n_bad) + [BAD_KINDS[i % len(BAD_KINDS)] for i in range(n_bad)]
    return [kinds[i] for i in rng.permutation(n)]


def make_faces(n: int = 1000, image_size: int = 32, seed: int = 0, bad_fraction: float = 0.3,
               kinds: list[str] | None = None) -> ImageSet:
    """The built-in face set: ``n`` images, label 1 = good, 0 = bad.

    ``attributes``: ``kind`` (good, multi, occluded, profile, drawing), ``yaw`` in degrees,
    ``n_faces`` and ``detail`` (layout, occluder or drawing style); for evaluation only.
    ``kinds`` fixes the kind of each image instead of ``bad_fraction``.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    kinds = list(kinds) if kinds is not None else _kinds_for(rng, n, bad_fraction)
    tf = to_tensor_transform(image_size)
    ims, attrs = [], {"kind": [], "yaw": [], "n_faces": [], "detail": []}
    for k in kinds:
        img, a = draw_face(rng, k, image_size)
        ims.append(tf(img))
        for key in attrs:
            attrs[key].append(a[key])
    attrs = {k: np.array(v) for k, v in attrs.items()}
    labels = torch.as_tensor(attrs["kind"] == "good", dtype=torch.long)
    return ImageSet(images=torch.stack(ims), labels=labels, label_names=["bad", "good"], attributes=attrs, name="faces")


@dataclass
class FaceSplit:
    """The document's three parts, in memory: a labelled ``seed`` set, an unlabelled ``pool``
    (its labels are ground truth for evaluation only) and a held-out ``test`` set."""

    seed: ImageSet
    pool: ImageSet
    test: ImageSet


def make_face_split(n_seed_good: int = 900, n_seed_bad: int = 100, n_pool: int = 4000, pool_bad_fraction: float = 0.3,
                    n_test: int = 800, image_size: int = 32, seed: int = 0) -> FaceSplit:
    """Seed set (``n_seed_good`` + ``n_seed_bad``, the document's ~6,300 + ~700), pool and test set
    (``pool_bad_fraction`` bad, the four bad kinds in equal shares), from independent streams of ``seed``."""
    rng = np.random.default_rng(seed)
    seed_kinds = ["good"] * n_seed_good + [BAD_KINDS[i % len(BAD_KINDS)] for i in range(n_seed_bad)]
    seed_kinds = [seed_kinds[i] for i in rng.permutation(len(seed_kinds))]
    return FaceSplit(
        seed=make_faces(len(seed_kinds), image_size, seed * 3 + 1, kinds=seed_kinds),
        pool=make_faces(n_pool, image_size, seed * 3 + 2, pool_bad_fraction),
        test=make_faces(n_test, image_size, seed * 3 + 3, pool_bad_fraction),
    )


def _save_png(image: torch.Tensor, path: Path) -> None:
    record(path)
    Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy()).save(path)


def write_face_folder(split: FaceSplit, root: str | os.PathLike) -> Path:
    """Write a split as PNGs in the folder layout of :func:`load_face_folder`, with ``truth.csv``
    for the pool. Refuses to write into a folder that already holds files other than its own layout."""
    root = Path(root)
    record(root / "truth.csv")  # first: the folder is the run's (gan_helpers.outputs), before anything is made in it
    parts = {"good": split.seed.subset(np.flatnonzero(split.seed.labels.numpy() == 1)),
             "bad": split.seed.subset(np.flatnonzero(split.seed.labels.numpy() == 0)),
             "unlabelled": split.pool,
             "test/good": split.test.subset(np.flatnonzero(split.test.labels.numpy() == 1)),
             "test/bad": split.test.subset(np.flatnonzero(split.test.labels.numpy() == 0))}
    if root.exists():  # only ever overwrite a previous draw of the built-in set: its files and nothing else
        ours = re.compile(r"face_\d{6}\.png")
        foreign = [p for p in root.rglob("*") if (p.is_file() or p.is_symlink())
                   and not (p.name == "truth.csv" or ours.fullmatch(p.name))]
        if foreign:
            raise FileExistsError(f"{str(root)!r} already holds other files ({foreign[0]}, ...); pick an empty folder")
    rows = []
    for sub, s in parts.items():
        folder = root / sub
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("face_*.png"):  # a previous draw of the built-in set (our own files only)
            old.unlink()
        for i in range(len(s)):
            path = folder / f"face_{i:06d}.png"
            _save_png(s.images[i], path)
            if sub == "unlabelled":
                rows.append((str(path.relative_to(root)), str(s.attributes["kind"][i])))
    with open(root / "truth.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["path", "kind"])
        w.writerows(rows)
    return root


@dataclass
class FaceFolder:
    """A face-sorting job read from disk: ``seed`` (good/ = 1, bad/ = 0) and ``test`` in memory,
    the pool as paths only. ``pool_kind`` is ground truth for the pool from ``truth.csv`` (or None)."""

    root: Path
    seed: ImageSet
    test: ImageSet | None
    pool_paths: list[str]
    pool_kind: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def pool_good(self) -> np.ndarray | None:
        """Ground truth good (1) / bad (0) of each pool path, if ``truth.csv`` gave it."""
        return None if self.pool_kind is None else (self.pool_kind == "good").astype(int)


def _labelled(good: ImageSet, bad: ImageSet) -> ImageSet:
    return ImageSet(images=torch.cat([good.images, bad.images]),
                    labels=torch.cat([torch.ones(len(good), dtype=torch.long), torch.zeros(len(bad), dtype=torch.long)]),
                    label_names=["bad", "good"], paths=good.paths + bad.paths, skipped=good.skipped + bad.skipped)


def load_face_folder(root: str | os.PathLike, image_size: int = 32, holdout_fraction: float = 0.2,
                     seed: int = 0) -> FaceFolder:
    """Read ``root/good``, ``root/bad`` (the labelled seed set) and list ``root/unlabelled`` (the pool).

    The held-out test set is ``root/test/{good,bad}`` if present, else a stratified
    ``holdout_fraction`` of the seed set (then not trained on). Files are only read, never moved.
    """
    root = Path(root).expanduser()
    missing = [sub for sub in ("good", "bad", "unlabelled") if not (root / sub).is_dir()]
    if missing:
        raise FileNotFoundError(f"{str(root)!r} must hold the folders good/, bad/ and unlabelled/; missing: "
                                f"{', '.join(m + '/' for m in missing)}")
    good, bad = load_image_folder(root / "good", image_size), load_image_folder(root / "bad", image_size)
    seed_set = _labelled(good, bad)
    if (root / "test" / "good").is_dir() and (root / "test" / "bad").is_dir():
        test = _labelled(load_image_folder(root / "test" / "good", image_size),
                         load_image_folder(root / "test" / "bad", image_size))
    elif holdout_fraction > 0:
        rng = np.random.default_rng(seed)
        y = seed_set.labels.numpy()
        hold = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:int(round(holdout_fraction * (y == c).sum()))]
                               for c in (0, 1)])
        keep = np.setdiff1d(np.arange(len(y)), hold)
        seed_set, test = seed_set.subset(keep), seed_set.subset(np.sort(hold))
    else:
        test = None
    pool_paths = [str(p) for p in list_images(root / "unlabelled")]
    if not pool_paths:
        raise ValueError(f"{str(root / 'unlabelled')!r} holds no images to sort")
    kind = None
    truth = root / "truth.csv"
    if truth.is_file():
        with open(truth, newline="", encoding="utf-8", errors="surrogateescape") as f:
            table = {str((root / row["path"]).resolve()): row["kind"] for row in csv.DictReader(f)}
        kind = np.array([table.get(str(Path(p).resolve()), "") for p in pool_paths])
        if (kind == "").any():
            kind = None  # truth.csv does not cover this pool: no ground truth
    return FaceFolder(root=root, seed=seed_set, test=test, pool_paths=pool_paths, pool_kind=kind,
                      skipped=seed_set.skipped + ([] if test is None else test.skipped))


def prepare_face_folder(dataset: str, image_size: int, output_dir: str | os.PathLike, n_seed_good: int = 900,
                        n_seed_bad: int = 100, n_pool: int = 4000, pool_bad_fraction: float = 0.3, n_test: int = 800,
                        seed: int = 0) -> FaceFolder:
    """``dataset="faces"``: draw the built-in split, write it to ``output_dir/faces_data`` in the folder
    layout (so the built-in set runs through exactly the code path of real data) and read it back.
    Any other value is a folder path read by :func:`load_face_folder` (the sizes are then ignored)."""
    if dataset == "faces":
        split = make_face_split(n_seed_good, n_seed_bad, n_pool, pool_bad_fraction, n_test, image_size, seed)
        root = write_face_folder(split, Path(output_dir) / "faces_data")
        return load_face_folder(root, image_size, seed=seed)
    if not Path(dataset).expanduser().is_dir():
        raise ValueError(f"dataset={dataset!r} is neither 'faces' (the built-in set) nor a folder with "
                         f"good/, bad/ and unlabelled/")
    return load_face_folder(dataset, image_size, seed=seed)
