"""Run the paper presets (``configs/paper/NN.yaml``) end to end at smoke scale, on stand-ins for the data sets and
weights that need the internet, before paying for a GPU (and on it: ``benchmarks/gpu_check.sh``).

    python -m gan_helpers.tools.presets WORKDIR [--only 01 04] [--scale tight|notebook] [--out presets.json]

Each notebook runs as a user runs a preset, ``CI=1 python -m gan_helpers.tools.nbexec NN.ipynb out.ipynb -f
configs/paper/NN.yaml``, on a copy of the notebook in ``WORKDIR/NN/`` (its outputs go there).
The preset's own values stay (data set, image size, widths, feature network, ``amp``, ``device: auto``, moving
average); what shrinks is the notebook's ``smoke_scale``, which the setup call applies after papermill's injected
preset. ``--scale tight`` (the default, what ``tests/test_presets.py`` runs) replaces it with :data:`TIGHT`: fewer
iterations and samples and ``batch_size`` 16 (every arm and variant stays: the notebooks' claims expect them), so that the five run in minutes on two CPU cores (full-width
networks at 64 px cost about 1 s an iteration at batch 64 there); ``--scale notebook`` keeps each notebook's own.

The stand-ins (:mod:`gan_helpers.datasets.standins`) are written to ``WORKDIR/standins`` once: CIFAR-10's pickles
for 04's ``dataset: cifar10`` (``GAN_HELPERS_DATA``, the torchvision root, points at them), a MouseHead-like
folder for 01, a sorting folder for 03, class folders for 05 and a random Inception-v3 ``state_dict`` for
``inception_weights`` (01, 05). The kernel skips torchvision's MD5 check of the stand-in files through an IPython
startup file; the loaders are untouched. One worker process (``GAN_WORKERS=1``): the path a GPU run takes.
Prints, and writes with ``--out``, one JSON: per notebook the return code, the seconds, and the parameters that ran.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# per notebook: (parameters pointing at stand-ins: name -> key of write_all's result, a tighter smoke_scale)
TIGHT: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "01": ({"dataset": "mousehead_small", "inception_weights": "inception"},
           dict(arm_iterations=[2, 1, 1, 1], sample_at=[1], seeds=[0], eval_every=2, n_eval_samples=10,
                n_reference=10, batch_size=16)),
    "02": ({}, dict(iterations=2, seeds=[0], n_train=200, reweight_from=1, reweight_every=1, eval_every=2,
                    n_reference=64, n_eval_samples=64, batch_size=16)),
    "03": ({"dataset": "faces"}, dict(seeds=[0], gan_iterations=2, gan_pool_images=50, max_rounds=1, seed_epochs=1,
                                      eval_every=2, n_eval_samples=32, batch_size=16)),
    "04": ({}, dict(n_train=500, n_reference=300, seeds=[0], iterations=2, eval_every=2, n_eval_samples=50,
                    rotation_steps=2, scratch_max_steps=4, scratch_check_every=2, val_per_class=2,
                    evaluator_epochs=1, probe_fractions=[0.1, 1.0],
                    label_fractions=[0.1, 0.2], batch_size=16)),
    "05": ({"dataset": "classes", "inception_weights": "inception"},
           dict(iterations=5, seeds=[0], eval_every=1, n_eval_samples=10, n_final_samples=10, is_splits=2,
                classifier_epochs=1, batch_size=16, ssl_iterations=2, ssl_labels_per_class=2,
                ssl_val_per_class=1, ssl_batch_size=16)),
}
# stand-ins for the notebook's own smoke scale (its n_eval_samples etc. need more images than the tight run)
NOTEBOOK_SCALE_DATA = {"01": {"dataset": "mousehead", "inception_weights": "inception"}, "03": {"dataset": "faces"},
                       "05": {"inception_weights": "inception"}}


def notebooks() -> dict[str, Path]:
    return {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def write_standins(folder: Path) -> dict[str, str]:
    """Every stand-in under ``folder`` (once: reused when ``folder/standins.json`` is there)."""
    from ..datasets.standins import write_all, write_mouse_folder

    index = folder / "standins.json"
    if index.is_file():
        return json.loads(index.read_text())
    found = write_all(folder)
    found["mousehead_small"] = str(write_mouse_folder(folder / "MouseHead_small", n=24))
    index.write_text(json.dumps(found, indent=1))
    return found


def run_preset(nn: str, standins: dict[str, str], folder: Path, scale: str = "tight",
               timeout: float = 900, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run notebook ``nn`` under its paper preset in ``folder`` on the stand-ins; returns ``{rc, seconds, preset,
    smoke_scale, ran (results.json's parameters, if written), error (the end of the output, on failure)}``."""
    import yaml

    from ..datasets.standins import write_kernel_startup

    folder.mkdir(parents=True, exist_ok=True)
    nb = folder / notebooks()[nn].name
    shutil.copy(notebooks()[nn], nb)
    given, tight = TIGHT[nn]
    if scale == "notebook":
        given, tight = NOTEBOOK_SCALE_DATA.get(nn, {}), None
    extra = {k: standins[v] for k, v in given.items()} | ({"smoke_scale": tight} if tight else {})
    environ = {**os.environ, "CI": "1", "GAN_WORKERS": "1", "MPLBACKEND": "Agg", "GAN_HELPERS_DATA": standins["cache"],
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               **write_kernel_startup(folder / "ipython"), **(env or {})}
    preset = ROOT / "configs" / "paper" / f"{nn}.yaml"
    cmd = [sys.executable, "-m", "gan_helpers.tools.nbexec", str(nb), str(folder / "out.ipynb"), "-f", str(preset)]
    if extra:
        cmd += ["-y", yaml.safe_dump(extra)]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=folder, env=environ, capture_output=True, text=True, timeout=timeout)
        rc, tail = done.returncode, (done.stdout + done.stderr)[-4000:]
    except subprocess.TimeoutExpired as e:
        rc, tail = 124, f"timed out after {timeout} s\n" + str((e.stderr or b"")[-3000:])
    values = yaml.safe_load(preset.read_text())
    results = folder / values.get("output_dir", f"outputs/{nn}") / "results.json"
    ran = json.loads(results.read_text())["parameters"] if rc == 0 and results.is_file() else None
    return {"rc": rc, "seconds": round(time.perf_counter() - t0, 1), "preset": values, "smoke_scale": tight,
            "stand_ins": extra, "ran": ran, "error": None if rc == 0 else tail}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--only", nargs="*", default=sorted(TIGHT))
    ap.add_argument("--scale", choices=("tight", "notebook"), default="tight")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per notebook")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    unknown = sorted(set(args.only) - set(TIGHT))
    if unknown:
        ap.error(f"--only {unknown}: the notebooks are {sorted(TIGHT)}")
    # a SIGTERM (a time limit around this command) becomes an exception, so that subprocess.run kills the notebook
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.workdir.mkdir(parents=True, exist_ok=True)
    standins = write_standins(args.workdir / "standins")
    report = {}
    for nn in args.only:
        report[nn] = run_preset(nn, standins, args.workdir / nn, args.scale, args.timeout)
        if args.out:  # after each notebook: what finished survives a limit on the whole command
            args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0 if all(r["rc"] == 0 for r in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
