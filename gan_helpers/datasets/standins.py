"""Stand-ins for the data sets and weights that need the internet, written in their real on-disk formats.

For the tests and the GPU check (``benchmarks/gpu_check.sh``) only: nothing in the notebooks or the loaders
calls this module. Each writer draws small images with the built-in generators and writes them exactly where
and how the real thing sits, so that the loaders' success paths run end to end without a download:

* :func:`write_cifar10`: ``cifar-10-batches-py/`` as torchvision's ``datasets.CIFAR10`` reads it (Krizhevsky,
  *Learning Multiple Layers of Features from Tiny Images*, 2009, https://www.cs.toronto.edu/~kriz/cifar.html):
  five ``data_batch_N`` pickles and ``test_batch`` (a dict with ``data``, uint8 rows of 3,072 values, R then G
  then B planes of a 32 x 32 image, and ``labels``), and ``batches.meta`` with ``label_names``;
* :func:`write_celeba`: ``celeba/img_align_celeba/NNNNNN.jpg`` (178 x 218 JPEGs) with
  ``list_eval_partition.txt``, ``identity_CelebA.txt``, ``list_bbox_celeba.txt``,
  ``list_landmarks_align_celeba.txt`` and ``list_attr_celeba.txt`` (Liu et al., *Deep Learning Face Attributes
  in the Wild*, ICCV 2015, https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html);
* :func:`write_mouse_folder`: a flat folder of 150 x 150 JPEG mouse faces, as the ``MouseHead`` class of
  AnimalFace (Si & Zhu, PAMI 2012) that notebook 01's document used;
* :func:`write_sorting_folder`: notebook 03's ``good/ bad/ unlabelled/ test/{good,bad}/`` without
  ``truth.csv`` (a user's folder has no ground truth);
* :func:`write_class_folders`: one subfolder per class (torchvision ``ImageFolder``), for notebook 04;
* :func:`write_inception_weights`: a torchvision Inception-v3 ``state_dict`` with random weights, for
  ``inception_weights`` (the numbers it gives mean nothing; the code path is what is tested).

The stand-ins' files do not have the real files' MD5 sums, which torchvision checks:
:func:`skip_torchvision_md5` (a context manager) and :func:`write_kernel_startup` (:func:`patch_torchvision_md5`
in a Jupyter kernel, through an IPython startup file) make those checks test for the files' presence only.
"""
from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import to_uint8

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair Blond_Hair "
    "Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones "
    "Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline "
    "Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick "
    "Wearing_Necklace Wearing_Necktie Young").split()


def _hwc(images: torch.Tensor) -> np.ndarray:
    return to_uint8(images).permute(0, 2, 3, 1).numpy()


