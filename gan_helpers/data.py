"""Data: a robust image-folder loader, torchvision data sets, and the built-in offline sets.

Every loader returns an :class:`ImageSet`: images as a float tensor ``(N, 3, S, S)`` in
[-1, 1] (the range of the DCGAN generator's ``tanh``), plus whatever is known about them.

* :func:`load_image_folder` reads every image below a folder, converts any PIL mode to RGB,
  center-crops and resizes, and never fails on one bad file: each one lands in ``.skipped``
  with its reason. Nothing in the folder is ever written, moved or deleted.
* :func:`iter_image_batches` streams the same conversion in batches, for folders too large
  to hold in memory (notebook 03 sorts a 200,000-image pool this way).
* :func:`load_torchvision` wraps torchvision's CIFAR-10 and CelebA for users with the internet;
  offline, it raises one :class:`DownloadUnavailableError` that says what to do.
* The built-in sets are drawn procedurally, so they need no download and come with ground truth:
  :func:`make_mouse_faces` (notebook 01, the default), :func:`make_shapes` (a 10-class set) and
  :func:`load_digits_images` (scikit-learn's bundled 8x8 handwritten digits, upsampled).
  :func:`load_dataset` picks one by name or reads a folder.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError
from torchvision import transforms

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")


class DownloadUnavailableError(RuntimeError):
    """A data set or weights file had to be downloaded and could not be."""


@dataclass
class ImageSet:
    """Images in [-1, 1] with their provenance.

    ``labels``/``label_names`` are set where the data set has classes; ``paths`` where the
    images came from files; ``attributes`` holds per-image ground truth of the synthetic sets
    (arrays of length N), for evaluation only; ``skipped`` lists ``(path, reason)`` of files
    that could not be read.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    label_names: list[str] | None = None
    paths: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> "ImageSet":
        """The images at ``index`` with everything that belongs to them."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        np_idx = idx.numpy()
        return ImageSet(
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
            label_names=self.label_names,
            paths=None if self.paths is None else [self.paths[i] for i in np_idx],
            skipped=list(self.skipped),
            attributes={k: np.asarray(v)[np_idx] for k, v in self.attributes.items()},
            name=self.name,
        )


# ----------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------

def to_tensor_transform(image_size: int) -> Callable[[Image.Image], torch.Tensor]:
    """RGB PIL image -> center-cropped, resized float tensor (3, S, S) in [-1, 1]."""
    return transforms.Compose([
        transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BICUBIC, antialias=True),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: alpha composited on white; palette, grayscale, CMYK and 16/32-bit handled."""
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)  # animated GIF/WebP: the first frame
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if mode == "I" and arr.max() <= 255:
            hi = 255.0
        arr = np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGB


def list_images(root: str | os.PathLike) -> list[Path]:
    """Every file below ``root`` with an image extension (any case), sorted, hidden files excluded."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images")
    found = [p for p in root.rglob("*")
             if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found)


def read_image(path: str | os.PathLike, image_size: int) -> torch.Tensor:
    """One file -> (3, S, S) in [-1, 1]. Raises ``ValueError`` naming the reason when unreadable."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft("RGB", (image_size * 2, image_size * 2))  # decode large JPEGs at reduced size
                img.load()  # truncated files fail here, not later
                rgb = to_rgb(img)
    except UnidentifiedImageError:
        raise ValueError("not an image PIL can identify") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"too large to decode safely ({e})") from None
    except (OSError, SyntaxError, EOFError) as e:  # truncated / corrupt data
        raise ValueError(f"corrupt or truncated ({e})") from None
    if min(rgb.size) < 1:
        raise ValueError(f"degenerate size {rgb.size}")
    return to_tensor_transform(image_size)(rgb)


def iter_image_batches(paths: Sequence[str | os.PathLike], image_size: int, batch_size: int = 256,
                       ) -> Iterator[tuple[torch.Tensor, list[str], list[tuple[str, str]]]]:
    """Stream ``paths`` in batches: yields ``(images, paths_read, skipped)`` for each batch.

    Memory is bounded by ``batch_size``, whatever the number of files.
    """
    for start in range(0, len(paths), batch_size):
        ims, ok, skipped = [], [], []
        for p in paths[start:start + batch_size]:
            try:
                ims.append(read_image(p, image_size))
                ok.append(str(p))
            except ValueError as e:
                skipped.append((str(p), str(e)))
        images = torch.stack(ims) if ims else torch.empty(0, 3, image_size, image_size)
        yield images, ok, skipped


def load_image_folder(root: str | os.PathLike, image_size: int = 64) -> ImageSet:
    """Every image below ``root``: ``.images`` (N, 3, S, S) in [-1, 1], ``.paths``, ``.skipped``.

    Unreadable files (corrupt, truncated, empty, not an image, too large) are skipped with
    the reason; a folder with no readable image is a ``ValueError`` naming the folder.
    """
    paths = list_images(root)
    ims, ok, skipped = [], [], []
    for images, read, bad in iter_image_batches(paths, image_size):
        ims.append(images)
        ok += read
        skipped += bad
    if not ok:
        why = f"; {len(skipped)} unreadable, e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise ValueError(f"no readable image ({', '.join(IMAGE_EXTENSIONS)}) in folder {str(root)!r}{why}")
    return ImageSet(images=torch.cat(ims), paths=ok, skipped=skipped, name=str(root))


