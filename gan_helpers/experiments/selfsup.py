r"""Notebook 04, steps 1-3: rotation self-supervision, a linear probe on its features, inferred labels.

Lučić, Ritter et al., "High-Fidelity Image Generation With Fewer Labels" (ICML 2019,
https://arxiv.org/abs/1903.02271; the Google AI Blog post
https://ai.googleblog.com/2019/03/reducing-need-for-labeled-data-in.html), the first half of S2GAN:

1. **Self-supervision** (Gidaris et al. 2018): every unlabelled image :math:`x` is turned by
   :math:`r \in \{0°, 90°, 180°, 270°\}` and a network :math:`f` learns to predict :math:`r`:

   .. math::
       \mathcal{L}_{rot} = -\frac{1}{4}\sum_{r \in \mathcal{R}}
           \mathbb{E}_{x}\big[\log \mathrm{softmax}(f(\mathrm{rot}_r(x)))_r\big]

2. **Linear probe**: an intermediate layer's activations are an image's features, and a linear
   (multinomial logistic) classifier is fitted on the labelled part only. Beside it, two
   baselines: the same network with random weights, and the same network trained from scratch
   on the labelled part.
3. **Inferred labels**: that classifier labels the unlabelled part; S2GAN trains on them
   (:mod:`gan_helpers.experiments.fewer_labels`).

Rotation label ``k`` is the image turned ``k`` quarter turns counter-clockwise
(``torch.rot90(x, k, dims=(2, 3))``, compare_gan's ``utils.rotate_images``). Every network trains
in the one supervised loop (:func:`gan_helpers.fit.fit`); :func:`selfsup_seed` runs the three
steps for one seed (a task of :func:`gan_helpers.runtime.run_tasks`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..fit import fit, flip_and_shift, index_batches
from ..losses import rotation_loss

NUM_ROTATIONS = 4
PROBE_CS = (0.01, 0.1, 1.0, 10.0)  # the linear probe's inverse regularisation, chosen on the validation set

SHAPE_ROTATION_CEILING = {
    # The best possible rotation accuracy for each class of the built-in shapes (positions symmetric under
    # quarter turns, a uniform tilt of +-15 degrees): the share of images whose rotation can be told.
    "circle": 0.25, "ring": 0.25,      # any rotation looks the same
    "square": 0.25, "cross": 0.25,     # 4-fold symmetric
    "diamond": 0.5,                    # 2-fold: tall (0/180) or wide (90/270)
    "hbars": 0.25, "vbars": 0.25,      # 2-fold, and hbars at 90 degrees is vbars at 0
    "triangle": 1.0, "crescent": 1.0,  # no quarter-turn symmetry
    "star": 0.6,                       # 5-fold: a quarter turn is an 18-degree offset, inside the +-15 tilt
}
"""Bayes ceiling of the rotation task per shape class, from the shapes' symmetry."""


