r"""The training techniques of Salimans et al. 2016, "Improved Techniques for Training GANs"
(arXiv:1606.03498; notes in ``../shared/seeds/004_*.txt``), as small reusable pieces, and the
ablation loop of notebook 05 that trains a DCGAN with each of them.

* **Feature matching** (section 3.1): G matches the mean of an intermediate layer
  :math:`\mathbf f(\mathbf x)` of D on real and generated batches,

  .. math:: L_G = \big\| \mathbb E_{x\sim p_{data}} \mathbf f(x) - \mathbb E_{z} \mathbf f(G(z)) \big\|_2^2

  (averaged over the feature dimensions, as ``T.mean(T.square(m1 - m2))`` in openai/improved-gan).
* **Minibatch discrimination** (3.2): :math:`f(x_i) \in \mathbb R^A` times
  :math:`T \in \mathbb R^{A\times B\times C}` gives :math:`M_i \in \mathbb R^{B\times C}`;
  :math:`c_b(x_i, x_j) = \exp(-\|M_{i,b} - M_{j,b}\|_{L_1})`;
  :math:`o(x_i)_b = \sum_{j=1}^n c_b(x_i, x_j)`; :math:`o(x_i) \in \mathbb R^B` is concatenated to
  :math:`f(x_i)` and fed to D's next layer.
* **Historical averaging** (3.3): each player's cost gets
  :math:`\lambda\,\|\theta - \frac1t \sum_{i=1}^t \theta[i]\|^2`.
* **One-sided label smoothing** (3.4): D's real targets become :math:`\alpha` (e.g. 0.9), fake
  targets stay 0: ``losses.discriminator_loss(real_target=alpha)``.
* **Virtual batch normalization** (3.5): each example is normalised with the statistics of a
  reference batch chosen once at the start, combined with the example itself (weights
  :math:`\frac{1}{n+1}` and :math:`\frac{n}{n+1}`, as the ``VBN`` class of openai/improved-gan's
  ImageNet code); the reference batch goes through the network at every forward pass, which
  is why the paper uses VBN in the generator only.

The experiment (:func:`run_ablation`) trains a baseline DCGAN, each technique alone and all
together from the same seed and data; :func:`ablation_claims` turns the measured numbers into
verdicts.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageSet, load_dataset, make_shapes
from .features import DomainClassifier, extract_features, train_domain_classifier
from .losses import discriminator_loss, generator_loss
from .metrics import class_coverage, classifier_probs, frechet_distance, inception_score
from .models import Discriminator, Generator
from .results import claim, verdict
from .train import HISTORY_KEYS, GANTrainer, TrainConfig

SOURCE = "Salimans et al. 2016 (notes)"


# ---------------------------------------------------------------------------------------------
# Feature matching
# ---------------------------------------------------------------------------------------------

def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Squared distance between the batch means of D's features on real and fake images,
    averaged over the feature dimensions. The real side is detached: only G is trained by it."""
    if real_features.dim() != 2 or fake_features.dim() != 2 or real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"features must be (N, A) with the same A; got {tuple(real_features.shape)} "
                         f"and {tuple(fake_features.shape)}")
    diff = real_features.detach().float().mean(0) - fake_features.float().mean(0)  # (A,)
    return (diff ** 2).mean()


# ---------------------------------------------------------------------------------------------
# Minibatch discrimination
# ---------------------------------------------------------------------------------------------