def load_labelled_folder(root: str | os.PathLike, image_size: int = 64) -> ImageSet:
    """A folder with one subfolder per class (torchvision ``ImageFolder`` layout) -> labelled set."""
    root = Path(root).expanduser()
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"{str(root)!r} has no class subfolders (expected root/<class>/<image>)")
    parts = []
    for i, c in enumerate(classes):
        try:
            s = load_image_folder(root / c, image_size)
        except ValueError:
            continue  # an empty class folder
        s.labels = torch.full((len(s),), i, dtype=torch.long)
        parts.append(s)
    if not parts:
        raise ValueError(f"no readable image in any class folder of {str(root)!r}")
    return ImageSet(images=torch.cat([p.images for p in parts]), labels=torch.cat([p.labels for p in parts]),
                    label_names=classes, paths=sum((p.paths for p in parts), []),
                    skipped=sum((p.skipped for p in parts), []), name=str(root))


def load_torchvision(name: str, root: str | os.PathLike = "data/cache", image_size: int = 32,
                     split: str = "train", download: bool = True, limit: int | None = None) -> ImageSet:
    """CIFAR-10 or CelebA through torchvision, as an :class:`ImageSet`.

    Offline (or behind a firewall) the download fails with one :class:`DownloadUnavailableError`
    that names the data set and the folder to put the files in by hand.
    """
    from torchvision import datasets

    name = name.lower()
    tf = to_tensor_transform(image_size)
    try:
        if name == "cifar10":
            ds = datasets.CIFAR10(str(root), train=(split == "train"), download=download, transform=tf)
            names = list(ds.classes)
        elif name == "celeba":
            ds = datasets.CelebA(str(root), split=split, download=download, transform=tf)
            names = None
        else:
            raise ValueError(f"unknown torchvision data set {name!r}; use 'cifar10' or 'celeba'")
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torchvision raises RuntimeError when files are missing
        raise DownloadUnavailableError(
            f"could not get {name!r} into {str(root)!r}: {type(e).__name__}: {e}. This needs the internet, "
            f"or the data set's files placed by hand in that folder (see data/README.md)."
        ) from None
    n = len(ds) if limit is None else min(limit, len(ds))
    ims, labels = zip(*(ds[i] for i in range(n)))
    lab = torch.tensor([int(l) for l in labels]) if names else None
    return ImageSet(images=torch.stack(ims), labels=lab, label_names=names, name=name)


# ----------------------------------------------------------------------------------------
# Built-in synthetic sets
# ----------------------------------------------------------------------------------------

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


def load_digits_images(image_size: int = 32) -> ImageSet:
    """scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes), offline.

    Upsampled bilinearly to ``image_size`` and replicated to 3 channels; ink is white on black.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0  # (N, 1, 8, 8) in [0, 1]
    x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 2 - 1).repeat(1, 3, 1, 1)
    return ImageSet(images=x, labels=torch.as_tensor(bunch.target, dtype=torch.long),
                    label_names=[str(i) for i in range(10)], name="digits")


BUILTIN: dict[str, Callable[..., ImageSet]] = {
    "mice": make_mouse_faces,
    "shapes": make_shapes,
    "digits": lambda image_size=32, **_: load_digits_images(image_size),
    "emotes": lambda **kw: __import__("gan_helpers.emotes", fromlist=["make_emotes"]).make_emotes(**kw),  # notebook 02
    "faces": lambda **kw: __import__("gan_helpers.faces", fromlist=["make_faces"]).make_faces(**kw),  # notebook 03
}
"""Built-in data sets by name. Later notebooks register theirs here."""


def load_dataset(dataset: str, image_size: int = 64, **kwargs) -> ImageSet:
    """A built-in name (see :data:`BUILTIN`), ``"cifar10"``/``"celeba"`` (torchvision, needs the
    internet), or a path to a folder of images."""
    if dataset in BUILTIN:
        return BUILTIN[dataset](image_size=image_size, **kwargs)
    if dataset.lower() in ("cifar10", "celeba"):
        return load_torchvision(dataset, image_size=image_size, **kwargs)
    if Path(dataset).expanduser().is_dir():
        return load_image_folder(dataset, image_size)
    raise ValueError(f"dataset={dataset!r} is neither a built-in set ({', '.join(sorted(BUILTIN))}, "
                     f"cifar10, celeba) nor an existing folder of images")


def central_patch_colour(images: torch.Tensor, frac: float = 0.24) -> torch.Tensor:
    """Median RGB (0..255) of the central ``frac`` x ``frac`` box of each image: (N, 3).

    On the built-in mice the box always lies on the head (pose offsets are smaller than the
    head), so this measures the coat colour of real and generated mice alike, without learning.
    """
    S = images.shape[-1]
    a, b = int(round(S * (0.5 - frac / 2))), int(round(S * (0.5 + frac / 2)))
    patch = images[:, :, a:b, a:b].flatten(2)
    return ((patch.median(dim=2).values + 1) * 127.5).clamp(0, 255)