def all_rotations(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image at 0, 90, 180 and 270 degrees: ``(rotated (4B, C, S, S), labels (4B,))``, laid out
    as compare_gan's ``merge_with_rotation_data``: every image upright (label 0), then every image at
    90° (label 1), and so on."""
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotations need square images (B, C, S, S), got {tuple(images.shape)}")
    rotated = torch.cat([torch.rot90(images, r, dims=(2, 3)) for r in range(NUM_ROTATIONS)])
    return rotated, torch.arange(NUM_ROTATIONS).repeat_interleave(len(images))


class RotationNet(nn.Module):
    """A small conv net: image (B, 3, S, S) -> logits (B, n_out); ``features(x, block)`` gives block
    ``block``'s activations (1, 2 or 3), average-pooled to 2x2 and flattened.

    The same class serves the three methods of the probe comparison: trained on rotations
    (``n_out=4``), left at its random initialisation, or trained on the labelled part
    (``n_out=n_classes``)."""

    def __init__(self, n_out: int = NUM_ROTATIONS, width: int = 32):
        super().__init__()
        w = self.width = width

        def block(c_in, c_out):  # a 4x4 stride-2 convolution halves the side
            return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))

        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
                          nn.MaxPool2d(2)),  # (B, w, S/2, S/2)
            block(w, 2 * w),                 # (B, 2w, S/4, S/4)
            block(2 * w, 4 * w),             # (B, 4w, S/8, S/8)
        ])
        self.head = nn.Linear(4 * w, n_out)  # on the global average of block 3: (B, n_out)

    def feature_dim(self, block: int = 3) -> int:
        return self.width * 2 ** (block - 1) * 4

    def features(self, x: torch.Tensor, block: int = 3) -> torch.Tensor:
        if block not in (1, 2, 3):
            raise ValueError(f"block must be 1, 2 or 3, got {block!r}")
        for b in self.blocks[:block]:
            x = b(x)
        return F.adaptive_avg_pool2d(x, 2).flatten(1)  # (B, channels * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean((2, 3)))


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return flip_and_shift(x, g, flip=False)  # a flip would be harmless for rotations; a shift is enough


def train_rotation_net(images: torch.Tensor, steps: int = 300, batch_size: int = 32, width: int = 32,
                       lr: float = 2e-3, seed: int = 0, device="cpu") -> tuple[RotationNet, list[float]]:
    """Step 1: a :class:`RotationNet` trained to predict the rotation of ``images`` (no labels). Each step
    shows ``batch_size`` images at all four rotations (Gidaris et al.). Returns the model (eval mode) and
    the loss of every step."""
    def make(idx, g):
        return all_rotations(_shift(images[idx], g))
    torch.manual_seed(seed)
    model = RotationNet(NUM_ROTATIONS, width)
    return fit(model, make, rotation_loss, len(images), batch_size, steps=steps, lr=lr, seed=seed, device=device)


@torch.no_grad()
def rotation_accuracy(model: RotationNet, images: torch.Tensor, labels: torch.Tensor | None = None,
                      n_classes: int | None = None, batch_size: int = 256) -> dict:
    """How often the network names the right rotation of held-out images, overall and per class."""
    model.eval()
    device = next(model.parameters()).device
    correct = []
    for i in range(0, len(images), batch_size):
        x, r = all_rotations(images[i:i + batch_size])
        ok = (model(x.to(device)).argmax(1).cpu() == r).float().view(NUM_ROTATIONS, -1).mean(0)  # per image
        correct.append(ok)
    correct = torch.cat(correct)
    out = {"accuracy": float(correct.mean())}
    if labels is not None:
        k = n_classes or int(labels.max()) + 1
        out["per_class"] = [float(correct[labels == c].mean()) if (labels == c).any() else float("nan") for c in range(k)]
    return out


# ---------------------------------------------------------------------------------------------
# Labelled split, linear probe, training from scratch, inferred labels
# ---------------------------------------------------------------------------------------------

def labelled_per_class(n_images: int, n_classes: int, fraction: float) -> int:
    """How many labelled images the rarest class gets at ``fraction`` of a balanced set (at least)."""
    return int(np.floor(fraction * n_images / n_classes))


def check_label_fractions(fractions, n_images: int, n_classes: int, min_per_class: int) -> str | None:
    """``None`` if every fraction is in (0, 1] and leaves at least ``min_per_class`` labelled images in each
    of ``n_classes`` balanced classes; else what is wrong (a notebook parameter check)."""
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            return f"a label fraction in (0, 1] (got {f!r})"
        if labelled_per_class(n_images, n_classes, f) < min_per_class:
            return (f"a label fraction that leaves at least {min_per_class} labelled images per class: {f} of "
                    f"{n_images} images in {n_classes} classes leaves {labelled_per_class(n_images, n_classes, f)}")
    return None


def labelled_split(labels: torch.Tensor, fraction: float, seed: int = 0,
                   min_per_class: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(labelled, hidden)``: ``fraction`` of each class keeps its label (rounded down, at least
    ``min_per_class``); the hidden labels serve only for evaluation. The same ``seed`` gives nested splits:
    the labelled images at 5% are among those at 10%."""
    if isinstance(fraction, bool) or not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction!r}")
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_c = int(np.floor(fraction * len(idx) + 1e-9))
        if n_c < min_per_class:
            raise ValueError(f"label fraction {fraction} leaves {n_c} labelled images of class {int(c)} "
                             f"({len(idx)} images); at least {min_per_class} are needed")
        picked.append(idx[:n_c])
    lab = np.sort(np.concatenate(picked))
    return lab, np.setdiff1d(np.arange(len(y)), lab)