class MinibatchDiscrimination(nn.Module):
    """f (N, A) -> [f, o(f)] (N, A + B): B minibatch features of C dimensions each.

    ``include_self=True`` sums over every j as the paper writes it (the j = i term adds the
    constant exp(0) = 1); openai/improved-gan's ``MinibatchLayer`` leaves it out
    (``include_self=False``). ``T`` starts from N(0, ``init_std``) (the reference code: 0.05).
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5,
                 init_std: float = 0.05, include_self: bool = True):
        super().__init__()
        if min(in_features, num_kernels, kernel_dim) < 1:
            raise ValueError("in_features, num_kernels and kernel_dim must be >= 1")
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.include_self = include_self
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * init_std)  # (A, B*C)

    @property
    def out_features(self) -> int:
        return self.in_features + self.num_kernels

    def minibatch_features(self, f: torch.Tensor) -> torch.Tensor:
        """o(x_i) for each sample: (N, B)."""
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(f"expected features (N, {self.in_features}), got {tuple(f.shape)}")
        M = (f @ self.T).view(len(f), self.num_kernels, self.kernel_dim)  # (N, B, C)
        Mb = M.transpose(0, 1).contiguous()  # (B, N, C)
        l1 = torch.cdist(Mb, Mb, p=1)  # (B, N, N): ||M_{i,b} - M_{j,b}||_1 (cdist: ~3x faster than broadcasting)
        o = torch.exp(-l1).sum(2).T  # (N, B): sum over j of c_b(x_i, x_j)
        return o if self.include_self else o - 1.0

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.minibatch_features(f)], dim=1)  # (N, A + B)


class ImprovedDiscriminator(nn.Module):
    """The DCGAN discriminator's convolutional body (from :class:`~gan_helpers.models.Discriminator`),
    an optional minibatch-discrimination layer on its flattened output f(x), and a linear head.

    With ``minibatch_kernels=0`` it is the DCGAN discriminator (its 4x4 head convolution is a
    linear map of the flattened map). ``features`` gives f(x), the layer feature matching uses.
    """

    def __init__(self, ndf: int = 64, nc: int = 3, image_size: int = 64, minibatch_kernels: int = 0,
                 kernel_dim: int = 5):
        super().__init__()
        base = Discriminator(ndf, nc, image_size)
        self.body, self.feature_dim, self.image_size = base.body, base.feature_dim, image_size  # (B, ndf*m, 4, 4)
        self.mbd = MinibatchDiscrimination(self.feature_dim, minibatch_kernels, kernel_dim) if minibatch_kernels else None
        head_in = self.mbd.out_features if self.mbd else self.feature_dim
        self.head = nn.Linear(head_in, 1, bias=False)  # (B, 1)
        nn.init.normal_(self.head.weight, 0.0, 0.02)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)  # (B, feature_dim): f(x)

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        h = self.mbd(f) if self.mbd is not None else f  # (B, feature_dim [+ kernels])
        return self.head(h).flatten(), f  # (B,), (B, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(x)[0]


# ---------------------------------------------------------------------------------------------
# Historical averaging
# ---------------------------------------------------------------------------------------------

class HistoricalAverage:
    r"""The running mean :math:`\bar\theta_t = \frac1t\sum_{i=1}^t \theta[i]` of a module's parameters
    and the penalty :math:`\|\theta - \bar\theta\|^2` (summed over all parameters).

    Call :meth:`penalty` in the loss and :meth:`update` after each optimizer step; the mean starts
    at the initial parameters.
    """

    def __init__(self, module: nn.Module):
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.mean = [p.detach().clone() for p in self.params]
        self.count = 1

    def penalty(self) -> torch.Tensor:
        return sum(((p - m) ** 2).sum() for p, m in zip(self.params, self.mean))

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        for p, m in zip(self.params, self.mean):
            m.add_((p.detach() - m) / self.count)


# ---------------------------------------------------------------------------------------------
# Virtual batch normalization
# ---------------------------------------------------------------------------------------------

class VirtualBatchNorm2d(nn.Module):
    """Batch norm whose statistics come from a fixed reference batch plus the example itself.

    Reference pass (``collect=True``): per-channel mean and mean square over the reference batch
    (N, C, H, W); the reference batch is normalised with them. Live pass: for each example,
    ``mean = 1/(n+1) * its own spatial mean + n/(n+1) * reference mean`` (the same for the mean
    square), so an example's output never depends on the other examples of its batch.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.collect = False
        self._ref: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def _normalize(self, x, mean, mean_sq):
        std = torch.sqrt(self.eps + (mean_sq - mean ** 2).clamp_min(0))
        return (x - mean) / std * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.collect:  # the reference batch: its own statistics
            mean = x.mean((0, 2, 3), keepdim=True)  # (1, C, 1, 1)
            mean_sq = (x ** 2).mean((0, 2, 3), keepdim=True)
            self._ref = (mean, mean_sq, len(x))
            return self._normalize(x, mean, mean_sq)
        if self._ref is None:
            raise RuntimeError("VirtualBatchNorm2d needs a reference pass first (set collect=True and run the reference batch)")
        ref_mean, ref_mean_sq, n = self._ref
        new = 1.0 / (n + 1.0)
        mean = new * x.mean((2, 3), keepdim=True) + (1 - new) * ref_mean  # (B, C, 1, 1): per example
        mean_sq = new * (x ** 2).mean((2, 3), keepdim=True) + (1 - new) * ref_mean_sq
        return self._normalize(x, mean, mean_sq)


