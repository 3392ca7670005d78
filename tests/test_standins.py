"""The loaders' success paths on stand-ins in the real on-disk formats (CIFAR-10 pickles, CelebA's folder and
text files, a MouseHead-like folder, notebook 03's sorting folder, class folders, an Inception-v3 state_dict)."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_helpers.datasets import load_dataset
from gan_helpers.datasets.faces import load_face_folder
from gan_helpers.datasets.standins import CIFAR10_CLASSES, skip_torchvision_md5
from gan_helpers.features import load_inception
from gan_helpers.images import DownloadUnavailableError, load_labelled_folder, load_torchvision, to_uint8


def test_cifar10_pickles_load_through_torchvision(standins):
    with skip_torchvision_md5():
        s = load_torchvision("cifar10", root=standins["cache"], image_size=32, download=False)
        test = load_torchvision("cifar10", root=standins["cache"], image_size=32, split="test", download=False)
    assert s.images.shape == (5 * 170, 3, 32, 32) and len(test) == 200
    assert s.label_names == CIFAR10_CLASSES and set(s.labels.tolist()) == set(range(10))
    with open(Path(standins["cache"], "cifar-10-batches-py", "data_batch_1"), "rb") as f:
        raw = pickle.load(f, encoding="latin1")  # what torchvision reads: R, G, B planes of each row
    first = torch.as_tensor(raw["data"][0]).reshape(3, 32, 32)
    assert torch.equal(to_uint8(s.images[0]), first) and s.labels[0] == raw["labels"][0]


def test_torchvision_checks_md5_sums_without_the_patch(standins):
    with pytest.raises(DownloadUnavailableError, match="cifar10"):
        load_torchvision("cifar10", root=standins["cache"], download=False)
    with pytest.raises(DownloadUnavailableError, match="celeba"):
        load_torchvision("celeba", root=standins["cache"], download=False)


def test_celeba_folder_and_attribute_files_load_through_torchvision(standins):
    with skip_torchvision_md5():
        train = load_torchvision("celeba", root=standins["cache"], image_size=64, download=False)
        valid = load_torchvision("celeba", root=standins["cache"], image_size=64, split="valid", download=False)
    assert train.images.shape == (48, 3, 64, 64) and len(valid) == 6
    assert train.labels is None and -1 <= float(train.images.min()) < float(train.images.max()) <= 1


def test_mousehead_folder_loads_as_notebook_01_reads_it(standins):
    s = load_dataset(standins["mousehead"], image_size=64)
    assert s.images.shape == (64, 3, 64, 64) and not s.skipped
    assert all(p.endswith(".jpg") for p in s.paths)


def test_sorting_folder_loads_as_notebook_03_reads_it(standins):
    f = load_face_folder(standins["faces"], image_size=32)
    assert len(f.seed) == 160 and int(f.seed.labels.sum()) == 120  # good/ = 1, bad/ = 0
    assert len(f.pool_paths) == 200 and f.pool_kind is None  # no truth.csv in a user's folder
    assert f.test is not None and len(f.test) == 60


def test_class_folders_load_with_labels(standins):
    s = load_labelled_folder(standins["classes"], image_size=32)
    assert len(s) == 100 and len(s.label_names) == 10 and np.bincount(s.labels.numpy()).min() == 10


def test_inception_state_dict_file_loads_and_scores(standins):
    net = load_inception(standins["inception"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert net.features(x).shape == (2, 2048) and net(x).shape == (2, 1000)


def test_torchvision_data_lives_in_the_repository_or_where_the_environment_says(monkeypatch, tmp_path):
    """A notebook's kernel starts in notebooks/: a relative data/cache there was another folder than the one
    data/README.md names (and .gitignore ignores)."""
    from gan_helpers.images import data_root

    monkeypatch.delenv("GAN_HELPERS_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_root() == Path(__file__).resolve().parents[1] / "data" / "cache"
    monkeypatch.setenv("GAN_HELPERS_DATA", str(tmp_path / "elsewhere"))
    assert data_root() == tmp_path / "elsewhere"
