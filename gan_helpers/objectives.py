r"""What a GAN minimises: the losses of each notebook's formulation, and any state they keep.

The loop (:class:`gan_helpers.train.GANTrainer`) draws the data and the noise, runs G, steps the
optimizers and keeps the records; an objective only turns a real batch and a fake batch into
losses. So DCGAN, Improved Techniques and S3GAN differ in their objective and their models, and a
fix to the loop is made once (kwotsin/mimicry's ``train_step``, labml's WGAN-as-a-loss-swap).

An objective implements

* ``d_step(batch, disc) -> {"d_loss": ..., <logged terms>}``
* ``g_step(batch, disc) -> {"g_loss": ..., <logged terms>}``

where ``batch`` is a :class:`Batch` (the real images, their labels and their indices in the training
set; the fakes and the classes they were drawn for) and ``disc(x, y=None, full=False)`` is D on
DiffAugment-ed ``x`` (when the trainer augments): logits ``(B,)``, or a
:class:`~gan_helpers.models.DOutput` with ``full``; ``disc.project(h, y)`` is a projection
discriminator's class term on features ``h``. ``batch.fake`` carries G's graph in the G step and
none in the D step. An objective never sees the trainer: ``bind(G, D, batch_size)`` runs once when
the trainer is built (state that depends on the models), ``after_step(player)`` after each optimizer
step; ``state_dict`` / ``load_state_dict`` carry whatever the objective keeps (historical averages)
into checkpoints; ``hparams()`` its settings, from which :func:`build` rebuilds it.

Metrics that only observe (S3GAN's class-head accuracy on the labels it may not see) are not part of
an objective: a D step may return per-image outputs under keys starting with ``_`` (not logged), and
the trainer's observers (:func:`hidden_label_accuracy`) turn them into logged numbers.

* :class:`DCGANLoss`: the non-saturating GAN loss (or the hinge loss), one-sided label smoothing,
  and a *joint batch* option: D sees the real and the fake half in one batch, so batch norm
  normalises both with the same statistics.
* :class:`ImprovedGANLoss`: DCGANLoss plus feature matching and historical averaging (Salimans
  et al. 2016). Minibatch discrimination and virtual batch norm are model choices
  (``Discriminator(minibatch_kernels=...)``, :class:`~gan_helpers.models.VBNGenerator`).
* :class:`S3GANLoss`: the class-conditional GAN of notebook 04 with S3GAN's class predictor and
  SS-GAN's rotation loss (compare_gan ``gans/s3gan.py``, ``gans/ssgan.py``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from .losses import (LOSS_KINDS, HistoricalAverage, discriminator_loss, feature_matching_loss, generator_loss,
                     rotation_loss)

OBJECTIVES: dict[str, type["Objective"]] = {}


@dataclass
class Batch:
    """One step's data, as the trainer drew it (all on the training device except ``index``)."""

    real: torch.Tensor                # (B, 3, S, S) real images in [-1, 1]
    y_real: torch.Tensor | None       # (B,) their labels, -1 where hidden; None for an unlabelled set
    index: torch.Tensor               # (B,) their indices in the training set (CPU, long)
    fake: torch.Tensor                # (B, 3, S, S) G(z, y_fake): G's graph in the G step, none in the D step
    y_fake: torch.Tensor | None       # (B,) the classes the fakes were drawn for (a conditional G)

    def with_fake(self, fake: torch.Tensor, y_fake: torch.Tensor | None) -> "Batch":
        return dataclasses.replace(self, fake=fake, y_fake=y_fake)


def _register(cls):
    OBJECTIVES[cls.name] = cls
    return cls


def build(name: str, hparams: dict) -> "Objective":
    """The objective a checkpoint names, with its settings."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name](**hparams)


@dataclass
class Objective:
    name: ClassVar[str] = "objective"

    @property
    def needs_real_in_g_step(self) -> bool:
        """True if ``g_step`` reads the real batch (the trainer then passes the iteration's last one)."""
        return False

    def bind(self, G, D, batch_size: int) -> None:
        """Called once by the trainer after building the models (``batch_size``: the batch each step's
        ``batch`` holds): create state that depends on them."""

    def d_step(self, batch: Batch, disc) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def g_step(self, batch: Batch, disc) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_step(self, player: str) -> None:
        """Runs after each optimizer step of ``player`` ("D" or "G")."""

    def hparams(self) -> dict:
        return dataclasses.asdict(self)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"objective {self.name!r} keeps no state, but the checkpoint has {sorted(state)}")


