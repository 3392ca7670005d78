"""How much historical averaging weighs, for a few lambdas: notebook 05's choice of ``historical_weight``.

The paper gives no lambda. At lambda = 1e-2 the penalty was 0.2 % of G's gradient (a no-op), at 1 it froze the
all-techniques variant (measured in an earlier run of notebook 05: 100-128 % of G's gradient there, whose
feature-matching gradient is small, and samples that never left the initial noise). So each lambda trains the
``historical_avg`` and ``all`` variants (and the baseline, for scale) on seed 0 at notebook 05's settings, and
records the share of each player's gradient the penalty makes up and the final quality.

    python benchmarks/historical_weight_05.py --iterations 450

writes ``benchmarks/historical_weight_05.json`` and prints the lambda chosen by the stated rule: the largest of
the candidates at which both variants reach a final FID within 2.5x the baseline's (they learn), so that the
penalty acts as much as it can without stopping training.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

CANDIDATES = (1.0, 0.3, 0.1)


def one(variant: str, lam: float, seed: int, iterations: int, ev, images) -> dict:
    from gan_helpers.experiments import techniques as tq

    setup = tq.Setup(iterations=iterations, d_norm="spectral", eval_every=50, historical_weight=lam)
    r = tq.train_variant(variant, seed, images, ev, setup)
    f = r["final"]
    return {"variant": variant, "lambda": lam, "seed": seed, "share": r["historical_share"],
            "fid": [e["fid"] for e in r["evals"]], "iterations": [e["iteration"] for e in r["evals"]],
            "final": {k: f[k] for k in ("fid", "inception_score", "classes_covered", "confident_share")},
            "train_s": r["wall_s"]}


def choose(runs: list[dict], factor: float = 2.5) -> float:
    """The largest lambda at which historical_avg and all both end within ``factor`` x the baseline's FID."""
    base = next(r["final"]["fid"] for r in runs if r["variant"] == "baseline")
    ok = [lam for lam in CANDIDATES if all(r["final"]["fid"] < factor * base for r in runs if r["lambda"] == lam)]
    return max(ok) if ok else min(CANDIDATES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=450)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).with_name("historical_weight_05.json")))
    args = ap.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from learning_curves_05 import evaluator_and_data

    from gan_helpers.runtime import run_tasks

    ev, images = evaluator_and_data()
    tasks = [("baseline", 0.0, args.seed, args.iterations, ev, images)]
    tasks += [(v, lam, args.seed, args.iterations, ev, images) for v in ("all", "historical_avg") for lam in CANDIDATES]
    cost = [2.5 if t[0] == "all" else 1.0 for t in tasks]
    t0 = time.perf_counter()
    runs = run_tasks(one, tasks, cost=cost)
    chosen = choose(runs)
    doc = {"what": "share of each player's gradient made up by the historical-averaging penalty, and final quality, "
                   "per lambda (notebook 05's settings, one seed)",
           "command": f"python benchmarks/historical_weight_05.py --iterations {args.iterations} --seed {args.seed}",
           "rule": "the largest lambda at which historical_avg and all both end within 2.5x the baseline's FID "
                   "(the smallest candidate if none does)",
           "chosen": chosen, "torch": torch.__version__, "wall_s": time.perf_counter() - t0, "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for r in runs:
        print(r["variant"], r["lambda"], r["share"], {k: round(v, 2) if isinstance(v, float) else v
                                                      for k, v in r["final"].items()})
    print(f"chosen lambda: {chosen}")


if __name__ == "__main__":
    main()
