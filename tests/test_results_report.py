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
    assert "| 01_x | G wins | Doc, Fig. 1 | **holds** | fid = 12.35 |" in report
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


def test_seed_report_marks_missing_runs_and_refuses_claims_that_differ(tmp_path):
    from gan_helpers.tools.report import build_seed_report

    write_results(tmp_path / "seed-0" / "01_x", {"seed": 0}, 1.0, [claim("G wins", "doc", "holds", {"a": 1})])
    write_results(tmp_path / "seed-10" / "01_x", {"seed": 10}, 2.0, [claim("G wins", "doc", "partly", {"a": 2})])
    (tmp_path / "seed-2").mkdir()  # a seed whose notebook failed: no results.json
    text = build_seed_report(tmp_path).read_text()
    assert "| seed 0 | seed 2 | seed 10 |" in text  # numeric order, not text order
    assert "| 01_x | G wins | holds | missing | partly | **no** |" in text
    assert "| 01_x | 1 | ? | 2 |" in text
    write_results(tmp_path / "seed-2" / "01_x", {"seed": 2}, 1.0, [claim("D wins", "doc", "holds", {"a": 1})])
    with pytest.raises(ValueError, match="claim 0 reads differently under seed"):
        build_seed_report(tmp_path)
