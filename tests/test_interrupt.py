"""Stop means stop: an interrupted or killed run leaves no worker process behind (issue 25).

Each test starts a real process tree (a Python process running ``run_tasks``, a Jupyter kernel, or
``nbexec``) whose tasks write a marker file when they start and then sleep; it interrupts or kills the
tree's root once both workers are inside a task and checks the time to stop and that every process
of the tree is gone."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = '''
import os, time

def mark_and_sleep(folder, i, seconds):
    open(os.path.join(folder, f"started-{i}"), "w").close()
    time.sleep(seconds)
    return i
'''
CHILD = '''
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the test runner started with SIGINT ignored
import marks
from gan_helpers.runtime import run_tasks
try:
    run_tasks(marks.mark_and_sleep, [(sys.argv[1], i, float(sys.argv[2])) for i in range(6)], workers=2)
    print("finished", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic():.4f}", flush=True)
'''


def _env(tmp_path):
    (tmp_path / "marks.py").write_text(TASKS)
    path = os.pathsep.join([str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "GAN_WORKERS": ""}


def _wait_for_markers(folder: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("started-*"))) < n:
        assert proc.poll() is None, f"the process ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "the workers never started their tasks"
        time.sleep(0.1)


def _alive(procs: list[psutil.Process]) -> list[int]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(procs)


def _kill(procs: list[psutil.Process]) -> None:
    for pid in _alive(procs):  # only processes this test started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start(tmp_path, seconds: float):
    marks = tmp_path / "m"
    marks.mkdir()
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(marks), str(seconds)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    _wait_for_markers(marks, 2, p)
    return p, marks, psutil.Process(p.pid).children(recursive=True)


def test_an_interrupt_stops_run_tasks_within_5_seconds_and_leaves_no_worker(tmp_path):
    p, marks, tree = _start(tmp_path, 6)
    try:
        time.sleep(2.0)
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)  # to the parent only: it must stop the workers itself
        out, err = p.communicate(timeout=30)
        assert out.startswith("interrupted"), (out, err)
        assert float(out.split()[1]) - sent < 5.0, "the KeyboardInterrupt surfaced late"
        assert time.monotonic() - sent < 8.0
        assert not _wait_gone(tree, 3.0), "worker processes outlived the interrupt"
        assert len(list(marks.glob("started-*"))) == 2, "queued tasks started after the interrupt"
        assert "Traceback" not in err, err
    finally:
        _kill(tree)
        p.kill()


def test_workers_die_with_a_killed_parent(tmp_path):
    p, _, tree = _start(tmp_path, 120)
    try:
        assert len(tree) >= 2
        p.kill()  # SIGKILL: the parent cannot clean up
        p.wait()
        assert not _wait_gone(tree, 10.0), "worker processes outlived their killed parent"
    finally:
        _kill(tree)


def test_jupyter_kernel_interrupt_stops_run_tasks(tmp_path):
    """JupyterLab's Kernel -> Interrupt: ``interrupt_kernel`` sends SIGINT to the kernel's process group."""
    from jupyter_client.manager import KernelManager

    marks = tmp_path / "m"
    marks.mkdir()
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=_env(tmp_path), cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        msg_id = kc.execute(textwrap.dedent(f'''
            import marks
            from gan_helpers.runtime import run_tasks
            run_tasks(marks.mark_and_sleep, [({str(marks)!r}, i, 6) for i in range(6)], workers=2)'''))
        deadline = time.monotonic() + 120
        while len(list(marks.glob("started-*"))) < 2:
            assert time.monotonic() < deadline, "the workers never started their tasks"
            time.sleep(0.1)
        tree = [c for c in psutil.Process(km.provisioner.process.pid).children(recursive=True)
                if "resource_tracker" not in " ".join(c.cmdline())]  # multiprocessing's helper lives on with the kernel
        assert len(tree) == 2
        time.sleep(1.0)
        sent = time.monotonic()
        km.interrupt_kernel()
        while True:
            reply = kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - sent < 5.0, "the cell stopped late"
        assert not _wait_gone(tree, 3.0), "worker processes outlived the interrupt"
        assert len(list(marks.glob("started-*"))) == 2
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_nbexec_shuts_the_kernel_and_its_workers_down_on_sigterm(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    marks = tmp_path / "m"
    marks.mkdir()
    params = new_code_cell(f"folder = {str(marks)!r}  # where tasks mark their start")
    params.metadata["tags"] = ["parameters"]
    work = new_code_cell("import marks\nfrom gan_helpers.runtime import run_tasks\n"
                         "run_tasks(marks.mark_and_sleep, [(folder, i, 120) for i in range(4)], workers=2)")
    nb = new_notebook(cells=[params, work])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "sleep.ipynb")
    p = subprocess.Popen([sys.executable, "-m", "gan_helpers.tools.nbexec", str(tmp_path / "sleep.ipynb"),
                          str(tmp_path / "out.ipynb")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=_env(tmp_path))
    tree = []
    try:
        _wait_for_markers(marks, 2, p)
        tree = psutil.Process(p.pid).children(recursive=True)
        assert len(tree) >= 3, "expected the kernel and two workers"
        sent = time.monotonic()
        p.terminate()  # SIGTERM, what `timeout` and a job scheduler send
        out, err = p.communicate(timeout=30)
        assert time.monotonic() - sent < 15.0
        assert p.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err, (p.returncode, err[-2000:])
        assert not _wait_gone(tree, 5.0), f"kernel or worker processes outlived nbexec: {err[-2000:]}"
    finally:
        _kill(tree)
        p.kill()