class VBNGenerator(Generator):
    """The DCGAN generator with every batch norm replaced by :class:`VirtualBatchNorm2d`.

    ``ref_z`` (a buffer, fixed at construction from ``ref_seed``) is the reference batch; each
    forward pass first runs it (collecting each layer's statistics with the current weights),
    then the real input. This doubles the cost of G's forward pass, as the paper notes.
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64,
                 ref_batch_size: int = 64, ref_seed: int = 0):
        super().__init__(nz, ngf, nc, image_size)
        for i, m in enumerate(self.main):
            if isinstance(m, nn.BatchNorm2d):
                vbn = VirtualBatchNorm2d(m.num_features, m.eps)
                vbn.weight.data.copy_(m.weight.data)  # keep the DCGAN initialisation N(1, 0.02)
                self.main[i] = vbn
        self.register_buffer("ref_z", torch.randn(ref_batch_size, nz, generator=torch.Generator().manual_seed(ref_seed)))

    def _vbn_layers(self):
        return [m for m in self.main if isinstance(m, VirtualBatchNorm2d)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        layers = self._vbn_layers()
        for m in layers:
            m.collect = True
        try:
            self.main(self.ref_z[:, :, None, None].to(z.dtype).contiguous(memory_format=torch.contiguous_format))
        finally:
            for m in layers:
                m.collect = False
        return self.main(z)


# ---------------------------------------------------------------------------------------------
# The ablation's training loop
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Techniques:
    """Which of the paper's techniques a run uses (all off: the DCGAN baseline)."""

    feature_matching: bool = False    # G matches D's mean features instead of -log D(G(z))
    minibatch_kernels: int = 0        # B of minibatch discrimination (0: off; reference code 100)
    kernel_dim: int = 5               # C of minibatch discrimination (reference code 5)
    historical_weight: float = 0.0    # lambda of the historical-averaging penalty (0: off)
    real_label: float = 1.0           # one-sided label smoothing: D's real target (paper 0.9; 1: off)
    virtual_batch_norm: bool = False  # VBN in G instead of batch norm

    def describe(self) -> str:
        on = []
        if self.feature_matching:
            on.append("feature matching")
        if self.minibatch_kernels:
            on.append(f"minibatch discrimination (B={self.minibatch_kernels}, C={self.kernel_dim})")
        if self.historical_weight:
            on.append(f"historical averaging (lambda={self.historical_weight:g})")
        if self.real_label < 1:
            on.append(f"one-sided label smoothing ({self.real_label:g})")
        if self.virtual_batch_norm:
            on.append("virtual batch norm in G")
        return ", ".join(on) or "DCGAN baseline"


def ablation_variants(minibatch_kernels: int = 100, kernel_dim: int = 5, historical_weight: float = 1e-3,
                      real_label: float = 0.9) -> dict[str, Techniques]:
    """The baseline, each technique alone, and all together."""
    each = {
        "feature_matching": Techniques(feature_matching=True),
        "minibatch_disc": Techniques(minibatch_kernels=minibatch_kernels, kernel_dim=kernel_dim),
        "historical_avg": Techniques(historical_weight=historical_weight),
        "label_smoothing": Techniques(real_label=real_label),
        "vbn": Techniques(virtual_batch_norm=True),
    }
    every = Techniques(True, minibatch_kernels, kernel_dim, historical_weight, real_label, True)
    return {"baseline": Techniques(), **each, "all": every}


EXTRA_KEYS = ("g_nonsat", "fm_loss", "hist_penalty_d", "hist_penalty_g")


