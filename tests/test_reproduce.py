"""`make reproduce` end to end on a tiny notebook: papermill, HTML, results.json, REPORT.md."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from gan_helpers.reproduce import main


def test_reproduce_runs_notebooks_and_writes_the_report(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    params = new_code_cell('output_dir = "outputs/99"  # where results go\nthreshold = 0.5  # a parameter')
    params.metadata["tags"] = ["parameters"]
    body = new_code_cell(
        "from gan_helpers.results import claim, verdict, write_results\n"
        "x = 0.7\n"
        "write_results(output_dir, {'threshold': threshold}, 0.1,\n"
        "              [claim('x exceeds the threshold', 'tiny doc', verdict(x > threshold), {'x': x})])")
    nb = new_notebook(cells=[params, body])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / "99_tiny.ipynb")
    (nbdir / "notes.ipynb").write_text("{}")  # not numbered: ignored

    assert main(["--notebooks", str(nbdir), "--runs", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "99_tiny.ipynb").exists() and (run_dir / "99_tiny.html").exists()
    assert (run_dir / "99_tiny" / "results.json").exists()
    report = (run_dir / "REPORT.md").read_text()
    assert "| 99_tiny | x exceeds the threshold | tiny doc | **holds** | x = 0.7 |" in report
    assert str(run_dir / "REPORT.md") in capsys.readouterr().out
    assert not (nbdir / "outputs").exists()  # the run wrote into runs/, not next to the notebook


def test_reproduce_without_notebooks_is_a_clear_error(tmp_path, capsys):
    assert main(["--notebooks", str(tmp_path)]) == 2
    assert "no numbered notebooks" in capsys.readouterr().err
