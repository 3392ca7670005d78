r"""The DCGAN training loop with a generator:discriminator step ratio, checkpoints and resume.

Weaver, "Robot vs. Robot: Evening the Field in Deep Convolutional GANs for Small Datasets"
(``../shared/seeds/003_*.txt``) adds ``g_advantage`` to carpedm20/DCGAN-tensorflow: the number
of generator updates per discriminator update (that library's default is 2, "to make sure that
d_loss does not go to zero"). Here it is :attr:`TrainConfig.g_steps_per_d_step`; the other
direction, several D updates per G update (as compare_gan's ``disc_iters`` and mimicry's
``n_dis``), is :attr:`TrainConfig.d_steps_per_g_step`.

One **iteration** is one unit of that ratio, as the counter in DCGAN-tensorflow:

1. ``d_steps_per_g_step`` times, update D: maximise :math:`\log D(x) + \log(1 - D(G(z)))`
   on a fresh real batch and a fake batch;
2. ``g_steps_per_d_step`` times, update G: maximise :math:`\log D(G(z))` (non-saturating).
   As in DCGAN-tensorflow and the ``g_advantage`` fork, the extra G steps reuse the
   iteration's ``z`` unless :attr:`TrainConfig.resample_z` is set.

After the updates the loop also evaluates the losses the way DCGAN-tensorflow prints them
(``d_loss = d_loss_real + d_loss_fake`` and ``g_loss`` on the same batch and ``z``, after the
iteration's updates). That is the quantity behind the document's Figure 1, the log of
``g_loss / d_loss``; :meth:`GANTrainer.epoch_means` averages it per epoch.

Everything the run depends on (weights, both Adam states, the data order, the RNG states and
the counters) is in :meth:`GANTrainer.state_dict`, so an interrupted and resumed run gives
bit-identical weights to one that ran straight through (on the CPU; on a GPU up to cuDNN's
nondeterminism).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .losses import discriminator_loss, generator_loss
from .models import Discriminator, Generator
from .runtime import resolve_device


@dataclass
class TrainConfig:
    """Hyperparameters; the defaults are DCGAN's (Radford et al. 2016, section 4)."""

    image_size: int = 64            # 32 or 64 px
    nz: int = 100                   # size of the latent vector z
    ngf: int = 64                   # generator width
    ndf: int = 64                   # discriminator width
    batch_size: int = 64            # DCGAN: 128; DCGAN-tensorflow and the document: 64
    lr: float = 2e-4                # Adam learning rate, both networks
    beta1: float = 0.5              # Adam beta1 (DCGAN: 0.5 instead of 0.9)
    g_steps_per_d_step: int = 1     # the document's g_advantage: G updates per D update
    d_steps_per_g_step: int = 1     # the other direction: D updates per G update
    resample_z: bool = False        # fresh z for each extra G step (DCGAN-tensorflow reuses z)
    real_label: float = 1.0         # < 1: one-sided label smoothing (Salimans et al. 2016)
    seed: int = 0
    device: str = "auto"            # "auto": cuda, then mps, then cpu
    amp: bool = False               # bf16 autocast (CUDA only)
    channels_last: bool = False     # channels-last memory format (faster for these convolutions on CPU and GPU)
    log_paper_losses: bool = True   # also evaluate the losses after each iteration, as DCGAN-tensorflow prints them
    sample_at: tuple[int, ...] = () # iterations at which to keep G(fixed z)
    n_fixed: int = 64               # how many fixed latent vectors for the sample grids

    def __post_init__(self):
        if self.g_steps_per_d_step < 1 or self.d_steps_per_g_step < 1:
            raise ValueError("g_steps_per_d_step and d_steps_per_g_step must be >= 1")
        if self.g_steps_per_d_step > 1 and self.d_steps_per_g_step > 1:
            raise ValueError("set g_steps_per_d_step or d_steps_per_g_step above 1, not both")
        self.sample_at = tuple(int(i) for i in self.sample_at)

    @property
    def ratio_name(self) -> str:
        """"G:D" as the document writes it, e.g. "4:1"."""
        return f"{self.g_steps_per_d_step}:{self.d_steps_per_g_step}"


HISTORY_KEYS = ("iteration", "epoch", "d_loss", "d_loss_real", "d_loss_fake", "g_loss", "d_x", "d_g_z",
                "d_loss_paper", "g_loss_paper", "wall_s")


