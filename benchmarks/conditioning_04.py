"""What makes notebook 04's fully labelled conditional GAN follow its labels on the built-in shapes.

The committed notebook 04 of an earlier version drew texture: its conditional GAN's samples were read as their
class at chance (0.10). This script trains the ``conditional`` variant of notebook 04
(:func:`gan_helpers.experiments.fewer_labels.build`: BigGAN-style shared class embedding and hierarchical z in G,
spectrally normalised projection D, hinge loss, Adam with beta1 = 0) on 2,000 shapes under a few settings, and
records FID and the class accuracy of G(z, y) (notebook 04's evaluator: a classifier trained on 1,000 held-out
shapes with all their labels) every ``--every`` iterations, for G and for an exponential moving average of G:

* ``lr2``: learning rate 2e-4 for both networks (compare_gan's CIFAR setting);
* ``lr4``: 4e-4 for both;
* ``lr4_translation``: 4e-4 and DiffAugment ``translation`` on every input of D (Zhao et al. 2020);
* ``lr8_translation``: 8e-4 and ``translation`` (notebook 04's default);
* further settings from the command line as JSON (keys ``lr``, ``augment``, ``batch_size``, ``d_steps``,
  ``width``, ``ema_decay``); ``--only`` trains a subset.

    python benchmarks/conditioning_04.py --iterations 2000 --every 500 --seeds 0

writes ``benchmarks/conditioning_04.json`` and ``conditioning_04.png`` (each setting's class grid at the end).
Notebook 04's defaults come from this measurement; the notebook shows the JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

SETTINGS = {
    "lr2": {"lr": 2e-4},
    "lr4": {"lr": 4e-4},
    "lr4_translation": {"lr": 4e-4, "augment": "translation"},
    "lr8_translation": {"lr": 8e-4, "augment": "translation"},
}


def data(n_train: int = 2000, n_reference: int = 1000):
    from gan_helpers.datasets import make_shapes

    full = make_shapes(n_train + n_reference, 32, seed=0)
    return full.images[:n_train], full.labels[:n_train], full.images[n_train:], full.labels[n_train:]


def one(name: str, spec: dict, seed: int, iterations: int, every: int, evaluator) -> dict:
    """Train the conditional variant under ``spec`` and measure G and its moving average every ``every``."""
    from gan_helpers.experiments.fewer_labels import build, measure
    from gan_helpers.train import GANTrainer, TrainConfig

    x, y, _, _ = data()
    torch.manual_seed(seed)
    width = spec.get("width", 32)
    G, D, objective = build("conditional", 10, 32, nz=64, ngf=width, ndf=width)
    cfg = TrainConfig(batch_size=spec.get("batch_size", 64), lr_g=spec["lr"], lr_d=spec["lr"], betas=(0.0, 0.999),
                      d_steps_per_g_step=spec.get("d_steps", 1), augment=spec.get("augment", ""), seed=seed,
                      device="cpu", ema_decay=spec.get("ema_decay", 0.995), n_fixed=60)
    t = GANTrainer(x, G, D, objective, cfg, labels=y)
    n = evaluator.n_samples
    asked = torch.arange(n) % 10

    def evaluate(tr):
        out = {}
        for tag in ("G", "ema"):
            m = measure(evaluator, tr.sample(n, seed=seed, averaged=tag == "ema"), asked, full=False)
            out[tag] = {"fid": m["fid"], "class_accuracy": m["class_accuracy"]}
        return out

    t.fit(iterations, eval_every=every, eval_fn=evaluate)
    grid = t.generate(*t.fixed_latents(), averaged=False)
    return {"setting": name, "spec": spec, "seed": seed, "evals": t.evals, "grid": grid, "train_s": t.wall_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--settings", default="", help='JSON of extra settings, e.g. \'{"lr8": {"lr": 8e-4}}\'')
    ap.add_argument("--only", nargs="+", default=None, help="train only these settings (by name)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("conditioning_04.json")))
    args = ap.parse_args()

    from gan_helpers.evaluate import Evaluator
    from gan_helpers.features import train_domain_classifier
    from gan_helpers.runtime import run_tasks

    settings = {**SETTINGS, **(json.loads(args.settings) if args.settings else {})}
    if args.only:
        unknown = set(args.only) - set(settings)
        if unknown:
            raise SystemExit(f"--only: unknown setting(s) {sorted(unknown)}; known: {sorted(settings)}")
        settings = {k: v for k, v in settings.items() if k in args.only}
    _, _, rx, ry = data()
    evaluator = Evaluator(train_domain_classifier(rx, ry, epochs=12, width=16, seed=0), rx, ry, n_samples=500)
    t0 = time.perf_counter()
    runs = run_tasks(one, [(k, v, s, args.iterations, args.every, evaluator) for k, v in settings.items()
                           for s in args.seeds])
    grids = {f"{r['setting']} (seed {r['seed']})": r.pop("grid") for r in runs}
    doc = {"what": "FID and class accuracy of G(z, y) (notebook 04's evaluator, 500 samples) of notebook 04's "
                   "conditional variant against iterations, for G and its moving average (decay in each spec, "
                   "0.995 unless given)",
           "command": f"python benchmarks/conditioning_04.py --iterations {args.iterations} --every {args.every} "
                      f"--seeds {' '.join(map(str, args.seeds))}" + (f" --settings '{args.settings}'" if args.settings else "")
                      + (f" --only {' '.join(args.only)}" if args.only else "") + f" --out {Path(args.out).name}",
           "torch": torch.__version__, "wall_s": time.perf_counter() - t0, "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_helpers import plots
    from gan_helpers.datasets import SHAPE_CLASSES

    fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 5), squeeze=False)
    for ax, (k, g) in zip(axes[0], grids.items()):
        plots.show_class_rows(g, list(SHAPE_CLASSES), k, ax=ax)
    fig.savefig(Path(args.out).with_suffix(".png"), dpi=80, bbox_inches="tight")
    for r in runs:
        e = r["evals"][-1]
        print(f"{r['setting']:24s} seed {r['seed']}: G acc {e['G']['class_accuracy']:.2f} FID {e['G']['fid']:.1f} | "
              f"EMA acc {e['ema']['class_accuracy']:.2f} FID {e['ema']['fid']:.1f} ({r['train_s']:.0f} s)")


if __name__ == "__main__":
    main()