@torch.no_grad()
def extract(model: RotationNet, images: torch.Tensor, block: int = 3, batch_size: int = 256) -> np.ndarray:
    """``model.features(x, block)`` over ``images`` in eval mode: (N, D) float64 array."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.features(images[i:i + batch_size].to(device), block).float().cpu()
                      for i in range(0, len(images), batch_size)]).double().numpy()


@dataclass
class LinearProbe:
    """A multinomial logistic regression on standardised features (scikit-learn)."""

    mean: np.ndarray
    scale: np.ndarray
    clf: object

    @classmethod
    def fit(cls, features: np.ndarray, labels, C: float = 1.0, seed: int = 0) -> "LinearProbe":
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels)
        if len(y) != len(features):
            raise ValueError(f"{len(y)} labels for {len(features)} feature rows")
        if len(np.unique(y)) < 2:
            raise ValueError("the linear probe needs labelled images of at least 2 classes")
        mean, scale = features.mean(0), features.std(0) + 1e-6
        clf = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit((features - mean) / scale, y)
        return cls(mean, scale, clf)

    @classmethod
    def fit_validated(cls, features: np.ndarray, labels, val_features: np.ndarray, val_labels,
                      Cs=PROBE_CS, seed: int = 0) -> tuple["LinearProbe", dict]:
        """The probe whose inverse regularisation ``C`` (of ``Cs``) gives the lowest log-loss on the validation
        set, fitted to convergence (lbfgs, convex): the probe's counterpart of early stopping."""
        from sklearn.metrics import log_loss

        best = None
        for C in Cs:
            p = cls.fit(features, labels, C, seed)
            proba = p.clf.predict_proba((val_features - p.mean) / p.scale)
            loss = log_loss(val_labels, proba, labels=p.clf.classes_)
            if best is None or loss < best[1]:
                best = (p, loss, C)
        p, loss, C = best
        return p, {"C": C, "val_loss": float(loss), "val_accuracy": float((p.predict(val_features) == np.asarray(val_labels)).mean()),
                   "train_accuracy": float((p.predict(features) == np.asarray(labels)).mean())}

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.clf.predict((features - self.mean) / self.scale)


def train_from_scratch(images: torch.Tensor, labels: torch.Tensor, n_classes: int, val_images: torch.Tensor,
                       val_labels: torch.Tensor, max_steps: int = 3000, check_every: int = 50, patience: int = 6,
                       batch_size: int = 32, width: int = 32, lr: float = 2e-3, seed: int = 0,
                       device="cpu") -> tuple[RotationNet, dict]:
    """The baseline: the same network trained end to end on the labelled images only (random shifts), until its
    loss on the labelled validation images has not improved for ``patience`` checks of ``check_every`` steps
    (at most ``max_steps``); the weights of the best check are kept (:meth:`gan_helpers.fit.Fitter.run_until`).
    Returns the network and its record (steps, training and validation accuracy)."""
    from ..fit import Fitter

    torch.manual_seed(seed)
    model = RotationNet(n_classes, width).to(device)
    f = Fitter(model, index_batches(images, labels, _shift), F.cross_entropy, lr=lr, seed=seed, device=device)

    @torch.no_grad()
    def validate():
        model.eval()
        logits = torch.cat([model(val_images[i:i + 256].to(device)).float().cpu() for i in range(0, len(val_images), 256)])
        model.train()
        return {"loss": float(F.cross_entropy(logits, val_labels)),
                "accuracy": float((logits.argmax(1) == val_labels).float().mean())}

    r = f.run_until(len(images), batch_size, validate, max(1, max_steps // check_every), patience, steps_per_epoch=check_every)
    model.eval()
    train_acc = float((predict_classes(model, images) == np.asarray(labels)).mean())
    return model, {"best_step": r["best_epoch"] * check_every, "steps_run": r["epochs_run"] * check_every,
                   "stopped": r["stopped"], "val_loss": r["val_loss"], "val_accuracy": r["val_accuracy"],
                   "train_accuracy": train_acc}


@torch.no_grad()
def predict_classes(model: RotationNet, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(images[i:i + batch_size].to(device)).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)]).numpy()


