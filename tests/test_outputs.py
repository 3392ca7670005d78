"""One output-folder rule for every notebook (issue 26): an output_dir that touches the data is refused before
any work, a run records what it writes, and a fresh run sets the previous run's outputs aside, never the user's."""
import hashlib
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from gan_helpers import outputs
from gan_helpers.images import save_samples
from gan_helpers.notebook import CALLER_CWD, MARKER, ParameterError, setup
from gan_helpers.outputs import MANIFEST, OutputFolderError, read_manifest
from gan_helpers.results import write_results

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def _no_active_run():
    outputs.stop()
    yield
    outputs.stop()


def tree(folder: Path) -> dict[str, str]:
    """Every file and link below ``folder`` with a hash of its content (a link: its target)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(folder))] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def user_data(folder: Path) -> Path:
    """A user's folder: images, their own good.txt and a symbolic link of theirs in sorted/good/."""
    (folder / "sorted" / "good").mkdir(parents=True)
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"png" + bytes([i]))
    (folder / "good.txt").write_text("my own list\n")
    (folder / "sorted" / "good" / "mine.png").symlink_to(folder / "0.png")
    return folder


# --------------------------------------------------------------------------- 1. output_dir and the data

@pytest.mark.parametrize("where", ["equal", "inside", "contains"])
def test_an_output_dir_touching_the_data_is_refused_naming_both(tmp_path, where):
    data = user_data(tmp_path / "data")
    out = {"equal": data, "inside": data / "filtered", "contains": tmp_path}[where]
    before = tree(tmp_path)
    with pytest.raises(ParameterError) as e:
        setup({"dataset": str(data), "output_dir": str(out)}, data_dirs=["dataset"], verbose=False)
    assert str(data) in str(e.value) and f"output_dir = {str(out)!r}" in str(e.value)
    assert tree(tmp_path) == before  # nothing written, moved or deleted


def test_links_are_resolved_before_comparing(tmp_path):
    data = user_data(tmp_path / "data")
    (tmp_path / "alias").symlink_to(data, target_is_directory=True)
    with pytest.raises(ParameterError, match="inside the folder dataset"):
        setup({"dataset": str(data), "output_dir": str(tmp_path / "alias" / "out")}, data_dirs=["dataset"], verbose=False)
    assert not (data / "out").exists()


def test_a_data_file_inside_the_output_dir_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    ckpt = tmp_path / "out" / "d.pt"
    ckpt.write_bytes(b"x")
    with pytest.raises(ParameterError, match="contains discriminator_checkpoint"):
        setup({"discriminator_checkpoint": str(ckpt), "output_dir": str(tmp_path / "out")},
              data_dirs=["discriminator_checkpoint"], verbose=False)


def test_builtin_names_and_empty_values_are_not_paths(tmp_path):
    run = setup({"dataset": "emotes", "discriminator_checkpoint": "", "output_dir": str(tmp_path / "o")},
                data_dirs=["dataset", "discriminator_checkpoint"], verbose=False)
    assert run.out == tmp_path / "o"


def _setup_cells(path: Path) -> str:
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return code[0], code[1]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name[:2] for p in NOTEBOOKS])
def test_each_notebook_refuses_an_output_dir_inside_its_data(notebook, tmp_path, monkeypatch):
    """The notebook's own parameters and setup cells, with ``dataset`` a user's folder and ``output_dir`` inside it
    (03: the issue's ``-p dataset D -p output_dir D -p make_links True``)."""
    data = user_data(tmp_path / "D")
    for sub in ("good", "bad", "unlabelled"):  # notebook 03's layout (the others only need a folder)
        (data / sub).mkdir()
    out = data if notebook.name.startswith("03") else data / "filtered"
    params, setup_cell = _setup_cells(notebook)
    monkeypatch.chdir(notebook.parent)
    ns: dict = {}
    exec(params, ns)
    ns.update(dataset=str(data), output_dir=str(out), make_links=True)
    before = tree(data)
    with pytest.raises(ParameterError, match=f"output_dir = {str(out)!r}.*dataset = {str(data)!r}"):
        exec(setup_cell, ns)
    assert tree(data) == before


def test_notebook_03_checks_its_checkpoint_as_data(tmp_path, monkeypatch):
    nb03 = next(p for p in NOTEBOOKS if p.name.startswith("03"))
    params, setup_cell = _setup_cells(nb03)
    monkeypatch.chdir(nb03.parent)
    ns: dict = {}
    exec(params, ns)
    (tmp_path / "out").mkdir()
    ckpt = tmp_path / "out" / "d.pt"
    from gan_helpers.models import Discriminator

    torch.save(Discriminator(ns["ndf"], 3, ns["image_size"]).state_dict(), ckpt)  # a usable one, in the wrong place
    ns.update(discriminator_checkpoint=str(ckpt), output_dir=str(tmp_path / "out"))
    with pytest.raises(ParameterError, match="contains discriminator_checkpoint"):
        exec(setup_cell, ns)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name[:2] for p in NOTEBOOKS])
def test_each_notebook_writes_only_through_recording_writers(notebook):
    """Figures through ``run.savefig`` and files through the package's writers, which record them in the manifest:
    no code cell writes a file itself."""
    src = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    for raw in (".savefig(run.out", "plt.savefig(", "fig.savefig(", "open(", ".to_csv(", ".write_text(",
                ".write_bytes(", "torch.save(", "np.save(", "shutil."):
        assert raw not in src, f"{notebook.name} writes with {raw!r}"
    assert "data_dirs=[" in src, f"{notebook.name} does not name the data it reads"


# --------------------------------------------------------------------------- 4. a fresh run owns its folder

