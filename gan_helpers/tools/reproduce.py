"""``python -m gan_helpers.tools.reproduce`` (``make reproduce``): execute every numbered notebook on its
defaults into ``runs/<timestamp>/`` with papermill, render each to HTML, and write ``REPORT.md``.

Each notebook runs with ``output_dir`` pointed into the run folder, so the committed notebooks and the
user's data are never touched; a preset's own ``output_dir`` (``-f configs/paper/01.yaml``) gives way to
the run folder. ``--only 01 4`` runs some notebooks (``4`` means ``04``). ``--seeds 0 1 2 3 4`` sets
every notebook's ``seeds`` parameter: each verdict then comes from those seeds. Every problem with the
command (a missing ``-f`` file, a notebook number that does not exist, a parameter a notebook does not
have) is one error before anything runs, and no empty run folder is left behind. A notebook that fails
gets a row in ``REPORT.md`` with the failing cell and the exception's last line, and the command exits
with status 1. The seconds it prints for each notebook (wall-clock, kernel start to last cell) are the ones
``REPORT.md`` shows (``runtimes.json`` keeps them). Papermill's progress bar is off unless ``--progress``.

Finished trainings are cached in each notebook's ``output_dir/cache/`` (:mod:`gan_helpers.cache`); the run
folder is new each time, so ``--resume RUN_DIR`` reruns into an existing run folder and reuses what an
interrupted run finished there. ``--fresh`` ignores (and overwrites) cached results. SIGTERM or Ctrl-C shuts
the running notebook's kernel and its worker processes down (:func:`gan_helpers.tools.nbexec.kill_kernels`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from .report import build_report


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """The notebooks ``--only`` names (``1`` and ``01`` alike); an unknown number is a ``ValueError``."""
    if only is None:
        return notebooks
    by_number = {nb.name[:2]: nb for nb in notebooks}
    wanted = []
    for o in only:
        key = o.zfill(2) if o.isdigit() else o
        if key not in by_number:
            raise ValueError(f"--only {o}: no notebook numbered {key!r}; there are {', '.join(sorted(by_number))}")
        wanted.append(by_number[key])
    return sorted(set(wanted))


def failure_row(error: BaseException) -> str:
    """Where a notebook failed and the exception's last line, for ``REPORT.md``."""
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    last = (str(evalue).strip().splitlines() or [""])[-1]
    cell = getattr(error, "exec_count", None)
    return (f"cell [{cell}]: " if cell is not None else "") + f"{ename}: {last}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", default="notebooks", help="folder of NN_*.ipynb notebooks")
    ap.add_argument("--runs", default="runs", help="parent folder of the run folders")
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers to run, e.g. 01 4 (default: all)")
    ap.add_argument("-f", "--parameters-file", help="YAML of parameters for every notebook (papermill -f)")
    ap.add_argument("--seeds", nargs="+", type=int, help="every notebook's `seeds` parameter, e.g. 0 1 2 3 4")
    ap.add_argument("--fresh", action="store_true", help="ignore (and overwrite) the task results cached under "
                                                         "each notebook's output_dir/cache/")
    ap.add_argument("--resume", metavar="RUN_DIR", help="run into this existing run folder, reusing the tasks an "
                                                        "interrupted run finished there")
    ap.add_argument("--progress", action="store_true", help="show papermill's progress bar (one tick per cell)")
    args = ap.parse_args(argv)

    from .nbexec import Stopped, UnknownParameterError, check_parameter_names, execute_notebook, read_parameters

    notebooks = sorted(Path(args.notebooks).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"no numbered notebooks found in {args.notebooks!r}", file=sys.stderr)
        return 2
    try:
        notebooks = select(notebooks, args.only)
        preset = read_parameters(files=[args.parameters_file] if args.parameters_file else [])
        if args.seeds:
            preset["seeds"] = list(args.seeds)
        for nb in notebooks:
            check_parameter_names(nb, {k: v for k, v in preset.items() if k != "output_dir"})
        if args.resume and not Path(args.resume).is_dir():
            raise ValueError(f"--resume {args.resume}: no such run folder")
    except (ValueError, UnknownParameterError) as e:
        ap.error(str(e))
    if "output_dir" in preset:
        print(f"[reproduce] output_dir = {preset.pop('output_dir')!r} in the preset is ignored: "
              f"every notebook writes into the run folder", flush=True)
    run_dir = Path(args.resume) if args.resume else Path(args.runs) / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=bool(args.resume))
    failed: dict[str, str] = {}
    runtimes: dict[str, float] = {}
    for i, nb in enumerate(notebooks, 1):
        params = {**preset, "output_dir": str((run_dir / nb.stem).resolve())}
        print(f"[reproduce] ({i}/{len(notebooks)}) {nb.name} ...", flush=True)
        executed = run_dir / nb.name
        t0 = time.perf_counter()
        try:
            execute_notebook(nb, executed, fresh=args.fresh, parameters=params, progress_bar=args.progress)
            status = "ok"
        except Stopped as e:
            print(f"[reproduce] {nb.name}: {e}; rerun with --resume {run_dir} to reuse its finished tasks",
                  file=sys.stderr, flush=True)
            return 128 + e.signum
        except Exception as e:  # keep going: the report lists what failed, where
            failed[nb.stem] = failure_row(e)
            status = f"FAILED: {failed[nb.stem]}"
        runtimes[nb.stem] = round(time.perf_counter() - t0, 1)  # the one runtime figure (report.RUNTIME)
        (run_dir / "runtimes.json").write_text(json.dumps(runtimes, indent=1) + "\n")
        print(f"[reproduce] ({i}/{len(notebooks)}) {nb.name}: {status} in {runtimes[nb.stem]:.0f} s "
              f"(wall-clock, kernel start to last cell)", flush=True)
        if executed.exists():
            subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(executed)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = build_report(run_dir, failed=failed, runtimes=runtimes)
    print(f"[reproduce] report: {report}")
    if failed:
        print(f"[reproduce] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
