"""The README's links and commands point at things that exist."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_relative_links_exist():
    for target in re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", README):
        assert (ROOT / target.split("#")[0]).exists(), f"README links to a missing file: {target}"


def test_no_link_to_a_repository_that_does_not_exist():
    assert "colab.research.google.com/github/" not in README, "Colab links must not name a repository address"
    assert "gan-reproductions/gan-reproductions" not in README


def test_module_commands_name_real_modules():
    import importlib

    for module in set(re.findall(r"python -m (gan_helpers[\w.]*)", README)):
        importlib.import_module(module)


def test_no_placeholder_is_left():
    assert not re.search(r"\b[A-Z]+_(TABLE|SECTION|SCORING)\b", README)


def test_make_lab_trusts_the_notebooks_first_and_allows_root_only_as_root():
    import os
    import subprocess

    plan = subprocess.run(["make", "-n", "lab", "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.splitlines()
    trust = [i for i, line in enumerate(plan) if " trust notebooks/" in line]
    lab = [i for i, line in enumerate(plan) if " lab " in line and "notebooks/" in line]
    assert trust and lab and trust[0] < lab[0], f"`make lab` runs `jupyter trust` before JupyterLab: {plan}"
    assert ("--allow-root" in plan[lab[0]]) == (os.geteuid() == 0)


def test_readme_says_how_to_trust_the_notebooks_and_restore_the_committed_outputs():
    assert "jupyter trust notebooks/*.ipynb" in README and "--allow-root" in README
    assert "git checkout notebooks/" in README


def test_the_readme_verdict_table_is_the_one_generated_from_the_committed_results():
    """The README's table of verdicts is generated (gan_helpers.tools.report) from results/NN.json, the snapshots of
    the committed runs; a hand edit of a verdict, or a run committed without regenerating it, fails here."""
    import json

    from gan_helpers.tools.report import README_END, README_START, readme_table

    docs = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "results").glob("[0-9][0-9].json"))}
    assert sorted(docs) == ["01", "02", "03", "04", "05"], "results/ holds one snapshot per notebook"
    assert not any(d.get("scale") == "smoke" for d in docs.values()), "the committed snapshots are full-scale runs"
    section = README.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert section == readme_table(docs).strip()
