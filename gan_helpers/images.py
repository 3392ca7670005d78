"""Images in memory and on disk: :class:`ImageSet`, the robust folder loader, torchvision sets, PNG output.

Every loader returns an :class:`ImageSet`: images as a float tensor ``(N, 3, S, S)`` in
[-1, 1] (the range of the DCGAN generator's ``tanh``), plus whatever is known about them.

* :func:`load_image_folder` reads every image below a folder, converts any PIL mode to RGB,
  center-crops and resizes, and never fails on one bad file: each one lands in ``.skipped``
  with its reason (unreadable files, broken links and unsupported extensions alike). Nothing in
  the folder is ever written, moved or deleted.
* :func:`iter_image_batches` streams the same conversion in batches, for folders too large
  to hold in memory (notebook 03 sorts a 200,000-image pool this way).
* :func:`load_torchvision` wraps torchvision's CIFAR-10 and CelebA for users with the internet;
  offline, it raises one :class:`DownloadUnavailableError` that says what to do.
* :func:`to_uint8` / :func:`save_pngs` write images for outside tools (pytorch-fid, clean-fid).

The built-in synthetic sets are in :mod:`gan_helpers.datasets`.
"""

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision import transforms

from .outputs import record

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
LINKED_FOLDER = "a link to a folder: not followed (a linked folder can loop, or reach outside the data set)"


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


def scan_folder(root: str | os.PathLike) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every file below ``root`` (hidden files and folders excluded), sorted: ``(images, skipped)``.

    ``images``: files with an image extension (any case); ``skipped``: ``(path, reason)`` for every other
    file found (an unsupported extension, a broken link, a link to a folder, which is not followed), so that
    a manifest can list every file."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images")
    images, skipped = [], []
    for p in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.is_dir():
            if p.is_symlink():  # rglob does not follow it: say so instead of leaving it out silently
                skipped.append((str(p), LINKED_FOLDER))
            continue
        if p.is_symlink() and not p.exists():
            skipped.append((str(p), "broken link"))
        elif p.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((str(p), f"unsupported extension {p.suffix or '(none)'!r}; "
                                    f"images are {', '.join(IMAGE_EXTENSIONS)}"))
        elif p.is_file():
            images.append(p)
        else:
            skipped.append((str(p), "not a regular file"))
    return images, skipped


