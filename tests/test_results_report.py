import json
import math

import numpy as np
import pytest
import torch

from gan_helpers.tools.normalize import strip
from gan_helpers.tools.report import build_report
from gan_helpers.results import claim, to_jsonable, verdict, write_results


def test_verdict_mapping():
    assert verdict(True) == "holds"
    assert verdict(False) == "does not hold"
    assert verdict(False, partly=True) == "partly"
    assert verdict(None) == "inconclusive"


def test_claim_needs_a_known_verdict_and_evidence():
    with pytest.raises(ValueError, match="verdict must be one of"):
        claim("x", "doc", "maybe", {"a": 1})
    with pytest.raises(ValueError, match="no evidence"):
        claim("x", "doc", "holds", {})


def test_jsonable_handles_numpy_torch_and_nonfinite():
    out = to_jsonable({1: np.float32(0.123456789), "t": torch.tensor([1.5, 2.0]), "nan": math.nan,
                       "b": np.bool_(True), "arr": np.arange(3), "tup": (1, 2)})
    assert out == {"1": 0.123457, "t": [1.5, 2.0], "nan": None, "b": True, "arr": [0, 1, 2], "tup": [1, 2]}
    json.dumps(out, allow_nan=False)


def test_write_results_and_report(tmp_path):
    c = claim("G wins", "Doc, Fig. 1", "holds", {"fid": 12.3456789})
    write_results(tmp_path / "01_x", {"seed": 0}, 12.5, [c], quality={"1": {"fid": 3.0}})
    doc = json.loads((tmp_path / "01_x" / "results.json").read_text())
    assert doc["claims"][0]["verdict"] == "holds" and doc["quality"] == {"1": {"fid": 3.0}}
    with pytest.raises(ValueError, match="malformed claim"):
        write_results(tmp_path / "bad", {}, 0, [{"claim": "x"}])
    report = build_report(tmp_path).read_text()
    assert "| 01_x | G wins | Doc, Fig. 1 |  | **holds** |  | fid = 12.35 |" in report
    assert "holds: 1" in report


def test_normalize_strips_run_metadata_and_refuses_injected_cells():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": 3}
    c = nbformat.v4.new_code_cell("1")
    c.metadata["papermill"] = {"start_time": "now"}
    c.execution_count = 7
    nb.cells = [c]
    out = strip(nb)
    assert "papermill" not in out.metadata and "papermill" not in out.cells[0].metadata
    assert out.cells[0].execution_count == 1
    c.metadata["tags"] = ["injected-parameters"]
    with pytest.raises(ValueError, match="injected"):
        strip(nb)


