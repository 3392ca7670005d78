r"""A trained discriminator as a scorer of real images (notebook 02; notebook 03 reads features the same way).

The emote write-up (A. Gnolek, "ThisEmoteDoesNotExist: Training a GAN for Twitch Emotes", Twitch Blog, 2019,
https://blog.twitch.tv/en/2019/07/24/thisemotedoesnotexist-training-a-gan-for-twitch-emotes/, section 5.5)
fed every training emote through the trained discriminator and read a score from -100 (generated) to 100
(training set). With :math:`\ell(x)` the discriminator's logit and :math:`D(x) = \sigma(\ell(x))`,

.. math::  s(x) = 200\,D(x) - 100 = 100 \tanh\!\big(\ell(x) / 2\big) \in (-100, 100),

so 0 is "undecided" and the sign is D's verdict. Batch norm uses the *population* statistics of
the real training set (the exact mean and variance of each layer's input over all of it), which
is what D saw on its real batches; so an image's score does not depend on which images share its
batch, and every score stays tied to its file. A confident D saturates the score near 100; its
logit does not saturate, so thresholds are set on the logit (:func:`thresholds_from_z`).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from scipy import stats
from torch import nn

def logits_to_score(logits) -> np.ndarray:
    """D's logit -> score in (-100, 100): ``200 * sigmoid(logit) - 100 = 100 * tanh(logit / 2)``."""
    return 100.0 * np.tanh(np.asarray(logits, dtype=np.float64) / 2.0)


class _Stop(Exception):
    pass


@torch.no_grad()
def population_bn(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
                  device: str | torch.device = "cpu") -> nn.Module:
    """A copy of ``model`` in eval mode whose batch-norm layers normalise with the exact mean and
    (biased) variance of their inputs over all of ``images``: what training-mode batch norm would
    do with the whole real set as one batch, which is what D saw on its real batches. Layer by
    layer (each layer's statistics depend on the ones before), in batches of ``batch_size``."""
    m = copy.deepcopy(model).to(device).eval()
    bns = [b for b in m.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        acc = {"n": 0, "s": 0.0, "ss": 0.0}

        def collect(_mod, inp, acc=acc):
            x = inp[0].double().transpose(0, 1).flatten(1)  # (C, B*H*W)
            acc["n"] += x.shape[1]
            acc["s"] = acc["s"] + x.sum(1)
            acc["ss"] = acc["ss"] + (x * x).sum(1)
            raise _Stop  # the layers after this one are not needed yet

        handle = bn.register_forward_pre_hook(collect)
        try:
            for i in range(0, len(images), batch_size):
                try:
                    m(images[i:i + batch_size].to(device))
                except _Stop:
                    pass
        finally:
            handle.remove()
        mean = acc["s"] / acc["n"]
        bn.running_mean.copy_(mean.to(bn.running_mean.dtype))
        bn.running_var.copy_((acc["ss"] / acc["n"] - mean * mean).clamp_min(0).to(bn.running_var.dtype))
    return m


@torch.no_grad()
def discriminator_scores(D: nn.Module, images: torch.Tensor, batch_size: int = 256,
                         device: str | torch.device | None = None) -> dict[str, np.ndarray]:
    """Score every image with the trained discriminator: ``{"score" (N,) in (-100, 100), "logit" (N,),
    "features" (N, F)}``, in the order of ``images``. ``D`` itself is left unchanged."""
    device = device or next(D.parameters()).device
    m = population_bn(D, images, batch_size, device)
    logits, feats = [], []
    for i in range(0, len(images), batch_size):
        out = m.forward_all(images[i:i + batch_size].to(device))
        logits.append(out.logits.float().cpu())
        feats.append(out.features.flatten(1).float().cpu())
    logit = torch.cat(logits).numpy().astype(np.float64)
    return {"score": logits_to_score(logit), "logit": logit, "features": torch.cat(feats).numpy()}


def thresholds_from_z(logits: np.ndarray, low_z: float = -1.5, high_z: float = 1.5) -> tuple[float, float]:
    """The low and high score thresholds ``low_z`` and ``high_z`` standard deviations from the mean,
    measured on D's logits (the -100..100 score saturates when D is confident; its logit does not),
    returned as scores."""
    if low_z > high_z:
        raise ValueError(f"low_z ({low_z}) must not be above high_z ({high_z})")
    m, sd = float(np.mean(logits)), float(np.std(logits))
    return float(logits_to_score(m + low_z * sd)), float(logits_to_score(m + high_z * sd))


def score_summary(scores: np.ndarray) -> dict[str, float]:
    """Mean, sd, skewness, excess kurtosis and the normal Q-Q correlation (Filliben's r: 1 for a
    perfect normal; about 0.999 for 1000 normal draws) of the scores."""
    s = np.asarray(scores, dtype=np.float64)
    (_, _), (_, _, r) = stats.probplot(s, dist="norm")
    return {"mean": float(s.mean()), "sd": float(s.std()), "median": float(np.median(s)),
            "skewness": float(stats.skew(s)), "excess_kurtosis": float(stats.kurtosis(s)),
            "qq_r": float(r), "share_positive": float((s > 0).mean()),
            "share_saturated": float((np.abs(s) > 99).mean())}
