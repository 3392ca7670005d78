"""Why notebook 05's ``all`` variant never leaves the initial noise: ``all`` without each technique in turn.

This script trains, under each of the given seeds at the notebook's settings (spectral norm in D, 450 iterations,
the notebook's historical_weight), the baseline, ``all``, and ``all`` with one technique left out, and records the
final FID, Inception Score and classes covered, and the historical-averaging penalty's gradient as a ratio of norms
to the rest of each player's gradient. The technique whose removal lets ``all`` learn, in every seed, is what
stops it.

    python benchmarks/all_leave_one_out_05.py --iterations 450 --seeds 0 1 2 --historical-weight 10

writes ``benchmarks/all_leave_one_out_05.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def one(name: str, techniques: tuple[str, ...], seed: int, iterations: int, ev, images, lam: float) -> dict:
    from gan_helpers.experiments import techniques as tq

    setup = tq.Setup(iterations=iterations, d_norm="spectral", eval_every=50, historical_weight=lam,
                     all_techniques=techniques or tq.TECHNIQUES)
    r = tq.train_variant("all" if techniques else "baseline", seed, images, ev, setup)
    f = r["final"]
    return {"name": name, "techniques": list(techniques), "seed": seed,
            "fid": [e["fid"] for e in r["evals"]], "iterations": [e["iteration"] for e in r["evals"]],
            "final": {k: f[k] for k in ("fid", "inception_score", "classes_covered", "confident_share")},
            "gradient_ratio": r["historical_ratio"], "train_s": r["wall_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=450)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--historical-weight", type=float, required=True)
    ap.add_argument("--out", default=str(Path(__file__).with_name("all_leave_one_out_05.json")))
    args = ap.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from learning_curves_05 import evaluator_and_data

    from gan_helpers.experiments.techniques import TECHNIQUES
    from gan_helpers.runtime import run_tasks

    ev, images = evaluator_and_data()
    arms = {"baseline": (), "all": TECHNIQUES}
    arms.update({f"all without {t}": tuple(x for x in TECHNIQUES if x != t) for t in TECHNIQUES})
    tasks = [(name, tech, s, args.iterations, ev, images, args.historical_weight) for name, tech in arms.items()
             for s in args.seeds]
    t0 = time.perf_counter()
    runs = run_tasks(one, tasks, cost=[1.0 if not t else 2.0 for _, t, *_ in tasks])
    doc = {"what": "final quality of notebook 05's 'all' variant with each technique left out in turn, per seed "
                   "(notebook 05's settings)",
           "command": f"python benchmarks/all_leave_one_out_05.py --iterations {args.iterations} --seeds "
                      f"{' '.join(map(str, args.seeds))} --historical-weight {args.historical_weight:g}",
           "torch": torch.__version__, "wall_s": time.perf_counter() - t0, "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for r in runs:
        print(f"{r['name']:32s} seed {r['seed']}", {k: round(v, 2) if isinstance(v, float) else v
                                                    for k, v in r["final"].items()})


if __name__ == "__main__":
    main()
