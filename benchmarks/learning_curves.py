"""Quality against iterations for candidate DCGAN settings on the built-in mice, over seeds.

Notebook 01's defaults (widths, batch size, iterations, the discriminator's normalisation) were
chosen from these curves, which the notebook shows. Each setting trains a 1:1 DCGAN on the 192
built-in mice and records FID (domain features, as in notebook 01) every ``--every`` iterations:

* ``before``: the earlier default (ngf = ndf = 16, batch 16), which never left the grey phase;
* ``w16``: ngf = ndf = 16, batch 64;
* ``dcgan``: ngf = ndf = 32, batch 64, batch norm in D on separate real and fake batches, as
  pytorch/examples and DCGAN-tensorflow (the chosen setting);
* ``joint``: the same, D's batch norm over one joint real+fake batch;
* ``spectral``: spectral norm instead of batch norm in D;
* ``diffaugment``: ``dcgan`` with DiffAugment (color, translation, cutout);
* ``fp32``: ``dcgan`` without bf16 autocast (whether bf16 costs quality).

    python benchmarks/learning_curves.py --seeds 0 1 2 --iterations 1500   # ~25 min on 2 cores

writes ``benchmarks/learning_curves_01.json`` (and a PNG beside it).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

SETTINGS = {
    "before": dict(width=16, batch_size=16),
    "w16": dict(width=16),
    "dcgan": dict(),
    "joint": dict(joint_batch=True),
    "spectral": dict(norm="spectral"),
    "diffaugment": dict(augment="color,translation,cutout"),
    "fp32": dict(amp=False),
}


def curve(name: str, seed: int, iterations: int, every: int) -> dict:
    """Train one setting from ``seed``; FID every ``every`` iterations."""
    from gan_helpers import datasets
    from gan_helpers.datasets.mice import mouse_attribute_labels
    from gan_helpers.evaluate import Evaluator
    from gan_helpers.features import train_domain_classifier
    from gan_helpers.models import Discriminator, Generator
    from gan_helpers.objectives import DCGANLoss
    from gan_helpers.train import GANTrainer, TrainConfig

    s = {"width": 32, "batch_size": 64, "norm": "batch", "joint_batch": False, "augment": "", "amp": True,
         **SETTINGS[name]}
    train = datasets.make_mouse_faces(192, 32, seed=0)
    ref = datasets.make_mouse_faces(576, 32, seed=1)
    ev = Evaluator(train_domain_classifier(ref.images, mouse_attribute_labels(ref), seed=0), ref.images, n_samples=576)
    torch.manual_seed(seed)
    t = GANTrainer(train.images, Generator(100, s["width"], 3, 32), Discriminator(s["width"], 3, 32, norm=s["norm"]),
                   DCGANLoss(joint_batch=s["joint_batch"]),
                   TrainConfig(batch_size=s["batch_size"], augment=s["augment"], amp=s["amp"], seed=seed,
                               sample_at=(iterations,)))
    t0 = time.perf_counter()
    t.fit(iterations, eval_every=every, eval_fn=ev)
    return {"setting": name, "seed": seed, "settings": s, "iterations": [e["iteration"] for e in t.evals],
            "fid": [e["fid"] for e in t.evals], "train_s": t.wall_s, "total_s": time.perf_counter() - t0,
            "final_grid": t.samples[iterations][:32]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS))
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).with_name("learning_curves_01.json")))
    args = ap.parse_args()

    from gan_helpers.runtime import run_tasks

    tasks = [(n, s, args.iterations, args.every) for n in args.settings for s in args.seeds]
    cost = [2.0 if n == "fp32" else 0.4 if n in ("before", "w16") else 1.0 for n, _, _, _ in tasks]
    t0 = time.perf_counter()
    runs = run_tasks(curve, tasks, cost=cost, progress=True, desc="curves")
    grids = {f"{r['setting']} (seed {r['seed']})": r.pop("final_grid") for r in runs}
    doc = {"what": "FID (notebook 01's domain features) of a 1:1 DCGAN on the 192 built-in mice against iterations",
           "command": f"python benchmarks/learning_curves.py --seeds {' '.join(map(str, args.seeds))} "
                      f"--iterations {args.iterations}",
           "torch": torch.__version__, "wall_s": time.perf_counter() - t0, "settings": SETTINGS, "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    from gan_helpers.plots import plot_learning_curves, show_grids

    fig = plot_learning_curves(doc)
    fig.savefig(Path(args.out).with_suffix(".png"), dpi=90, bbox_inches="tight")
    show_grids({k: v for k, v in grids.items() if k.endswith("(seed 0)")}, nrow=8, max_images=32, size=3, ncols=4) \
        .savefig(Path(args.out).with_name("learning_curves_01_samples.png"), dpi=70, bbox_inches="tight")
    print(f"wrote {args.out} after {doc['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
