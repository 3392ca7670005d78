import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from gan_helpers import images as data
from gan_helpers.datasets import load_dataset, make_mouse_faces, make_shapes
from gan_helpers.datasets.mice import central_patch_colour
from gan_helpers.images import DownloadUnavailableError, load_image_folder, load_labelled_folder


def _png(path, size=(20, 30), colour=(255, 0, 0), mode="RGB"):
    Image.new(mode, size, colour).save(path)
    return path


def test_every_format_and_mode_is_read(tmp_path):
    _png(tmp_path / "a.png")
    Image.new("RGBA", (16, 16), (0, 0, 255, 0)).save(tmp_path / "b_transparent.PNG")  # alpha 0 -> white
    Image.new("L", (16, 16), 128).save(tmp_path / "c_gray.jpg")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "d_cmyk.JPEG")  # red in CMYK
    p = Image.new("P", (16, 16), 0)
    p.putpalette([0, 255, 0] + [0] * 765)
    p.save(tmp_path / "e_palette.gif")
    Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16)).save(tmp_path / "f_16bit.png")
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "g.bmp")
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "h.webp", lossless=True)
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 255, 0), (0, 0, 0)]]
    frames[0].save(tmp_path / "i_anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "notes.txt").write_text("not an image: listed as skipped, with the reason")

    s = load_image_folder(tmp_path, image_size=8)
    assert s.images.shape == (9, 3, 8, 8) and s.images.dtype == torch.float32
    assert [(p.split("/")[-1], why.split(";")[0]) for p, why in s.skipped] == [("notes.txt", "unsupported extension '.txt'")]
    rgb = {p.split("/")[-1]: ((im[:, 4, 4] + 1) * 127.5).round().tolist() for p, im in zip(s.paths, s.images)}
    assert rgb["b_transparent.PNG"] == [255, 255, 255]
    assert rgb["c_gray.jpg"][0] == pytest.approx(128, abs=2)
    assert rgb["d_cmyk.JPEG"][0] > 200 and rgb["d_cmyk.JPEG"][1] < 60
    assert rgb["e_palette.gif"] == [0, 255, 0]
    assert rgb["f_16bit.png"] == [255, 255, 255]
    assert rgb["i_anim.gif"][:2] == [255, 255]  # first frame
    assert s.images.min() >= -1 and s.images.max() <= 1


def test_bad_files_are_skipped_with_reasons(tmp_path):
    good = _png(tmp_path / "good.png", size=(64, 48))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, I am not a PNG")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    _png(tmp_path / "full.png", size=(200, 200))
    raw = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "full.png").unlink()
    _png(tmp_path / "tiny.png", size=(1, 1))
    (tmp_path / ".hidden.png").write_text("ignored")

    s = load_image_folder(tmp_path, image_size=16)
    names = sorted(p.split("/")[-1] for p in s.paths)
    assert names == ["good.png", "tiny.png"]
    reasons = {p.split("/")[-1]: r for p, r in s.skipped}
    assert set(reasons) == {"empty.jpg", "text.png", "corrupt.jpg", "truncated.png"}
    assert reasons["empty.jpg"] == "empty file"
    assert "identify" in reasons["text.png"]
    assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
    assert good.exists()  # nothing is touched


def test_huge_image_is_skipped_not_fatal(tmp_path, monkeypatch):
    _png(tmp_path / "huge.png", size=(400, 400))
    _png(tmp_path / "ok.png", size=(10, 10))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    s = load_image_folder(tmp_path, image_size=8)
    assert [p.split("/")[-1] for p in s.paths] == ["ok.png"]
    assert "too large" in s.skipped[0][1]


def test_center_crop_keeps_the_middle(tmp_path):
    im = Image.new("RGB", (90, 30), (255, 0, 0))
    im.paste((0, 0, 255), (30, 0, 60, 30))  # blue middle third
    im.save(tmp_path / "wide.png")
    s = load_image_folder(tmp_path, image_size=8)
    assert s.images[0, 2].mean() > 0.9 and s.images[0, 0].mean() < -0.9


def test_folder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_text("nope")
    with pytest.raises(ValueError, match=str(tmp_path)):
        load_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="neither a built-in"):
        load_dataset(str(tmp_path / "missing"))


