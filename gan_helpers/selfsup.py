r"""Rotation self-supervision, a linear probe on its features, and inferred labels.

Lučić, Ritter et al., "High-Fidelity Image Generation With Fewer Labels" (ICML 2019,
arXiv:1903.02271; the Google blog post ``../shared/seeds/002_*.txt``), steps 1-3 of S2GAN:

1. **Self-supervision** (Gidaris et al. 2018): every unlabelled image :math:`x` is rotated by
   :math:`r \in \{0°, 90°, 180°, 270°\}` and a network :math:`f` learns to predict :math:`r`:

   .. math::
       \mathcal{L}_{rot} = -\frac{1}{4}\sum_{r \in \mathcal{R}}
           \mathbb{E}_{x}\big[\log \mathrm{softmax}(f(\mathrm{rot}_r(x)))_r\big]

2. **Linear probe**: an intermediate layer's activations become the features of an image, and
   a linear (multinomial logistic) classifier is fitted on the labelled part only.
3. **Inferred labels**: that classifier labels the unlabelled part; the conditional GAN of
   :mod:`gan_helpers.conditional` trains on them (S2GAN).

The rotation labels follow compare_gan's ``utils.rotate_images``: label ``k`` is the image turned
``k`` quarter turns counter-clockwise (``torch.rot90(x, k, dims=(2, 3))``).

Two baselines for step 2, as the issue asks: the same network with random weights (how much is
the architecture alone worth), and the same network trained from scratch on the labelled part.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NUM_ROTATIONS = 4


# ---------------------------------------------------------------------------------------------
# Rotations and the rotation loss
# ---------------------------------------------------------------------------------------------

def rotate(images: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Turn (B, C, H, W) images ``k`` quarter turns counter-clockwise (one ``k`` or one per image)."""
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotate needs square images (B, C, S, S), got {tuple(images.shape)}")
    if isinstance(k, int):
        return torch.rot90(images, k % NUM_ROTATIONS, dims=(2, 3))
    k = torch.as_tensor(k).long() % NUM_ROTATIONS
    if len(k) != len(images):
        raise ValueError(f"{len(k)} rotations for {len(images)} images")
    out = images.clone()
    for r in range(1, NUM_ROTATIONS):
        m = k == r
        if m.any():
            out[m] = torch.rot90(images[m], r, dims=(2, 3))
    return out


def all_rotations(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image at 0, 90, 180 and 270 degrees: ``(rotated (4B, C, S, S), labels (4B,))``.

    Laid out as compare_gan's ``merge_with_rotation_data``: first every image upright (label 0),
    then every image at 90° (label 1), and so on: labels ``[0]*B + [1]*B + [2]*B + [3]*B``.
    """
    rotated = torch.cat([rotate(images, r) for r in range(NUM_ROTATIONS)])
    labels = torch.arange(NUM_ROTATIONS, device=images.device).repeat_interleave(len(images))
    return rotated, labels


def rotation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy of the rotation head: :math:`-\mathbb{E}[\log \mathrm{softmax}(f(x_r))_r]`.

    compare_gan computes ``-mean(sum(onehot * log(softmax + 1e-10)))``; ``F.cross_entropy`` is the
    same quantity without the epsilon (and stable for large logits).
    """
    if logits.shape[-1] != NUM_ROTATIONS:
        raise ValueError(f"rotation logits need {NUM_ROTATIONS} columns, got {tuple(logits.shape)}")
    return F.cross_entropy(logits.float(), labels.long())


# ---------------------------------------------------------------------------------------------
# The rotation network (and its twin for the baselines)
# ---------------------------------------------------------------------------------------------

class RotationNet(nn.Module):
    """A small conv net: image (B, 3, S, S) -> logits (B, n_out); ``features(x, block)`` gives
    block ``block``'s activations (1, 2 or 3), average-pooled to 2x2 and flattened.

    The same class serves the three methods of the probe comparison: trained on rotations
    (``n_out=4``), left at its random initialisation, or trained on the labelled part
    (``n_out=n_classes``).
    """

    def __init__(self, n_out: int = NUM_ROTATIONS, width: int = 32):
        super().__init__()
        w = width

        def block(c_in, c_out):  # a 4x4 stride-2 convolution halves the side
            return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))

        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
                          nn.MaxPool2d(2)),  # (B, w, S/2, S/2)
            block(w, 2 * w),       # (B, 2w, S/4, S/4)
            block(2 * w, 4 * w),   # (B, 4w, S/8, S/8)
        ])
        self.head = nn.Linear(4 * w, n_out)  # on the global average of block 3: (B, n_out)
        self.width = w

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


