r"""Data parallelism across processes (``torchrun``): the process group, batch-norm statistics over the global
batch, and the small collectives the trainer needs.

:class:`gan_helpers.train.GANTrainer` trains data-parallel when it is built inside an initialised process
group of more than one process (:func:`init_from_env`, which ``python -m gan_helpers.tools.train`` calls:
gloo on the CPU, NCCL on CUDA; PyTorch, *Getting Started with Distributed Data Parallel*,
https://pytorch.org/tutorials/intermediate/ddp_tutorial.html). Every rank keeps the whole run's state
(the data order, every random generator) and takes its slice of each global batch, so a checkpoint is the
same whatever the number of processes that wrote it, and resumes on any number.

**Batch norm** is computed over the global batch: :class:`SyncBatchNorm2d` replaces every
``nn.BatchNorm2d`` (:func:`convert_sync_batchnorm`). It is written here because ``torch.nn.SyncBatchNorm``
refuses CPU tensors ("SyncBatchNorm expected input tensor to be on GPU"), so gloo runs could not use it.
The statistics are two differentiable all-reduces (:class:`AllReduceSum`: a sum forward, a sum of the
gradients backward, as ``torch.nn.SyncBatchNorm`` reduces its gradient terms), the mean and then the mean
squared deviation, so the layer
equals ``nn.BatchNorm2d`` on the concatenated batch up to float rounding (the tests compare them).
:func:`local_statistics` turns the synchronisation off (sampling on one rank). What stays per rank:
minibatch discrimination (Salimans et al. 2016) compares the images of the rank's own slice only.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

_state = threading.local()
_joined = False  # this process called init_process_group (see :func:`exit`)


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` of ``size`` processes (``size`` 1 outside a process group)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def init_from_env(device: torch.device) -> World:
    """Join the process group ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``), NCCL for CUDA and gloo otherwise; on CUDA each process takes the GPU ``LOCAL_RANK``.
    Outside ``torchrun`` (or with one process) nothing is initialised. Returns this process's :class:`World`."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2:
        return world()
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        global _joined
        _joined = True
    return world()


def local_device(device: torch.device) -> torch.device:
    """On CUDA under ``torchrun``, this process's GPU (``LOCAL_RANK``); otherwise ``device``."""
    if device.type == "cuda" and launched_by_torchrun() and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit(code: int) -> None:
    """End the process with ``code``: ``sys.exit`` normally; in a process that joined a process group
    (:func:`init_from_env`), ``os._exit`` after flushing, so that Python's interpreter shutdown never runs.

    Why: gloo's worker threads drop their reference to a finished collective's tensors a moment after the
    collective returns, and dropping the last C++ reference to a tensor that Python also sees takes the GIL.
    If the main thread has meanwhile reached interpreter shutdown, the worker thread is made to exit while
    unwinding a ``noexcept`` destructor, and the process aborts ("terminate called without an active
    exception", SIGABRT, ``c10d::ProcessGroupGloo::runLoop`` -> ``~AsyncAllgatherWork`` -> ``take_gil`` ->
    ``PyThread_exit_thread`` in the core dump) although everything was written. Measured here with
    tests/distributed_worker.py under ``torchrun --nproc_per_node=2``: without this function 7 of 61 launches
    aborted at exit, after ``destroy_process_group`` had returned (it does not join those threads); with it,
    0 of 25 (alternated with 25 without, of which 1 aborted).
    (The same race is PyTorch's, https://github.com/pytorch/pytorch/pull/179291.) Call it last, once every
    file is written and closed."""
    if not _joined:
        sys.exit(code)
    shutdown()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


@contextlib.contextmanager
def local_statistics():
    """Within the block, :class:`SyncBatchNorm2d` layers use this process's batch only (no collective): for
    sampling on one rank, which the other ranks do not join."""
    before = getattr(_state, "local", False)
    _state.local = True
    try:
        yield
    finally:
        _state.local = before


class AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over the process group; backward, the sum of the gradients (every rank's loss
    depends on every rank's contribution)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class SyncBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training statistics are those of the global batch across the process group
    (on the CPU as on CUDA). Outside a process group, in eval mode, or in :func:`local_statistics`, it is
    ``nn.BatchNorm2d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = world()
        if not self.training or w.size == 1 or getattr(_state, "local", False):
            return super().forward(x)
        all_reduce = AllReduceSum.apply
        C = x.shape[1]
        xf = x.float()
        count = torch.tensor([float(xf.numel() // C)], device=x.device)
        dist.all_reduce(count)  # values per channel over all ranks
        mean = all_reduce(xf.sum((0, 2, 3))) / count
        centred = xf - mean.view(1, C, 1, 1)
        var = all_reduce(centred.square().sum((0, 2, 3))) / count  # biased, as nn.BatchNorm2d normalises with
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                n = float(count)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                self.running_var.lerp_((var.detach() * n / max(n - 1, 1)).to(self.running_var.dtype), m)
        y = centred * torch.rsqrt(var + self.eps).view(1, C, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, C, 1, 1) + self.bias.view(1, C, 1, 1)
        return y.to(x.dtype)  # element-wise ops keep x's memory format


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` below ``module`` (in place) by a :class:`SyncBatchNorm2d` with the same
    parameters and buffers; returns ``module``. State-dict keys do not change, so checkpoints stay the same."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = SyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats,
                                  device=child.running_mean.device if child.running_mean is not None else None)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_sync_batchnorm(child)
    return module


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``values`` over the process group (``values`` itself with one process)."""
    if world().size == 1:
        return values
    out = values.clone()
    dist.all_reduce(out)
    return out / world().size


def barrier() -> None:
    if world().size > 1:
        dist.barrier()
