r"""Class-conditional GANs with few labels: unconditional, conditional, S2GAN and S3GAN.

Lučić, Ritter et al., "High-Fidelity Image Generation With Fewer Labels" (ICML 2019,
arXiv:1903.02271; the Google blog post ``../shared/seeds/002_*.txt``) and google/compare_gan
(``gans/s3gan.py``). The pieces:

* **Generator** with class-conditional batch norm (de Vries et al. 2017; BigGAN): every batch
  norm after the first layer normalises without its own affine parameters and takes a per-class
  scale and shift, :math:`\gamma_y \hat h + \beta_y`.
* **Projection discriminator** (Miyato & Koyama 2018), spectrally normalised:

  .. math::
      D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x) \rangle

  with :math:`\phi` the conv body (global sum pooling), :math:`\psi` a linear unconditional term
  and :math:`e_y` a learned class embedding. Optional heads on :math:`\phi(x)`: a 4-way rotation
  head (Chen et al. 2019, SS-GAN) and a linear class head (S3GAN's "predictor").
* **Training** with the non-saturating loss of :mod:`gan_helpers.losses` (compare_gan's
  ``loss_lib`` default), Adam. Variants:

  - ``unconditional``: no labels anywhere;
  - ``conditional``: all true labels (the fully supervised upper reference);
  - ``s2gan``: the labelled fraction plus labels inferred by the rotation features' linear probe
    (:mod:`gan_helpers.selfsup`), treated as if they were true;
  - ``s3gan``: the discriminator's class head is trained on the labelled real images
    (:math:`\mathcal{L}_{cls}`, weight 1) and labels every other real image on the fly (hard
    argmax, no gradient), and both networks get the rotation loss: weight 1.0 for D on rotated
    real images, 0.2 for G on rotated generated ones:

    .. math::
        \mathcal{L}_D = \mathcal{L}_{GAN}^D + \mathcal{L}_{cls} + 1.0\,\mathcal{L}_{rot}(x_{real}),\qquad
        \mathcal{L}_G = \mathcal{L}_{GAN}^G + 0.2\,\mathcal{L}_{rot}(G(z, y))

  - ``s3gan_no_rotation``: S3GAN without the rotation loss (the ablation behind "the auxiliary
    rotation loss helps"; the paper's "co-training" arm).

As in compare_gan, the last ``batch_size / rotated_batch_fraction / 4`` real and generated images
of each batch are also fed at 90°, 180° and 270°; the rotation head sees those plus their upright
originals, the GAN loss only the upright batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .losses import discriminator_loss, generator_loss
from .results import claim, verdict
from .runtime import resolve_device
from .selfsup import NUM_ROTATIONS, rotate, rotation_loss

VARIANTS = ("unconditional", "conditional", "s2gan", "s3gan", "s3gan_no_rotation")
SOURCE = "Lučić, Ritter et al., High-Fidelity Image Generation With Fewer Labels"


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------

class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift depend on the class: ``gamma[y] * BN(h) + beta[y]``.

    ``n_classes=0`` gives an ordinary affine batch norm (one shared ``gamma``, ``beta``).
    """

    def __init__(self, num_features: int, n_classes: int = 0):
        super().__init__()
        self.n_classes = n_classes
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gamma = nn.Embedding(max(n_classes, 1), num_features)
        self.beta = nn.Embedding(max(n_classes, 1), num_features)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and y is None:
            raise ValueError("this batch norm is class-conditional: pass the labels y")
        if not self.n_classes:
            y = torch.zeros(len(h), dtype=torch.long, device=h.device)
        out = self.bn(h)
        return self.gamma(y)[:, :, None, None] * out + self.beta(y)[:, :, None, None]


