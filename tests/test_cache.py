"""Finished work survives: the per-task result cache of run_tasks (gan_helpers.cache, issue 25)."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_helpers.cache import ResultCache, UnhashableArgument, digest
from gan_helpers.runtime import run_tasks

ROOT = Path(__file__).resolve().parents[1]
TASKS = '''
import os, time
import numpy as np
import torch

def train(log, stop, seed, n):
    """A deterministic stand-in for a training; logs each call; raises KeyboardInterrupt at seed 3 while
    the file `stop` exists (an interrupt after some tasks)."""
    if seed == 3 and os.path.exists(stop):
        raise KeyboardInterrupt
    open(os.path.join(log, f"call-{seed}-{n}-{time.monotonic_ns()}"), "w").close()
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, generator=g)
    for _ in range(3):
        w = torch.tanh(w @ w.T / n)
    return {"seed": seed, "w": w, "curve": np.cumsum(w.numpy().ravel()), "loss": float(w.sum())}

def where(seed):
    return os.getpid(), torch.get_num_threads()
'''


@pytest.fixture
def tasks_module(tmp_path, monkeypatch):
    """A module of task functions that worker processes can import (spawn passes sys.path on)."""
    (tmp_path / "cachetasks.py").write_text(TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import cachetasks
    importlib.reload(cachetasks)
    (tmp_path / "log").mkdir()
    return cachetasks


def calls(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "log").iterdir())


def same(a, b) -> bool:
    """Bit-for-bit equality of two task records."""
    return (a.keys() == b.keys() and torch.equal(a["w"], b["w"]) and a["w"].dtype == b["w"].dtype
            and np.array_equal(a["curve"], b["curve"]) and a["loss"] == b["loss"] and a["seed"] == b["seed"])


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_run_resumes_with_only_the_missing_tasks(tmp_path, tasks_module, capsys, workers):
    log, stop = str(tmp_path / "log"), tmp_path / "stop"
    tasks = [(log, str(stop), s, 8) for s in range(6)]
    cache = ResultCache(tmp_path / "out" / "cache")
    stop.touch()
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks_module.train, tasks, workers=workers, cache=cache)
    started, finished = len(calls(tmp_path)), len(list(cache.root.rglob("*.pt")))
    if workers == 1:
        assert started == finished == 3  # seeds 0, 1, 2 ran before seed 3 was interrupted
    assert finished >= 1
    stop.unlink()
    capsys.readouterr()
    resumed = run_tasks(tasks_module.train, tasks, workers=workers, cache=cache)
    assert len(calls(tmp_path)) == started + 6 - finished, "only the missing tasks were trained"
    out = capsys.readouterr().out
    if finished:
        assert f"[cache] reused {finished} of 6 finished tasks (train)" in out and out.count("\n") == 1
    plain = run_tasks(tasks_module.train, tasks, workers=1)  # no cache: everything trained here
    assert all(same(a, b) for a, b in zip(resumed, plain)), "cached results equal an uncached run bit for bit"
    assert [r["seed"] for r in resumed] == list(range(6))


def test_a_changed_argument_retrains_only_its_task_and_fresh_retrains_all(tmp_path, tasks_module, capsys):
    log, stop = str(tmp_path / "log"), str(tmp_path / "stop")
    cache = ResultCache(tmp_path / "cache")
    tasks = [(log, stop, s, 8) for s in range(4)]
    run_tasks(tasks_module.train, tasks, workers=1, cache=cache)
    assert len(calls(tmp_path)) == 4
    tasks[2] = (log, stop, 2, 9)  # one task's argument changes
    run_tasks(tasks_module.train, tasks, workers=1, cache=cache)
    assert len(calls(tmp_path)) == 5 and any(c.startswith("call-2-9-") for c in calls(tmp_path))
    run_tasks(tasks_module.train, tasks, workers=1, cache=ResultCache(cache.root, fresh=True))
    assert len(calls(tmp_path)) == 9, "fresh: every task trained again"
    assert len(list(cache.root.rglob("*.pt"))) == 5


def test_a_task_resumed_alone_keeps_its_worker_and_thread_count(tmp_path, tasks_module):
    cache = ResultCache(tmp_path / "cache")
    first = run_tasks(tasks_module.where, [(0,), (1,)], workers=2, cache=cache)
    (cache.path(cache.keys(tasks_module.where, [(1,)])[0])).unlink()
    again = run_tasks(tasks_module.where, [(0,), (1,)], workers=2, cache=cache)
    assert again[0] == first[0]  # loaded
    assert again[1][0] != os.getpid() and again[1][1] == first[1][1]  # in a worker, with the same threads


@dataclasses.dataclass
class Cfg:
    lr: float
    size: tuple


class Opaque:
    pass


def test_digest_follows_content_not_identity():
    a = {"x": torch.arange(6.0).reshape(2, 3), "cfg": Cfg(1e-3, (32, 32)), "arr": np.ones(3), "s": "a", "n": None}
    b = {"n": None, "s": "a", "arr": np.ones(3), "cfg": Cfg(1e-3, (32, 32)), "x": torch.arange(6.0).reshape(2, 3)}
    assert digest(a) == digest(b)
    assert digest(torch.arange(6.0)) != digest(torch.arange(6.0).double())  # dtype
    assert digest(torch.arange(6.0)) != digest(torch.arange(6.0).reshape(2, 3))  # shape
    assert digest(torch.arange(6.0).reshape(2, 3).T) == digest(torch.arange(6.0).reshape(2, 3).T.contiguous())
    assert digest(Cfg(1e-3, (32, 32))) != digest(Cfg(2e-3, (32, 32)))
    assert digest(1) != digest(1.0) != digest(True) and digest([1, 2]) != digest((1, 2))
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    before = digest(net)
    with torch.no_grad():
        net.weight[0, 0] += 1
    assert digest(net) != before
    assert digest(torch.nn.Linear(3, 2, bias=False)) != digest(torch.nn.Linear(3, 2))


def test_digest_is_the_same_in_another_process():
    code = ("import torch, numpy as np; from gan_helpers.cache import digest; "
            "print(digest({'b': [1, 2.5, 'x', None], 'a': torch.arange(4), 'c': np.eye(2), 'd': {3, 'y'}}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert other.strip() == digest({"b": [1, 2.5, "x", None], "a": torch.arange(4), "c": np.eye(2), "d": {3, "y"}})


def test_an_argument_without_a_content_hash_is_an_error_naming_it_before_any_work(tmp_path, tasks_module):
    cache = ResultCache(tmp_path / "cache")
    with pytest.raises(UnhashableArgument, match=r"task 1 of cachetasks.train: argument 2\['opts'\] is a "
                                                 r"\S*Opaque, which has no stable"):
        run_tasks(tasks_module.train, [("a", "b", 0, 8), ("a", "b", {"opts": Opaque()}, 8)], workers=1, cache=cache)
    with pytest.raises(UnhashableArgument, match="lambda"):
        digest(lambda x: x)
    assert calls(tmp_path) == [] and not cache.root.exists()


def test_the_pool_of_image_files_is_keyed_by_their_content(tmp_path):
    from gan_helpers.selftrain import ImagePool

    f = tmp_path / "a.png"
    f.write_bytes(b"one")
    pool = ImagePool.from_paths([f], 32)
    before = digest(pool)
    assert digest(ImagePool.from_paths([f], 32)) == before
    f.write_bytes(b"other content")
    assert digest(ImagePool.from_paths([f], 32)) != before
    assert digest(ImagePool.from_images(torch.zeros(2, 3, 4, 4))) != digest(ImagePool.from_images(torch.ones(2, 3, 4, 4)))


def test_setup_gives_the_run_a_cache_under_output_dir(tmp_path, monkeypatch):
    from gan_helpers.notebook import setup

    monkeypatch.delenv("GAN_FRESH", raising=False)
    run = setup({"output_dir": str(tmp_path / "out"), "seeds": [0]}, verbose=False)
    assert run.cache.root == tmp_path / "out" / "cache" and not run.cache.fresh
    monkeypatch.setenv("GAN_FRESH", "1")
    assert setup({"output_dir": str(tmp_path / "out")}, verbose=False).cache.fresh


def test_nbexec_fresh_reaches_the_kernel(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from gan_helpers.tools import nbexec

    params = new_code_cell("x = 1  # unused")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("import os\nprint('fresh:', os.environ.get('GAN_FRESH'))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    before = os.environ.get("GAN_FRESH")
    assert nbexec.main([str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), "--fresh"]) == 0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == "fresh: 1"
    assert os.environ.get("GAN_FRESH") == before, "nbexec restores the environment"