def _a_run(out: Path, n: int, unreadable: bool = False) -> None:
    """A run's writers: a figure, samples, results.json, and (once) an unreadable.txt-like list."""
    import matplotlib.pyplot as plt

    run = setup({"output_dir": str(out), "iterations": n}, verbose=False)
    fig = plt.figure()
    run.savefig(fig, "figure.png")
    plt.close(fig)
    save_samples(out / "samples", {"real": torch.zeros(n, 3, 8, 8)})
    if unreadable:
        outputs.record(out / "unreadable.txt")
        (out / "unreadable.txt").write_text("x.png\tempty file\n")
    write_results(out, run.parameters, 1.0, [])


def test_a_clean_rerun_leaves_no_stale_file(tmp_path):
    """03 kept an old unreadable.txt after a clean rerun into the same output_dir."""
    out = tmp_path / "out"
    _a_run(out, 3, unreadable=True)
    _a_run(out, 2)
    assert not (out / "unreadable.txt").exists() and (out / "previous" / "unreadable.txt").exists()
    assert sorted(p.name for p in (out / "samples" / "real").iterdir()) == ["000000.png", "000001.png"]
    assert json.loads((out / "results.json").read_text())["parameters"]["iterations"] == 2
    assert json.loads((out / "previous" / "results.json").read_text())["parameters"]["iterations"] == 3


def test_a_stopped_rerun_leaves_only_its_own_files_beside_the_marker(tmp_path):
    out = tmp_path / "out"
    _a_run(out, 3)
    setup({"output_dir": str(out)}, verbose=False)  # the rerun starts ...
    save_samples(out / "samples", {"real": torch.zeros(1, 3, 8, 8)})  # ... writes one file, and is stopped
    assert set(tree(out)) - {f for f in tree(out) if f.startswith("previous/")} == \
        {MARKER, MANIFEST, "samples/real/000000.png"}
    assert {"figure.png", "results.json", "samples/real/000002.png"} <= {f[len("previous/"):] for f in tree(out)
                                                                       if f.startswith("previous/")}
    # its manifest lists what it had written when stopped, so the next run sets exactly that aside
    assert read_manifest(out / MANIFEST) == [MARKER, "samples/real/000000.png"]  # in the order written
    _a_run(out, 1)
    assert sorted(tree(out / "previous")) == sorted([MANIFEST, MARKER, "samples/real/000000.png"])


def test_files_no_run_wrote_are_refused_and_cache_is_left_alone(tmp_path):
    out = tmp_path / "out"
    _a_run(out, 2)
    (out / "cache").mkdir()
    (out / "cache" / "task.pkl").write_bytes(b"cached")  # the per-task result cache: not a run output
    (out / ".DS_Store").write_bytes(b"")
    _a_run(out, 2)
    assert (out / "cache" / "task.pkl").read_bytes() == b"cached" and not (out / "previous" / "cache").exists()
    assert "cache/task.pkl" not in read_manifest(out / MANIFEST)
    (out / "notes.txt").write_text("mine")
    before = tree(out)
    with pytest.raises(ParameterError, match="'notes.txt'.*Nothing was written, moved or deleted"):
        setup({"output_dir": str(out)}, verbose=False)
    assert tree(out) == before


def test_a_write_never_overwrites_or_leaves_the_output_folder(tmp_path):
    out = tmp_path / "out"
    setup({"output_dir": str(out)}, verbose=False)
    (out / "theirs.png").write_bytes(b"added during the run")
    with pytest.raises(OutputFolderError, match="theirs.png.*not overwritten"):
        outputs.record(out / "theirs.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "samples").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputFolderError, match="outside the output folder"):
        save_samples(out / "samples", {"real": torch.zeros(1, 3, 8, 8)})
    assert not any(elsewhere.iterdir())


def test_the_previous_run_is_one_step_back_only(tmp_path):
    out = tmp_path / "out"
    for n in (4, 3, 2):
        _a_run(out, n)
    assert json.loads((out / "previous" / "results.json").read_text())["parameters"]["iterations"] == 3
    assert len(list((out / "previous" / "samples" / "real").iterdir())) == 3


# --------------------------------------------------------------------------- 7. relative data paths

def test_a_relative_dataset_is_found_where_the_command_ran(tmp_path, monkeypatch):
    (tmp_path / "caller" / "mydata").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # the kernel runs in notebooks/
    monkeypatch.setenv(CALLER_CWD, str(tmp_path / "caller"))
    ns = {"dataset": "mydata", "output_dir": "outputs/x"}
    check = {"dataset": lambda v, p: None if os.path.isdir(v) else "an existing folder"}
    run = setup(ns, checks=check, data_dirs=["dataset"], verbose=False)
    assert ns["dataset"] == run.parameters["dataset"] == str(tmp_path / "caller" / "mydata")
    with pytest.raises(ParameterError, match=f"looked up in {tmp_path / 'notebooks'} and in {tmp_path / 'caller'}"):
        setup({"dataset": "nodata", "output_dir": "outputs/x"}, checks=check, data_dirs=["dataset"], verbose=False)
    monkeypatch.delenv(CALLER_CWD)
    with pytest.raises(ParameterError, match="looked up in .*notebooks, the notebook's folder"):
        setup({"dataset": "mydata", "output_dir": "outputs/x"}, checks=check, data_dirs=["dataset"], verbose=False)


def test_results_json_says_its_scale(tmp_path):
    run = setup({"output_dir": str(tmp_path), "smoke": True}, verbose=False)
    write_results(tmp_path, run.parameters, 1.0, [])
    assert json.loads((tmp_path / "results.json").read_text())["scale"] == "smoke"
    assert np.isfinite(json.loads((tmp_path / "results.json").read_text())["runtime_s"])