class CondGenerator(nn.Module):
    """(z (B, nz), y (B,)) -> image (B, 3, S, S) in [-1, 1], DCGAN layout with conditional BN.

    ``n_classes=0`` is the unconditional generator (the same network with shared BN parameters).
    """

    def __init__(self, nz: int = 64, ngf: int = 32, n_classes: int = 10, image_size: int = 32):
        super().__init__()
        if image_size not in (32, 64):
            raise ValueError(f"image_size must be 32 or 64, got {image_size!r}")
        self.nz, self.n_classes, self.image_size = nz, n_classes, image_size
        mults = [8, 4, 2, 1] if image_size == 64 else [4, 2, 1]
        # No bias: reshaped to (C, 4, 4), a bias is a per-position constant that batch norm (per channel)
        # keeps, and as it grows it swamps z; with it every sample came out alike (measured, notebook 04).
        self.fc = nn.Linear(nz, ngf * mults[0] * 16, bias=False)  # (B, ngf*m0*4*4) -> (B, ngf*m0, 4, 4)
        self.bn0 = ConditionalBatchNorm2d(ngf * mults[0], n_classes)
        self.ups = nn.ModuleList()
        self.bns = nn.ModuleList()
        for m_in, m_out in zip(mults[:-1], mults[1:]):  # each doubles the side: 4 -> 8 -> 16 (-> 32)
            self.ups.append(nn.ConvTranspose2d(ngf * m_in, ngf * m_out, 4, 2, 1, bias=False))
            self.bns.append(ConditionalBatchNorm2d(ngf * m_out, n_classes))
        self.out = nn.ConvTranspose2d(ngf * mults[-1], 3, 4, 2, 1)  # (B, 3, S, S)
        self.c0 = ngf * mults[0]
        for mod in self.modules():
            if isinstance(mod, (nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(mod.weight, 0.0, 0.02)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z.flatten(1)).view(len(z), self.c0, 4, 4)
        h = F.relu(self.bn0(h, y))
        for up, bn in zip(self.ups, self.bns):
            h = F.relu(bn(up(h), y))
        return torch.tanh(self.out(h))


@dataclass
class DOutput:
    logits: torch.Tensor                    # (B,) real/fake logit, projection included
    rotation_logits: torch.Tensor | None    # (B, 4) or None
    class_logits: torch.Tensor | None       # (B, K) or None
    features: torch.Tensor                  # (B, C) phi(x)


class ProjectionDiscriminator(nn.Module):
    r"""image (B, 3, S, S), y (B,) -> :math:`\psi(\phi(x)) + \langle e_y, \phi(x)\rangle`.

    Spectral norm on every layer (Miyato et al. 2018), no batch norm, so real, rotated and fake
    images can share one batch. ``y`` entries of -1 (or ``y=None``) mean "no label": the
    projection term is 0 for them. ``rotation_head`` and ``class_head`` add linear heads on
    :math:`\phi(x)`.
    """

    def __init__(self, ndf: int = 32, n_classes: int = 10, image_size: int = 32,
                 rotation_head: bool = False, class_head: bool = False):
        super().__init__()
        if image_size not in (32, 64):
            raise ValueError(f"image_size must be 32 or 64, got {image_size!r}")
        self.n_classes = n_classes
        mults = [1, 2, 4, 8] if image_size == 64 else [1, 2, 4]
        layers: list[nn.Module] = []
        c_in = 3
        for m in mults:  # each 4x4 stride-2 convolution halves the side: 32 -> 16 -> 8 -> 4
            layers += [spectral_norm(nn.Conv2d(c_in, ndf * m, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c_in = ndf * m
        self.body = nn.Sequential(*layers)  # (B, C, 4, 4)
        self.feature_dim = c_in
        self.psi = spectral_norm(nn.Linear(c_in, 1))  # unconditional term
        self.embed = spectral_norm(nn.Embedding(n_classes, c_in)) if n_classes else None  # e_y
        if self.embed is not None:
            nn.init.xavier_normal_(self.embed.weight_orig)  # compare_gan: glorot_normal
        self.rotation = spectral_norm(nn.Linear(c_in, NUM_ROTATIONS)) if rotation_head else None
        self.classifier = spectral_norm(nn.Linear(c_in, n_classes)) if class_head and n_classes else None

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """Features after the last ReLU, summed over positions (Miyato & Koyama): (B, C)."""
        return self.body(x).sum((2, 3))

    def projection(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """<e_y, phi(x)> for labelled rows, 0 where ``y`` is -1 or missing: (B,)."""
        if y is None or self.embed is None:
            return torch.zeros(len(h), device=h.device, dtype=h.dtype)
        known = y >= 0
        e = self.embed(y.clamp(min=0))  # (B, C)
        return (e * h).sum(1) * known.to(h.dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOutput:
        h = self.phi(x)
        logits = self.psi(h).flatten() + self.projection(h, y)
        return DOutput(logits,
                       self.rotation(h) if self.rotation is not None else None,
                       self.classifier(h) if self.classifier is not None else None, h)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

@dataclass
class CondGANConfig:
    """Hyperparameters of one variant; defaults are the CPU-sized run (paper values in comments)."""

    variant: str = "s3gan"              # one of VARIANTS
    image_size: int = 32
    nz: int = 64                        # paper (BigGAN): 120
    ngf: int = 32                       # paper: 96 channels base (BigGAN at 128 px)
    ndf: int = 32
    batch_size: int = 64                # paper: 2048
    lr_g: float = 4e-4                  # paper: 5e-5 for G, 2e-4 for D (BigGAN); at CPU scale D won at 2e-4/2e-4
    lr_d: float = 1e-4                  # (D loss 0.49, G loss 4.65, FID 302) and 4e-4/1e-4 balanced them (FID 197)
    betas: tuple[float, float] = (0.5, 0.999)   # paper (BigGAN): (0, 0.999)
    d_steps: int = 1                    # D updates per G update (paper: 2)
    rotation_weight_d: float = 1.0      # compare_gan weight_rotation_loss_d
    rotation_weight_g: float = 0.2      # compare_gan weight_rotation_loss_g
    rotated_batch_fraction: int = 2     # compare_gan: rotate batch/fraction/4 images of each batch (paper: 2)
    class_loss_weight: float = 1.0      # compare_gan weight_class_loss
    seed: int = 0
    device: str = "auto"
    n_fixed: int = 10                   # fixed z per class for sample grids
    sample_at: tuple[int, ...] = ()     # iterations at which to keep G(fixed z, each class)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.batch_size % (self.rotated_batch_fraction * NUM_ROTATIONS):
            raise ValueError(f"batch_size {self.batch_size} must be divisible by rotated_batch_fraction * 4 "
                             f"= {self.rotated_batch_fraction * NUM_ROTATIONS}")
        self.sample_at = tuple(int(i) for i in self.sample_at)

    @property
    def conditional(self) -> bool:
        return self.variant != "unconditional"

    @property
    def rotation(self) -> bool:
        return self.variant == "s3gan"

    @property
    def predictor(self) -> bool:
        return self.variant in ("s3gan", "s3gan_no_rotation")


def _with_rotations(x: torch.Tensor, y: torch.Tensor | None, n_rot: int):
    """compare_gan ``merge_with_rotation_data``: append the last ``n_rot`` images at 90/180/270°.

    Returns (images (B + 3 n_rot), labels or None, rotation labels (4 n_rot,) for the last 4 n_rot rows).
    """
    tail = x[-n_rot:]
    x_all = torch.cat([x] + [rotate(tail, r) for r in (1, 2, 3)])
    y_all = None if y is None else torch.cat([y] + [y[-n_rot:]] * 3)
    r = torch.arange(NUM_ROTATIONS, device=x.device).repeat_interleave(n_rot)
    return x_all, y_all, r


class CondGANTrainer:
    """Trains one variant on ``images`` (N, 3, S, S) with ``labels`` (N,): class indices, -1 where
    the label is hidden. ``unconditional`` ignores labels; ``conditional`` and ``s2gan`` need every
    label (true or inferred); the S3GAN variants use the known ones and infer the rest in D.
    ``true_labels`` (optional, evaluation only) lets the history track the class head's accuracy
    on the hidden images.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, n_classes: int, config: CondGANConfig,
                 true_labels: torch.Tensor | None = None):
        self.config = cfg = config
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-1] != cfg.image_size:
            raise ValueError(f"images must be (N, 3, {cfg.image_size}, {cfg.image_size}); got {tuple(images.shape)}")
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        if cfg.variant in ("conditional", "s2gan") and (labels < 0).any():
            raise ValueError(f"variant {cfg.variant!r} needs a label for every image; {int((labels < 0).sum())} are -1")
        if cfg.predictor and not (labels >= 0).any():
            raise ValueError("S3GAN needs some labelled images to train its class head")
        self.device = resolve_device(cfg.device)
        self.n_classes = n_classes
        self.images = images.to(self.device)
        self.labels = labels.long().to(self.device)
        self.true_labels = None if true_labels is None else true_labels.long().to(self.device)
        self.batch_size = min(cfg.batch_size, len(images))
        self.n_rot = self.batch_size // cfg.rotated_batch_fraction // NUM_ROTATIONS

        torch.manual_seed(cfg.seed)
        k = n_classes if cfg.conditional else 0
        self.G = CondGenerator(cfg.nz, cfg.ngf, k, cfg.image_size).to(self.device)
        self.D = ProjectionDiscriminator(cfg.ndf, k, cfg.image_size, rotation_head=cfg.rotation,
                                         class_head=cfg.predictor).to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.fixed_z = torch.randn(cfg.n_fixed, cfg.nz, generator=self.rng)
        self.iteration = 0
        self.wall_s = 0.0
        self.history: dict[str, list[float]] = {k: [] for k in (
            "iteration", "d_loss", "g_loss", "rot_loss_real", "rot_loss_fake", "rot_acc_real", "class_loss",
            "head_acc_hidden", "wall_s")}
        self.samples: dict[int, torch.Tensor] = {}

    def _batch(self):
        idx = torch.randint(0, len(self.images), (self.batch_size,), generator=self.rng).to(self.device)
        return self.images[idx], self.labels[idx], idx

    def _fake_labels(self, n: int) -> torch.Tensor | None:
        if not self.config.conditional:
            return None
        return torch.randint(0, self.n_classes, (n,), generator=self.rng).to(self.device)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.nz, generator=self.rng).to(self.device)

    def _real_labels_for_d(self, out_classes: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor | None:
        """The y each real image is projected with."""
        cfg = self.config
        if not cfg.conditional:
            return None
        if cfg.predictor:  # S3GAN: known labels, the class head's argmax elsewhere (stop-gradient)
            return torch.where(y >= 0, y, out_classes.detach().argmax(1))
        return y

    def train_iteration(self) -> dict[str, float]:
        cfg = self.config
        t0 = time.perf_counter()
        row = {"rot_loss_real": float("nan"), "rot_loss_fake": float("nan"), "rot_acc_real": float("nan"),
               "class_loss": float("nan"), "head_acc_hidden": float("nan")}
        for _ in range(cfg.d_steps):
            # (1) Update D: maximise log D(x, y) + log(1 - D(G(z, y_f), y_f)) [+ S3GAN's class and rotation terms]
            real, y, idx = self._batch()
            y_f = self._fake_labels(self.batch_size)
            with torch.no_grad():
                fake = self.G(self._z(self.batch_size), y_f)
            if cfg.predictor:  # the class head labels the unlabelled reals first (hard, no gradient)
                h_real = self.D.phi(real)
                y_d = self._real_labels_for_d(self.D.classifier(h_real), y)
            else:
                y_d = self._real_labels_for_d(None, y)
            if cfg.rotation:
                x_r, y_r, r = _with_rotations(real, y_d, self.n_rot)
                out_r = self.D(x_r, y_r)
                real_logits = out_r.logits[:self.batch_size]
                rot_real = rotation_loss(out_r.rotation_logits[-4 * self.n_rot:], r)  # L_rot on real images
                row["rot_loss_real"] = float(rot_real.detach())
                row["rot_acc_real"] = float((out_r.rotation_logits[-4 * self.n_rot:].argmax(1) == r).float().mean())
                out_real_cls = out_r.class_logits[:self.batch_size] if cfg.predictor else None
            else:
                out = self.D(real, y_d)
                real_logits, out_real_cls = out.logits, out.class_logits
            fake_logits = self.D(fake, y_f).logits
            loss_d = discriminator_loss(real_logits, fake_logits).total  # L_GAN^D
            if cfg.rotation:
                loss_d = loss_d + cfg.rotation_weight_d * rot_real  # + 1.0 L_rot(real)
            if cfg.predictor:
                known = y >= 0
                if known.any():  # + L_cls on the labelled reals
                    cls = F.cross_entropy(out_real_cls[known], y[known])
                    loss_d = loss_d + cfg.class_loss_weight * cls
                    row["class_loss"] = float(cls.detach())
                hidden = ~known
                if self.true_labels is not None and hidden.any():  # evaluation only
                    row["head_acc_hidden"] = float((out_real_cls[hidden].argmax(1) == self.true_labels[idx][hidden]).float().mean())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()

        # (2) Update G: maximise log D(G(z, y_f), y_f) [- 0.2 L_rot(G(z, y_f)) for S3GAN]
        y_f = self._fake_labels(self.batch_size)
        fake = self.G(self._z(self.batch_size), y_f)
        if cfg.rotation:
            x_f, y_fr, r = _with_rotations(fake, y_f, self.n_rot)
            out_f = self.D(x_f, y_fr)
            loss_g = generator_loss(out_f.logits[:self.batch_size])
            rot_fake = rotation_loss(out_f.rotation_logits[-4 * self.n_rot:], r)
            loss_g = loss_g + cfg.rotation_weight_g * rot_fake
            row["rot_loss_fake"] = float(rot_fake.detach())
        else:
            loss_g = generator_loss(self.D(fake, y_f).logits)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        self.iteration += 1
        row.update(iteration=self.iteration, d_loss=float(loss_d.detach()), g_loss=float(loss_g.detach()))
        for key in ("d_loss", "g_loss"):
            if not math.isfinite(row[key]):
                raise FloatingPointError(f"{key} became {row[key]} at iteration {self.iteration} ({cfg.variant}); "
                                         f"lower the learning rate or check the data range ([-1, 1])")
        self.wall_s += time.perf_counter() - t0
        row["wall_s"] = self.wall_s
        for k in self.history:
            self.history[k].append(row[k])
        if self.iteration in cfg.sample_at:
            self.samples[self.iteration] = self.class_grid()
        return row

    def fit(self, iterations: int, progress: bool = False) -> "CondGANTrainer":
        from tqdm import tqdm

        for _ in tqdm(range(self.iteration, iterations), disable=not progress, desc=self.config.variant,
                      leave=False, mininterval=2):
            self.train_iteration()
        return self

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, seed: int = 12345, batch_size: int = 500):
        """``n`` images on the CPU with their classes ``y`` (uniform over classes if not given;
        None for the unconditional generator). G in training mode (batch statistics), as the
        foundation's trainer; BN running statistics are restored afterwards."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.config.nz, generator=g)
        if self.config.conditional and y is None:
            y = torch.arange(n) % self.n_classes
        bn_state = {k: v.clone() for k, v in self.G.state_dict().items() if "running" in k or "num_batches" in k}
        out = []
        for i in range(0, n, batch_size):
            yy = None if y is None else y[i:i + batch_size].to(self.device)
            out.append(self.G(z[i:i + batch_size].to(self.device), yy).float().cpu())
        self.G.load_state_dict(bn_state, strict=False)
        return torch.cat(out), (None if y is None else y.cpu())

    def class_grid(self) -> torch.Tensor:
        """G(fixed z, class c) for every class: (K * n_fixed, 3, S, S), one row per class
        (unconditional: n_fixed rows of fixed noise)."""
        k = self.n_classes if self.config.conditional else self.n_classes
        z = self.fixed_z.repeat(k, 1)
        y = torch.arange(k).repeat_interleave(len(self.fixed_z)) if self.config.conditional else None
        bn_state = {kk: v.clone() for kk, v in self.G.state_dict().items() if "running" in kk or "num_batches" in kk}
        with torch.no_grad():
            if y is None:  # unconditional: different noise per row
                g = torch.Generator().manual_seed(777)
                z = torch.randn(len(z), self.config.nz, generator=g)
            out = self.G(z.to(self.device), None if y is None else y.to(self.device)).float().cpu()
        self.G.load_state_dict(bn_state, strict=False)
        return out

    @torch.no_grad()
    def interpolate(self, y: int, steps: int = 8, rows: int = 4, seed: int = 99) -> torch.Tensor:
        """The blog's interpolation figure: each row goes linearly from one z to another, class fixed."""
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(rows, self.config.nz, generator=g), torch.randn(rows, self.config.nz, generator=g)
        t = torch.linspace(0, 1, steps)[None, :, None]
        z = ((1 - t) * a[:, None] + t * b[:, None]).reshape(-1, self.config.nz)
        yy = torch.full((len(z),), y, dtype=torch.long) if self.config.conditional else None
        bn_state = {kk: v.clone() for kk, v in self.G.state_dict().items() if "running" in kk or "num_batches" in kk}
        out = self.G(z.to(self.device), None if yy is None else yy.to(self.device)).float().cpu()
        self.G.load_state_dict(bn_state, strict=False)
        return out


# ---------------------------------------------------------------------------------------------
# Evaluation and claims
# ---------------------------------------------------------------------------------------------

def evaluate_generator(trainer: CondGANTrainer, classifier, ref_features: torch.Tensor, n: int = 1000,
                       n_boot: int = 10, seed: int = 0) -> dict:
    """FID and KID of ``n`` samples in the domain classifier's feature space against
    ``ref_features``; ``fid_noise`` (bootstrap std over the samples); ``class_accuracy``: how often
    the classifier (trained on all true labels of held-out real images) reads class y in G(z, y)
    (None for the unconditional generator); ``class_histogram`` of the classifier's readings."""
    from .features import extract_features, predict
    from .metrics import class_coverage, frechet_distance, kernel_inception_distance

    images, y = trainer.sample(n)
    f = extract_features(classifier, images)
    rng = np.random.default_rng(seed)
    kid, kid_std = kernel_inception_distance(ref_features, f, subsets=50, subset_size=min(500, n))
    pred = predict(classifier, images).argmax(1).numpy()
    out = {"fid": frechet_distance(ref_features, f), "kid": kid, "kid_std": kid_std,
           "fid_noise": float(np.std([frechet_distance(ref_features, f[rng.integers(0, len(f), len(f))])
                                      for _ in range(n_boot)])),
           "class_accuracy": None if y is None else float((pred == y.numpy()).mean())}
    cov = class_coverage(pred, np.arange(trainer.n_classes), trainer.n_classes, min_share=0.02)
    out["classes_covered"] = cov["classes_covered"]
    out["class_histogram"] = cov["histogram"]
    return out


def close_to(a: dict, ref: dict, worst: dict, share: float = 0.25) -> bool:
    """``a`` is close to the reference ``ref`` if it closes at least ``1 - share`` of the gap
    between the worst arm (``worst``, e.g. the unconditional GAN) and ``ref``, on FID, allowing
    2x bootstrap noise, and its class accuracy is within ``share`` of ref's (relative)."""
    gap = max(worst["fid"] - ref["fid"], 0.0)
    fid_ok = a["fid"] <= ref["fid"] + share * gap + 2 * max(a["fid_noise"], ref["fid_noise"])
    acc_ok = a["class_accuracy"] is not None and a["class_accuracy"] >= (1 - share) * ref["class_accuracy"]
    return bool(fid_ok and acc_ok)


def fewer_labels_claims(probe: dict[str, dict[float, float]], pseudo_label_accuracy: float, gan: dict[str, dict],
                        label_fraction: float, n_classes: int, small_fraction: float = 0.1,
                        rotation_accuracy: float | None = None, margin: float = 0.02) -> list[dict]:
    """The document's claims with verdicts from this run's numbers.

    ``probe``: :func:`gan_helpers.selfsup.probe_curve`'s output; ``gan[variant]``:
    :func:`evaluate_generator`'s output for each trained variant.
    """
    claims = []
    chance = 1.0 / n_classes

    # 1. rotation features beat training from scratch with few labels
    small = sorted(f for f in probe["rotation"] if f <= small_fraction)
    wins = {f: probe["rotation"][f] - probe["scratch"][f] for f in small}
    n_win = sum(d > margin for d in wins.values())
    claims.append(claim(
        "A linear classifier on rotation-trained features needs fewer labels than the same network trained from scratch",
        f"{SOURCE}: 'training this classifier is more efficient by examples than training the entire network from scratch'",
        verdict(n_win == len(small) and len(small) > 0, partly=n_win > 0),
        {"fractions": small, "rotation_minus_scratch": wins, "margin": margin,
         "rotation": {f: probe["rotation"][f] for f in small}, "scratch": {f: probe["scratch"][f] for f in small},
         "random_features": {f: probe["random"][f] for f in small}}))

    # 2. (beyond the document) the rotation task itself teaches something: beats random features
    wins_r = {f: probe["rotation"][f] - probe["random"][f] for f in small}
    n_win_r = sum(d > margin for d in wins_r.values())
    claims.append(claim(
        "Rotation prediction learns 'semantically meaningful' features: better than the same network with random weights",
        "beyond the document (the blog's premise, measured against the untrained twin)",
        verdict(n_win_r == len(small) and len(small) > 0, partly=n_win_r > 0),
        {"rotation_minus_random": wins_r, "rotation_task_accuracy": rotation_accuracy, "margin": margin}))

    # 3. inferred labels are usable: far above chance
    claims.append(claim(
        f"The linear classifier labels the unlabelled part well enough to condition a GAN (at {label_fraction:.0%} labels)",
        f"{SOURCE}: 'we use this classifier to mark up unallocated data'",
        verdict(pseudo_label_accuracy >= 0.8, partly=pseudo_label_accuracy >= 2 * chance),
        {"pseudo_label_accuracy": pseudo_label_accuracy, "chance": chance, "holds_at": 0.8}))

    # 4. S2GAN / S3GAN close to the fully labelled conditional GAN
    if {"conditional", "unconditional"} <= set(gan):
        arms = [v for v in ("s2gan", "s3gan") if v in gan]
        close = {v: close_to(gan[v], gan["conditional"], gan["unconditional"]) for v in arms}
        ref_ok = (gan["conditional"]["class_accuracy"] or 0) >= 2 * chance  # the reference itself learned the classes
        v4 = verdict(bool(arms) and all(close.values()), partly=any(close.values())) if ref_ok else "inconclusive"
        claims.append(claim(
            f"With {label_fraction:.0%} of the labels, S2GAN/S3GAN come close to the conditional GAN trained on all labels",
            f"{SOURCE}: 'comparable-quality natural images using 10 times fewer tags'",
            v4,
            {"close": close, "reference_learned_classes": ref_ok, **{f"fid_{v}": gan[v]["fid"] for v in ["conditional", "unconditional", *arms]},
             **{f"class_accuracy_{v}": gan[v]["class_accuracy"] for v in ["conditional", *arms]},
             "fid_noise": max(gan[v]["fid_noise"] for v in gan), "rule": "closes >= 75% of the FID gap to unconditional "
             "(within 2x bootstrap noise) and >= 75% of the conditional class accuracy"}))

    # 5. the auxiliary rotation loss helps (S3GAN vs the same without rotation)
    if {"s3gan", "s3gan_no_rotation"} <= set(gan):
        a, b = gan["s3gan"], gan["s3gan_no_rotation"]
        noise = 2 * max(a["fid_noise"], b["fid_noise"])
        fid_better = b["fid"] - a["fid"] > noise
        fid_worse = a["fid"] - b["fid"] > noise
        # Class accuracy speaks only where some arm learned the classes (2x chance); at chance for all,
        # its differences are noise and the verdict rests on FID alone, so at best "partly".
        classes_read = max(a["class_accuracy"] or 0, b["class_accuracy"] or 0) >= 2 * chance
        acc_better = classes_read and a["class_accuracy"] - b["class_accuracy"] > margin
        acc_worse = classes_read and b["class_accuracy"] - a["class_accuracy"] > margin
        if not classes_read:
            v = "does not hold" if fid_worse else "partly" if fid_better else "inconclusive"
        else:
            v = ("holds" if fid_better and not acc_worse else "does not hold" if fid_worse or acc_worse
                 else "partly" if acc_better else "inconclusive")
        claims.append(claim(
            "The discriminator's auxiliary rotation loss helps (S3GAN against S3GAN without it)",
            f"{SOURCE}: 'auxiliary losses ... improve the quality of the model and the stability of training'",
            v, {"fid_s3gan": a["fid"], "fid_s3gan_no_rotation": b["fid"], "fid_noise_x2": noise,
                "class_accuracy_s3gan": a["class_accuracy"], "class_accuracy_s3gan_no_rotation": b["class_accuracy"],
                "class_accuracy_counts": classes_read, "chance": chance,
                "note": "one seed each: seed-to-seed spread is not in the bootstrap noise"}))
    return claims


def variant_labels(variant: str, true_labels: torch.Tensor, labelled: np.ndarray,
                   inferred: torch.Tensor | None = None) -> torch.Tensor:
    """The labels a variant may see: all true ones (``conditional``), the labelled fraction plus the
    inferred rest (``s2gan``), the labelled fraction and -1 elsewhere (S3GAN variants), or all -1
    (``unconditional``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    hidden = torch.full_like(true_labels, -1)
    if variant == "conditional":
        return true_labels.clone()
    if variant == "unconditional":
        return hidden
    if variant == "s2gan":
        if inferred is None:
            raise ValueError("s2gan needs the inferred labels (gan_helpers.selfsup.infer_labels)")
        out = inferred.clone().long()
    else:
        out = hidden
    lab = torch.as_tensor(labelled, dtype=torch.long)
    out[lab] = true_labels[lab]
    return out


def train_variants(images: torch.Tensor, true_labels: torch.Tensor, labelled: np.ndarray, inferred: torch.Tensor,
                   n_classes: int, variants, iterations: int, base: CondGANConfig,
                   progress: bool = False, verbose: bool = True) -> dict[str, CondGANTrainer]:
    """Train every variant from the same seed, data and iteration count; returns the trainers.
    ``progress``: a tqdm bar per variant; ``verbose``: one line per variant when it is done."""
    import dataclasses

    runs = {}
    for v in variants:
        cfg = dataclasses.replace(base, variant=v)
        t = CondGANTrainer(images, variant_labels(v, true_labels, labelled, inferred), n_classes, cfg,
                           true_labels=true_labels)
        runs[v] = t.fit(iterations, progress=progress)
        if verbose:
            print(f"{v:>18}: {iterations} iterations in {t.wall_s:.0f} s", flush=True)
    return runs


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def show_variant_samples(samples: dict[str, dict[int, torch.Tensor]], variant: str, iteration: int,
                         label_names=None, gan: dict | None = None, ax=None):
    """One variant's fixed-noise grid at a stored iteration (the nearest one): one row per class
    (for the unconditional GAN, rows of random draws). Returns the iteration shown."""
    import matplotlib.pyplot as plt

    from .plots import show_grid

    if variant not in samples or not samples[variant]:
        raise ValueError(f"no stored samples for variant {variant!r}; have {sorted(samples)}")
    stored = sorted(samples[variant])
    it = min(stored, key=lambda i: abs(i - iteration))
    grid = samples[variant][it]
    n_rows = len(label_names) if label_names else 10
    extra = ""
    if gan and variant in gan and it == stored[-1]:
        acc = gan[variant].get("class_accuracy")
        extra = f", FID {gan[variant]['fid']:.1f}" + ("" if acc is None else f", class acc. {acc:.2f}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    show_grid(grid, f"{variant}, iteration {it}{extra}", nrow=len(grid) // n_rows, ax=ax, max_images=len(grid))
    if label_names and variant != "unconditional":
        S = grid.shape[-1] + 2
        ax.set_yticks([S * (i + 0.5) for i in range(n_rows)], label_names, fontsize=7)
        ax.axis("on"), ax.set_xticks([])
    return it


def plot_variant_scores(gan: dict[str, dict], axes=None):
    """Bars per variant: FID (with 2x bootstrap noise) and class accuracy of G(z, y)."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    names = list(gan)
    xs = np.arange(len(names))
    axes[0].bar(xs, [gan[v]["fid"] for v in names], yerr=[2 * gan[v]["fid_noise"] for v in names], capsize=3)
    axes[0].set_ylabel("FID (domain features, lower is better)")
    acc = [np.nan if gan[v]["class_accuracy"] is None else gan[v]["class_accuracy"] for v in names]
    axes[1].bar(xs, acc, color="tab:green")
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("class accuracy of G(z, y)")
    for ax in axes:
        ax.set_xticks(xs, names, rotation=20, fontsize=8)
    axes[0].set_title("Sample quality", fontsize=10)
    axes[1].set_title("Does G(z, y) show class y? (unconditional: n/a)", fontsize=10)
    return axes
