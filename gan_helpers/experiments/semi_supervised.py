r"""Notebook 05, the paper's main result: semi-supervised classification with a GAN (Salimans et al. 2016,
"Improved Techniques for Training GANs", section 5; https://arxiv.org/abs/1606.03498).

With 100 labelled digits (10 per class) and the rest of the training set unlabelled, the discriminator is a
K-class classifier trained on the labelled images, the unlabelled ones and the generator's fakes
(:class:`~gan_helpers.objectives.SemiSupervisedLoss`, openai/improved-gan's ``train_mnist_feature_matching.py``:
its MLPs, Adam at 3e-3 with beta1 0.5, feature matching for G, unlabelled weight 1). The baseline is the same
network trained on the 100 labels alone. Both are selected on the same small labelled validation set
(``val_per_class`` images per class, whose labels are used for nothing else): the GAN keeps its discriminator
at the evaluation with the lowest validation error, the supervised network stops when its validation loss has not
improved for ``patience`` checks (:meth:`gan_helpers.fit.Fitter.run_until`). Test error is measured on held-out
digits; the paper also notes that this generator's samples look worse than minibatch discrimination's, which
:func:`train_seed` measures with the notebook's evaluator.

Deviations from the reference, all for a 2-core CPU: digits of scikit-learn (8x8, shown at 32x32) instead of MNIST,
a few thousand steps instead of 300 epochs, no parameter averaging for the test (the reference tests an average
with rate 1e-4, which barely moves in so few steps), PyTorch's weight norm without the data-dependent init.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluate import Evaluator
from ..fit import Fitter
from ..models import SemiSupervisedDiscriminator, SemiSupervisedGenerator
from ..objectives import SemiSupervisedLoss
from ..train import GANTrainer, TrainConfig


@dataclass(frozen=True)
class SSLSetup:
    """The semi-supervised experiment's settings (the reference's where it gives them)."""

    labels_per_class: int = 10     # the paper's MNIST setting: 100 labels
    val_per_class: int = 5         # labelled validation images per class (selection only)
    iterations: int = 3000         # GAN iterations (one D step, one G step each)
    eval_every: int = 100          # validation error of D every this many iterations
    batch_size: int = 100          # the reference's
    lr: float = 3e-3               # the reference's (MNIST)
    beta1: float = 0.5             # the reference's
    unlabeled_weight: float = 1.0  # the reference's
    nz: int = 100
    resolution: int = 8            # D reads, and G draws, at this side (scikit-learn's digits are 8x8)
    sup_max_steps: int = 3000      # the supervised baseline: at most this many steps,
    sup_check_every: int = 50      # its validation loss checked this often,
    sup_patience: int = 6          # and stopped after this many checks without improvement
    n_samples: int = 1000          # generated images scored and saved
    amp: bool = True
    device: str = "auto"


def split_labels(labels: torch.Tensor, per_class: int, val_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(labelled, validation)`` indices: ``per_class`` and ``val_per_class`` images of each class, disjoint,
    drawn at random under ``seed``."""
    rng = np.random.default_rng(seed)
    lab, val = [], []
    y = np.asarray(labels)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) < per_class + val_per_class:
            raise ValueError(f"class {int(c)} has {len(idx)} images: too few for {per_class} labelled and "
                             f"{val_per_class} validation images")
        lab.append(idx[:per_class])
        val.append(idx[per_class:per_class + val_per_class])
    return np.sort(np.concatenate(lab)), np.sort(np.concatenate(val))


