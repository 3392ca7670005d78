"""What a learner sees in the committed notebooks: full-run outputs, no debris, nothing JupyterLab would change."""
import re
from pathlib import Path

import nbformat
import pytest

from gan_helpers.tools.normalize import NOTEBOOK_METADATA

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_CALLS = ("grid_browser(", "threshold_browser(", "threshold_explorer(", "_browser(")


@pytest.fixture(params=NOTEBOOKS, ids=[p.name[:2] for p in NOTEBOOKS])
def nb(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_there_are_five_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


def test_parameters_cell_and_the_visible_smoke_line(nb):
    path, book = nb
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell is tagged parameters"
    src = code[0].source
    assert 'smoke = "CI" in os.environ' in src
    assert src.strip().splitlines()[-1].startswith("smoke_scale = {"), "the smoke-scale line is the cell's last line"
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in code)
    assert "ModuleNotFoundError" in code[1].source and "pip install -e ." in code[1].source


def test_opening_in_jupyterlab_changes_nothing(nb):
    path, book = nb
    meta = dict(book.metadata)
    meta.pop("widgets", None)  # the saved widget state (nbclient's store_widget_state)
    assert meta == NOTEBOOK_METADATA, "kernelspec and language_info as JupyterLab writes them"
    assert all(c.get("id") for c in book.cells), "every cell has an id (JupyterLab adds missing ones)"
    text = nbformat.writes(book)
    assert path.read_text() in (text, text + "\n"), "saving it again (what Jupyter's contents manager does) changes nothing"


def test_committed_outputs_are_a_full_run_without_debris(nb):
    path, book = nb
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "figures are committed"
    assert not any(o["output_type"] == "error" for o in outputs)
    for o in outputs:
        text = "".join(o.get("text", "")) if o.get("name") == "stderr" else ""
        assert not re.search(r"\d+%\|", text) and "it/s" not in text, f"a progress bar on stderr: {text[:80]}"
    printed = "".join("".join(o.get("text", "")) for o in outputs if o.get("name") == "stdout")
    assert "torch threads:" in printed and "SMOKE SCALE" not in printed, "a full-scale run that shows its threads"


def test_widget_cells_show_sliders_and_print_nothing_else(nb):
    path, book = nb
    cells = [c for c in book.cells if c.cell_type == "code" and any(w in c.source for w in WIDGET_CALLS)
             and not c.source.lstrip().startswith(("import", "from"))]
    assert cells, "each notebook has a slider view"
    for c in cells:
        views = [o for o in c.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert views, f"saved widget view in: {c.source[:60]}"
        bare = [o for o in c.outputs if o["output_type"] == "execute_result"
                and "application/vnd.jupyter.widget-view+json" not in o.get("data", {})]
        assert not bare, f"a return value printed under the view: {bare[0]['data'].get('text/plain', '')[:60]}"
    assert "application/vnd.jupyter.widget-state+json" in book.metadata.get("widgets", {})


def printed_text(book) -> list[tuple[str, str]]:
    """(cell id, text) of every output a reader sees as plain text: printed streams, and results or displays
    that have no richer form (an HTML table, a figure or a widget view is what JupyterLab shows instead)."""
    rich = ("text/html", "image/png", "application/vnd.jupyter.widget-view+json", "text/markdown")
    out = []
    for c in book.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            if o["output_type"] == "stream":
                out.append((c.get("id"), "".join(o["text"])))
            elif "data" in o and not any(k in o["data"] for k in rich):
                out.append((c.get("id"), "".join(o["data"].get("text/plain", ""))))
    return out


def test_no_raw_dict_list_or_repr_in_the_printed_outputs(nb):
    """A learner reads sentences and tables, not ``{np.str_('duplicate'): 110}``, ``[0.44, 0.437]`` or a model's
    ``Sequential(...)`` printout (the scan of tests/browser_check.py, over the committed outputs)."""
    from browser_check import raw_reprs

    path, book = nb
    found = [(cid, raw_reprs(text), text.strip()[:100]) for cid, text in printed_text(book) if raw_reprs(text)]
    assert not found, f"raw reprs in {path.name}: {found}"


def test_results_contract_in_the_package_notebooks(nb):
    path, book = nb
    src = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    assert "write_results(" in src and "save_samples(" in src and "nb.setup(" in src


@pytest.mark.parametrize("preset", sorted((ROOT / "configs").glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_presets_name_only_parameters_of_their_notebook(preset):
    """A preset ``configs/<kind>/NN.yaml`` sets only names that notebook NN's parameters cell assigns (a typo
    would otherwise be ignored by papermill and the full default run)."""
    import yaml

    from gan_helpers.tools.nbexec import parameter_names

    (notebook,) = (ROOT / "notebooks").glob(f"{preset.stem[:2]}_*.ipynb")  # 01.yaml and 01_fifty.yaml: notebook 01
    values = yaml.safe_load(preset.read_text())
    assert isinstance(values, dict) and values
    assert set(values) <= parameter_names(notebook), set(values) - parameter_names(notebook)


def test_papermill_parses_every_line_of_the_parameters_cell(nb, caplog):
    """papermill warned `Unable to parse line 3 'smoke = "CI" in os.environ ...'` on every run."""
    import logging

    from papermill.translators import PythonTranslator

    path, book = nb
    cell = next(c for c in book.cells if "parameters" in c.metadata.get("tags", []))
    with caplog.at_level(logging.WARNING, logger="papermill"):
        found = {p.name for p in PythonTranslator.inspect(cell)}
    assert not [r.getMessage() for r in caplog.records], "papermill could not parse a line"
    assert {"smoke", "output_dir", "seeds"} <= found


def test_the_generated_verdicts_are_the_committed_results(nb):
    """The notebook's generated list of verdicts (`verdict_digest`) is the one of `results/NN.json`, the snapshot
    the README's table is generated from: committed outputs, snapshot and README come from the same run."""
    from gan_helpers.claims import verdict_digest

    path, book = nb
    cells = [c for c in book.cells if c.cell_type == "code" and "verdict_digest(" in c.source]
    assert len(cells) == 1, "one cell shows this run's verdicts, generated from its results.json"
    shown = ["".join(o["data"]["text/markdown"]) for o in cells[0].outputs if "text/markdown" in o.get("data", {})]
    assert shown == [verdict_digest(ROOT / "results" / f"{path.name[:2]}.json")]
