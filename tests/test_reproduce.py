"""`make reproduce` end to end on a tiny notebook: papermill, HTML, results.json, REPORT.md."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from gan_helpers.tools.reproduce import main


def write_notebook(path, parameters: str, body: str):
    """A numbered notebook: a `parameters` cell, then one cell of code."""
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_reproduce_runs_notebooks_and_writes_the_report(tmp_path, capfd):
    """... with one runtime figure ("ok in 16 s" disagreed with the report's 13 s) and a clean stderr (papermill's
    bar and the kernel's TCP warning were on it on every run)."""
    import re

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir / "99_tiny.ipynb", 'output_dir = "outputs/99"  # where results go\nthreshold = 0.5  # a parameter',
                   "from gan_helpers.results import claim, verdict, write_results\n"
                   "x = 0.7\n"
                   "write_results(output_dir, {'threshold': threshold}, 0.1,\n"
                   "              [claim('x exceeds the threshold', 'tiny doc', verdict(x > threshold), {'x': x})])")
    (nbdir / "notes.ipynb").write_text("{}")  # not numbered: ignored

    assert main(["--notebooks", str(nbdir), "--runs", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "99_tiny.ipynb").exists() and (run_dir / "99_tiny.html").exists()
    assert (run_dir / "99_tiny" / "results.json").exists()
    report = (run_dir / "REPORT.md").read_text()
    assert "| 99_tiny | x exceeds the threshold | tiny doc |  | **holds** |  | x = 0.7 |" in report
    out, err = capfd.readouterr()
    assert str(run_dir / "REPORT.md") in out
    assert not (nbdir / "outputs").exists()  # the run wrote into runs/, not next to the notebook
    printed = re.search(r"99_tiny.ipynb: ok in (\d+) s \(wall-clock", out).group(1)
    assert f"| 99_tiny | {printed} |" in report
    assert "without encryption" not in err and "Unable to parse" not in err
    assert not re.search(r"\d+%\|", err) and "Executing" not in err, err[-300:]


def test_reproduce_without_notebooks_is_a_clear_error(tmp_path, capsys):
    assert main(["--notebooks", str(tmp_path)]) == 2
    assert "no numbered notebooks" in capsys.readouterr().err


def _tiny(nbdir, name="99_tiny", body="x = 0.7"):
    write_notebook(nbdir / f"{name}.ipynb", 'output_dir = "outputs/99"  # where results go\nthreshold = 0.5  # a parameter\n'
                   'seeds = [0]  # seeds',
                   "from gan_helpers.results import claim, verdict, write_results\n" + body + "\n"
                   "write_results(output_dir, {'threshold': threshold, 'seeds': seeds}, 0.1,\n"
                   "              [claim('x exceeds the threshold', 'tiny doc', verdict(x > threshold), {'x': x})])")


def test_a_failing_notebook_gets_a_row_and_a_nonzero_exit(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _tiny(nbdir)
    _tiny(nbdir, "98_broken", body="raise ValueError('first line\\nthe last line says why')")
    assert main(["--notebooks", str(nbdir), "--runs", str(tmp_path / "runs")]) == 1
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = (run_dir / "REPORT.md").read_text()
    assert "| 98_broken | (the notebook failed; no claims) | | | **failed** | | cell [" in report
    assert "ValueError: the last line says why" in report
    assert "| 99_tiny | x exceeds the threshold |" in report


def test_the_run_folder_wins_over_a_presets_output_dir_and_seeds_are_passed(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _tiny(nbdir)
    (tmp_path / "preset.yaml").write_text("output_dir: somewhere/else\nthreshold: 0.9\n")
    assert main(["--notebooks", str(nbdir), "--runs", str(tmp_path / "runs"), "-f", str(tmp_path / "preset.yaml"),
                 "--only", "99", "--seeds", "3", "4"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    import json
    doc = json.loads((run_dir / "99_tiny" / "results.json").read_text())
    assert doc["parameters"] == {"threshold": 0.9, "seeds": [3, 4]} and doc["claims"][0]["verdict"] == "does not hold"
    assert "is ignored" in capsys.readouterr().out
    assert not (tmp_path / "somewhere").exists()


def test_command_errors_come_before_any_run_folder(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _tiny(nbdir, "01_tiny")
    runs = tmp_path / "runs"
    for argv, message in ((["-f", str(tmp_path / "missing.yaml")], "does not exist"),
                          (["--only", "7"], "no notebook numbered '07'"),
                          (["--only"], "expected at least one argument"),
                          (["-f", str(tmp_path / "bad.yaml")], "has no parameter 'iteration'")):
        (tmp_path / "bad.yaml").write_text("iteration: 3\n")
        with pytest.raises(SystemExit):
            main(["--notebooks", str(nbdir), "--runs", str(runs), *argv])
        assert message in capsys.readouterr().err
        assert not runs.exists(), "no empty run folder is left behind"
    assert select_numbers(nbdir, ["1"]) == ["01_tiny.ipynb"]


def select_numbers(nbdir, only):
    from gan_helpers.tools.reproduce import select

    return [p.name for p in select(sorted(nbdir.glob("[0-9][0-9]_*.ipynb")), only)]


def test_resume_reruns_into_the_same_run_folder_and_fresh_reaches_the_notebook(tmp_path, monkeypatch, capsys):
    from gan_helpers.tools import nbexec

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _tiny(nbdir, "01_tiny")
    seen = []
    monkeypatch.setattr(nbexec, "execute_notebook", lambda nb, out, fresh=False, **kw: seen.append(
        (kw["parameters"]["output_dir"], fresh)))
    with pytest.raises(SystemExit):
        main(["--notebooks", str(nbdir), "--resume", str(tmp_path / "missing")])
    assert "no such run folder" in capsys.readouterr().err and not (tmp_path / "missing").exists()
    run_dir = tmp_path / "runs" / "20260101-000000"
    run_dir.mkdir(parents=True)
    main(["--notebooks", str(nbdir), "--resume", str(run_dir), "--fresh"])
    assert seen == [(str((run_dir / "01_tiny").resolve()), True)]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["20260101-000000"]