@torch.no_grad()
def predict(D: SemiSupervisedDiscriminator, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """D's class (argmax of its K logits) in eval mode (no input noise)."""
    was = D.training
    D.eval()
    device = next(D.parameters()).device
    out = np.concatenate([D.classify(images[i:i + batch_size].to(device)).argmax(1).cpu().numpy()
                          for i in range(0, len(images), batch_size)])
    D.train(was)
    return out


class _ClassLogits(torch.nn.Module):
    """D seen as a classifier: x -> its K class logits (what the supervised loop trains)."""

    def __init__(self, D: SemiSupervisedDiscriminator):
        super().__init__()
        self.D = D

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D.classify(x)


def train_supervised(x: torch.Tensor, y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor, n_classes: int,
                     setup: SSLSetup, seed: int) -> tuple[SemiSupervisedDiscriminator, dict]:
    """The same network trained on the labelled images alone (cross-entropy, Adam as the GAN's D), until its loss
    on the validation images stops improving."""
    torch.manual_seed(seed)
    D = SemiSupervisedDiscriminator(n_classes, x.shape[-1], input_size=setup.resolution)
    f = Fitter(_ClassLogits(D), lambda idx, g: (x[idx], y[idx]), lambda out, t: F.cross_entropy(out.float(), t),
               lr=setup.lr, betas=(setup.beta1, 0.999), seed=seed, device="cpu")

    @torch.no_grad()
    def validate():
        D.eval()
        logits = D.classify(val_x).float()
        D.train()
        return {"loss": float(F.cross_entropy(logits, val_y)), "error": float((logits.argmax(1) != val_y).float().mean())}

    r = f.run_until(len(x), min(setup.batch_size, len(x)), validate, max(1, setup.sup_max_steps // setup.sup_check_every),
                    setup.sup_patience, steps_per_epoch=setup.sup_check_every)
    return D, {"best_step": r["best_epoch"] * setup.sup_check_every, "steps_run": r["epochs_run"] * setup.sup_check_every,
               "val_error": r["val_error"], "train_error": float((predict(D, x) != y.numpy()).mean())}


def train_seed(seed: int, images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
               test_labels: torch.Tensor, evaluator: Evaluator, setup: SSLSetup) -> dict:
    """One seed: the semi-supervised GAN and the supervised baseline on the same 100 labels, their test errors
    (and which test images each got right, for the paired test), and the GAN's samples scored by ``evaluator``.
    Returns plain data (a task of :func:`gan_helpers.runtime.run_tasks`)."""
    n_classes = int(labels.max()) + 1
    lab, val = split_labels(labels, setup.labels_per_class, setup.val_per_class, seed)
    x_lab, y_lab = images[lab], labels[lab].long()
    val_x, val_y = images[val], labels[val].long()

    torch.manual_seed(seed)
    G = SemiSupervisedGenerator(setup.nz, images.shape[-1], output_size=setup.resolution)
    D = SemiSupervisedDiscriminator(n_classes, images.shape[-1], input_size=setup.resolution)
    objective = SemiSupervisedLoss(unlabeled_weight=setup.unlabeled_weight, seed=seed).set_labelled(x_lab, y_lab)
    cfg = TrainConfig(batch_size=setup.batch_size, lr_g=setup.lr, lr_d=setup.lr, betas=(setup.beta1, 0.999), seed=seed,
                      amp=setup.amp, device=setup.device, channels_last=False,
                      sample_at=(setup.iterations,), n_fixed=64)
    t = GANTrainer(images, G, D, objective, cfg)
    best = {"error": np.inf}

    def validate(tr):
        err = float((predict(tr.D, val_x) != val_y.numpy()).mean())
        if err < best["error"]:
            best.update(error=err, iteration=tr.iteration, state=copy.deepcopy(tr.D.state_dict()))
        return {"val_error": err}

    t.fit(setup.iterations, eval_every=setup.eval_every, eval_fn=validate)
    D.load_state_dict(best["state"])  # the discriminator at its best validation error
    pred_gan = predict(D, test_images)
    sup, sup_rec = train_supervised(x_lab, y_lab, val_x, val_y, n_classes, setup, seed)
    pred_sup = predict(sup, test_images)
    truth = test_labels.numpy()
    samples = t.sample(setup.n_samples, seed=100_000 + seed)
    return {"seed": seed, "labels": int(len(lab)), "validation_labels": int(len(val)),
            "gan": {"test_error": float((pred_gan != truth).mean()), "val_error": best["error"],
                    "best_iteration": best["iteration"],
                    "train_error": float((predict(D, x_lab) != y_lab.numpy()).mean()), "wall_s": t.wall_s},
            "supervised_only": {"test_error": float((pred_sup != truth).mean()), **sup_rec},
            "correct": {"gan": pred_gan == truth, "supervised_only": pred_sup == truth},
            "evals": t.evals, "history": {k: t.history[k] for k in ("loss_lab", "loss_unl", "fm_loss", "train_error")},
            "quality": evaluator.full(samples), "samples": samples, "grid": t.samples[setup.iterations]}
