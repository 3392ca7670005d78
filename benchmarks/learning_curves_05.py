"""Quality against iterations of notebook 05's baseline DCGAN on scikit-learn's digits, over seeds.

Notebook 05's defaults (D's normalisation, widths, batch size, iterations) were chosen from these
curves, which the notebook shows. Each setting trains the ablation's ``baseline`` variant
(:func:`gan_helpers.experiments.techniques.train_variant`) on the 898 training digits and records
FID, Inception Score and classes covered (notebook 05's domain classifier) every ``--every``
iterations:

* ``bn``: DCGAN, batch norm in D on separate real and fake batches (pytorch/examples);
* ``joint``: the same, D's batch norm over one joint real+fake batch;
* ``spectral``: spectral norm instead of batch norm in D (no batch statistics, like the weight-normalised
  D of openai/improved-gan);
* ``bn_w16``, ``spectral_w16``: ``bn`` and ``spectral`` at ngf = ndf = 16 (about a third of the time);
* ``bn_w24_b32``: the previous default of notebook 05 (ngf = ndf = 24, batch 32).

    python benchmarks/learning_curves_05.py --seeds 0 1 2 --iterations 1200

writes ``benchmarks/learning_curves_05.json`` (and a PNG of curves and one of samples beside it).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

SETTINGS = {
    "bn": dict(),
    "joint": dict(joint_batch=True),
    "spectral": dict(d_norm="spectral"),
    "bn_w16": dict(ngf=16, ndf=16),
    "spectral_w16": dict(ngf=16, ndf=16, d_norm="spectral"),
    "bn_w24_b32": dict(ngf=24, ndf=24, batch_size=32),
}


def evaluator_and_data():
    """Notebook 05's data halves and evaluator (its domain classifier at the notebook's defaults)."""
    from gan_helpers.evaluate import Evaluator
    from gan_helpers.experiments import techniques as tq
    from gan_helpers.features import train_domain_classifier

    data = tq.ablation_data("digits", 32, seed=0)
    ref = data["reference"]
    clf = train_domain_classifier(ref.images, ref.labels, epochs=30, width=16, seed=0, augment=False)
    return Evaluator(clf, ref.images, ref.labels, n_samples=500, split_size=100), data["train"].images


def curve(name: str, seed: int, iterations: int, every: int, base: dict, ev, images) -> dict:
    from gan_helpers.experiments import techniques as tq

    setup = tq.Setup(**{**base, **SETTINGS[name], "iterations": iterations, "eval_every": every, "n_final_samples": 1000})
    t0 = time.perf_counter()
    r = tq.train_variant("baseline", seed, images, ev, setup)
    f = r["final"]
    return {"setting": name, "seed": seed, "setup": dataclasses.asdict(setup),
            "iterations": [e["iteration"] for e in r["evals"]], "fid": [e["fid"] for e in r["evals"]],
            "inception_score": [e["inception_score"] for e in r["evals"]],
            "classes_covered": [e["classes_covered"] for e in r["evals"]],
            "final": {k: f[k] for k in ("fid", "fid_noise", "inception_score", "classes_covered", "kl_to_real",
                                        "confident_share")},
            "train_s": r["wall_s"], "total_s": time.perf_counter() - t0, "final_grid": r["grids"][iterations]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS))
    ap.add_argument("--iterations", type=int, default=1200)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).with_name("learning_curves_05.json")))
    args = ap.parse_args()

    from gan_helpers.runtime import run_tasks

    base = {}
    ev, images = evaluator_and_data()
    tasks = [(n, s, args.iterations, args.every, base, ev, images) for n in args.settings for s in args.seeds]
    cost = [0.4 if n in ("bn_w24_b32", "bn_w16", "spectral_w16") else 1.0 for n, *_ in tasks]
    t0 = time.perf_counter()
    runs = run_tasks(curve, tasks, cost=cost, progress=True, desc="curves")
    grids = {f"{r['setting']} (seed {r['seed']})": r.pop("final_grid") for r in runs}
    doc = {"what": "FID, IS and classes covered (notebook 05's domain classifier) of its baseline DCGAN on the "
                   "898 training digits, against iterations",
           "command": f"python benchmarks/learning_curves_05.py --seeds {' '.join(map(str, args.seeds))} "
                      f"--iterations {args.iterations} --settings {' '.join(args.settings)}",
           "torch": torch.__version__, "wall_s": time.perf_counter() - t0, "settings": SETTINGS, "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    from gan_helpers.plots import plot_curves_05, show_grids

    plot_curves_05(doc).savefig(Path(args.out).with_suffix(".png"), dpi=90, bbox_inches="tight")
    show_grids(grids, nrow=6, max_images=36, size=2.6, ncols=len(args.seeds)) \
        .savefig(Path(args.out).with_name("learning_curves_05_samples.png"), dpi=70, bbox_inches="tight")
    print(f"wrote {args.out} after {doc['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