def validation_set(images: torch.Tensor, labels: torch.Tensor, per_class: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``per_class`` images of each class: the labelled validation set that decides when the baselines
    stop and which regularisation the probe uses (the same for every method and label fraction)."""
    idx = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in torch.unique(labels)])
    return images[idx], labels[idx]


def probe_curve(images: torch.Tensor, labels: torch.Tensor, fractions, rotation_model: RotationNet,
                n_classes: int, val_images: torch.Tensor, val_labels: torch.Tensor, block: int = 3,
                scratch: dict | None = None, width: int = 32, seed: int = 0,
                device="cpu") -> tuple[dict[str, dict[float, float]], dict[str, dict[float, dict]]]:
    """Step 2 at every label fraction: accuracy on the hidden labels of a linear probe on the rotation
    network's features (``rotation``), of the same probe on a randomly initialised twin (``random``), and of the
    twin trained end to end on the labelled part (``scratch``). Every method is trained to convergence and tuned on
    the same labelled validation set (the probes' regularisation; the network's early stopping, ``scratch``: the
    keyword arguments of :func:`train_from_scratch`). Returns ``({method: {fraction: acc}}, {method: {fraction:
    record}})``, the records holding each fit's training and validation accuracy."""
    torch.manual_seed(seed + 1)
    random_model = RotationNet(NUM_ROTATIONS, width).to(device).eval()
    models = {"rotation": rotation_model, "random": random_model}
    feats = {k: extract(m, images, block) for k, m in models.items()}
    val_feats = {k: extract(m, val_images, block) for k, m in models.items()}
    y, yv = np.asarray(labels), np.asarray(val_labels)
    out: dict[str, dict[float, float]] = {"rotation": {}, "random": {}, "scratch": {}}
    fits: dict[str, dict[float, dict]] = {"rotation": {}, "random": {}, "scratch": {}}
    for f in fractions:
        lab, hidden = labelled_split(labels, f, seed)
        if len(hidden) == 0:  # 100% labels: score on the training images themselves (the curve's ceiling)
            hidden = lab
        for name, x in feats.items():
            probe, rec = LinearProbe.fit_validated(x[lab], y[lab], val_feats[name], yv, seed=seed)
            out[name][float(f)] = float((probe.predict(x[hidden]) == y[hidden]).mean())
            fits[name][float(f)] = rec
        net, rec = train_from_scratch(images[lab], labels[lab], n_classes, val_images, val_labels, width=width,
                                      seed=seed, device=device, **(scratch or {}))
        out["scratch"][float(f)] = float((predict_classes(net, images[hidden]) == y[hidden]).mean())
        fits["scratch"][float(f)] = rec
    return out, fits


def infer_labels(rotation_model: RotationNet, images: torch.Tensor, labels: torch.Tensor, labelled: np.ndarray,
                 block: int = 3, seed: int = 0, features: np.ndarray | None = None,
                 validation: tuple[np.ndarray, np.ndarray] | None = None) -> torch.Tensor:
    """Step 3: a label for every image, the true one where it is known (``labelled``), the linear probe's
    prediction elsewhere: (N,). ``validation``: ``(features, labels)`` of the labelled validation set, to choose
    the probe's regularisation as in :func:`probe_curve` (without it, C = 1)."""
    x = extract(rotation_model, images, block) if features is None else features
    y = np.asarray(labels)
    probe = LinearProbe.fit(x[labelled], y[labelled], seed=seed) if validation is None else \
        LinearProbe.fit_validated(x[labelled], y[labelled], *validation, seed=seed)[0]
    inferred = probe.predict(x).astype(np.int64)
    inferred[labelled] = y[labelled]
    return torch.as_tensor(inferred)


def selfsup_seed(seed: int, images: torch.Tensor, labels: torch.Tensor, held_out: torch.Tensor,
                 held_out_labels: torch.Tensor, n_classes: int, probe_fractions, gan_fractions, cfg: dict) -> dict:
    """Steps 1-3 under one seed (a task of :func:`~gan_helpers.runtime.run_tasks`): the rotation network,
    its accuracy on the held-out images, the probe curve, and for each of ``gan_fractions`` the labelled
    split and the inferred labels with their accuracy on the hidden part. ``cfg``: ``rotation_steps``,
    ``rotation_width``, ``probe_block``, ``val_per_class`` (the labelled validation images per class, drawn from
    ``held_out``) and ``scratch`` (:func:`train_from_scratch`'s stopping settings). Returns plain data."""
    model, losses = train_rotation_net(images, cfg["rotation_steps"], width=cfg["rotation_width"], seed=seed)
    rot = rotation_accuracy(model, held_out, held_out_labels, n_classes)
    val_images, val_labels = validation_set(held_out, held_out_labels, cfg["val_per_class"])
    curve, fits = probe_curve(images, labels, probe_fractions, model, n_classes, val_images, val_labels,
                              cfg["probe_block"], cfg.get("scratch"), cfg["rotation_width"], seed)
    feats = extract(model, images, cfg["probe_block"])
    validation = (extract(model, val_images, cfg["probe_block"]), np.asarray(val_labels))
    splits = {}
    for f in gan_fractions:
        lab, hidden = labelled_split(labels, f, seed)
        inferred = infer_labels(model, images, labels, lab, cfg["probe_block"], seed, features=feats, validation=validation)
        acc = float((inferred[hidden] == labels[hidden]).float().mean()) if len(hidden) else 1.0
        splits[float(f)] = {"labelled": lab, "inferred": inferred, "accuracy": acc}
    return {"seed": seed, "rotation_losses": losses, "rotation": rot, "probe": curve, "probe_fit": fits, "splits": splits,
            "model": {k: v.cpu() for k, v in model.state_dict().items()}}


def load_split(dataset: str = "shapes", image_size: int = 32, n_train: int = 2000, n_reference: int = 1000):
    """The notebook's data: ``(train, reference)`` labelled :class:`~gan_helpers.images.ImageSet` s. The
    reference part is never shown to a GAN: it trains the evaluator and is the FID reference.

    ``shapes``: two independent draws (balanced classes); ``digits``, ``cifar10`` (needs the internet) or a
    folder with one subfolder per class: shuffled once (seed 0) and split."""
    from pathlib import Path

    from ..datasets import load_dataset, make_shapes
    from ..images import load_labelled_folder

    if dataset == "shapes":
        return make_shapes(n_train, image_size, seed=0), make_shapes(n_reference, image_size, seed=1)
    if dataset.lower() == "cifar10":
        full = load_dataset("cifar10", image_size=image_size, limit=n_train + n_reference)
    elif Path(dataset).expanduser().is_dir():
        full = load_labelled_folder(dataset, image_size)
    else:
        full = load_dataset(dataset, image_size=image_size)
    if full.labels is None:
        raise ValueError(f"dataset {dataset!r} has no class labels; notebook 04 needs a labelled set")
    if len(full) < n_reference + 20:
        raise ValueError(f"dataset {dataset!r} has {len(full)} images: too few for n_reference={n_reference} "
                         "held-out images plus a training set")
    perm = np.random.default_rng(0).permutation(len(full))
    return full.subset(np.sort(perm[n_reference:n_reference + n_train])), full.subset(np.sort(perm[:n_reference]))