def test_labelled_folder(tmp_path):
    for c in ("cat", "mouse"):
        (tmp_path / c).mkdir()
        for i in range(3):
            _png(tmp_path / c / f"{i}.png")
    s = load_labelled_folder(tmp_path, image_size=8)
    assert s.label_names == ["cat", "mouse"] and s.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_streaming_batches_bound_memory(tmp_path):
    for i in range(7):
        _png(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_text("x")
    batches = list(data.iter_image_batches(data.list_images(tmp_path), 8, batch_size=3))
    assert [len(b[0]) for b in batches] == [3, 3, 1]  # 0..6.png, then bad.png skipped in the last batch
    assert [len(b[2]) for b in batches] == [0, 0, 1]


def test_offline_download_is_one_clear_error(monkeypatch, tmp_path):
    import torchvision.datasets as tvd

    def refuse(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd, "CIFAR10", refuse)
    with pytest.raises(DownloadUnavailableError, match="cifar10.*internet"):
        data.load_torchvision("cifar10", root=tmp_path)


def test_mouse_faces_are_balanced_and_reproducible():
    a, b = make_mouse_faces(30, 32, seed=1), make_mouse_faces(30, 32, seed=1)
    assert torch.equal(a.images, b.images)
    assert a.images.shape == (30, 3, 32, 32) and a.label_names == ["white", "grey", "brown"]
    assert np.bincount(a.labels.numpy()).tolist() == [10, 10, 10]
    assert set(a.attributes) == {"fur_rgb", "angle", "scale", "background"}
    assert not torch.equal(a.images, make_mouse_faces(30, 32, seed=2).images)


@pytest.mark.parametrize("size", [32, 64])
def test_central_patch_recovers_the_coat(size):
    s = make_mouse_faces(60, size, seed=4)
    rgb = central_patch_colour(s.images).numpy()
    err = np.abs(rgb - s.attributes["fur_rgb"]).max(axis=1)
    assert np.median(err) < 12  # the centre of the face is fur, whatever the pose


def test_shapes_and_digits():
    s = make_shapes(50, 32, seed=0)
    assert s.images.shape == (50, 3, 32, 32) and len(s.label_names) == 10
    d = load_dataset("digits", image_size=32)
    assert d.images.shape == (1797, 3, 32, 32) and d.labels.max() == 9


def test_an_empty_class_folder_is_an_error_naming_it(tmp_path):
    """An empty class folder became a phantom class ("4 classes: circle, empty_class, ...") with no images."""
    for c in ("circle", "square"):
        (tmp_path / c).mkdir()
        _png(tmp_path / c / "0.png")
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "unreadable_class").mkdir()
    (tmp_path / "unreadable_class" / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no readable image: .*empty_class'.*unreadable_class' .*empty file"):
        load_labelled_folder(tmp_path, image_size=8)


def test_root_files_and_linked_folders_are_listed_as_skipped(tmp_path):
    for c in ("cat", "mouse"):
        (tmp_path / "set" / c).mkdir(parents=True)
        _png(tmp_path / "set" / c / "0.png")
    _png(tmp_path / "set" / "stray.png")  # at the root: belongs to no class
    (tmp_path / "elsewhere").mkdir()
    _png(tmp_path / "elsewhere" / "1.png")
    (tmp_path / "set" / "dog").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a linked class folder
    (tmp_path / "set" / "cat" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a linked subfolder
    s = load_labelled_folder(tmp_path / "set", image_size=8)
    assert s.label_names == ["cat", "mouse"] and len(s) == 2
    why = dict(s.skipped)
    assert set(why) == {str(tmp_path / "set" / n) for n in ("stray.png", "dog", "cat/more")}
    assert "root of a class-per-folder set" in why[str(tmp_path / "set" / "stray.png")]
    assert "link to a folder" in why[str(tmp_path / "set" / "dog")] and "link to a folder" in why[str(tmp_path / "set" / "cat" / "more")]


def test_the_skipped_summary_agrees_with_what_it_shows():
    """02 said "5 files skipped" and showed 3."""
    skipped = [(f"{i}.txt", "unsupported extension") for i in range(5)]
    assert data.skipped_summary(skipped).startswith("5 files skipped, the first 3: 0.txt (unsupported extension); ")
    assert data.skipped_summary(skipped).count("unsupported") == 3
    assert data.skipped_summary(skipped[:2]) == "2 files skipped: 0.txt (unsupported extension); 1.txt (unsupported extension)"
    assert data.skipped_summary([]) == "no file skipped"
