"""``python -m gan_helpers.tools.reproduce``: execute every numbered notebook on its defaults into
``runs/<timestamp>/`` with papermill, render each to HTML, and write ``REPORT.md``.

Each notebook runs with ``output_dir`` pointed into the run folder, so the committed notebooks
and the user's data are never touched. With ``--seeds 0 1 2`` every notebook runs once per seed into
``runs/<timestamp>/seed-<S>/`` (a REPORT.md each), and ``SEEDS.md`` tabulates each claim's verdict
under every seed: the verdicts that change with the seed are the ones a single run cannot settle.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from .report import build_report, build_seed_report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", default="notebooks", help="folder of NN_*.ipynb notebooks")
    ap.add_argument("--runs", default="runs", help="parent folder of the run folders")
    ap.add_argument("--only", nargs="*", help="notebook numbers to run, e.g. 01 03 (default: all)")
    ap.add_argument("-f", "--parameters-file", help="YAML of parameters for every notebook (papermill -f)")
    ap.add_argument("--seeds", nargs="*", type=int,
                    help="run every notebook once per seed (its `seed` parameter) and write SEEDS.md")
    args = ap.parse_args(argv)

    from .nbexec import execute_notebook

    notebooks = sorted(Path(args.notebooks).glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if nb.name[:2] in args.only]
    if not notebooks:
        print(f"no numbered notebooks found in {args.notebooks!r}", file=sys.stderr)
        return 2
    run_dir = Path(args.runs) / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    failed = []
    seeds = args.seeds or [None]
    for nb in notebooks:
        for seed in seeds:
            seed_dir = run_dir if seed is None else run_dir / f"seed-{seed}"
            seed_dir.mkdir(exist_ok=True)
            params = {"output_dir": str((seed_dir / nb.stem).resolve())}
            if args.parameters_file:
                import yaml
                params.update(yaml.safe_load(Path(args.parameters_file).read_text()) or {})
            if seed is not None:
                params["seed"] = seed
            name = nb.name if seed is None else f"{nb.name} (seed {seed})"
            t0 = time.perf_counter()
            print(f"[reproduce] {name} ...", flush=True)
            executed = seed_dir / nb.name
            try:
                execute_notebook(nb, executed, parameters=params)
                status = "ok"
            except Exception as e:  # keep going: the report lists what failed
                failed.append(name)
                status = f"FAILED ({type(e).__name__})"
            print(f"[reproduce] {name}: {status} in {time.perf_counter() - t0:.0f} s", flush=True)
            subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(executed)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if args.seeds:
        for seed in seeds:
            build_report(run_dir / f"seed-{seed}", title=f"Reproduction report, seed {seed}")
        report = build_seed_report(run_dir)
    else:
        report = build_report(run_dir)
    print(f"[reproduce] report: {report}")
    if failed:
        print(f"[reproduce] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
