import csv
import os

import numpy as np
import pytest
import torch

from gan_helpers.datasets import BUILTIN, load_dataset
from gan_helpers.datasets.faces import (BAD_KINDS, KINDS, load_face_folder, make_face_split, make_faces,
                                        prepare_face_folder, write_face_folder)
from gan_helpers.images import read_image


@pytest.fixture(scope="module")
def split():
    return make_face_split(n_seed_good=18, n_seed_bad=2, n_pool=30, pool_bad_fraction=0.4, n_test=10, image_size=32, seed=3)


def test_make_faces_shapes_labels_and_exact_bad_share():
    s = make_faces(n=50, image_size=32, seed=1, bad_fraction=0.4)
    assert s.images.shape == (50, 3, 32, 32) and s.images.dtype == torch.float32
    assert s.images.min() >= -1 and s.images.max() <= 1
    kind = s.attributes["kind"]
    assert (kind != "good").sum() == 20  # exactly round(n * bad_fraction)
    assert set(kind) == set(KINDS)  # the four bad kinds in equal shares: 5 each
    assert all((kind == k).sum() == 5 for k in BAD_KINDS)
    assert torch.equal(s.labels, torch.as_tensor(kind == "good", dtype=torch.long))
    assert s.label_names == ["bad", "good"]


def test_make_faces_is_deterministic_and_seed_dependent():
    a, b, c = make_faces(8, 32, seed=4), make_faces(8, 32, seed=4), make_faces(8, 32, seed=5)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_ground_truth_attributes_match_the_kind():
    s = make_faces(kinds=["good"] * 6 + ["profile"] * 6 + ["multi"] * 6, image_size=32, seed=2)
    yaw, kind = np.abs(s.attributes["yaw"]), s.attributes["kind"]
    assert (yaw[kind == "good"] <= 20).all() and (yaw[kind == "profile"] >= 50).all()
    assert (s.attributes["n_faces"][kind == "multi"] == 2).all() and (s.attributes["n_faces"][kind == "good"] == 1).all()


def test_drawings_are_not_photographs():
    """Drawings have flat backgrounds (no sensor noise, no out-of-focus blobs); photographs do not."""
    s = make_faces(kinds=["good"] * 12 + ["drawing"] * 12, image_size=32, seed=0)
    corner = s.images[:, :, :4, :4].flatten(2).std(2).mean(1)  # top-left corner: background only
    photo, drawing = corner[:12], corner[12:]
    assert drawing.max() < 0.02 < photo.median()


def test_bad_kinds_are_learnable_from_pixels():
    """A linear model on raw pixels tells good from bad better than chance: the kinds differ visibly."""
    from sklearn.linear_model import LogisticRegression

    tr, te = make_faces(240, 32, seed=0, bad_fraction=0.5), make_faces(160, 32, seed=1, bad_fraction=0.5)
    clf = LogisticRegression(C=0.01, max_iter=300).fit(tr.images.flatten(1).numpy(), tr.labels.numpy())
    assert clf.score(te.images.flatten(1).numpy(), te.labels.numpy()) > 0.6


def test_unknown_kind_and_bad_fraction_are_clear_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        make_faces(kinds=["cat"])
    with pytest.raises(ValueError, match="bad_fraction"):
        make_faces(10, bad_fraction=1.5)


def test_split_sizes_and_registry(split):
    assert len(split.seed) == 20 and int(split.seed.labels.sum()) == 18
    assert len(split.pool) == 30 and (split.pool.attributes["kind"] != "good").sum() == 12
    assert len(split.test) == 10
    assert "faces" in BUILTIN
    s = load_dataset("faces", image_size=32, n=6)
    assert s.images.shape == (6, 3, 32, 32) and s.name == "faces"


def test_folder_roundtrip_is_exact_and_keeps_ground_truth(split, tmp_path):
    root = write_face_folder(split, tmp_path / "faces")
    ff = load_face_folder(root, 32)
    assert len(ff.seed) == 20 and int(ff.seed.labels.sum()) == 18
    assert len(ff.test) == 10 and len(ff.pool_paths) == 30
    # PNGs are 8-bit: what comes back is exactly what was drawn
    good_drawn = split.seed.images[split.seed.labels == 1]
    assert torch.allclose(ff.seed.images[ff.seed.labels == 1], good_drawn, atol=1e-6)
    assert torch.allclose(read_image(ff.pool_paths[7], 32), split.pool.images[7], atol=1e-6)
    assert list(ff.pool_kind) == list(split.pool.attributes["kind"])
    assert np.array_equal(ff.pool_good, split.pool.labels.numpy())


def test_folder_without_test_holds_out_a_stratified_part_and_touches_nothing(split, tmp_path):
    root = write_face_folder(split, tmp_path / "f")
    for p in (root / "test").rglob("*.png"):
        p.unlink()
    for d in ("test/good", "test/bad", "test"):
        (root / d).rmdir()
    (root / "truth.csv").unlink()
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}
    ff = load_face_folder(root, 32, holdout_fraction=0.5, seed=0)
    assert len(ff.test) == 10 and int(ff.test.labels.sum()) == 9  # half of each class
    assert len(ff.seed) == 10
    assert not set(ff.test.paths) & set(ff.seed.paths)
    assert ff.pool_kind is None and ff.pool_good is None
    assert before == {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def test_folder_errors_name_the_problem(tmp_path):
    (tmp_path / "good").mkdir()
    with pytest.raises(FileNotFoundError, match="bad/, unlabelled/"):
        load_face_folder(tmp_path)
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="already holds other files"):
        write_face_folder(make_face_split(2, 1, 3, 0.3, 2, 32, 0), tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "user data"
    with pytest.raises(ValueError, match="neither 'faces'"):
        prepare_face_folder(str(tmp_path / "nowhere"), 32, tmp_path)


def test_truth_csv_paths_are_relative_to_the_root(split, tmp_path):
    root = write_face_folder(split, tmp_path / "r")
    with open(root / "truth.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 and all(not os.path.isabs(r["path"]) and r["path"].startswith("unlabelled/") for r in rows)


def test_rewriting_the_builtin_folder_refuses_user_files_inside_it(split, tmp_path):
    root = write_face_folder(split, tmp_path / "f")
    write_face_folder(split, root)  # a redraw of our own files is fine
    (root / "good" / "holiday.jpg").write_bytes(b"user photo")
    with pytest.raises(FileExistsError, match="holiday.jpg"):
        write_face_folder(split, root)
    assert (root / "good" / "holiday.jpg").read_bytes() == b"user photo"