class ImprovedGANTrainer(GANTrainer):
    """:class:`~gan_helpers.train.GANTrainer` with the paper's techniques switched on by ``techniques``.

    One D step and one G step per iteration. ``history`` adds ``g_nonsat`` (the non-saturating G
    loss on the G step's batch, logged for every variant so they can be compared), ``fm_loss`` and
    the historical-averaging penalties.
    """

    def __init__(self, images: torch.Tensor, config: TrainConfig, techniques: Techniques = Techniques()):
        if config.g_steps_per_d_step != 1 or config.d_steps_per_g_step != 1:
            raise ValueError("ImprovedGANTrainer runs one D step and one G step per iteration")
        t = self.techniques = techniques
        if not 0.0 < t.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {t.real_label}")
        config = dataclasses.replace(config, real_label=t.real_label, log_paper_losses=False)
        torch.manual_seed(config.seed)  # the same initial weights for every variant where the shapes agree
        G = (VBNGenerator(config.nz, config.ngf, 3, config.image_size, ref_seed=config.seed) if t.virtual_batch_norm
             else Generator(config.nz, config.ngf, 3, config.image_size))
        D = ImprovedDiscriminator(config.ndf, 3, config.image_size, t.minibatch_kernels, t.kernel_dim)
        super().__init__(images, config, generator=G, discriminator=D)
        self.hist_d = HistoricalAverage(self.D) if t.historical_weight else None
        self.hist_g = HistoricalAverage(self.G) if t.historical_weight else None
        for k in EXTRA_KEYS:
            self.history[k] = []

    def train_iteration(self) -> dict[str, float]:
        cfg, t = self.config, self.techniques
        it = self.iteration + 1
        t0 = time.perf_counter()
        zero = torch.zeros((), device=self.device)

        # (1) Update D: maximize log D(x) + log(1 - D(G(z))), real target smoothed to cfg.real_label (3.4),
        #     minus lambda ||theta_D - mean of past theta_D||^2 (3.3)
        real = self._real_batch()
        z = self._z(self.batch_size)
        with self._autocast():
            with torch.no_grad():
                fake = self.G(z)
            real_logits, real_f = self.D.logits_and_features(real)
            fake_logits = self.D(fake)
            loss = discriminator_loss(real_logits, fake_logits, cfg.real_label)
        hp_d = self.hist_d.penalty() if self.hist_d else zero
        self.opt_d.zero_grad(set_to_none=True)
        (loss.total + t.historical_weight * hp_d).backward()
        self.opt_d.step()
        if self.hist_d:
            self.hist_d.update()
        self.d_steps += 1

        # (2) Update G: feature matching ||E f(x) - E f(G(z))||^2 (3.1) or maximize log D(G(z)),
        #     plus its own historical-averaging penalty
        with self._autocast():
            fake_logits_g, fake_f = self.D.logits_and_features(self.G(z))
            g_nonsat = generator_loss(fake_logits_g)
            if t.feature_matching:
                with torch.no_grad():
                    real_f = self.D.features(real)  # f(x) with the updated D
                fm = feature_matching_loss(real_f, fake_f)
                g_loss = fm
            else:
                fm, g_loss = zero, g_nonsat
        hp_g = self.hist_g.penalty() if self.hist_g else zero
        self.opt_g.zero_grad(set_to_none=True)
        (g_loss + t.historical_weight * hp_g).backward()
        self.opt_g.step()
        if self.hist_g:
            self.hist_g.update()
        self.g_steps += 1

        row = {"iteration": it, "epoch": self.epoch, "d_loss_real": loss.real, "d_loss_fake": loss.fake,
               "d_loss": loss.total, "g_loss": g_loss, "d_x": torch.sigmoid(real_logits.detach().float()).mean(),
               "d_g_z": torch.sigmoid(fake_logits.detach().float()).mean(), "g_nonsat": g_nonsat, "fm_loss": fm,
               "hist_penalty_d": hp_d, "hist_penalty_g": hp_g}
        row = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in row.items()}
        for key in ("d_loss", "g_loss"):
            self._check_finite(row[key], key, it)
        self.iteration = it
        self.wall_s += time.perf_counter() - t0
        row["wall_s"] = self.wall_s
        for k in (*HISTORY_KEYS, *EXTRA_KEYS):
            self.history[k].append(row.get(k, float("nan")))
        if it in cfg.sample_at:
            self.samples[it] = self.sample(fixed=True)
        return row


# ---------------------------------------------------------------------------------------------
# Data, evaluation and the ablation
# ---------------------------------------------------------------------------------------------

