"""The built-in data sets, drawn procedurally or bundled, so every notebook runs offline with ground truth.

=========  ==========================================  ==========  ==============================
name       what                                        notebook    module
=========  ==========================================  ==========  ==============================
mice       192 mouse faces, three discrete coats       01          :mod:`.mice`
emotes     cartoon emotes with defects and duplicates  02          :mod:`.emotes`
faces      good and bad faces, seed set, pool, test    03          :mod:`.faces`
shapes     10 classes of coloured shapes               04          :mod:`.shapes`
digits     scikit-learn's 1,797 handwritten digits     05          :mod:`.digits`
=========  ==========================================  ==========  ==============================

:func:`load_dataset` picks one by name, or reads CIFAR-10/CelebA through torchvision (needs the
internet) or a folder of images (:func:`gan_helpers.images.load_image_folder`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..images import ImageSet, load_image_folder, load_torchvision
from .digits import load_digits_images
from .emotes import make_clean_emotes, make_emotes
from .faces import make_face_split, make_faces
from .mice import COAT_COLOURS, central_patch_colour, make_mouse_faces
from .shapes import SHAPE_CLASSES, make_shapes

BUILTIN: dict[str, Callable[..., ImageSet]] = {
    "mice": make_mouse_faces,
    "shapes": make_shapes,
    "digits": lambda image_size=32, **_: load_digits_images(image_size),
    "emotes": make_emotes,
    "faces": make_faces,
}
"""Built-in data sets by name."""

TORCHVISION = ("cifar10", "celeba")


def load_dataset(dataset: str, image_size: int = 64, **kwargs) -> ImageSet:
    """A built-in name (see :data:`BUILTIN`), ``"cifar10"``/``"celeba"`` (torchvision, needs the
    internet), or a path to a folder of images."""
    if dataset in BUILTIN:
        return BUILTIN[dataset](image_size=image_size, **kwargs)
    if dataset.lower() in TORCHVISION:
        return load_torchvision(dataset, image_size=image_size, **kwargs)
    if Path(dataset).expanduser().is_dir():
        return load_image_folder(dataset, image_size)
    raise ValueError(f"dataset={dataset!r} is neither a built-in set ({', '.join(sorted(BUILTIN))}, "
                     f"{', '.join(TORCHVISION)}) nor an existing folder of images")


def check_dataset(value) -> str | None:
    """A parameter check (:mod:`gan_helpers.notebook`): a built-in name, a torchvision set or an existing folder."""
    if isinstance(value, str) and (value in BUILTIN or value.lower() in TORCHVISION or Path(value).expanduser().is_dir()):
        return None
    return f"a built-in set ({', '.join(sorted(BUILTIN))}), {' or '.join(TORCHVISION)}, or an existing folder of images"


__all__ = ["BUILTIN", "COAT_COLOURS", "SHAPE_CLASSES", "ImageSet", "central_patch_colour", "check_dataset",
           "load_dataset", "load_digits_images", "make_clean_emotes", "make_emotes", "make_face_split", "make_faces",
           "make_mouse_faces", "make_shapes"]