def list_images(root: str | os.PathLike) -> list[Path]:
    """Every file below ``root`` with an image extension (any case), sorted, hidden files excluded."""
    return scan_folder(root)[0]


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

    Unreadable files (corrupt, truncated, empty, not an image, too large), broken links and files
    with other extensions are skipped with the reason; a folder with no readable image is a
    ``ValueError`` naming the folder.
    """
    paths, skipped = scan_folder(root)
    ims, ok = [], []
    for images, read, bad in iter_image_batches(paths, image_size):
        ims.append(images)
        ok += read
        skipped += bad
    if not ok:
        why = f"; {len(skipped)} unreadable, e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise ValueError(f"no readable image ({', '.join(IMAGE_EXTENSIONS)}) in folder {str(root)!r}{why}")
    return ImageSet(images=torch.cat(ims), paths=ok, skipped=skipped, name=str(root))


def load_labelled_folder(root: str | os.PathLike, image_size: int = 64) -> ImageSet:
    """A folder with one subfolder per class (torchvision ``ImageFolder`` layout) -> labelled set.

    A class folder with no readable image is an error naming it (an empty class would otherwise count
    as a class with no images and skew every per-class figure). Files at the root (they belong to no
    class) and links to folders, at the root or deeper, are listed in ``.skipped`` with the reason, like
    unreadable files."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder with one subfolder per class")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    classes = [p.name for p in entries if p.is_dir() and not p.is_symlink()]
    skipped = [(str(p), LINKED_FOLDER) for p in entries if p.is_dir() and p.is_symlink()]
    skipped += [(str(p), "a file at the root of a class-per-folder set: it belongs to no class "
                         "(images go in root/<class>/)") for p in entries if not p.is_dir()]
    if not classes:
        raise ValueError(f"{str(root)!r} has no class subfolders (expected root/<class>/<image>)"
                         + (f"; skipped: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""))
    parts, empty = [], []
    for i, c in enumerate(classes):
        try:
            s = load_image_folder(root / c, image_size)
        except ValueError as e:
            empty.append(f"{str(root / c)!r} ({e})" if "unreadable" in str(e) else repr(str(root / c)))
            continue
        s.labels = torch.full((len(s),), i, dtype=torch.long)
        parts.append(s)
    if empty:
        raise ValueError(f"class folder{'s' if len(empty) > 1 else ''} with no readable image: {'; '.join(empty)}. "
                         f"Each subfolder of {str(root)!r} is a class: add images to it or move it out")
    return ImageSet(images=torch.cat([p.images for p in parts]), labels=torch.cat([p.labels for p in parts]),
                    label_names=classes, paths=sum((p.paths for p in parts), []),
                    skipped=skipped + sum((p.skipped for p in parts), []), name=str(root))


def skipped_summary(skipped: Sequence[tuple[str, str]], show: int = 3) -> str:
    """``"5 files skipped, the first 3: a.txt (unsupported extension ...); ..."``: a count that agrees with
    what it shows."""
    if not skipped:
        return "no file skipped"
    n = len(skipped)
    head = "1 file skipped" if n == 1 else f"{n} files skipped"
    shown = skipped[:show]
    which = "" if n <= show else f", the first {len(shown)}"
    return f"{head}{which}: " + "; ".join(f"{p} ({why})" for p, why in shown)


def data_root() -> Path:
    """Where torchvision data sets live: ``$GAN_HELPERS_DATA`` if set; else the repository's ``data/cache/`` when
    ``gan_helpers`` runs from a checkout (whichever folder the notebook runs in: a notebook's kernel starts in
    ``notebooks/``, where a relative ``data/cache`` would be another, unignored folder); else ``data/cache`` below
    the current folder."""
    if os.environ.get("GAN_HELPERS_DATA"):
        return Path(os.environ["GAN_HELPERS_DATA"]).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "data" / "README.md").is_file():
        return repo / "data" / "cache"
    return Path("data") / "cache"


def load_torchvision(name: str, root: str | os.PathLike | None = None, image_size: int = 32,
                     split: str = "train", download: bool = True, limit: int | None = None) -> ImageSet:
    """CIFAR-10 or CelebA through torchvision, as an :class:`ImageSet`, from ``root`` (default :func:`data_root`).

    Offline (or behind a firewall) the download fails with one :class:`DownloadUnavailableError`
    that names the data set and the folder to put the files in by hand.
    """
    from torchvision import datasets

    root = data_root() if root is None else root
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
# Output: uint8 and PNG files for outside tools
# ----------------------------------------------------------------------------------------

def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 in [0, 255] (rounded), same shape."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def save_pngs(images: torch.Tensor, folder: str | os.PathLike, prefix: str = "", start: int = 0) -> list[Path]:
    """Write ``images`` (N, 3, S, S) in [-1, 1] as ``folder/<prefix>NNNNNN.png``; returns the paths.

    For the run's own output folder only (``output_dir/samples/...``): pytorch-fid, torch-fidelity and
    clean-fid read such folders. Each file is recorded in the run's manifest (:mod:`gan_helpers.outputs`);
    files of the same names that this run wrote are replaced, other files are never overwritten."""
    folder = Path(folder)
    paths = [folder / f"{prefix}{start + i:06d}.png" for i in range(len(images))]
    record(*paths)  # in the run's manifest before they exist (gan_helpers.outputs)
    folder.mkdir(parents=True, exist_ok=True)
    for p, a in zip(paths, to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()):
        Image.fromarray(a).save(p)
    return paths


def slug(name: str) -> str:
    """A folder name for a run name: "4:1 + DiffAugment" -> "4to1_diffaugment"."""
    import re

    s = name.replace(":", "to").replace("+", " ").lower()
    return re.sub(r"[^a-z0-9._-]+", "_", s).strip("_")


def save_samples(samples_dir: str | os.PathLike, sets: dict[str, torch.Tensor | dict[int, torch.Tensor]]) -> dict[str, int]:
    """Write each set of images as PNGs under ``samples_dir/<slug(name)>/``; a set given per seed
    (``{seed: images}``) goes into one folder with files ``s<seed>_NNNNNN.png``. A name may hold a
    slash for a subfolder (``"s3gan/circle"``). Returns the number of files per folder."""
    counts = {}
    for name, images in sets.items():
        folder = Path(samples_dir, *[slug(part) for part in name.split("/")])
        per_seed = images if isinstance(images, dict) else {None: images}
        n = 0
        for seed, ims in per_seed.items():
            n += len(save_pngs(ims, folder, prefix="" if seed is None else f"s{seed}_"))
        counts[str(folder)] = n
    return counts