@_register
@dataclass
class DCGANLoss(Objective):
    r"""(1) D: maximise :math:`\log D(x) + \log(1 - D(G(z)))`; (2) G: maximise :math:`\log D(G(z))`.

    ``real_label`` < 1 is one-sided label smoothing. ``joint_batch``: D scores
    ``cat([real, fake])`` in one forward pass, in both steps, so that its batch norm uses one set
    of statistics for both halves. Scored separately (pytorch/examples, DCGAN-tensorflow), an
    all-real and an all-fake batch are each normalised to zero mean and unit variance per channel,
    which removes the very statistics that tell fakes from reals and leaves G with almost no
    gradient on its colour and brightness (measured: notebook 01, "Choosing the remedy").
    """

    name: ClassVar[str] = "dcgan"
    loss: str = "bce"            # "bce" (non-saturating) or "hinge"
    real_label: float = 1.0      # D's target on real images (< 1: one-sided label smoothing)
    joint_batch: bool = False    # D scores real and fake halves in one batch

    def __post_init__(self):
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {LOSS_KINDS}, got {self.loss!r}")
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {self.real_label}")

    @property
    def needs_real_in_g_step(self) -> bool:
        return self.joint_batch

    def _logits(self, disc, real, fake, full: bool = False):
        """D's outputs on the real and the fake batch (one pass with ``joint_batch``)."""
        if self.joint_batch:
            out = disc(torch.cat([real, fake]), full=True)
            n = len(real)
            return ((out.logits[:n], out.features[:n]), (out.logits[n:], out.features[n:])) if full \
                else (out.logits[:n], out.logits[n:])
        if full:
            r, f = disc(real, full=True), disc(fake, full=True)
            return (r.logits, r.features), (f.logits, f.features)
        return disc(real), disc(fake)

    def _d_terms(self, real_logits, fake_logits) -> dict[str, torch.Tensor]:
        loss = discriminator_loss(real_logits, fake_logits, self.real_label, self.loss)
        return {"d_loss": loss.total, "d_loss_real": loss.real, "d_loss_fake": loss.fake,
                "d_x": torch.sigmoid(real_logits.detach().float()).mean(),
                "d_g_z": torch.sigmoid(fake_logits.detach().float()).mean()}

    def d_step(self, batch, disc):
        # (1) Update D: maximize log D(x) + log(1 - D(G(z)))
        real_logits, fake_logits = self._logits(disc, batch.real, batch.fake)
        return self._d_terms(real_logits, fake_logits)

    def g_step(self, batch, disc):
        # (2) Update G: maximize log D(G(z))
        fake_logits = self._logits(disc, batch.real, batch.fake)[1] if self.joint_batch else disc(batch.fake)
        return {"g_loss": generator_loss(fake_logits, self.loss)}


