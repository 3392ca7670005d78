import urllib.error

import pytest
import torch

from gan_helpers.datasets import make_shapes
from gan_helpers.images import DownloadUnavailableError
from gan_helpers.features import extract_features, load_inception, predict, train_domain_classifier


def test_domain_classifier_learns_and_gives_features():
    s = make_shapes(400, 32, seed=0, n_classes=4)
    clf = train_domain_classifier(s.images[:300], {"shape": s.labels[:300]}, epochs=6, seed=0)
    acc = (predict(clf, s.images[300:]).argmax(1) == s.labels[300:]).float().mean()
    assert acc > 0.6  # well above chance (0.25)
    f = extract_features(clf, s.images[:10])
    assert f.shape == (10, clf.feature_dim)
    with pytest.raises(ValueError, match="entries"):
        train_domain_classifier(s.images, {"shape": s.labels[:5]})


def test_inception_random_weights_and_local_file(tmp_path):
    net = load_inception(weights=None)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert net.features(x).shape == (2, 2048)
        assert net(x).shape == (2, 1000)
    torch.save(net.net.state_dict(), tmp_path / "w.pth")
    again = load_inception(weights=tmp_path / "w.pth")
    with torch.no_grad():
        assert torch.allclose(again.features(x), net.features(x))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_inception(weights=tmp_path / "missing.pth")


def test_inception_offline_is_one_clear_error(monkeypatch):
    import torchvision.models as tvm

    def refuse(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvm.Inception_V3_Weights.IMAGENET1K_V1, "get_state_dict", refuse)
    with pytest.raises(DownloadUnavailableError, match="local file"):
        load_inception("imagenet")


def test_the_pixel_classifier_reads_shapes_and_has_a_stable_cache_key():
    from gan_helpers.cache import digest
    from gan_helpers.datasets import make_shapes
    from gan_helpers.features import PixelClassifier

    train, test = make_shapes(300, 32, seed=1), make_shapes(200, 32, seed=2)
    reader = PixelClassifier(foreground=True).fit(train.images, train.labels)
    assert (reader.predict(test.images) == test.labels.numpy()).mean() > 0.8  # a second reader of real shapes
    again = PixelClassifier(foreground=True).fit(train.images, train.labels)
    other = PixelClassifier(foreground=True).fit(train.images, train.labels.flip(0))
    assert digest(reader) == digest(again) != digest(other)  # the result cache keys on the fitted SVM
