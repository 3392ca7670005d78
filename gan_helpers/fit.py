"""The one supervised training loop, for every classifier in the repository.

The feature networks behind FID (:mod:`gan_helpers.features`), the rotation network and the
from-scratch baseline of notebook 04, and notebook 03's good/bad classifier all train here. What
differs between them is the model, how a batch is made from a set of indices (augmentation,
rotations), and the loss; the loop (data order, Adam, an optional one-cycle schedule, the finite
check, the record of losses) is written once.

A :class:`Fitter` keeps its optimizer and random generator, so training can continue in several
calls (notebook 03 trains a few epochs after every round of self-training); :func:`fit` is the
one-call form.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from .runtime import resolve_device

MakeBatch = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, object]]


class Fitter:
    """Adam on ``model``'s parameters; :meth:`run` trains for a number of epochs or steps.

    ``make_batch(idx, generator) -> (inputs, targets)`` builds a batch from item indices (on the
    CPU; inputs are moved to the model's device, and targets too where they are tensors or dicts
    of tensors). ``loss_fn(outputs, targets) -> scalar``. ``total_steps`` turns on a one-cycle
    learning-rate schedule over that many steps (the feature networks); without it the rate is
    constant (continued training).
    """

    def __init__(self, model: nn.Module, make_batch: MakeBatch, loss_fn: Callable, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0, seed: int = 0,
                 total_steps: int | None = None, device: str | torch.device | None = None):
        self.device = resolve_device(device) if isinstance(device, str) else (device or next(model.parameters()).device)
        self.model = model.to(self.device)
        self.make_batch, self.loss_fn = make_batch, loss_fn
        self.opt = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, lr, total_steps=max(1, total_steps)) \
            if total_steps else None
        self.gen = torch.Generator().manual_seed(seed)
        self.losses: list[float] = []

    def _to_device(self, v):
        if isinstance(v, torch.Tensor):
            return v.to(self.device)
        if isinstance(v, dict):
            return {k: self._to_device(x) for k, x in v.items()}
        return v

    def step(self, idx: torch.Tensor) -> float:
        x, target = self.make_batch(idx, self.gen)
        loss = self.loss_fn(self.model(x.to(self.device)), self._to_device(target))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss became {value} after {len(self.losses)} steps; "
                                     f"lower the learning rate or check the inputs")
        self.losses.append(value)
        return value

    def run(self, n_items: int, batch_size: int, epochs: int | None = None, steps: int | None = None) -> float:
        """Train on items ``0..n_items-1``: ``epochs`` passes over a fresh permutation (``drop_last``,
        batch norm needs more than one item), or ``steps`` batches drawn with replacement.
        Returns the mean loss of these steps (NaN if none ran)."""
        if (epochs is None) == (steps is None):
            raise ValueError("give epochs or steps, not both")
        if n_items < 1:
            raise ValueError("nothing to train on (n_items = 0)")
        bs = min(batch_size, n_items)
        self.model.train()
        start = len(self.losses)
        if steps is not None:
            for _ in range(steps):
                self.step(torch.randint(0, n_items, (bs,), generator=self.gen))
        else:
            for _ in range(epochs):
                perm = torch.randperm(n_items, generator=self.gen)
                for s in range(0, n_items - bs + 1, bs):
                    self.step(perm[s:s + bs])
        done = self.losses[start:]
        return float(np.mean(done)) if done else float("nan")

    def run_until(self, n_items: int, batch_size: int, validate: Callable[[], dict], max_epochs: int,
                  patience: int, steps_per_epoch: int | None = None) -> dict:
        """Train epoch by epoch until the validation loss has not improved for ``patience`` epochs (or
        ``max_epochs``), then restore the weights of the best epoch: early stopping (Prechelt 1998).
        ``steps_per_epoch``: an "epoch" is that many batches drawn with replacement (for labelled sets of a few
        images, where a pass over the data is one step) instead of a pass over a permutation.

        ``validate() -> {"loss": ..., <other figures>}`` on held-out labelled data, called after each epoch
        with the model as it is (it should switch to eval mode itself). Returns the history (train loss and the
        validation figures per epoch), the best epoch and why it stopped. The optimizer's state is the last
        epoch's (training continued from the restored weights uses it)."""
        if max_epochs < 1 or patience < 1:
            raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs} and {patience}")
        import copy

        best, best_epoch, best_state, history = math.inf, 0, None, []
        stopped = "max_epochs"
        for epoch in range(1, max_epochs + 1):
            train_loss = self.run(n_items, batch_size, **({"steps": steps_per_epoch} if steps_per_epoch else {"epochs": 1}))
            v = validate()
            history.append({"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": x for k, x in v.items()}})
            if v["loss"] < best:
                best, best_epoch = v["loss"], epoch
                best_state = copy.deepcopy(self.model.state_dict())
            elif epoch - best_epoch >= patience:
                stopped = "patience"
                break
        self.model.load_state_dict(best_state)
        at_best = {k: x for k, x in history[best_epoch - 1].items() if k.startswith("val_")}
        return {"best_epoch": best_epoch, "epochs_run": len(history), "stopped": stopped, "history": history, **at_best}


def fit(model: nn.Module, make_batch: MakeBatch, loss_fn: Callable, n_items: int, batch_size: int = 64,
        epochs: int | None = None, steps: int | None = None, lr: float = 2e-3, one_cycle: bool = True,
        seed: int = 0, **kw) -> tuple[nn.Module, list[float]]:
    """Train ``model`` in one call; returns it in eval mode and the loss of every step.
    ``one_cycle``: a one-cycle learning-rate schedule over the whole run."""
    if one_cycle:
        per_epoch = max(1, n_items // min(batch_size, n_items))
        kw["total_steps"] = steps if steps is not None else epochs * per_epoch
    torch.manual_seed(seed)  # anything the model draws while training (dropout) follows the seed
    f = Fitter(model, make_batch, loss_fn, lr=lr, seed=seed, **kw)
    f.run(n_items, batch_size, epochs=epochs, steps=steps)
    return model.eval(), f.losses


def index_batches(images: torch.Tensor, targets=None, transform: Callable | None = None) -> MakeBatch:
    """The usual ``make_batch``: ``images[idx]`` (through ``transform(x, generator)`` if given) and
    ``targets[idx]`` (a tensor, or a dict of tensors for several heads)."""
    def make(idx: torch.Tensor, g: torch.Generator):
        x = images[idx]
        if transform is not None:
            x = transform(x, g)
        if isinstance(targets, dict):
            return x, {k: v[idx] for k, v in targets.items()}
        return x, None if targets is None else targets[idx]
    return make


def flip_and_shift(x: torch.Tensor, g: torch.Generator, flip: bool = True, max_shift: int = 2) -> torch.Tensor:
    """Light augmentation for classifiers: a horizontal flip of the whole batch half the time (if
    ``flip``), and one random shift of up to ``max_shift`` pixels (wrapping around)."""
    if flip and torch.rand(1, generator=g) < 0.5:
        x = x.flip(3)
    if max_shift:
        dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=g).tolist()
        x = torch.roll(x, (dy, dx), (2, 3))
    return x