@_register
@dataclass
class ImprovedGANLoss(DCGANLoss):
    r"""DCGANLoss plus two of Salimans et al.'s techniques (arXiv:1606.03498):

    * ``feature_matching`` (3.1): G minimises :math:`\|\mathbb E f(x) - \mathbb E f(G(z))\|^2` (a mean over the
      features) instead of :math:`-\log D(G(z))`, on the features D decides with: the input of its output layer,
      as openai/improved-gan matches ``disc_layers[-2]`` (CIFAR) and the last hidden layer (MNIST). With minibatch
      discrimination that input is :math:`[f(x), o(x)]`, so G is also pulled towards the real batch's
      minibatch statistics. The non-saturating loss is still logged as ``g_nonsat``;
    * ``historical_weight`` :math:`\lambda` (3.3): each player's loss gets
      :math:`\lambda \frac1P\|\theta - \bar\theta\|^2`, the squared distance per parameter to the mean of its
      past parameters (:class:`~gan_helpers.losses.HistoricalAverage`).

    One-sided label smoothing (3.4) is ``real_label`` of the base class.
    """

    name: ClassVar[str] = "improved"
    feature_matching: bool = False
    historical_weight: float = 0.0
    _hist: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        super().__post_init__()
        if self.historical_weight < 0:
            raise ValueError(f"historical_weight must be >= 0, got {self.historical_weight}")

    def hparams(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}

    @property
    def needs_real_in_g_step(self) -> bool:
        return self.joint_batch or self.feature_matching

    def bind(self, G, D, batch_size: int) -> None:
        self._hist = {"D": HistoricalAverage(D), "G": HistoricalAverage(G)} if self.historical_weight else {}

    def _penalty(self, player: str, out: dict, key: str) -> dict:
        if self._hist:
            p = self._hist[player].penalty()
            out[key] = out[key] + self.historical_weight * p
            out[f"hist_penalty_{player.lower()}"] = p.detach()
        return out

    def d_step(self, batch, disc):
        return self._penalty("D", super().d_step(batch, disc), "d_loss")

    def g_step(self, batch, disc):
        if not self.feature_matching:
            out = super().g_step(batch, disc)
            out["g_nonsat"] = out["g_loss"].detach()
        else:
            (_, real_f), (fake_logits, fake_f) = self._logits(disc, batch.real, batch.fake, full=True)
            out = {"g_loss": feature_matching_loss(real_f, fake_f),
                   "g_nonsat": generator_loss(fake_logits.detach(), self.loss)}
            out["fm_loss"] = out["g_loss"].detach()
        return self._penalty("G", out, "g_loss")

    def after_step(self, player: str) -> None:
        if self._hist:
            self._hist[player].update()

    def state_dict(self) -> dict:
        return {k: h.state_dict() for k, h in self._hist.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self._hist):
            raise ValueError(f"checkpoint has historical averages for {sorted(state)}, this objective for {sorted(self._hist)}")
        for k, h in self._hist.items():
            h.load_state_dict(state[k])


def with_rotations(x: torch.Tensor, n_rot: int) -> tuple[torch.Tensor, torch.Tensor]:
    """compare_gan ``merge_with_rotation_data``: append the last ``n_rot`` images at 90, 180 and 270
    degrees. Returns (images (B + 3 n_rot, ...), rotation labels (4 n_rot,) of the last 4 n_rot rows)."""
    tail = x[-n_rot:]
    x_all = torch.cat([x] + [torch.rot90(tail, r, dims=(2, 3)) for r in (1, 2, 3)])
    return x_all, torch.arange(4, device=x.device).repeat_interleave(n_rot)


