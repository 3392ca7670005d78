"""`make reproduce` end to end on a tiny notebook: papermill, HTML, results.json, REPORT.md."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from gan_helpers.tools.reproduce import main


def write_notebook(path, parameters: str, body: str):
    """A numbered notebook: a `parameters` cell, then one cell of code."""
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_reproduce_runs_notebooks_and_writes_the_report(tmp_path, capsys):
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
    assert "| 99_tiny | x exceeds the threshold | tiny doc | **holds** | x = 0.7 |" in report
    assert str(run_dir / "REPORT.md") in capsys.readouterr().out
    assert not (nbdir / "outputs").exists()  # the run wrote into runs/, not next to the notebook


def test_reproduce_without_notebooks_is_a_clear_error(tmp_path, capsys):
    assert main(["--notebooks", str(tmp_path)]) == 2
    assert "no numbered notebooks" in capsys.readouterr().err


def test_reproduce_with_seeds_tabulates_each_claims_verdict_per_seed(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir / "98_seeded.ipynb", 'output_dir = "outputs/98"  # where results go\nseed = 0  # random seed',
                   "from gan_helpers.results import claim, verdict, write_results\n"
                   "write_results(output_dir, {'seed': seed}, 0.1,\n"
                   "              [claim('always true', 'tiny doc', verdict(True), {'seed': seed}),\n"
                   "               claim('seed is even', 'tiny doc', verdict(seed % 2 == 0), {'seed': seed})])")

    assert main(["--notebooks", str(nbdir), "--runs", str(tmp_path / "runs"), "--seeds", "0", "1"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    for s in (0, 1):  # each seed is a complete run of its own
        assert (run_dir / f"seed-{s}" / "98_seeded" / "results.json").exists()
        assert f"seed {s}" in (run_dir / f"seed-{s}" / "REPORT.md").read_text()
    seeds = (run_dir / "SEEDS.md").read_text()
    assert "| 98_seeded | always true | holds | holds | yes |" in seeds
    assert "| 98_seeded | seed is even | holds | does not hold | **no** |" in seeds
    assert "same under every seed: 1 of 2" in seeds
    assert str(run_dir / "SEEDS.md") in capsys.readouterr().out
