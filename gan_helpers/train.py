r"""The one GAN training loop: data order, step ratio, DiffAugment, AMP, records, checkpoints.

Every GAN in this repository trains here; what differs between notebooks is the models and the
objective (:mod:`gan_helpers.objectives`), which turns a real and a fake batch into losses.

One **iteration** is one unit of the step ratio, as the counter in DCGAN-tensorflow:

1. ``d_steps_per_g_step`` times, update D on a fresh real batch and a fresh fake batch;
2. ``g_steps_per_d_step`` times, update G. As in DCGAN-tensorflow and the document's
   ``g_advantage`` fork (Weaver, *Robot vs. Robot*), the extra G steps reuse the iteration's
   ``z`` unless :attr:`TrainConfig.resample_z` is set.

G runs once per iteration, not twice (:attr:`TrainConfig.reuse_fake`, as pytorch/examples
``dcgan/main.py``): the last D step's fakes are computed with G's graph, D sees them detached, and
the first G step backpropagates through the same ``G(z)``. That G step would have recomputed the
same images (same weights, same ``z``); the run differs only in G's batch-norm running averages,
which training never reads (G samples in training mode). Extra G steps change G first, so they
run G again.

During G's steps D's parameters are frozen (``requires_grad_(False)``): its gradient is not
needed, and computing it cost about a quarter of a G step.

**DiffAugment** (``augment="color,translation,cutout"``): every input of D, real and fake, in
both steps, goes through the same random differentiable transforms (:mod:`gan_helpers.augment`).

**Data order**: a fresh permutation every epoch (``drop_last``, as a ``DataLoader`` with
``shuffle=True, drop_last=True``), or, after :meth:`GANTrainer.set_sampling_weights`, draws with
replacement in proportion to per-image weights (notebook 02's discriminator-weighted arm).

The objective (:mod:`gan_helpers.objectives`) receives each step's :class:`~gan_helpers.objectives.Batch`
and ``disc``, D behind DiffAugment; it never sees the trainer. *Observers* (``observers=[fn]``,
``fn(batch, d_step_output) -> {name: value}``) add logged numbers that only watch the D step (S3GAN's
class-head accuracy on hidden labels, :func:`~gan_helpers.objectives.hidden_label_accuracy`).

**Records**: ``history`` holds one value per iteration of every term the objective logs (D and
G loss, their parts, ``D(x)``, ``D(G(z))``, ...) plus cumulative wall-clock; ``samples`` holds
G(fixed z) at ``sample_at`` iterations (for a conditional G, one row per class); ``evals`` the
results of an evaluation hook. ``log_paper_losses`` also evaluates both losses after each
iteration's updates on the same batch and ``z``, the way DCGAN-tensorflow prints them (the
document's Figure 1 is the log of their ratio), inside :meth:`GANTrainer.observing`: logging them
leaves batch-norm statistics, spectral norm's vectors and every random stream as they were, so a run
that logs them equals one that does not, bit for bit.

Everything the run depends on (weights, both Adam states, the objective's state, the data order,
the RNG states and the counters) is in :meth:`GANTrainer.state_dict`, so an interrupted and
resumed run gives bit-identical weights to one that ran straight through (on the CPU; on a GPU
up to cuDNN's nondeterminism). Checkpoints hold only tensors and plain values and load with
``torch.load(..., weights_only=True)``: a checkpoint is a file users download.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import distributed
from . import models as model_registry
from . import objectives as objective_registry
from .augment import diff_augment, parse_policy
from .objectives import Batch, DCGANLoss, Objective, hidden_label_accuracy
from .runtime import CheckpointError, amp_enabled, load_checkpoint, resolve_device

RECORD_KEYS = ("iteration", "epoch", "wall_s")


@dataclass
class TrainConfig:
    """The loop's settings; the models' (widths, sizes) are in their ``.spec``, the losses' in the objective.
    Defaults are DCGAN's (Radford et al. 2016, section 4)."""

    batch_size: int = 64            # DCGAN: 128; DCGAN-tensorflow and notebook 01's document: 64
    lr_g: float = 2e-4              # Adam learning rate of G
    lr_d: float = 2e-4              # Adam learning rate of D
    betas: tuple[float, float] = (0.5, 0.999)  # Adam (DCGAN: beta1 0.5 instead of 0.9)
    g_steps_per_d_step: int = 1     # the document's g_advantage: G updates per D update
    d_steps_per_g_step: int = 1     # the other direction: D updates per G update (compare_gan's disc_iters)
    resample_z: bool = False        # fresh z for each extra G step (DCGAN-tensorflow reuses z)
    augment: str = ""               # DiffAugment policy for every input of D, e.g. "color,translation,cutout"
    seed: int = 0
    device: str = "auto"            # "auto": cuda, then mps, then cpu
    amp: bool = True                # bf16 autocast where the hardware runs it natively (CUDA; CPUs with AVX512-BF16)
    channels_last: bool = True      # channels-last memory format (faster convolutions on CPU and GPU)
    log_paper_losses: bool = False  # also evaluate both losses after each iteration, as DCGAN-tensorflow prints them
    sample_at: tuple[int, ...] = () # iterations at which to keep G(fixed z)
    n_fixed: int = 64               # fixed latent vectors for the sample grids
    ema_decay: float = 0.0          # > 0: sample from an exponential moving average of G's weights (BigGAN: 0.9999)
    reuse_fake: bool = True         # the first G step reuses the last D step's G(z) (one G forward fewer)

    def __post_init__(self):
        for name in ("batch_size", "g_steps_per_d_step", "d_steps_per_g_step", "n_fixed"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.g_steps_per_d_step > 1 and self.d_steps_per_g_step > 1:
            raise ValueError("set g_steps_per_d_step or d_steps_per_g_step above 1, not both")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError(f"learning rates must be > 0, got lr_g={self.lr_g}, lr_d={self.lr_d}")
        parse_policy(self.augment)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        self.betas = tuple(float(b) for b in self.betas)
        self.sample_at = tuple(int(i) for i in self.sample_at)

    @property
    def ratio_name(self) -> str:
        """"G:D" as notebook 01's document writes it, e.g. "4:1"."""
        return f"{self.g_steps_per_d_step}:{self.d_steps_per_g_step}"


class _DForward(nn.Module):
    """D with one ``forward(x, y, full)`` (what DistributedDataParallel wraps): logits, or all outputs."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, full: bool = False):
        return self.D.forward_all(x, y) if full else self.D(x, y)


class Disc:
    """What an objective sees of D: ``disc(x, y=None, full=False)`` is D on ``x`` after the trainer's
    DiffAugment (when on), logits (B,) or a :class:`~gan_helpers.models.DOutput` with ``full``;
    ``disc.project(h, y)`` is a projection discriminator's class term on features ``h``."""

    def __init__(self, net: nn.Module, D: nn.Module, augment: tuple, aug_rng: torch.Generator, memory_format,
                 share: tuple[int, int] | None = None):
        self.net, self.D, self.augment, self.aug_rng, self.memory_format = net, D, augment, aug_rng, memory_format
        self.share = share  # (rank, world size) under torchrun: DiffAugment draws for the global batch

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None, full: bool = False):
        if self.augment:
            x = diff_augment(x, self.augment, self.aug_rng, self.share)
        x = x.contiguous(memory_format=self.memory_format)
        return self.net(x, y, full)

    def project(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.D.projection(h, y)


class GANTrainer:
    """Trains ``G`` and ``D`` on an in-memory image tensor ``(N, 3, S, S)`` in [-1, 1] under ``objective``.

    ``labels`` (N,): class indices, -1 where a label is hidden (for a conditional G and D; ignored
    otherwise). ``eval_labels`` (N,): true classes for logging only (S3GAN's head accuracy on
    hidden labels, :func:`~gan_helpers.objectives.hidden_label_accuracy`); never trained on.
    ``observers``: more functions ``(batch, d_step_output) -> {name: value}`` logged each D step.
    With ``G=None``/``D=None`` the DCGAN pair is built from ``nz``, ``ngf``, ``ndf`` and the
    images' size, initialised from ``config.seed``.
    """

    def __init__(self, images: torch.Tensor, G: nn.Module | None = None, D: nn.Module | None = None,
                 objective: Objective | None = None, config: TrainConfig | None = None,
                 labels: torch.Tensor | None = None, eval_labels: torch.Tensor | None = None,
                 nz: int = 100, ngf: int = 64, ndf: int = 64,
                 observers: list[Callable[[Batch, dict], dict]] | None = None):
        self.config = cfg = config or TrainConfig()
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-1] != images.shape[-2]:
            raise ValueError(f"images must be (N, 3, S, S); got {tuple(images.shape)}")
        if len(images) < 2:
            raise ValueError("need at least 2 training images")
        if cfg.batch_size > len(images):
            raise ValueError(f"batch_size {cfg.batch_size} is larger than the data ({len(images)} images); "
                             f"use at most {len(images)}")
        self.device = distributed.local_device(resolve_device(cfg.device))
        self.world = distributed.world()  # under torchrun: this process's rank of how many
        if cfg.batch_size % self.world.size:
            raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the number of processes "
                             f"({self.world.size}): each takes an equal share of the global batch")
        self.amp = amp_enabled(cfg.amp, self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        small = images.numel() * images.element_size() < 2 * 1024**3  # a small set lives on the accelerator
        self.images = images.to(self.device if small else "cpu").contiguous(memory_format=self.memory_format)
        self.batch_size = cfg.batch_size  # the global batch; each process's share is local_batch
        self.local_batch = cfg.batch_size // self.world.size

        torch.manual_seed(cfg.seed)  # weight initialisation
        image_size = images.shape[-1]
        G = G if G is not None else model_registry.Generator(nz, ngf, 3, image_size)
        D = D if D is not None else model_registry.Discriminator(ndf, 3, image_size)
        if self.world.size > 1:  # batch norm over the global batch
            distributed.convert_sync_batchnorm(G)
            distributed.convert_sync_batchnorm(D)
        self.G = G.to(self.device, memory_format=self.memory_format)
        self.D = D.to(self.device, memory_format=self.memory_format)
        self.n_classes = int(getattr(self.G, "n_classes", 0))
        # the averaged generator (Karras et al. 2018; BigGAN): a copy whose weights follow G's, sampled from
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.ema_decay else None
        self.labels = self._check_labels(labels, "labels", images)
        self.eval_labels = self._check_labels(eval_labels, "eval_labels", images)
        if self.n_classes and self.labels is None:
            raise ValueError("a class-conditional generator needs labels (use -1 where a label is hidden)")
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.objective = objective if objective is not None else DCGANLoss()
        self.objective.bind(self.G, self.D, self.local_batch)
        self.observers = list(observers or [])
        if self.eval_labels is not None:
            self.observers.append(hidden_label_accuracy(self.eval_labels))
        self.augment = parse_policy(cfg.augment)

        # one CPU generator drives the data order and every z; DiffAugment draws from a second one,
        # so turning augmentation on leaves the data order and the noise unchanged
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.aug_rng = torch.Generator().manual_seed(cfg.seed + 7919)
        self._G_train, D_train = self.G, _DForward(self.D)  # what the training forward passes run
        if self.world.size > 1:  # gradients averaged over the processes (DistributedDataParallel)
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._G_train = DDP(self.G, device_ids=ids, forward_sync_buffers=False)
            D_train = DDP(D_train, device_ids=ids, forward_sync_buffers=False)
        share = (self.world.rank, self.world.size) if self.world.size > 1 else None
        self._disc = Disc(D_train, self.D, self.augment, self.aug_rng, self.memory_format, share)  # D's steps
        self._disc_frozen = Disc(_DForward(self.D), self.D, self.augment, self.aug_rng, self.memory_format, share)  # G's
        self.fixed_z = torch.randn(cfg.n_fixed, self.nz, generator=self.rng)
        self._perm = torch.randperm(len(self.images), generator=self.rng)
        self._pos = 0
        self.weights: torch.Tensor | None = None
        self.iteration = self.epoch = self.d_steps = self.g_steps = 0
        self.wall_s = 0.0
        self.history: dict[str, list[float]] = {k: [] for k in RECORD_KEYS}
        self.samples: dict[int, torch.Tensor] = {}
        self.evals: list[dict] = []

    def _check_labels(self, labels, name, images):
        if labels is None:
            return None
        labels = torch.as_tensor(labels).long()
        if labels.shape != (len(images),):
            raise ValueError(f"{name} must have one entry per image ({len(images)}), got shape {tuple(labels.shape)}")
        if self.n_classes and labels.max() >= self.n_classes:
            raise ValueError(f"{name} go up to {int(labels.max())}, but G has {self.n_classes} classes")
        return labels.to(self.images.device)

    @property
    def nz(self) -> int:
        return int(self.G.nz)

    # ------------------------------------------------------------------ data, noise, D's input
    def set_sampling_weights(self, weights: torch.Tensor | np.ndarray | None) -> None:
        """From now on, draw each batch with replacement, image i with probability ``weights[i] / sum``.
        ``None`` goes back to epochs of shuffled data."""
        if weights is None:
            self.weights = None
            return
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float64)
        if w.shape != (len(self.images),) or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {len(self.images)} finite non-negative numbers with a positive sum")
        self.weights = w / w.sum()

    def _share(self, x: torch.Tensor) -> torch.Tensor:
        """This process's slice of a global batch (all of it with one process)."""
        r, b = self.world.rank, self.local_batch
        return x if self.world.size == 1 else x[r * b:(r + 1) * b]

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """The next real batch: ``(images, labels or None, their indices in the training set)``. Every process
        draws the same global batch and keeps its own slice."""
        if self.weights is not None:
            idx = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.rng)
        else:
            if self._pos + self.batch_size > len(self._perm):  # epoch over (drop_last): reshuffle
                self._perm = torch.randperm(len(self.images), generator=self.rng)
                self._pos = 0
                self.epoch += 1
            idx = self._perm[self._pos:self._pos + self.batch_size]
            self._pos += self.batch_size
        idx = self._share(idx)
        on = idx.to(self.images.device)
        y = None if self.labels is None else self.labels[on].to(self.device)
        return self.images[on].to(self.device, non_blocking=True), y, idx

    def _latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` global latent vectors (and classes); this process's slice of them."""
        z = self._share(torch.randn(n, self.nz, generator=self.rng)).to(self.device, non_blocking=True)
        y = torch.randint(0, self.n_classes, (n,), generator=self.rng) if self.n_classes else None
        return z, None if y is None else self._share(y).to(self.device)

    def disc(self, x: torch.Tensor, y: torch.Tensor | None = None, full: bool = False):
        """D on ``x`` after DiffAugment (when on): logits (B,), or a :class:`~gan_helpers.models.DOutput` if ``full``."""
        return self._disc(x, y, full)

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    # ------------------------------------------------------------------ one iteration
    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        for e, p in zip(self.G_ema.parameters(), self.G.parameters()):
            e.lerp_(p, 1.0 - self.config.ema_decay)
        for e, b in zip(self.G_ema.buffers(), self.G.buffers()):
            e.copy_(b)

    @contextlib.contextmanager
    def observing(self):
        """Within the block, anything may run G and D (a logged loss, a metric): afterwards every buffer of both
        (batch-norm running statistics, spectral norm's power-iteration vectors), DiffAugment's random stream and
        torch's global random state are as they were, so an observed run equals an unobserved one bit for bit."""
        buffers = {name: [b.detach().clone() for b in net.buffers()] for name, net in (("G", self.G), ("D", self.D))}
        rng, aug, glob = self.rng.get_state(), self.aug_rng.get_state(), torch.get_rng_state()
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        try:
            yield
        finally:
            with torch.no_grad():
                for name, net in (("G", self.G), ("D", self.D)):
                    for b, saved in zip(net.buffers(), buffers[name]):
                        b.copy_(saved)
            self.rng.set_state(rng)
            self.aug_rng.set_state(aug)
            torch.set_rng_state(glob)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)

    def train_iteration(self) -> dict[str, float]:
        cfg, obj = self.config, self.objective
        it = self.iteration + 1
        t0 = time.perf_counter()
        d_logs, g_logs = [], []
        for k in range(cfg.d_steps_per_g_step):
            real, y_real, index = self._real_batch()
            z, y_fake = self._latent(self.batch_size)
            keep_graph = cfg.reuse_fake and k == cfg.d_steps_per_g_step - 1  # the G step will reuse these fakes
            with self._autocast():
                with torch.set_grad_enabled(keep_graph):
                    fake = self._G_train(z, y_fake)
                batch = Batch(real, y_real, index, fake.detach(), y_fake)
                out = obj.d_step(batch, self._disc)
            self._step(self.opt_d, out["d_loss"])
            obj.after_step("D")
            self.d_steps += 1
            with torch.no_grad():
                for observe in self.observers:
                    out.update(observe(batch, out))
            d_logs.append({k: v for k, v in out.items() if not k.startswith("_")})
        self.D.requires_grad_(False)  # G's steps need D's input gradient, not its weight gradient
        try:
            for k in range(cfg.g_steps_per_d_step):
                if k > 0 and cfg.resample_z:
                    z, y_fake = self._latent(self.batch_size)
                with self._autocast():
                    if k > 0 or not cfg.reuse_fake:
                        fake = self._G_train(z, y_fake)
                    out = obj.g_step(batch.with_fake(fake, y_fake), self._disc_frozen)
                self._step(self.opt_g, out["g_loss"])
                self._update_ema()
                obj.after_step("G")
                self.g_steps += 1
                g_logs.append(out)
        finally:
            self.D.requires_grad_(True)
        del fake  # G's graph of the last step

        row = {k: torch.stack([torch.as_tensor(o[k]).detach().float() for o in logs]).mean()
               for logs in (d_logs, g_logs) for k in logs[0]}
        if cfg.log_paper_losses:
            # the losses as DCGAN-tensorflow prints them: same batch and z, after this iteration's updates;
            # measured without side effects, so that a run that logs them is the run that does not
            with self.observing(), torch.no_grad(), self._autocast():
                paper = batch.with_fake(self.G(z, y_fake), y_fake)
                row["d_loss_paper"] = obj.d_step(paper, self._disc_frozen)["d_loss"]
                row["g_loss_paper"] = obj.g_step(paper, self._disc_frozen)["g_loss"]
        if self.world.size > 1:  # the records are the global batch's: the mean of the processes' values
            keys = list(row)
            row = dict(zip(keys, distributed.mean_over_ranks(torch.stack([row[k].to(self.device) for k in keys]))))
        row = {k: float(v) for k, v in row.items()}  # one device sync per iteration
        for key in ("d_loss", "g_loss"):
            if not math.isfinite(row[key]):
                raise FloatingPointError(
                    f"{key} became {row[key]} at iteration {it}; training stopped. Lower the learning rate, "
                    f"check the data range ([-1, 1]), or resume from an earlier checkpoint.")
        self.iteration = it
        self.wall_s += time.perf_counter() - t0
        row.update(iteration=it, epoch=self.epoch, wall_s=self.wall_s)
        for k, v in row.items():
            self.history.setdefault(k, [float("nan")] * (it - 1)).append(v)
        for k, v in self.history.items():  # a term logged only some iterations keeps its place
            if len(v) < it:
                v.append(float("nan"))
        if it in cfg.sample_at:
            self.samples[it] = self.fixed_grid()
        return row

    def fit(self, iterations: int, progress: bool = False, eval_every: int | None = None,
            eval_fn: Callable[["GANTrainer"], dict] | None = None,
            hooks: dict[int, Callable[["GANTrainer"], None]] | None = None,
            checkpoint_path: str | Path | None = None, checkpoint_every: int | None = None,
            desc: str = "") -> "GANTrainer":
        """Train until ``self.iteration == iterations`` (so a resumed run continues to the same end).

        ``eval_fn(trainer) -> dict`` runs every ``eval_every`` iterations and at the end; its results,
        with the iteration and step counts, go to ``self.evals``. ``hooks``: ``{every: fn(trainer)}``,
        called every ``every`` iterations (notebook 02 re-weights its data this way).
        """
        if not isinstance(iterations, (int, np.integer)) or iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
        from tqdm.auto import tqdm

        bar = tqdm(total=iterations, initial=self.iteration, disable=not progress or not self.world.main, mininterval=2,
                   desc=desc or f"G:D {self.config.ratio_name}", leave=False)
        while self.iteration < iterations:
            row = self.train_iteration()
            bar.update(1)
            if progress and self.iteration % 25 == 0:
                bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}")
            for every, fn in (hooks or {}).items():
                if self.iteration % every == 0:
                    fn(self)
            if eval_fn is not None and eval_every and self.iteration % eval_every == 0:
                self.evaluate(eval_fn)
            if checkpoint_path is not None and checkpoint_every and self.iteration % checkpoint_every == 0:
                self.save(checkpoint_path)
        bar.close()
        if eval_fn is not None and (not self.evals or self.evals[-1]["iteration"] != self.iteration):
            self.evaluate(eval_fn)
        return self

    def evaluate(self, eval_fn: Callable[["GANTrainer"], dict]) -> dict:
        out = {"iteration": self.iteration, "d_steps": self.d_steps, "g_steps": self.g_steps,
               "wall_s": self.wall_s, **eval_fn(self)}
        self.evals.append(out)
        return out

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 256,
                 averaged: bool = True) -> torch.Tensor:
        """G(z, y) on the CPU in [-1, 1], in batches (from the averaged G where ``ema_decay`` > 0, unless
        ``averaged=False``).

        G stays in training mode (batch statistics), as in DCGAN-tensorflow and pytorch/examples,
        and its batch-norm running statistics are put back afterwards: sampling never changes the run.
        Under ``torchrun`` the statistics are those of ``z`` alone (no collective), so one process may sample.
        """
        G = self.G_ema if averaged and self.G_ema is not None else self.G
        running = {k: v.clone() for k, v in G.state_dict().items() if "running" in k or "num_batches" in k}
        out = []
        with self._autocast(), distributed.local_statistics():
            for i in range(0, len(z), batch_size):
                yy = None if y is None else y[i:i + batch_size].to(self.device)
                out.append(G(z[i:i + batch_size].to(self.device), yy).float().cpu())
        G.load_state_dict(running, strict=False)
        return torch.cat(out)

    def sample(self, n: int, seed: int | None = None, y: torch.Tensor | None = None,
               batch_size: int = 256, averaged: bool = True) -> torch.Tensor:
        """``n`` images from fresh noise (its own generator: the training run is not disturbed). A
        conditional G draws the classes in turn (``arange(n) % K``) unless ``y`` is given."""
        g = torch.Generator().manual_seed(10_000 + self.iteration if seed is None else seed)
        z = torch.randn(n, self.nz, generator=g)
        if self.n_classes and y is None:
            y = torch.arange(n) % self.n_classes
        return self.generate(z, y, batch_size, averaged)

    def fixed_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fixed noise of the sample grids; for a conditional G, the same ``n_fixed // K`` vectors
        under every class, class by class (one grid row per class)."""
        if not self.n_classes:
            return self.fixed_z, None
        per = max(1, len(self.fixed_z) // self.n_classes)
        return self.fixed_z[:per].repeat(self.n_classes, 1), torch.arange(self.n_classes).repeat_interleave(per)

    def fixed_grid(self) -> torch.Tensor:
        return self.generate(*self.fixed_latents())

    # ------------------------------------------------------------------ summaries
    def epoch_means(self, key: str) -> np.ndarray:
        """Mean of ``history[key]`` over the iterations of each epoch (epochs in order)."""
        ep = np.asarray(self.history["epoch"])
        v = np.asarray(self.history[key], dtype=float)
        return np.array([v[ep == e].mean() for e in np.unique(ep)])

    def log_loss_ratio(self, base: float = 10.0, paper: bool = True) -> np.ndarray:
        """Per epoch: log_base(mean G loss / mean D loss), the document's Figure 1 (0 means parity)."""
        g, d = ("g_loss_paper", "d_loss_paper") if paper and "g_loss_paper" in self.history else ("g_loss", "d_loss")
        return np.log(self.epoch_means(g) / self.epoch_means(d)) / np.log(base)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "format": "gan_helpers.GANTrainer/2",
            "config": dataclasses.asdict(self.config),
            "models": {"G": self.G.spec, "D": self.D.spec},
            "objective": {"name": self.objective.name, "hparams": self.objective.hparams(),
                          "state": self.objective.state_dict()},
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(), "aug_rng": self.aug_rng.get_state(), "torch_rng": torch.get_rng_state(),
            "fixed_z": self.fixed_z, "perm": self._perm, "pos": self._pos, "weights": self.weights,
            "counters": {"iteration": self.iteration, "epoch": self.epoch, "d_steps": self.d_steps,
                         "g_steps": self.g_steps, "wall_s": self.wall_s},
            "history": self.history, "samples": self.samples, "evals": self.evals,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("models", {}).get("G") != self.G.spec or state.get("models", {}).get("D") != self.D.spec:
            raise ValueError(f"checkpoint models {state.get('models')} differ from this trainer's "
                             f"{{'G': {self.G.spec}, 'D': {self.D.spec}}}")
        if state["objective"]["name"] != self.objective.name:
            raise ValueError(f"checkpoint objective {state['objective']['name']!r}, trainer's {self.objective.name!r}")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"] if state.get("G_ema") is not None else state["G"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.objective.load_state_dict(state["objective"]["state"])
        self.rng.set_state(state["rng"])
        self.aug_rng.set_state(state["aug_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.fixed_z, self._perm, self._pos, self.weights = state["fixed_z"], state["perm"], state["pos"], state["weights"]
        for k, v in state["counters"].items():
            setattr(self, k, v)
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.samples, self.evals = dict(state["samples"]), list(state["evals"])

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically (a crash mid-write never leaves a half-written file). Under ``torchrun``
        every process calls it and rank 0 writes (the state is the same on every rank)."""
        path = Path(path)
        if self.world.main:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            torch.save(self.state_dict(), tmp)
            tmp.replace(path)
        distributed.barrier()
        return path

    @classmethod
    def from_state(cls, state: dict, images: torch.Tensor, labels: torch.Tensor | None = None,
                   eval_labels: torch.Tensor | None = None, **overrides) -> "GANTrainer":
        """Rebuild a trainer from :meth:`state_dict` (models, objective, config) and its data.
        ``overrides`` change config fields that do not affect the run's past (``device``, ``sample_at``)."""
        config = TrainConfig(**{**state["config"], **overrides})
        objective = objective_registry.build(state["objective"]["name"], state["objective"]["hparams"])
        G, D = model_registry.build(state["models"]["G"]), model_registry.build(state["models"]["D"])
        trainer = cls(images, G, D, objective, config, labels=labels, eval_labels=eval_labels)
        trainer.load_state_dict(state)
        return trainer

    @classmethod
    def from_checkpoint(cls, path: str | Path, images: torch.Tensor, labels: torch.Tensor | None = None,
                        eval_labels: torch.Tensor | None = None, **overrides) -> "GANTrainer":
        """Rebuild a trainer from :meth:`save` and continue with ``fit``. A checkpoint made for another image
        size than ``images`` (or whose weights do not fit its own model spec) is refused here, naming the file,
        rather than failing in ``fit``."""
        state = load_checkpoint(path, required=("format", "config", "models", "objective", "G", "D"))
        size = int(images.shape[-1]) if images.dim() == 4 else None
        for role in ("G", "D"):
            spec = state["models"][role] if isinstance(state["models"], dict) and role in state["models"] else {}
            got = (spec.get("kwargs") or {}).get("image_size") if isinstance(spec, dict) else None
            if got is not None and size is not None and got != size:
                raise CheckpointError(f"{str(path)!r} holds a {role} for {got} px images ({spec.get('name')}, "
                                      f"{spec.get('kwargs')}); the images given are {size} px: resize them to {got} px "
                                      f"or give a {size} px checkpoint")
        try:
            return cls.from_state(state, images, labels, eval_labels, **overrides)
        except (RuntimeError, KeyError, TypeError) as e:  # weights that do not fit the spec, a damaged entry
            raise CheckpointError(f"{str(path)!r} does not fit the models it describes "
                                  f"({type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]})") from None