def _shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=g).tolist()
    return torch.roll(x, (dy, dx), (2, 3))


def train_rotation_net(images: torch.Tensor, steps: int = 300, batch_size: int = 32, width: int = 32,
                       lr: float = 2e-3, seed: int = 0, device: str | torch.device = "cpu",
                       ) -> tuple[RotationNet, dict[str, list[float]]]:
    """Step 1: train a :class:`RotationNet` to predict the rotation of ``images`` (no labels used).

    Each step takes ``batch_size`` images and all four of their rotations (a batch of
    ``4 * batch_size``, as Gidaris et al.). Returns the model in eval mode and its history
    (``loss``, ``accuracy`` per step).
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = RotationNet(NUM_ROTATIONS, width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, steps))
    hist: dict[str, list[float]] = {"loss": [], "accuracy": []}
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=g)
        x, r = all_rotations(_shift(images[idx], g).to(device))
        logits = model(x)
        loss = rotation_loss(logits, r)  # L_rot
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist["loss"].append(float(loss.detach()))
        hist["accuracy"].append(float((logits.argmax(1) == r).float().mean()))
    return model.eval(), hist


@torch.no_grad()
def rotation_accuracy(model: RotationNet, images: torch.Tensor, labels: torch.Tensor | None = None,
                      n_classes: int | None = None, batch_size: int = 256) -> dict:
    """How often the network names the right rotation of held-out images, overall and per class."""
    model.eval()
    device = next(model.parameters()).device
    correct = []
    for i in range(0, len(images), batch_size):
        x, r = all_rotations(images[i:i + batch_size].to(device))
        ok = (model(x).argmax(1) == r).float().view(NUM_ROTATIONS, -1).mean(0)  # per image, over its 4 rotations
        correct.append(ok.cpu())
    correct = torch.cat(correct)
    out = {"accuracy": float(correct.mean())}
    if labels is not None:
        k = n_classes or int(labels.max()) + 1
        out["per_class"] = [float(correct[labels == c].mean()) if (labels == c).any() else float("nan") for c in range(k)]
    return out


# ---------------------------------------------------------------------------------------------
# Labelled split, linear probe, training from scratch, inferred labels
# ---------------------------------------------------------------------------------------------

def labelled_split(labels: torch.Tensor, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(labelled, hidden)``: ``fraction`` of the images keep their label, stratified by
    class with at least one image of each class; the hidden labels serve only for evaluation."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction!r}")
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    n_total = max(int(round(fraction * len(y))), 1)
    classes = np.unique(y)
    picked = []
    for i, c in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(y == c))
        share = n_total * len(idx) / len(y)
        n_c = int(np.floor(share)) + (rng.random() < share - np.floor(share))  # unbiased rounding
        picked.append(idx[:max(1, min(n_c, len(idx)))])
    lab = np.sort(np.concatenate(picked))
    hidden = np.setdiff1d(np.arange(len(y)), lab)
    return lab, hidden


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
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit((features - mean) / scale, y)
        return cls(mean, scale, clf)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(N, K) probabilities over the classes seen in training (``self.clf.classes_``)."""
        return self.clf.predict_proba((features - self.mean) / self.scale)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.clf.predict((features - self.mean) / self.scale)