def test_normalize_writes_the_metadata_jupyterlab_writes():
    import nbformat

    from gan_helpers.tools.normalize import NOTEBOOK_METADATA

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = strip(nb)
    assert out.metadata["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    assert out.metadata["language_info"]["version"] == NOTEBOOK_METADATA["language_info"]["version"]


def test_normalize_keeps_the_tracked_notebook_when_a_run_fails(tmp_path, monkeypatch):
    import nbformat

    from gan_helpers.tools import nbexec, normalize

    path = tmp_path / "01_x.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream", text="kept")])])
    nbformat.write(nb, path)
    before = path.read_bytes()

    def interrupted(source, target, **kw):
        nbformat.write(nbformat.v4.new_notebook(), target)  # a half-written run: no outputs
        raise KeyboardInterrupt

    monkeypatch.setattr(nbexec, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        normalize.main([str(path)])
    assert path.read_bytes() == before, "the tracked notebook is untouched"
    assert list(tmp_path.iterdir()) == [path], "no temporary file is left behind"


def test_failed_notebooks_get_a_row(tmp_path):
    write_results(tmp_path / "01_x", {}, 1.0, [claim("G wins", "doc", "holds", {"a": 1})])
    text = build_report(tmp_path, failed={"02_y": "cell [4]: ValueError: bad | input"}).read_text()
    assert "| 02_y | (the notebook failed; no claims) | | | **failed** | | cell [4]: ValueError: bad \\| input |" in text
    assert "failed notebooks: 1" in text


def test_report_shows_each_seeds_outcome(tmp_path):
    write_results(tmp_path / "01_x", {}, 1.0, [claim("A beats B", "doc", "partly", {"per_seed": [1, 0, 1], "fid": [1, 2, 3]}),
                                               claim("P in each seed", "doc", "holds", {"per_seed": {"0": "holds", "1": "holds"}})])
    text = build_report(tmp_path).read_text()
    assert "| **partly** | A better, within noise, A better |" in text
    assert "| **holds** | 0: holds, 1: holds |" in text


def test_a_smoke_report_has_a_banner_and_says_smoke_on_every_verdict(tmp_path):
    """`CI=1 reproduce --only 03` printed "... beats ... scratch: holds" with nothing saying it was a smoke run."""
    write_results(tmp_path / "03_x", {"smoke": True}, 1.0, [claim("GAN beats scratch", "doc", "holds", {"a": 1}),
                                                           claim("Pool sorted", "doc", "partly", {"a": 2})])
    text = build_report(tmp_path).read_text()
    assert "**Smoke-scale run**" in text.split("| notebook |")[0]  # above the table
    rows = [line for line in text.splitlines() if line.startswith("| 03_x |") and "**" in line]
    assert len(rows) == 2 and all("(smoke)" in r for r in rows)
    assert "| **holds** (smoke) |" in rows[0]
    write_results(tmp_path / "03_x", {"smoke": False}, 1.0, [claim("GAN beats scratch", "doc", "holds", {"a": 1})])
    text = build_report(tmp_path).read_text()
    assert "(smoke)" not in text and "Smoke-scale" not in text


def test_evidence_is_never_cut_mid_word():
    """One evidence cell read "rule = per s..."."""
    from gan_helpers.tools.report import evidence_text

    ev = {"alpha": 0.05, "rule": "per seed: exact McNemar test on the held-out set, after the loop and after one fine-tune"}
    full = "; ".join(f"{k} = {v}" for k, v in ev.items()).split()
    for limit in range(20, 110, 3):
        text = evidence_text(ev, limit)
        assert len(text) <= limit and text.endswith(" ..."), text
        kept = text[:-4].split()
        words = [w.rstrip(";,") for w in full[:len(kept)]]
        assert [w.rstrip(";,") for w in kept] == words, f"cut mid-word at {limit}: {text!r}"


def test_the_report_has_one_runtime_figure(tmp_path):
    write_results(tmp_path / "01_x", {}, 12.0, [claim("G wins", "doc", "holds", {"a": 1})])  # notebook's own clock
    text = build_report(tmp_path, runtimes={"01_x": 15.6}).read_text()
    assert "| 01_x | 16 |" in text and "| 01_x | 12 |" not in text
    assert "wall-clock (s): the seconds the runner measured" in text


def test_the_readme_table_is_generated_from_the_engines_claims(tmp_path):
    from gan_helpers import claims as C
    from gan_helpers.tools.report import README_END, README_START, main

    claim = C.Claim("k", "A beats B", "doc", settings={"one": C.Compare("fid", "A", "B"), "two": C.Compare("fid", "A", "C")})
    rec = {"A": {"fid": 1.0, "fid_noise": 0.1, "learned": True}, "B": {"fid": 5.0, "fid_noise": 0.1, "learned": True},
           "C": {"fid": 1.0, "fid_noise": 0.1, "learned": True}}
    judged = C.judge([claim], {0: rec, 1: rec})
    write_results(tmp_path / "outputs" / "01", {}, 12.0, judged)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\noutro\n")
    assert main(["--outputs", str(tmp_path / "outputs"), "--results", str(tmp_path / "results"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old table" not in text
    assert "| 01 | A beats B | **partly** | one: holds (0: supports, 1: supports); two: inconclusive (0: tie, 1: tie) |" in text
    assert "[noise_factor = 2]" in text and (tmp_path / "results" / "01.json").is_file()
    main(["--results", str(tmp_path / "results"), "--readme", str(readme)])  # again from the committed snapshot
    assert readme.read_text() == text


def test_a_partial_rerun_keeps_the_other_notebooks_rows(tmp_path):
    """Rerunning one notebook and snapshotting its outputs replaces its rows only: the README table still holds the
    committed snapshots of the notebooks that were not rerun (it used to drop them)."""
    import shutil

    from gan_helpers import claims as C
    from gan_helpers.tools.report import README_END, README_START, main

    claim = C.Claim("k", "A beats B", "doc", settings={"one": C.Compare("fid", "A", "B")})
    rec = {"A": {"fid": 1.0, "fid_noise": 0.1, "learned": True}, "B": {"fid": 5.0, "fid_noise": 0.1, "learned": True}}
    judged = C.judge([claim], {0: rec, 1: rec})
    for nb in ("01_x", "02_y"):  # make reproduce's run folder: each notebook beside its outputs
        write_results(tmp_path / "outputs" / nb, {}, 12.0, judged)
        (tmp_path / "outputs" / f"{nb}.ipynb").write_text("{}")
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n")
    main(["--outputs", str(tmp_path / "outputs"), "--results", str(tmp_path / "results"), "--readme", str(readme)])
    shutil.rmtree(tmp_path / "outputs" / "01_x")  # only 02 rerun this time
    main(["--outputs", str(tmp_path / "outputs"), "--results", str(tmp_path / "results"), "--readme", str(readme)])
    text = readme.read_text()
    assert "| 01 | A beats B |" in text and "| 02 | A beats B |" in text


def test_a_presets_run_is_never_snapshotted_over_the_notebooks_own(tmp_path):
    """`outputs/04_budget` (configs/budget/04.yaml) sorted after `outputs/04` and overwrote results/04.json."""
    from gan_helpers.tools.report import snapshot

    write_results(tmp_path / "outputs" / "04", {"scope": "full"}, 1.0, [claim("full", "doc", "holds", {"a": 1})])
    write_results(tmp_path / "outputs" / "04_budget", {"scope": "budget"}, 1.0, [claim("budget", "doc", "holds", {"a": 2})])
    docs = snapshot(tmp_path / "outputs", tmp_path / "results")
    assert list(docs) == ["04"] and docs["04"]["parameters"] == {"scope": "full"}
    assert json.loads((tmp_path / "results" / "04.json").read_text())["claims"][0]["claim"] == "full"
    write_results(tmp_path / "outputs" / "04_fewer_labels", {}, 1.0, [])
    (tmp_path / "04_fewer_labels.ipynb").write_text("{}")  # a notebook's run beside the notebook, and outputs/04
    with pytest.raises(ValueError, match="more than one run of notebook 04"):
        snapshot(tmp_path / "outputs", tmp_path / "results")
