"""``python -m gan_helpers.tools.normalize NB.ipynb ...``: execute notebooks on their defaults
(papermill, from the notebook's folder) and strip what changes from run to run, so that committed
outputs make small diffs: papermill's timing metadata and execution metadata. Outputs (figures,
tables, printed verdicts) and the widget state are kept, so a saved notebook shows its sliders;
execution counts are renumbered 1, 2, 3, ...; the notebook metadata is set to what JupyterLab writes
(:data:`NOTEBOOK_METADATA`), so that opening a notebook does not modify it.

A notebook is executed into a temporary file beside it and replaces the tracked one only when the
run succeeded: stopped half-way, it leaves the committed notebook as it was.

Trainings finished by an earlier run with the same parameters are reused from the notebook's
``output_dir/cache/`` (:mod:`gan_helpers.cache`); ``--fresh`` trains everything anew. ``--no-execute`` only
strips.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import nbformat

# What JupyterLab 4 writes into a notebook it opens with this repository's kernel; committed as is, so that
# opening a notebook leaves it unmodified (language_info.version is the Python of the reference environment).
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                      "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                      "pygments_lexer": "ipython3", "version": platform.python_version()},
}


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for key in ("papermill", "execution"):
        nb.metadata.pop(key, None)
    nb.metadata.update(nbformat.from_dict(NOTEBOOK_METADATA))
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
    if any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise ValueError("notebook holds papermill's injected-parameters cell; run it on its defaults")
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--no-execute", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore (and overwrite) cached task results")
    args = ap.parse_args(argv)
    for path in map(Path, args.notebooks):
        tmp = path.with_name(f".{path.stem}.normalizing.ipynb")
        try:
            if args.no_execute:
                nb = strip(nbformat.read(path, as_version=4))
            else:
                from .nbexec import execute_notebook
                print(f"[normalize] executing {path} ...", flush=True)
                execute_notebook(path, tmp, fresh=args.fresh)
                nb = strip(nbformat.read(tmp, as_version=4))
            nbformat.write(nb, tmp)
            os.replace(tmp, path)  # only a finished, stripped run replaces the tracked notebook
        finally:
            tmp.unlink(missing_ok=True)
        print(f"[normalize] {path}: {sum(c.cell_type == 'code' for c in nb.cells)} code cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