def train_from_scratch(images: torch.Tensor, labels: torch.Tensor, n_classes: int, steps: int = 200,
                       batch_size: int = 32, width: int = 32, lr: float = 2e-3, seed: int = 0,
                       device: str | torch.device = "cpu") -> RotationNet:
    """The baseline: the same network trained end to end on the labelled images only
    (random shifts as augmentation), for ``steps`` steps whatever their number."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = RotationNet(n_classes, width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, steps))
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=g)
        loss = F.cross_entropy(model(_shift(images[idx], g).to(device)), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def predict_classes(model: RotationNet, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(images[i:i + batch_size].to(device)).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)]).numpy()


def probe_curve(images: torch.Tensor, labels: torch.Tensor, fractions, rotation_model: RotationNet,
                n_classes: int, block: int = 3, scratch_steps: int = 200, width: int = 32, seed: int = 0,
                device: str | torch.device = "cpu", progress: bool = False) -> dict[str, dict[float, float]]:
    """Step 2 for every label fraction: accuracy on the hidden labels of

    * ``rotation``: a linear probe on the rotation network's block-``block`` features,
    * ``random``: a linear probe on the same features of a randomly initialised twin,
    * ``scratch``: the twin trained end to end on the labelled part only.

    Returns ``{method: {fraction: accuracy}}``.
    """
    torch.manual_seed(seed + 1)
    random_model = RotationNet(NUM_ROTATIONS, width).to(device).eval()
    feats = {"rotation": extract(rotation_model, images, block), "random": extract(random_model, images, block)}
    y = np.asarray(labels)
    out: dict[str, dict[float, float]] = {"rotation": {}, "random": {}, "scratch": {}}
    for f in fractions:
        lab, hidden = labelled_split(labels, f, seed)
        if len(hidden) == 0:  # 100%: evaluate on the labelled images themselves is meaningless; use all
            hidden = lab
        for name, x in feats.items():
            probe = LinearProbe.fit(x[lab], y[lab], seed=seed)
            out[name][float(f)] = float((probe.predict(x[hidden]) == y[hidden]).mean())
        net = train_from_scratch(images[lab], labels[lab], n_classes, scratch_steps, width=width, seed=seed, device=device)
        out["scratch"][float(f)] = float((predict_classes(net, images[hidden]) == y[hidden]).mean())
        if progress:
            print(f"fraction {f:>5.0%}: " + ", ".join(f"{m} {out[m][float(f)]:.3f}" for m in out), flush=True)
    return out


def infer_labels(rotation_model: RotationNet, images: torch.Tensor, labels: torch.Tensor, labelled: np.ndarray,
                 block: int = 3, seed: int = 0) -> tuple[torch.Tensor, LinearProbe]:
    """Step 3: labels for every image: the true label where it is known (``labelled``), the
    linear probe's prediction elsewhere. Returns ``(labels (N,), probe)``."""
    x = extract(rotation_model, images, block)
    y = np.asarray(labels)
    probe = LinearProbe.fit(x[labelled], y[labelled], seed=seed)
    inferred = probe.predict(x).astype(np.int64)
    inferred[labelled] = y[labelled]
    return torch.as_tensor(inferred), probe


# ---------------------------------------------------------------------------------------------
# Ground truth for the built-in shapes, and figures
# ---------------------------------------------------------------------------------------------

SHAPE_ROTATION_CEILING = {
    # The best possible rotation accuracy for each class of ``data.make_shapes`` (balanced classes,
    # positions symmetric under quarter turns, a uniform tilt of +-15 degrees): the share of images
    # whose rotation can be told, counting a rotation that looks like another class's upright image.
    "circle": 0.25, "ring": 0.25,      # any rotation looks the same
    "square": 0.25, "cross": 0.25,     # 4-fold symmetric
    "diamond": 0.5,                    # 2-fold: tall (0/180) or wide (90/270)
    "hbars": 0.25, "vbars": 0.25,      # 2-fold, and hbars at 90 degrees is vbars at 0
    "triangle": 1.0, "crescent": 1.0,  # no quarter-turn symmetry (a triangle's 3-fold one never meets 90k)
    "star": 0.6,                       # 5-fold: a quarter turn is an 18-degree offset, inside the +-15 tilt:
                                       # 6 of its 30 degrees are unambiguous, the other 24 split 2 ways
}
"""Bayes ceiling of the rotation task per shape class, from the shapes' symmetry."""


