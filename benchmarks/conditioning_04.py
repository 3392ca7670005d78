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
* further settings from the command line as JSON (keys ``lr``, ``lr_g``, ``lr_d``, ``augment``, ``batch_size``,
  ``d_steps``, ``width``, ``ndf``, ``embed_dim``, ``cond_init_std``, ``ema_decay``); ``--only`` trains a subset.

    python benchmarks/conditioning_04.py --iterations 2000 --every 500 --seeds 0

writes ``benchmarks/conditioning_04.json``, ``conditioning_04.png`` (each setting's class grid at the end) and
``conditioning_04_speed.png`` (class accuracy against training seconds, each seed a line, the 0.8 target dashed).
Notebook 04's defaults come from this measurement; the notebook shows the JSON.

``--replot FILE.json`` redraws the accuracy-against-seconds figure of a saved JSON, also of one that merges the
``runs`` of several invocations under ``commands`` (``conditioning_04_search.json``: the search for a setting that
reaches 0.8 in fewer CPU-seconds, for notebook 04's time budget).
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
    G, D, objective = build("conditional", 10, 32, nz=64, ngf=width, ndf=spec.get("ndf", width),
                            embed_dim=spec.get("embed_dim", 32), cond_init_std=spec.get("cond_init_std", 0.02))
    cfg = TrainConfig(batch_size=spec.get("batch_size", 64), lr_g=spec.get("lr_g", spec["lr"]),
                      lr_d=spec.get("lr_d", spec["lr"]), betas=(0.0, 0.999),
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


def plot_speed(doc: dict, path: Path) -> None:
    """Class accuracy of G(z, y) against training seconds: one colour per setting, one line per seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = list(dict.fromkeys(r["setting"] for r in doc["runs"]))
    colours = dict(zip(names, sns.color_palette("tab20" if len(names) > 10 else "tab10", len(names))))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in doc["runs"]:
        xs = [e["wall_s"] for e in r["evals"]]
        ax.plot(xs, [e["G"]["class_accuracy"] for e in r["evals"]], marker="o", ms=3, color=colours[r["setting"]],
                ls="-" if r["seed"] == 0 else "--" if r["seed"] == 1 else ":",
                label=f"{r['setting']} ({r['evals'][-1]['iteration']} it.), seed {r['seed']}")
    ax.axhline(0.8, color="k", lw=0.8, ls="--")
    ax.set(xlabel="training seconds (one core, two trainings side by side)", ylabel="class accuracy of G(z, y)",
           title="Notebook 04's conditional GAN: how soon each setting follows its labels")
    ax.legend(fontsize=6, ncol=2)
    fig.savefig(path, dpi=90, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--settings", default="", help='JSON of extra settings, e.g. \'{"lr8": {"lr": 8e-4}}\'')
    ap.add_argument("--only", nargs="+", default=None, help="train only these settings (by name)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("conditioning_04.json")))
    ap.add_argument("--replot", default=None, help="only redraw the accuracy-against-seconds figure of this JSON")
    args = ap.parse_args()
    if args.replot:
        path = Path(args.replot)
        plot_speed(json.loads(path.read_text()), path.with_name(path.stem + "_speed.png"))
        return

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
    plot_speed(doc, Path(args.out).with_name(Path(args.out).stem + "_speed.png"))
    for r in runs:
        e = r["evals"][-1]
        print(f"{r['setting']:24s} seed {r['seed']}: G acc {e['G']['class_accuracy']:.2f} FID {e['G']['fid']:.1f} | "
              f"EMA acc {e['ema']['class_accuracy']:.2f} FID {e['ema']['fid']:.1f} ({r['train_s']:.0f} s)")


if __name__ == "__main__":
    main()
