"""Feature extractors for FID, KID and the nearest-neighbour metrics.

Two kinds:

* :class:`DomainClassifier`, a small CNN trained on the real set's labels (the offline default).
  Its penultimate layer is the feature space. It can be trained on several label kinds at
  once (``labels={"coat": ..., "pose": ...}``), one linear head each, so its features see more
  than one attribute. Distances in it are **not** comparable with published Inception FIDs.
* :func:`load_inception` / :func:`inception_features`: torchvision's Inception-v3 with ImageNet
  weights, 2048-d pool features, for users with the internet or a local weights file. Note that
  published FIDs use the TF-slim Inception weights of pytorch-fid, not torchvision's; numbers
  from the two differ by a few points.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .evaluate import extract_features  # noqa: F401 (re-exported)
from .fit import fit, flip_and_shift, index_batches
from .images import DownloadUnavailableError


class DomainClassifier(nn.Module):
    """image (B, 3, S, S) -> ``features`` (B, feature_dim) -> one linear head per label kind."""

    def __init__(self, n_classes: dict[str, int] | int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.n_classes = {"label": n_classes} if isinstance(n_classes, int) else dict(n_classes)
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),  # (B, 4w*4) whatever the input size
            nn.Linear(16 * w, feature_dim), nn.ReLU(True),  # (B, feature_dim): the feature space
        )
        self.feature_dim = feature_dim
        self.heads = nn.ModuleDict({k: nn.Linear(feature_dim, c) for k, c in self.n_classes.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.body(x)
        return {k: h(f) for k, h in self.heads.items()}


def train_domain_classifier(images: torch.Tensor, labels: dict[str, torch.Tensor] | torch.Tensor,
                            epochs: int = 8, batch_size: int = 64, lr: float = 2e-3, width: int = 32,
                            feature_dim: int = 128, seed: int = 0, device: str | torch.device = "cpu",
                            augment: bool = True) -> DomainClassifier:
    """Fit a :class:`DomainClassifier` on ``images`` (N, 3, S, S) in [-1, 1] and their labels, with the
    one supervised loop (:func:`gan_helpers.fit.fit`, one-cycle schedule).

    ``augment`` adds random horizontal flips and small shifts, so that the features care about
    content more than exact pixel positions. Returns the model in eval mode.
    """
    labels = {"label": labels} if isinstance(labels, torch.Tensor) else dict(labels)
    for k, v in labels.items():
        if len(v) != len(images):
            raise ValueError(f"labels[{k!r}] has {len(v)} entries for {len(images)} images")
    n_classes = {k: int(v.max()) + 1 for k, v in labels.items()}
    torch.manual_seed(seed)
    model = DomainClassifier(n_classes, width, feature_dim)
    make = index_batches(images, labels, flip_and_shift if augment else None)
    loss = lambda out, y: sum(F.cross_entropy(out[k], y[k]) for k in y)
    model, _ = fit(model, make, loss, len(images), batch_size, epochs=epochs, lr=lr, seed=seed, device=device)
    return model


@torch.no_grad()
def predict(model: DomainClassifier, images: torch.Tensor, head: str | None = None, batch_size: int = 256) -> torch.Tensor:
    """Class probabilities of one head (the only one by default): (N, K) on the CPU."""
    device = next(model.parameters()).device
    head = head or next(iter(model.heads))
    model.eval()
    return torch.cat([F.softmax(model(images[i:i + batch_size].to(device))[head].float(), 1).cpu()
                      for i in range(0, len(images), batch_size)])


# ---------------------------------------------------------------------------------------------
# Inception-v3
# ---------------------------------------------------------------------------------------------

class InceptionFeatures(nn.Module):
    """torchvision Inception-v3 as a feature extractor: images in [-1, 1], any size ->
    resized to 299 (bilinear), ImageNet-normalised -> 2048-d pool features; ``logits`` gives
    the 1000 ImageNet classes (used by the Inception Score)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate((x + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        fc = net.fc
        net.fc = nn.Identity()  # torchvision's forward ends with dropout (off in eval) and fc
        try:
            return net(self._prep(x))
        finally:
            net.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self._prep(x))


def load_inception(weights: str | os.PathLike | None = "imagenet") -> InceptionFeatures:
    """Inception-v3 for features and class probabilities.

    ``weights="imagenet"`` downloads torchvision's ImageNet weights (or uses its cache); a path
    loads a local ``state_dict`` file; ``None`` gives random weights (for tests only: the numbers
    mean nothing). Offline without a cache, one :class:`DownloadUnavailableError` says what to do.
    """
    from torchvision.models import Inception_V3_Weights, inception_v3

    if weights is None:
        net = inception_v3(weights=None, aux_logits=False, init_weights=False)
    elif str(weights) == "imagenet":
        try:
            net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1)
        except Exception as e:  # URLError, HTTPError, socket errors, ...
            raise DownloadUnavailableError(
                f"could not download torchvision's Inception-v3 ImageNet weights ({type(e).__name__}: {e}). "
                f"Without the internet, pass a local file: load_inception(weights='path/to/inception_v3.pth') "
                f"(the file from {Inception_V3_Weights.IMAGENET1K_V1.url})."
            ) from None
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Inception weights file {str(path)!r} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = inception_v3(weights=None, aux_logits="AuxLogits.fc.weight" in state, init_weights=False)
        net.load_state_dict(state)
    return InceptionFeatures(net)