class GANTrainer:
    """Trains a DCGAN on an in-memory image tensor ``(N, 3, S, S)`` in [-1, 1].

    ``history`` holds one value per iteration for each of :data:`HISTORY_KEYS`: D loss (and its
    real and fake terms), G loss (mean over the iteration's G steps), mean ``D(x)`` and
    ``D(G(z))`` as probabilities, the post-update losses (``*_paper``), and cumulative wall-clock.
    ``samples`` maps an iteration in ``config.sample_at`` to ``G(fixed_z)`` on the CPU.
    """

    def __init__(self, images: torch.Tensor, config: TrainConfig | None = None,
                 generator: Generator | None = None, discriminator: Discriminator | None = None):
        self.config = cfg = config or TrainConfig()
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-1] != cfg.image_size or images.shape[-2] != cfg.image_size:
            raise ValueError(f"images must be (N, 3, {cfg.image_size}, {cfg.image_size}); got {tuple(images.shape)}")
        if len(images) < 2:
            raise ValueError("need at least 2 training images")
        self.device = resolve_device(cfg.device)
        on_gpu = self.device.type == "cuda"
        self.amp = cfg.amp and on_gpu
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        # a small data set lives on the accelerator; batches are then indexed there, with no copies
        small = images.numel() * images.element_size() < 2 * 1024**3
        self.images = images.to(self.device if small else "cpu").contiguous(memory_format=self.memory_format)
        self.batch_size = min(cfg.batch_size, len(images))

        torch.manual_seed(cfg.seed)  # weight initialisation
        self.G = (generator or Generator(cfg.nz, cfg.ngf, 3, cfg.image_size)).to(self.device, memory_format=self.memory_format)
        self.D = (discriminator or Discriminator(cfg.ndf, 3, cfg.image_size)).to(self.device, memory_format=self.memory_format)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

        # one CPU generator drives the data order and every z, so the run is reproducible on any device
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.fixed_z = torch.randn(cfg.n_fixed, cfg.nz, generator=self.rng)
        self._perm = torch.randperm(len(self.images), generator=self.rng)
        self._pos = 0
        self.iteration = self.epoch = self.d_steps = self.g_steps = 0
        self.wall_s = 0.0
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        self.samples: dict[int, torch.Tensor] = {}
        self.evals: list[dict] = []

    # ------------------------------------------------------------------ data and noise
    def _real_batch(self) -> torch.Tensor:
        if self._pos + self.batch_size > len(self._perm):  # epoch over (drop_last): reshuffle
            self._perm = torch.randperm(len(self.images), generator=self.rng)
            self._pos = 0
            self.epoch += 1
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.images[idx.to(self.images.device)].to(self.device, non_blocking=True)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.nz, generator=self.rng).to(self.device, non_blocking=True)

    def _autocast(self):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.amp)

    @staticmethod
    def _check_finite(value: float, what: str, iteration: int) -> None:
        if not math.isfinite(value):
            raise FloatingPointError(
                f"{what} became {value} at iteration {iteration}; training stopped. Lower the learning rate, "
                f"check the data range ([-1, 1]), or resume from an earlier checkpoint.")

    # ------------------------------------------------------------------ one iteration
    def train_iteration(self) -> dict[str, float]:
        cfg = self.config
        it = self.iteration + 1
        t0 = time.perf_counter()
        d_terms, d_x, d_g_z = [], [], []
        for _ in range(cfg.d_steps_per_g_step):
            # (1) Update D: maximize log D(x) + log(1 - D(G(z)))
            real = self._real_batch()
            z = self._z(self.batch_size)
            with self._autocast():
                with torch.no_grad():
                    fake = self.G(z)
                real_logits, fake_logits = self.D(real), self.D(fake)
                loss = discriminator_loss(real_logits, fake_logits, cfg.real_label)
            self.opt_d.zero_grad(set_to_none=True)
            loss.total.backward()
            self.opt_d.step()
            self.d_steps += 1
            d_terms.append(torch.stack([loss.real.detach(), loss.fake.detach()]))
            d_x.append(torch.sigmoid(real_logits.detach().float()).mean())
            d_g_z.append(torch.sigmoid(fake_logits.detach().float()).mean())
        g_terms = []
        for k in range(cfg.g_steps_per_d_step):
            # (2) Update G: maximize log D(G(z)) (the non-saturating loss)
            if k > 0 and cfg.resample_z:
                z = self._z(self.batch_size)
            with self._autocast():
                g_loss = generator_loss(self.D(self.G(z)))
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self.g_steps += 1
            g_terms.append(g_loss.detach())

        d_mean = torch.stack(d_terms).mean(0)
        row = {"iteration": it, "epoch": self.epoch,
               "d_loss_real": d_mean[0], "d_loss_fake": d_mean[1], "d_loss": d_mean.sum(),
               "g_loss": torch.stack(g_terms).mean(), "d_x": torch.stack(d_x).mean(), "d_g_z": torch.stack(d_g_z).mean()}
        if cfg.log_paper_losses:
            # the losses as DCGAN-tensorflow prints them: same batch and z, after this iteration's updates
            with torch.no_grad(), self._autocast():
                fake_logits = self.D(self.G(z))
                paper = discriminator_loss(self.D(real), fake_logits)
                row["d_loss_paper"] = paper.total
                row["g_loss_paper"] = generator_loss(fake_logits)
        row = {k: float(v) for k, v in row.items()}  # one device sync per iteration
        for key in ("d_loss", "g_loss", "d_loss_paper", "g_loss_paper"):
            if key in row:
                self._check_finite(row[key], key, it)
        self.iteration = it
        self.wall_s += time.perf_counter() - t0
        row["wall_s"] = self.wall_s
        for k in HISTORY_KEYS:
            self.history[k].append(row.get(k, float("nan")))
        if it in cfg.sample_at:
            self.samples[it] = self.sample(fixed=True)
        return row

    def fit(self, iterations: int, progress: bool = True, eval_every: int | None = None,
            eval_fn: Callable[["GANTrainer"], dict] | None = None,
            checkpoint_path: str | Path | None = None, checkpoint_every: int | None = None) -> "GANTrainer":
        """Train until ``self.iteration == iterations`` (so a resumed run continues to the same end).

        ``eval_fn(trainer) -> dict`` runs every ``eval_every`` iterations and at the end; its
        results, with the iteration and step counts, go to ``self.evals``.
        """
        bar = tqdm(total=iterations, initial=self.iteration, disable=not progress, mininterval=2,
                   desc=f"G:D {self.config.ratio_name}", leave=False)
        while self.iteration < iterations:
            row = self.train_iteration()
            bar.update(1)
            if progress and self.iteration % 25 == 0:
                bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}")
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
    def sample(self, n: int | None = None, fixed: bool = False, batch_size: int = 256) -> torch.Tensor:
        """Images from G on the CPU, in [-1, 1]. ``fixed=True`` uses the fixed noise.

        G stays in training mode (batch statistics), as in DCGAN-tensorflow and pytorch/examples;
        random draws here use their own generator, so sampling never changes the training run.
        """
        if fixed:
            z = self.fixed_z
        else:
            g = torch.Generator().manual_seed(10_000 + self.iteration)
            z = torch.randn(n or self.config.n_fixed, self.config.nz, generator=g)
        bn_state = {k: v.clone() for k, v in self.G.state_dict().items() if "running" in k or "num_batches" in k}
        out = []
        with self._autocast():
            for i in range(0, len(z), batch_size):
                out.append(self.G(z[i:i + batch_size].to(self.device)).float().cpu())
        self.G.load_state_dict(bn_state, strict=False)  # sampling leaves BN running statistics untouched
        return torch.cat(out)

    # ------------------------------------------------------------------ summaries
    def epoch_means(self, key: str) -> np.ndarray:
        """Mean of ``history[key]`` over the iterations of each epoch (epochs in order)."""
        ep = np.asarray(self.history["epoch"])
        v = np.asarray(self.history[key], dtype=float)
        return np.array([v[ep == e].mean() for e in np.unique(ep)])

    def log_loss_ratio(self, base: float = 10.0, paper: bool = True) -> np.ndarray:
        """Per epoch: log_base(mean G loss / mean D loss), the document's Figure 1 (0 means parity)."""
        g, d = ("g_loss_paper", "d_loss_paper") if paper and self.config.log_paper_losses else ("g_loss", "d_loss")
        return np.log(self.epoch_means(g) / self.epoch_means(d)) / np.log(base)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "config": dataclasses.asdict(self.config),
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "fixed_z": self.fixed_z, "perm": self._perm, "pos": self._pos,
            "counters": {"iteration": self.iteration, "epoch": self.epoch, "d_steps": self.d_steps,
                         "g_steps": self.g_steps, "wall_s": self.wall_s},
            "history": self.history, "samples": self.samples, "evals": self.evals,
        }

    def load_state_dict(self, state: dict) -> None:
        saved = {k: v for k, v in state["config"].items() if k not in ("device", "sample_at")}
        mine = {k: v for k, v in dataclasses.asdict(self.config).items() if k in saved}
        changed = {k for k in saved if saved[k] != mine.get(k)}
        if changed & {"image_size", "nz", "ngf", "ndf"}:
            raise ValueError(f"checkpoint was trained with other model settings: {sorted(changed)}")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.fixed_z, self._perm, self._pos = state["fixed_z"], state["perm"], state["pos"]
        for k, v in state["counters"].items():
            setattr(self, k, v)
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.samples, self.evals = dict(state["samples"]), list(state["evals"])

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically (a crash mid-write never leaves a half-written file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.state_dict(), tmp)
        tmp.replace(path)
        return path

    @classmethod
    def from_checkpoint(cls, path: str | Path, images: torch.Tensor, **overrides) -> "GANTrainer":
        """Rebuild a trainer from :meth:`save` and continue with ``fit``. ``overrides`` change
        config fields that do not affect the model (e.g. ``device``)."""
        state = torch.load(path, map_location="cpu", weights_only=False)
        config = TrainConfig(**{**state["config"], **overrides})
        trainer = cls(images, config)
        trainer.load_state_dict(state)
        return trainer