def write_cifar10(root: str | os.PathLike, per_batch: int = 170, n_test: int = 200, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` with 5 x ``per_batch`` training and ``n_test`` test images (the built-in
    shapes at 32 px, their 10 classes under CIFAR-10's class names). Returns the folder."""
    from .shapes import make_shapes

    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        s = make_shapes(per_batch if k < 5 else n_test, 32, seed=seed * 10 + k)
        data = to_uint8(s.images).reshape(len(s), -1).numpy()  # (N, 3072): R plane, G plane, B plane
        entry = {"batch_label": f"stand-in {name}", "labels": s.labels.tolist(), "data": data,
                 "filenames": [f"standin_{k}_{i:05d}.png" for i in range(len(s))]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR10_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    (folder / "readme.html").write_text("<p>stand-in written by gan_helpers.datasets.standins</p>\n")
    return folder


def write_celeba(root: str | os.PathLike, n: int = 60, seed: int = 0) -> Path:
    """``root/celeba/`` with ``n`` aligned-face JPEGs (178 x 218, the built-in faces scaled to 176 px on a
    taller canvas), split 80/10/10 into train/valid/test, and random attributes, identities, boxes and
    landmarks in CelebA's text formats. Returns the folder."""
    from .faces import make_faces

    folder = Path(root) / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    faces = _hwc(make_faces(n, 64, seed=seed, bad_fraction=0.0).images)  # drawn small, scaled up: cheap
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    for name, a in zip(files, faces):
        canvas = Image.new("RGB", (178, 218), tuple(int(v) for v in a[0, 0]))
        canvas.paste(Image.fromarray(a).resize((176, 176), Image.BICUBIC), (1, 21))
        canvas.save(folder / "img_align_celeba" / name, quality=90)
    part = np.where(np.arange(n) < 0.8 * n, 0, np.where(np.arange(n) < 0.9 * n, 1, 2))
    (folder / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, p in zip(files, part)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{f} {rng.integers(1, 10178)}\n" for f in files))
    bbox = ["image_id x_1 y_1 width height"] + [f"{f} " + " ".join(str(v) for v in rng.integers(20, 200, 4)) for f in files]
    (folder / "list_bbox_celeba.txt").write_text(f"{n}\n" + "\n".join(bbox) + "\n")
    marks = ["lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"]
    marks += [f"{f} " + " ".join(str(v) for v in rng.integers(60, 160, 10)) for f in files]
    (folder / "list_landmarks_align_celeba.txt").write_text(f"{n}\n" + "\n".join(marks) + "\n")
    attrs = [" ".join(CELEBA_ATTRIBUTES)] + [f"{f} " + " ".join(f"{v:2d}" for v in rng.choice([-1, 1], 40)) for f in files]
    (folder / "list_attr_celeba.txt").write_text(f"{n}\n" + "\n".join(attrs) + "\n")
    return folder


def write_mouse_folder(root: str | os.PathLike, n: int = 192, seed: int = 0) -> Path:
    """``root`` with ``n`` JPEG mouse faces of 150 x 150 px (the document's 192 from AnimalFace's ``MouseHead``),
    drawn by the built-in generator with its three coats. Returns ``root``."""
    from .mice import make_mouse_faces

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(_hwc(make_mouse_faces(n, 64, seed=seed).images)):  # drawn small, scaled up: cheap
        Image.fromarray(a).resize((150, 150), Image.BICUBIC).save(root / f"mousehead_{i:04d}.jpg", quality=92)
    return root


def write_sorting_folder(root: str | os.PathLike, n_good: int = 120, n_bad: int = 40, n_unlabelled: int = 200,
                         n_test: int = 60, image_size: int = 64, seed: int = 0) -> Path:
    """Notebook 03's layout, ``good/ bad/ unlabelled/ test/{good,bad}/``, from the built-in faces, without the
    ground-truth ``truth.csv`` the built-in set keeps (a user's folder has none). Returns ``root``."""
    from .faces import make_face_split, write_face_folder

    split = make_face_split(n_good, n_bad, n_unlabelled, 0.3, n_test, image_size, seed)
    root = write_face_folder(split, root)
    (root / "truth.csv").unlink()
    return root


def write_class_folders(root: str | os.PathLike, n: int = 400, image_size: int = 32, seed: int = 0) -> Path:
    """``root/<class>/<image>.png`` (torchvision ``ImageFolder``) from the built-in 10 shapes. Returns ``root``."""
    from .shapes import make_shapes

    root = Path(root)
    s = make_shapes(n, image_size, seed=seed)
    for i, (a, y) in enumerate(zip(_hwc(s.images), s.labels.tolist())):
        folder = root / s.label_names[y]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(folder / f"{i:05d}.png")
    return root


def write_inception_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """A torchvision Inception-v3 ``state_dict`` (with the auxiliary head, as torchvision's ImageNet file) with
    random weights, saved with ``torch.save``. Returns the path."""
    from torchvision.models import inception_v3

    torch.manual_seed(seed)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


def patch_torchvision_md5():
    """From now on, torchvision's CIFAR-10 and CelebA check that their files exist, not their MD5 sums. Returns a
    function that undoes it."""
    from torchvision.datasets import celeba, cifar

    saved = {m: m.check_integrity for m in (cifar, celeba)}

    def present(fpath, md5=None):
        return saved[cifar](fpath, None)

    for m in saved:
        m.check_integrity = present

    def undo():
        for m, f in saved.items():
            m.check_integrity = f
    return undo


@contextlib.contextmanager
def skip_torchvision_md5():
    """Within the block, torchvision's CIFAR-10 and CelebA check that their files exist, not their MD5 sums."""
    undo = patch_torchvision_md5()
    try:
        yield
    finally:
        undo()


KERNEL_STARTUP = '''# written by gan_helpers.datasets.standins.write_kernel_startup: a test kernel reading stand-in data sets
from gan_helpers.datasets.standins import patch_torchvision_md5
patch_torchvision_md5()
del patch_torchvision_md5
'''


def write_kernel_startup(ipython_dir: str | os.PathLike) -> dict[str, str]:
    """An IPython profile under ``ipython_dir`` whose startup file applies :func:`skip_torchvision_md5` for
    the kernel's whole life. Returns the environment variables to give the kernel (``IPYTHONDIR``)."""
    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-standin-md5.py").write_text(KERNEL_STARTUP)
    return {"IPYTHONDIR": str(Path(ipython_dir).resolve())}


def write_all(root: str | os.PathLike) -> dict[str, str]:
    """Every stand-in under ``root``, small (a few seconds to write); returns ``{name: path}``. ``cache`` is a
    torchvision root holding CIFAR-10 and CelebA (:func:`gan_helpers.images.load_torchvision`'s ``root``; for the
    notebooks, ``GAN_HELPERS_DATA``: :func:`gan_helpers.images.data_root`)."""
    root = Path(root)
    cache = root / "cache"
    write_cifar10(cache)
    write_celeba(cache)
    return {"cache": str(cache), "mousehead": str(write_mouse_folder(root / "MouseHead", n=64)),
            "faces": str(write_sorting_folder(root / "faces")), "classes": str(write_class_folders(root / "classes", n=100)),
            "inception": str(write_inception_weights(root / "inception_v3_random.pth"))}


if __name__ == "__main__":  # python -m gan_helpers.datasets.standins DIR: write them all (the GPU check does)
    import json
    import sys

    print(json.dumps(write_all(sys.argv[1] if len(sys.argv) > 1 else "standins"), indent=1))
