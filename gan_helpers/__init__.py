"""gan_helpers: the small package behind the notebooks that reproduce five GAN write-ups.

One concept a file:

* ``runtime`` (device, seeds, threads, checkpoints, worker processes), ``notebook`` (the setup call
  every notebook makes: parameters, checks, output folder), ``outputs`` (what a run writes: its manifest,
  the previous run set aside), ``cache`` (finished trainings kept under ``output_dir/cache/``);
* ``images`` (ImageSet, folders, PNG output) and ``datasets`` (the built-in sets: mice, emotes, faces,
  shapes, digits);
* ``models`` and ``layers`` (DCGAN and its variants), ``losses``, ``objectives`` (what each GAN
  minimises), ``augment`` (DiffAugment), ``train`` (**the one GAN loop**), ``fit`` (**the one
  supervised loop**);
* ``features`` (feature networks), ``metrics`` (FID, KID, IS, precision/recall, coverage),
  ``evaluate`` (**the one evaluator** and the rule for verdicts over seeds), ``results`` (results.json);
* ``scores``, ``dedup``, ``selftrain``: the methods of notebooks 02 and 03;
* ``plots`` (every figure) and ``widgets`` (every slider);
* ``experiments``: one module per notebook, its runner and its claims;
* ``tools``: ``nbexec``, ``normalize``, ``reproduce``, ``report`` (command-line tools).
"""
from .runtime import resolve_device, seed_everything, set_threads

__version__ = "0.3.0"
__all__ = ["resolve_device", "seed_everything", "set_threads", "__version__"]