class PixelClassifier:
    """A second reader of class labels, of another kind than the CNN: an RBF support-vector machine on pixels
    (Cortes & Vapnik 1995; scikit-learn's ``SVC``), with nothing learned about features. Claims that rest on a
    classifier reading generated images (class accuracy of G(z, y), mode coverage) are read by both, so a
    verdict cannot rest on one network's quirks.

    ``foreground``: for sets of one object on a plain background (the built-in shapes), the image's difference
    from its border colour, cropped to the object's bounding box: position, scale and colour no longer matter.
    Otherwise the image itself. Either way resized to ``size`` x ``size``."""

    def __init__(self, foreground: bool = False, size: int = 16, C: float = 10.0):
        self.foreground, self.size, self.C = foreground, size, C
        self.svm = None

    def _x(self, images: torch.Tensor):
        if not self.foreground:
            return F.interpolate(images.float(), size=(self.size, self.size), mode="area").flatten(1).numpy()
        x = images.float()
        border = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], 2)
        m = (x - border.median(2).values[:, :, None, None]).abs().sum(1)  # (B, S, S): the object stands out
        m = m / m.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]
        out = torch.zeros(len(m), self.size * self.size)
        for i, mi in enumerate(m):
            ys, xs = torch.nonzero(mi > 0.3, as_tuple=True)
            if len(ys):
                crop = mi[ys.min():ys.max() + 1, xs.min():xs.max() + 1][None, None]
                out[i] = F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False).flatten()
        return out.numpy()

    def cache_key(self) -> dict:
        """What the reader's predictions depend on (:mod:`gan_helpers.cache`): its settings and the fitted SVM."""
        if self.svm is None:
            return {"settings": (self.foreground, self.size, self.C), "fitted": False}
        return {"settings": (self.foreground, self.size, self.C), "support_vectors": self.svm.support_vectors_,
                "dual_coef": self.svm.dual_coef_, "intercept": self.svm.intercept_, "classes": self.svm.classes_,
                "gamma": float(self.svm._gamma)}

    def fit(self, images: torch.Tensor, labels: torch.Tensor) -> "PixelClassifier":
        from sklearn.svm import SVC

        self.svm = SVC(C=self.C, gamma="scale").fit(self._x(images), torch.as_tensor(labels).numpy())
        return self

    def predict(self, images: torch.Tensor, batch_size: int = 1000):
        import numpy as np

        if self.svm is None:
            raise RuntimeError("fit the PixelClassifier before predicting")
        return np.concatenate([self.svm.predict(self._x(images[i:i + batch_size])) for i in range(0, len(images), batch_size)])