@_register
@dataclass
class S3GANLoss(Objective):
    r"""The class-conditional GAN of Lučić, Ritter et al. 2019 (compare_gan ``gans/s3gan.py``).

    D is a projection discriminator; a real image is projected with its label where it has one
    (``y >= 0``). ``predictor``: D's class head is trained on the labelled reals
    (:math:`\mathcal L_{cls}`, weight ``class_weight``) and labels every other real image with its
    argmax (no gradient). ``rotation``: the last ``batch / rotated_fraction / 4`` images of each
    real and fake batch are also shown at 90, 180, 270 degrees and D's rotation head is trained to
    tell which (weight ``rotation_weight_d`` on reals); G is rewarded when D can tell on its fakes
    (weight ``rotation_weight_g``):

    .. math::
        \mathcal{L}_D = \mathcal{L}_{GAN}^D + \mathcal{L}_{cls} + 1.0\,\mathcal{L}_{rot}(x_{real}),\qquad
        \mathcal{L}_G = \mathcal{L}_{GAN}^G + 0.2\,\mathcal{L}_{rot}(G(z, y))

    With ``predictor=False`` and labels everywhere it is the plain conditional GAN (``conditional``,
    ``s2gan``); with an unconditional G and D (``n_classes=0``) the unconditional GAN.
    """

    name: ClassVar[str] = "s3gan"
    loss: str = "hinge"
    predictor: bool = False
    rotation: bool = False
    class_weight: float = 1.0
    rotation_weight_d: float = 1.0
    rotation_weight_g: float = 0.2
    rotated_fraction: int = 2

    def __post_init__(self):
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {LOSS_KINDS}, got {self.loss!r}")

    def bind(self, G, D, batch_size: int) -> None:
        if self.rotation and batch_size % (4 * self.rotated_fraction):
            raise ValueError(f"batch_size {batch_size} must be divisible by 4 * rotated_fraction "
                             f"= {4 * self.rotated_fraction} for the rotation loss")
        if self.predictor and getattr(D, "classifier", None) is None:
            raise ValueError("S3GANLoss(predictor=True) needs a discriminator with a class head")
        if self.rotation and getattr(D, "rotation", None) is None:
            raise ValueError("S3GANLoss(rotation=True) needs a discriminator with a rotation head")
        self.n_rot = batch_size // self.rotated_fraction // 4

    def d_step(self, batch, disc):
        real, y_real = batch.real, batch.y_real
        B, out = len(real), {}
        x = real
        if self.rotation:
            x, r = with_rotations(real, self.n_rot)
        o = disc(x, full=True)  # projection added below, once the labels are known
        y = y_real
        if self.predictor:  # the class head labels the unlabelled reals (hard, no gradient)
            cls_logits = o.class_logits[:B].float()
            known = y_real >= 0
            y = torch.where(known, y_real, cls_logits.detach().argmax(1))
            out["class_loss"] = F.cross_entropy(cls_logits[known], y_real[known]) if known.any() \
                else cls_logits.sum() * 0
            out["_class_pred"] = cls_logits.detach().argmax(1)  # for observers (hidden_label_accuracy), not logged
        real_logits = o.logits[:B] + disc.project(o.features[:B], y)
        loss = discriminator_loss(real_logits, disc(batch.fake, batch.y_fake), kind=self.loss)
        out.update(d_loss_real=loss.real, d_loss_fake=loss.fake)
        total = loss.total + self.class_weight * out.get("class_loss", 0.0)
        if self.rotation:
            rot_logits = o.rotation_logits[-4 * self.n_rot:]
            out["rot_loss_real"] = rotation_loss(rot_logits, r)
            out["rot_acc_real"] = (rot_logits.argmax(1) == r).float().mean()
            total = total + self.rotation_weight_d * out["rot_loss_real"]
        out["d_loss"] = total
        return out

    def g_step(self, batch, disc):
        fake, y_fake = batch.fake, batch.y_fake
        if not self.rotation:
            return {"g_loss": generator_loss(disc(fake, y_fake), self.loss)}
        x, r = with_rotations(fake, self.n_rot)
        y = None if y_fake is None else torch.cat([y_fake] + [y_fake[-self.n_rot:]] * 3)
        o = disc(x, y, full=True)
        rot = rotation_loss(o.rotation_logits[-4 * self.n_rot:], r)
        gan = generator_loss(o.logits[:len(fake)], self.loss)
        return {"g_loss": gan + self.rotation_weight_g * rot, "g_loss_gan": gan, "rot_loss_fake": rot}


def hidden_label_accuracy(eval_labels: torch.Tensor):
    """An observer for :class:`~gan_helpers.train.GANTrainer`: the class head's accuracy on the real images
    whose label the objective may not see (``batch.y_real == -1``), against ``eval_labels`` (the true classes
    of the whole training set, never trained on), logged as ``head_acc_hidden``; NaN when the batch has no
    hidden label. Reads the D step's ``_class_pred`` (:class:`S3GANLoss` with ``predictor``)."""

    def observe(batch: Batch, out: dict) -> dict[str, torch.Tensor]:
        if "_class_pred" not in out or batch.y_real is None:
            return {}
        hidden = batch.y_real < 0
        if not hidden.any():
            return {"head_acc_hidden": torch.tensor(float("nan"))}
        truth = eval_labels[batch.index.to(eval_labels.device)].to(hidden.device)
        return {"head_acc_hidden": (out["_class_pred"][hidden] == truth[hidden]).float().mean()}

    return observe


