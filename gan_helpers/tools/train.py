"""Train one DCGAN from a YAML of the notebooks' parameter names, on one process or many (``torchrun``).

    python -m gan_helpers.tools.train -f config.yaml [-p name value ...]
    torchrun --nproc_per_node=2 -m gan_helpers.tools.train -f config.yaml

Under ``torchrun`` the processes train data-parallel (:mod:`gan_helpers.distributed`: gloo on the CPU, NCCL on
CUDA, one GPU per process): ``batch_size`` is the global batch, each process takes an equal share, gradients
are averaged and batch norm is computed over the global batch. Rank 0 writes everything under ``output_dir``:

* ``checkpoint.pt`` every ``checkpoint_every`` iterations and at the end (:meth:`GANTrainer.save`, atomic);
* ``samples/grid_<iteration>.png``: G(fixed z) at each of ``sample_at`` and at the end; ``samples/final/``:
  ``n_samples`` images as PNG files;
* ``results.json`` (:func:`gan_helpers.results.write_results`): the parameters, the number of processes, the
  losses per iteration and the time taken, written last.

Rerunning the same command after an interrupt resumes from ``checkpoint.pt`` (on any number of processes:
every process holds the whole run's state) and continues to ``iterations``; a checkpoint of other settings is
refused with an error naming it. Parameters (the notebooks' vocabulary, checked before any work):
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "dataset": "mice",        # a built-in set, "cifar10"/"celeba" (torchvision), or a folder of images
    "image_size": 32,         # 32 or 64 px
    "n_train": 192,           # images drawn for a built-in set (at most this many from a torchvision set)
    "iterations": 200,        # D+G iterations (one D step and g_steps_per_d_step G steps each)
    "batch_size": 64,         # the global batch, split evenly over the processes
    "nz": 100,                # latent size
    "ngf": 32,                # generator width
    "ndf": 32,                # discriminator width
    "lr": 2e-4,               # Adam learning rate of both networks (lr_g / lr_d, when given, win)
    "lr_g": None,
    "lr_d": None,
    "beta1": 0.5,             # Adam beta1 (DCGAN)
    "g_steps_per_d_step": 1,
    "d_steps_per_g_step": 1,
    "augment": "",            # DiffAugment policy, e.g. "color,translation,cutout"
    "ema_decay": 0.0,         # > 0: sample from a moving average of G's weights
    "seed": 0,
    "sample_at": [],          # iterations at which to save G(fixed z) (the end is always saved)
    "checkpoint_every": 100,  # iterations between checkpoints
    "n_samples": 64,          # images written as PNG files at the end
    "amp": True,              # bf16 autocast where the hardware has it
    "device": "auto",         # "auto": cuda, then mps, then cpu
    "progress": False,        # a progress bar (rank 0)
    "output_dir": "outputs/train",
}
__doc__ += "\n" + "\n".join(f"* ``{k}``: default ``{v!r}``" for k, v in DEFAULTS.items())

# config fields a resumed run may change (they do not alter its past)
RESUMABLE_CHANGES = {"device", "sample_at", "amp"}


def read_config(files=(), plain=()) -> dict[str, Any]:
    """The defaults, then each ``-f`` YAML, then each ``-p`` pair (papermill's reading of values). A name that is
    not a parameter, or a value the shared rules refuse, is one error naming it."""
    from ..notebook import ParameterError, check_parameters, int_rule, integer, list_of, number
    from .nbexec import read_parameters

    given = read_parameters(files, (), plain)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ParameterError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                             f"the parameters are: {', '.join(DEFAULTS)}")
    cfg = {**DEFAULTS, **given}
    for k in ("lr_g", "lr_d"):
        cfg[k] = cfg["lr"] if cfg[k] is None else cfg[k]
    check_parameters(cfg, {"sample_at": lambda v, p: None if v == [] else list_of(int_rule(1), distinct=True)(v, p),
                           "checkpoint_every": integer(1), "n_samples": integer(1),
                           "dataset": lambda v, p: __import__("gan_helpers.datasets", fromlist=["x"]).check_dataset(v),
                           "lr_g": number(0.0), "lr_d": number(0.0)})
    return cfg


def load_images(cfg: dict[str, Any]):
    from ..datasets import BUILTIN, TORCHVISION, load_dataset

    name = cfg["dataset"]
    if name in BUILTIN:
        return load_dataset(name, cfg["image_size"], n=cfg["n_train"]) if name != "digits" \
            else load_dataset(name, cfg["image_size"])
    if name.lower() in TORCHVISION:
        return load_dataset(name, cfg["image_size"], limit=cfg["n_train"])
    return load_dataset(name, cfg["image_size"])


def train_config(cfg: dict[str, Any]):
    from ..train import TrainConfig

    return TrainConfig(batch_size=cfg["batch_size"], lr_g=cfg["lr_g"], lr_d=cfg["lr_d"], betas=(cfg["beta1"], 0.999),
                       g_steps_per_d_step=cfg["g_steps_per_d_step"], d_steps_per_g_step=cfg["d_steps_per_g_step"],
                       augment=cfg["augment"], seed=cfg["seed"], device=cfg["device"], amp=cfg["amp"],
                       sample_at=tuple(cfg["sample_at"]), ema_decay=cfg["ema_decay"])


def build_trainer(cfg: dict[str, Any], images, checkpoint: Path):
    """A fresh trainer, or the one ``checkpoint`` holds when it exists and has the same settings."""
    import dataclasses

    import torch

    from ..models import Discriminator, Generator
    from ..runtime import CheckpointError, load_checkpoint
    from ..train import GANTrainer

    config = train_config(cfg)
    if checkpoint.is_file():
        state = load_checkpoint(checkpoint, required=("format", "config", "models", "objective", "G", "D"))
        ours = dataclasses.asdict(config)
        theirs = {**state["config"], "betas": tuple(state["config"]["betas"]), "sample_at": tuple(state["config"]["sample_at"])}
        differ = sorted(k for k in ours if k not in RESUMABLE_CHANGES and ours[k] != theirs.get(k))
        models = {"G": Generator(cfg["nz"], cfg["ngf"], 3, cfg["image_size"]).spec,
                  "D": Discriminator(cfg["ndf"], 3, cfg["image_size"]).spec}
        if differ or state["models"] != models:
            what = ", ".join(f"{k} {theirs.get(k)!r} there, {ours[k]!r} here" for k in differ) or "the models differ"
            raise CheckpointError(f"{checkpoint} was written with other settings ({what}); resume with the same "
                                  f"settings or choose another output_dir")
        return GANTrainer.from_state(state, images, device=config.device, sample_at=config.sample_at, amp=config.amp)
    torch.manual_seed(cfg["seed"])
    G = Generator(cfg["nz"], cfg["ngf"], 3, cfg["image_size"])
    D = Discriminator(cfg["ndf"], 3, cfg["image_size"])
    return GANTrainer(images, G, D, None, config)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-f", "--parameters-file", action="append", default=[], help="YAML file of parameters")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter, read as papermill reads it")
    args = ap.parse_args(argv)
    try:
        cfg = read_config(args.parameters_file, args.parameter)
    except ValueError as e:
        ap.error(str(e))

    import torch
    from torchvision.utils import save_image

    from .. import distributed
    from ..images import save_pngs
    from ..results import write_results
    from ..runtime import resolve_device

    t0 = time.perf_counter()
    w = distributed.init_from_env(resolve_device(cfg["device"]))
    out = Path(cfg["output_dir"])
    checkpoint = out / "checkpoint.pt"
    try:
        images = load_images(cfg).images
        trainer = build_trainer(cfg, images, checkpoint)
        start = trainer.iteration
        if w.main:
            print(f"[train] {w.size} process{'es' if w.size > 1 else ''} on {trainer.device}, global batch "
                  f"{trainer.batch_size} ({trainer.local_batch} each), {len(images)} images; "
                  + (f"resuming from {checkpoint} at iteration {start}" if start else "starting") + f"; outputs in {out}/",
                  flush=True)
        try:
            if trainer.iteration < cfg["iterations"]:
                trainer.fit(cfg["iterations"], progress=cfg["progress"], checkpoint_path=checkpoint,
                            checkpoint_every=cfg["checkpoint_every"])
        except KeyboardInterrupt:
            if w.main:
                print(f"[train] interrupted; {checkpoint} keeps the last checkpoint. Rerun the same command to resume.",
                      file=sys.stderr)
            return 130
        trainer.save(checkpoint)
        samples = trainer.sample(cfg["n_samples"], seed=cfg["seed"])  # every rank: the same images, no collective
        grids = {**trainer.samples, trainer.iteration: trainer.fixed_grid()}
        if w.main:
            (out / "samples").mkdir(parents=True, exist_ok=True)
            for it, grid in sorted(grids.items()):
                save_image(grid.float(), out / "samples" / f"grid_{it:06d}.png", nrow=8, normalize=True, value_range=(-1, 1))
            save_pngs(samples, out / "samples" / "final")
            keep = [k for k in trainer.history if k not in ("epoch",)]
            write_results(out, cfg, time.perf_counter() - t0, [], world_size=w.size, iterations=trainer.iteration,
                          resumed_from=start, local_batch=trainer.local_batch,
                          history={k: trainer.history[k] for k in keep})
            print(f"[train] wrote {out / 'results.json'}, {checkpoint} and {len(grids)} grids after "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        distributed.barrier()
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    code = main()
    from .. import distributed

    distributed.exit(code)  # under torchrun: os._exit once everything is written (see distributed.exit)
