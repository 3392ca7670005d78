"""gan_helpers: the small package behind the notebooks that reproduce five GAN write-ups.

One concept a file: ``data`` (loaders and built-in sets), ``models`` (DCGAN G and D), ``losses``,
``train`` (the loop, step ratios, checkpoints), ``features`` (domain classifier, Inception-v3),
``metrics`` (FID, KID, precision/recall, coverage), ``plots``, ``widgets``, ``results`` (the
results.json contract), ``report`` and ``reproduce`` (``make reproduce``); and one module per
notebook experiment (``ratio_sweep`` for 01).
"""
from .runtime import resolve_device, seed_everything, set_threads

__version__ = "0.1.0"
__all__ = ["resolve_device", "seed_everything", "set_threads", "__version__"]