@_register
@dataclass
class SemiSupervisedLoss(Objective):
    r"""The semi-supervised GAN of Salimans et al. 2016, section 5, as openai/improved-gan trains it on MNIST
    (``train_mnist_feature_matching.py``): D is a K-class classifier whose fake class has its logit fixed at 0
    (:class:`~gan_helpers.models.SemiSupervisedDiscriminator`), trained on a labelled batch, an unlabelled batch
    and a fake batch; G matches the mean of D's last hidden layer on real images (feature matching).

    .. math::
        L_D = \underbrace{-\mathbb E_{x,y}\log p(y \mid x)}_{\text{labelled}}
              + w\Big(-\tfrac12\mathbb E_x \mathrm{lse}(l(x)) + \tfrac12\mathbb E_x \mathrm{softplus}(\mathrm{lse}(l(x)))
              + \tfrac12\mathbb E_z \mathrm{softplus}(\mathrm{lse}(l(G(z))))\Big),\qquad
        L_G = \tfrac1A\|\mathbb E f(x) - \mathbb E f(G(z))\|^2

    (``loss_lab`` and ``loss_unl`` of the reference; ``w`` = ``unlabeled_weight``). The labelled images are the
    objective's own (:meth:`set_labelled`): each D step draws ``labelled_batch`` of them (0: the batch size) with
    its own random generator, as the reference cycles its 100 labelled images through every batch.
    """

    name: ClassVar[str] = "semi_supervised"
    unlabeled_weight: float = 1.0
    labelled_batch: int = 0
    seed: int = 0
    _x: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _y: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _gen: torch.Generator | None = field(default=None, init=False, repr=False, compare=False)
    _bs: int = field(default=0, init=False, repr=False, compare=False)

    def hparams(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}

    @property
    def needs_real_in_g_step(self) -> bool:
        return True

    def set_labelled(self, images: torch.Tensor, labels: torch.Tensor) -> "SemiSupervisedLoss":
        if len(images) != len(labels) or len(images) < 1:
            raise ValueError(f"need one label per labelled image, got {len(images)} images and {len(labels)} labels")
        self._x, self._y = images, torch.as_tensor(labels).long()
        self._gen = torch.Generator().manual_seed(self.seed)
        return self

    def bind(self, G, D, batch_size: int) -> None:
        if getattr(D, "k", 0) < 2:
            raise ValueError("SemiSupervisedLoss needs a discriminator with K >= 2 class logits "
                             "(gan_helpers.models.SemiSupervisedDiscriminator)")
        self._bs = self.labelled_batch or batch_size

    def d_step(self, batch, disc):
        if self._x is None:  # a checkpoint brings them (load_state_dict); a new objective needs set_labelled
            raise ValueError("SemiSupervisedLoss needs its labelled images: call set_labelled(images, labels) first")
        idx = torch.randint(0, len(self._x), (self._bs,), generator=self._gen)
        x_lab, y_lab = self._x[idx].to(batch.real.device), self._y[idx].to(batch.real.device)
        lab = disc(x_lab, full=True).class_logits.float()
        l_unl, l_gen = disc(batch.real), disc(batch.fake)
        loss_lab = F.cross_entropy(lab, y_lab)
        loss_unl = -0.5 * l_unl.mean() + 0.5 * F.softplus(l_unl).mean() + 0.5 * F.softplus(l_gen).mean()
        return {"d_loss": loss_lab + self.unlabeled_weight * loss_unl, "loss_lab": loss_lab.detach(),
                "loss_unl": loss_unl.detach(), "train_error": (lab.argmax(1) != y_lab).float().mean(),
                "d_x": torch.sigmoid(l_unl.detach()).mean(), "d_g_z": torch.sigmoid(l_gen.detach()).mean()}

    def g_step(self, batch, disc):
        real_f, fake_f = disc(batch.real, full=True).features, disc(batch.fake, full=True).features
        loss = feature_matching_loss(real_f, fake_f)
        return {"g_loss": loss, "fm_loss": loss.detach()}

    def state_dict(self) -> dict:
        return {"x": self._x, "y": self._y, "gen": self._gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.set_labelled(state["x"], state["y"])
        self._gen.set_state(state["gen"])