def ablation_data(dataset: str = "shapes", image_size: int = 32, n_train: int = 2000, n_eval: int = 2000,
                  seed: int = 0) -> dict[str, ImageSet]:
    """Three disjoint labelled sets: ``train`` (the GAN's data), ``reference`` (the domain classifier's
    training data and the FID reference) and ``test`` (real images never seen by either network: the
    real Inception Score and the real-vs-real FID floor).

    ``"shapes"`` draws three independent sets of the built-in 10-class shapes; any other labelled
    set (``"digits"``, a labelled folder) is split 50/30/20 at random (digits: 898/539/360).
    """
    if dataset == "shapes":
        return {"train": make_shapes(n_train, image_size, seed),
                "reference": make_shapes(n_eval, image_size, seed + 1),
                "test": make_shapes(max(n_eval // 2, 500), image_size, seed + 2)}
    full = load_dataset(dataset, image_size)
    if full.labels is None:
        raise ValueError(f"dataset {dataset!r} has no class labels; the ablation needs a labelled set "
                         f"(shapes, digits, or a folder with one subfolder per class)")
    perm = np.random.default_rng(seed).permutation(len(full))
    a, b = int(0.5 * len(full)), int(0.8 * len(full))
    return {"train": full.subset(perm[:a]), "reference": full.subset(perm[a:b]), "test": full.subset(perm[b:])}


@dataclass
class AblationEvaluator:
    """Scores images in the feature and label space of a :class:`DomainClassifier` trained on the
    ``reference`` set: Inception Score, FID against the reference, class coverage."""

    classifier: DomainClassifier
    reference: ImageSet
    n_samples: int = 1000
    split_size: int = 100        # images per IS split, so that real and generated sets of any size compare fairly
    min_share: float = 0.02      # a class counts as covered above this share of the samples

    def __post_init__(self):
        self.ref_features = extract_features(self.classifier, self.reference.images)
        self.n_classes = int(self.reference.labels.max()) + 1

    @classmethod
    def fit(cls, reference: ImageSet, epochs: int = 8, seed: int = 0, width: int = 32, augment: bool = False,
            **kw) -> "AblationEvaluator":
        """Train the classifier on ``reference``; ``augment`` (flips, shifts) is off by default: a flipped
        digit is another digit."""
        clf = train_domain_classifier(reference.images, reference.labels, epochs=epochs, seed=seed, width=width,
                                      augment=augment)
        return cls(clf, reference, **kw)

    def accuracy(self, s: ImageSet) -> float:
        return float((classifier_probs(self.classifier, s.images).argmax(1) == s.labels).double().mean())

    def splits(self, n: int) -> int:
        """Number of IS splits for n images: about ``split_size`` images each (the reference: 10 splits of 5,000)."""
        return max(1, n // self.split_size)

    def quick(self, images: torch.Tensor) -> dict[str, float]:
        return {"fid": frechet_distance(self.ref_features, extract_features(self.classifier, images))}

    def __call__(self, trainer: GANTrainer) -> dict[str, float]:
        return self.quick(trainer.sample(self.n_samples))

    def full(self, images: torch.Tensor, n_boot: int = 10, seed: int = 0) -> dict:
        """IS (mean, std over splits), FID with its bootstrap noise, and class coverage."""
        f = extract_features(self.classifier, images)
        probs = classifier_probs(self.classifier, images)
        rng = np.random.default_rng(seed)
        cov = class_coverage(probs.argmax(1).numpy(), self.reference.labels.numpy(), self.n_classes, self.min_share)
        boot = [rng.integers(0, len(f), len(f)) for _ in range(n_boot)]
        return {"inception_score": inception_score(probs, self.splits(len(probs))),
                "fid": frechet_distance(self.ref_features, f),
                "fid_noise": float(np.std([frechet_distance(self.ref_features, f[i]) for i in boot])),
                "classes_covered": cov["classes_covered"], "kl_to_real": cov["kl_to_real"],
                "kl_noise": float(np.std([class_coverage(probs.argmax(1).numpy()[i], self.reference.labels.numpy(),
                                                         self.n_classes)["kl_to_real"] for i in boot])),
                "class_histogram": cov["histogram"]}


def run_ablation(images: torch.Tensor, variants: dict[str, Techniques], iterations: int, base: TrainConfig,
                 evaluator: AblationEvaluator | None = None, eval_every: int = 50,
                 progress: bool = True) -> dict[str, ImprovedGANTrainer]:
    """Train one GAN per variant from the same seed, data order and budget."""
    runs = {}
    for name, tech in variants.items():
        trainer = ImprovedGANTrainer(images, base, tech)
        trainer.fit(iterations, progress=progress, eval_every=eval_every, eval_fn=evaluator)
        runs[name] = trainer
    return runs


def fid_fluctuation(evals: list[dict], tail: float = 0.5) -> float:
    """Instability of a run: the mean absolute change of FID between consecutive evaluations over the
    last ``tail`` of training, divided by the mean FID there (0 for a run that has settled)."""
    fids = np.array([e["fid"] for e in evals], float)
    last = fids[int(len(fids) * (1 - tail)):]
    if len(last) < 2:
        raise ValueError("need at least 2 evaluations in the tail; evaluate more often")
    return float(np.abs(np.diff(last)).mean() / last.mean())


def summary_table(quality: dict[str, dict], real: dict, stability: dict[str, dict]):
    """One row per variant (and the held-out real images): IS, FID, coverage and stability."""
    import pandas as pd

    rows = {}
    for name, q in {"real (held out)": real, **quality}.items():
        s = stability.get(name, {})
        rows[name] = {"IS": q["inception_score"][0], "IS std": q["inception_score"][1], "FID": q["fid"],
                      "FID noise": q["fid_noise"], "classes covered": q["classes_covered"], "KL to real": q["kl_to_real"],
                      "FID fluctuation": s.get("fid_fluctuation", np.nan), "D loss std": s.get("d_loss_std", np.nan)}
    return pd.DataFrame(rows).T


def loss_oscillation(history: dict[str, list[float]], key: str = "d_loss", tail: float = 0.5) -> float:
    """Std of a loss over the last ``tail`` of the iterations: how much the game still swings."""
    v = np.asarray(history[key], float)
    return float(v[int(len(v) * (1 - tail)):].std())


# ---------------------------------------------------------------------------------------------
# The claims
# ---------------------------------------------------------------------------------------------

def _better(a: dict, b: dict, noise_factor: float) -> bool | None:
    """True if a has a lower FID than b beyond noise, False if higher, None if within noise."""
    margin = noise_factor * max(a["fid_noise"], b["fid_noise"])
    if b["fid"] - a["fid"] > margin:
        return True
    if a["fid"] - b["fid"] > margin:
        return False
    return None


def ablation_claims(quality: dict[str, dict], real: dict, stability: dict[str, dict], ladder: dict,
                    noise_factor: float = 2.0, stable_factor: float = 0.75) -> list[dict]:
    """The document's claims with verdicts from this run's numbers.

    ``quality[variant]``: :meth:`AblationEvaluator.full` of its final samples; ``real``: the same for
    held-out real images (plus ``fid_floor``); ``stability[variant]``: ``{"fid_fluctuation",
    "d_loss_std"}``; ``ladder``: :func:`degradation_ladder` of real images. A difference counts only
    beyond ``noise_factor`` times the bootstrap noise.
    """
    base = quality["baseline"]
    claims = []

    # 1. minibatch discrimination reduces mode collapse
    if "minibatch_disc" in quality:
        m = quality["minibatch_disc"]
        margin = noise_factor * max(m["kl_noise"], base["kl_noise"])
        base_collapsed = base["classes_covered"] < real["classes_covered"] or base["kl_to_real"] > real["kl_to_real"] + margin
        fewer_kl = base["kl_to_real"] - m["kl_to_real"] > margin
        more_cls = m["classes_covered"] > base["classes_covered"]
        worse = m["kl_to_real"] - base["kl_to_real"] > margin or m["classes_covered"] < base["classes_covered"]
        if not base_collapsed and not worse:
            v = "inconclusive"  # the baseline had no mode collapse to reduce
        else:
            # holds: more classes AND a closer histogram; one of the two alone (e.g. still one class,
            # slightly less peaked, as seed 2 of the default run gave) is partly
            v = verdict(fewer_kl and more_cls and not worse, partly=(fewer_kl or more_cls) and not worse)
        claims.append(claim(
            "Minibatch discrimination reduces mode collapse (samples cover more classes, closer class histogram)",
            f"{SOURCE}, minibatch discrimination", v,
            {"classes_covered": {k: quality[k]["classes_covered"] for k in ("baseline", "minibatch_disc")},
             "kl_to_real": {k: quality[k]["kl_to_real"] for k in ("baseline", "minibatch_disc")},
             "real_classes_covered": real["classes_covered"], "real_kl_to_real": real["kl_to_real"],
             "kl_margin": margin, "baseline_collapsed": base_collapsed}))

    # 2. feature matching makes training more stable
    if "feature_matching" in stability:
        s_fm, s_b = stability["feature_matching"], stability["baseline"]
        ratio = s_fm["fid_fluctuation"] / max(s_b["fid_fluctuation"], 1e-12)
        v = "holds" if ratio < stable_factor else ("does not hold" if ratio > 1 / stable_factor else "inconclusive")
        claims.append(claim(
            "Feature matching makes training more stable (smaller swings of sample quality late in training)",
            f"{SOURCE}, feature matching", v,
            {"fid_fluctuation": {k: stability[k]["fid_fluctuation"] for k in ("baseline", "feature_matching")},
             "ratio_fm_to_baseline": ratio, "threshold": stable_factor,
             "final_fid": {k: quality[k]["fid"] for k in ("baseline", "feature_matching")}}))

    # 3. label smoothing helps, 4. VBN helps, 5. historical averaging helps, 6. all together help
    for name, text in (("label_smoothing", "One-sided label smoothing (0.9) gives better samples than the baseline"),
                       ("vbn", "Virtual batch normalization in G gives better samples than the baseline"),
                       ("historical_avg", "Historical averaging gives better samples than the baseline"),
                       ("all", "All techniques together give better samples than the baseline")):
        if name in quality:
            b = _better(quality[name], base, noise_factor)
            claims.append(claim(text, f"{SOURCE}, {name.replace('_', ' ')}", verdict(b),
                                {"fid": {k: quality[k]["fid"] for k in ("baseline", name)},
                                 "fid_noise": max(quality[name]["fid_noise"], base["fid_noise"]),
                                 "inception_score": {k: quality[k]["inception_score"] for k in ("baseline", name)}}))

    # 7. IS ranks real above generated
    is_real, sd_real = real["inception_score"]
    gen = {k: q["inception_score"] for k, q in quality.items()}
    above = {k: bool(is_real - sd_real > m + s) for k, (m, s) in gen.items()}
    claims.append(claim("The Inception Score ranks real images above every generated set",
                        f"{SOURCE}, Inception Score", verdict(all(above.values()), partly=any(above.values())),
                        {"real": real["inception_score"], "generated": gen, "real_above_beyond_std": above}))

    # 8. IS agrees with quality: on a known quality ladder, and with FID across the variants
    lad = ladder["inception_score"]
    monotone = all(a > b for a, b in zip(lad, lad[1:]))
    names = list(quality)
    rho = float(_spearman([quality[k]["inception_score"][0] for k in names], [-quality[k]["fid"] for k in names]))
    claims.append(claim("The Inception Score agrees with sample quality (falls as real images are degraded; "
                        "ranks the variants as FID does)", f"{SOURCE}, Inception Score",
                        verdict(monotone and rho >= 0.5, partly=monotone or rho >= 0.5),
                        {"ladder_noise_std": ladder["noise_std"], "ladder_is": lad, "ladder_fid": ladder["fid"],
                         "ladder_monotone": monotone, "spearman_is_vs_minus_fid_variants": rho}))
    return claims


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 2 else float("nan")


# ---------------------------------------------------------------------------------------------
# Inception Score: ground truths and pitfalls, on real images
# ---------------------------------------------------------------------------------------------

def degradation_ladder(evaluator: AblationEvaluator, images: torch.Tensor,
                       noise_std: tuple[float, ...] = (0.0, 0.2, 0.4, 0.8, 1.6), seed: int = 0) -> dict:
    """Real images with Gaussian pixel noise of growing std (a quality ordering known in advance):
    the Inception Score and FID of each rung."""
    g = torch.Generator().manual_seed(seed)
    out = {"noise_std": list(noise_std), "inception_score": [], "inception_score_std": [], "fid": []}
    for s in noise_std:
        x = (images + s * torch.randn(images.shape, generator=g)).clamp(-1, 1)
        q = evaluator.quick(x)
        m, sd = inception_score(classifier_probs(evaluator.classifier, x), evaluator.splits(len(x)))
        out["inception_score"].append(m)
        out["inception_score_std"].append(sd)
        out["fid"].append(q["fid"])
    return out


def classes_kept_scores(evaluator: AblationEvaluator, s: ImageSet, ks: tuple[int, ...] = (1, 2, 5, 10)) -> dict[int, float]:
    """The IS of real images restricted to their first k classes: close to k for a confident classifier
    (the ground truth of a set using k classes evenly)."""
    probs = classifier_probs(evaluator.classifier, s.images)
    return {k: inception_score(probs[s.labels < k], 1)[0] for k in ks}


def pitfall_scores(evaluator: AblationEvaluator, s: ImageSet, seed: int = 0) -> dict[str, float]:
    """The same real images scored under the conventions that make published numbers disagree."""
    clf = evaluator.classifier
    probs = classifier_probs(clf, s.images)
    order = torch.argsort(s.labels, stable=True)
    shuffled = torch.randperm(len(probs), generator=torch.Generator().manual_seed(seed))
    feats = extract_features(clf, s.images).double()
    head = clf.heads[next(iter(clf.heads))]
    no_bias = torch.softmax(feats @ head.weight.double().T, 1)  # the reference code drops the logits' bias
    logits = torch.log(probs)
    extra = torch.softmax(torch.cat([logits, logits.mean(1, keepdim=True).expand(-1, 8)], 1), 1)  # 8 unused classes
    resized = {mode: F.interpolate(F.interpolate(s.images, scale_factor=0.5, mode="area"), size=s.images.shape[-2:],
                                   mode=mode) for mode in ("nearest", "bilinear")}
    base_m, base_sd = inception_score(probs, 10)
    return {
        "reference (10 contiguous splits, np.std)": base_m,
        "reference std (np.std, ddof=0)": base_sd,
        "std with ddof=1 (torch.std, torchmetrics)": float(base_sd * np.sqrt(10 / 9)),
        "1 split (sbarratt/inception-score-pytorch default)": inception_score(probs, 1)[0],
        "splits of 10 images": inception_score(probs, max(1, len(probs) // 10))[0],
        "10 splits, shuffled first (torchmetrics)": inception_score(probs[shuffled], 10)[0],
        "10 splits, data sorted by class": inception_score(probs[order], 10)[0],
        "logits without the bias term": inception_score(no_bias, 10)[0],
        "8 extra unused classes (1008 vs 1000)": inception_score(extra, 10)[0],
        "half resolution, nearest upsampling": inception_score(classifier_probs(clf, resized["nearest"]), 10)[0],
        "half resolution, bilinear upsampling": inception_score(classifier_probs(clf, resized["bilinear"]), 10)[0],
    }


# ---------------------------------------------------------------------------------------------
# Figures and the widget
# ---------------------------------------------------------------------------------------------

def variant_title(name: str, q: dict | None) -> str:
    if not q:
        return name
    m, s = q["inception_score"]
    return f"{name}\nIS {m:.2f}±{s:.2f}, FID {q['fid']:.1f}, {q['classes_covered']} classes"


def plot_class_histograms(quality: dict[str, dict], real: dict, label_names: list[str], ax=None):
    """Share of samples per predicted class, one group of bars per class, one bar per variant; the
    real histogram as black ticks (mode coverage at a glance)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.6))
    names = list(quality)
    K = len(label_names)
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax.bar(np.arange(K) + (i - len(names) / 2 + 0.5) * width, quality[n]["class_histogram"], width, label=n)
    ax.scatter(np.arange(K), real["class_histogram"], marker="_", s=400, color="k", label="real (held out)", zorder=3)
    ax.set_xticks(np.arange(K), label_names, rotation=30)
    ax.set_ylabel("share of samples")
    ax.set_title("Mode coverage: classes the domain classifier sees in each variant's samples", fontsize=10)
    ax.legend(fontsize=7, ncol=4)
    return ax


def plot_ladder(ladder: dict, ax=None):
    """Inception Score (left axis) and FID (right axis) of real images under growing pixel noise."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    x = ladder["noise_std"]
    ax.errorbar(x, ladder["inception_score"], yerr=ladder["inception_score_std"], marker="o", color="C0",
                label="Inception Score")
    ax.set_xlabel("std of Gaussian pixel noise added to real images")
    ax.set_ylabel("Inception Score (domain classifier)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(x, ladder["fid"], marker="s", color="C3", label="FID")
    ax2.set_ylabel("FID (domain features)", color="C3")
    ax.set_title("A known quality ladder: IS should fall, FID rise", fontsize=10)
    return ax


def show_variant(samples: dict[str, torch.Tensor], variant: str, quality: dict[str, dict] | None = None,
                 real: torch.Tensor | None = None, max_images: int = 64):
    """One variant's fixed-noise samples (beside real images if given), titled with its scores."""
    import matplotlib.pyplot as plt

    from .plots import show_grid

    if variant not in samples:
        raise KeyError(f"no samples for variant {variant!r}; have {sorted(samples)}")
    n = 2 if real is not None else 1
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.9), squeeze=False)
    show_grid(samples[variant], variant_title(variant, (quality or {}).get(variant)), ax=axes[0, 0], max_images=max_images)
    if real is not None:
        show_grid(real, "real (training set)", ax=axes[0, 1], max_images=max_images)
    fig.tight_layout()
    return fig
