"""Why notebook 05's ``all`` variant never leaves the initial noise: ``all`` without each technique in turn.

In notebook 05's committed run, every single technique learned digits but all five together stayed grey noise
under every seed (IS 1.0, FID 216-492). This script trains, on one seed at the notebook's settings (spectral norm
in D, 450 iterations, historical_weight 0.1), the baseline, ``all``, and ``all`` with one technique left out,
and records the final FID, Inception Score and classes covered. The technique whose removal lets ``all`` learn
is what stops it.

    python benchmarks/all_leave_one_out_05.py --iterations 450 --seed 0

writes ``benchmarks/all_leave_one_out_05.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def one(name: str, techniques: tuple[str, ...], seed: int, iterations: int, ev, images) -> dict:
    from gan_helpers.experiments import techniques as tq

    setup = tq.Setup(iterations=iterations, d_norm="spectral", eval_every=50, historical_weight=0.1,
                     all_techniques=techniques or tq.TECHNIQUES)
    r = tq.train_variant("all" if techniques else "baseline", seed, images, ev, setup)
    f = r["final"]
    return {"name": name, "techniques": list(techniques), "seed": seed,
            "fid": [e["fid"] for e in r["evals"]], "iterations": [e["iteration"] for e in r["evals"]],
            "final": {k: f[k] for k in ("fid", "inception_score", "classes_covered", "confident_share")},
            "train_s": r["wall_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=450)
    ap.add_argument("--seed", type=int, default=0)
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
    tasks = [(name, tech, args.seed, args.iterations, ev, images) for name, tech in arms.items()]
    t0 = time.perf_counter()
    runs = run_tasks(one, tasks, cost=[1.0 if not t else 2.0 for _, t, *_ in tasks])
    doc = {"what": "final quality of notebook 05's 'all' variant with each technique left out in turn (one seed, "
                   "notebook 05's settings)",
           "command": f"python benchmarks/all_leave_one_out_05.py --iterations {args.iterations} --seed {args.seed}",
           "torch": torch.__version__, "wall_s": time.perf_counter() - t0, "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for r in runs:
        print(f"{r['name']:32s}", {k: round(v, 2) if isinstance(v, float) else v for k, v in r["final"].items()})


if __name__ == "__main__":
    main()
