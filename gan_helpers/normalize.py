"""``python -m gan_helpers.normalize NB.ipynb ...``: execute notebooks in place on their defaults
(papermill, from the notebook's folder) and strip what changes from run to run, so that
committed outputs make small diffs: papermill's timing metadata, execution metadata, widget
state, and the kernel's version string. Outputs (figures, tables, printed verdicts) are kept;
execution counts are renumbered 1, 2, 3, ...

``--no-execute`` only strips.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for key in ("papermill", "widgets", "execution"):
        nb.metadata.pop(key, None)
    nb.metadata.get("language_info", {}).pop("version", None)
    count = 0
    for cell in nb.cells:
        for key in ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = count
                # ipywidgets' live view is meaningless once saved; keep the static fallback
                data = out.get("data", {})
                data.pop("application/vnd.jupyter.widget-view+json", None)
    if any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise ValueError("notebook holds papermill's injected-parameters cell; run it on its defaults")
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--no-execute", action="store_true")
    args = ap.parse_args(argv)
    for path in map(Path, args.notebooks):
        if not args.no_execute:
            from .nbexec import execute_notebook
            print(f"[normalize] executing {path} ...", flush=True)
            execute_notebook(path, path)
        nb = strip(nbformat.read(path, as_version=4))
        nbformat.write(nb, path)
        print(f"[normalize] {path}: {sum(c.cell_type == 'code' for c in nb.cells)} code cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