def show_rotation_task(model: RotationNet, images: torch.Tensor, label_names=None, labels=None, n: int = 6):
    """Figure "rotation task": ``n`` images at 0/90/180/270 degrees, each titled with the
    network's predicted rotation (green if right, red if wrong). Returns the figure."""
    import matplotlib.pyplot as plt

    x = images[:n]
    rotated, r = all_rotations(x)
    with torch.no_grad():
        model.eval()
        pred = model(rotated.to(next(model.parameters()).device)).argmax(1).cpu()
    fig, axes = plt.subplots(n, NUM_ROTATIONS, figsize=(1.5 * NUM_ROTATIONS, 1.55 * n), squeeze=False)
    for j in range(NUM_ROTATIONS):
        for i in range(n):
            k = j * n + i
            ax = axes[i, j]
            ax.imshow(((rotated[k].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
            ok = int(pred[k]) == int(r[k])
            ax.set_title(f"pred {90 * int(pred[k])}°", fontsize=8, color="green" if ok else "red")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_xlabel(f"turned {90 * j}°", fontsize=8)
                ax.xaxis.set_label_position("top")
            if j == 0 and labels is not None and label_names is not None:
                ax.set_ylabel(label_names[int(labels[i])], fontsize=8)
    fig.suptitle("Figure (rotation task): the network predicts how far each image was turned", fontsize=9)
    fig.tight_layout()
    return fig


def plot_probe_curve(curve: dict[str, dict[float, float]], chance: float | None = None, ax=None,
                     title: str = "Linear probe: accuracy on the hidden labels against the label fraction"):
    """Accuracy against the labelled fraction (log scale), one line per method."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    names = {"rotation": "linear probe on rotation features", "random": "linear probe on random-init features",
             "scratch": "same network trained from scratch"}
    for method, values in curve.items():
        f = sorted(values)
        ax.plot([100 * v for v in f], [values[v] for v in f], marker="o", label=names.get(method, method))
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("labelled images (% of the training set)")
    ax.set_ylabel("accuracy on the hidden labels")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_rotation_per_class(per_class, label_names, ceiling: dict[str, float] | None = None, ax=None):
    """Rotation accuracy per class, beside the Bayes ceiling where the symmetry is known."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    xs = np.arange(len(label_names))
    ax.bar(xs - 0.2, per_class, 0.4, label="measured (held-out images)")
    if ceiling:
        ax.bar(xs + 0.2, [ceiling.get(n, np.nan) for n in label_names], 0.4, label="ceiling from the shape's symmetry",
               color="lightgray", edgecolor="k")
    ax.axhline(0.25, color="k", ls="--", lw=0.8, label="chance (1 of 4)")
    ax.set_xticks(xs, label_names, rotation=30, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rotation accuracy")
    ax.set_title("Rotation task per class: what the self-supervised network can and cannot learn", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def load_split(dataset: str = "shapes", image_size: int = 32, n_train: int = 2000, n_reference: int = 1000,
               seed: int = 0):
    """The notebook's data: ``(train, reference)`` :class:`~gan_helpers.data.ImageSet` s with labels.

    ``shapes``: ``n_train + n_reference`` drawn images; ``digits``: scikit-learn's 1,797 digits,
    shuffled and split (``n_reference`` held out, the rest up to ``n_train`` for training);
    ``cifar10``: the first ``n_train + n_reference`` CIFAR-10 training images (needs the internet);
    a folder with one subfolder per class also works. The reference part is never shown to a GAN:
    it trains the evaluator and is the FID reference.
    """
    from .data import load_dataset, load_labelled_folder, make_shapes
    from pathlib import Path

    if dataset == "shapes":
        full = make_shapes(n_train + n_reference, image_size, seed=seed)
    elif dataset == "cifar10":
        full = load_dataset("cifar10", image_size=image_size, limit=n_train + n_reference)
    elif Path(dataset).expanduser().is_dir():
        full = load_labelled_folder(dataset, image_size)
    else:
        full = load_dataset(dataset, image_size=image_size)
    if full.labels is None:
        raise ValueError(f"dataset {dataset!r} has no class labels; notebook 04 needs a labelled set")
    if len(full) < n_reference + 20:
        raise ValueError(f"dataset {dataset!r} has {len(full)} images: too few for n_reference={n_reference} "
                         f"held-out images plus a training set")
    perm = np.random.default_rng(seed).permutation(len(full))
    ref = perm[:n_reference]
    train = perm[n_reference:n_reference + n_train]
    return full.subset(np.sort(train)), full.subset(np.sort(ref))
