"""Execute a notebook with papermill, without the stall that widget cells can cause.

``python -m gan_helpers.tools.nbexec IN.ipynb OUT.ipynb [-f params.yaml] [-y YAML] [-p name value] [-r name value]``
is a drop-in for the ``papermill`` command line, with papermill's own reading of values (``-p lr 1e-3`` is
the float 0.001, ``-p iterations 2000`` the integer, ``True``/``False``/``None`` themselves, anything else a
string, kept whole; ``-r`` is always a string; ``-y`` and ``-f`` are YAML) and one difference: a parameter
name that the notebook's ``parameters`` cell does not assign is an error naming it (papermill only warns,
and then runs the whole default: ``-p iteration 3`` would train the full run).

Papermill runs cells through nbclient, whose asyncio kernel client waits for each reply with
``await socket.poll(None)`` on a ZeroMQ socket (``jupyter_client.channels.AsyncZMQSocketChannel``).
ZeroMQ signals readiness through an edge-triggered file descriptor, and under CPU load a wake-up
can be lost: the reply sits in the socket and the poll never returns. Cells that send many
messages at once (ipywidgets' ``interact`` opens a dozen comms) make it likely. Measured here on
the 2-core machine with two busy processes beside it, a 7-cell notebook of ``interact`` cells
took 65-244 s per run (each stalled cell released only by a 60 s execution timeout, and never
without one); with the bounded poll below, 12 runs out of 12 took 5 s. Related reports:
jupyter/nbclient#312, jupyter/nbconvert#2029, ipython/ipykernel#1554.

The fix keeps the same semantics and polls in slices of ``POLL_SLICE_S``: every new poll
re-reads the socket's event state, so a lost edge costs at most one slice. nbval (``make test``)
uses jupyter_client's blocking client, which polls the socket directly and is not affected.

**Stopping.** A kernel runs in its own process group (jupyter_client starts it in a new session), with the
worker processes of :func:`gan_helpers.runtime.run_tasks` inside that group. papermill's synchronous
client installs no signal handlers, so a SIGTERM (``timeout``, a job scheduler) used to end nbexec alone,
and the kernel only noticed a second later that its parent was gone. :func:`execute_notebook` therefore
records the process group of every kernel it starts, and on SIGTERM or SIGINT (Ctrl-C) sends the group
SIGTERM, waits for the kernel to exit (at most ``KILL_GRACE_S`` seconds), sends SIGKILL to whatever is left
in the group, and raises :class:`Stopped`; the
command exits with 128 + the signal's number. The workers also die with their parent by themselves
(:func:`gan_helpers.runtime._die_with_parent`).

``--fresh`` sets ``GAN_FRESH=1`` for the kernel: the notebook's result cache (``output_dir/cache/``,
:mod:`gan_helpers.cache`) is then not read, and every task is trained and written anew.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

POLL_SLICE_S = 0.2
KILL_GRACE_S = 3.0
_KERNELS: list[tuple[Any, int | None]] = []  # (Popen, process group) of each kernel started here and running


async def _sliced_get_msg(self, timeout: float | None = None) -> dict[str, Any]:
    """``AsyncZMQSocketChannel.get_msg`` with the wait cut into ``POLL_SLICE_S`` slices."""
    assert self.socket is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL_SLICE_S if deadline is None else max(0.0, min(POLL_SLICE_S, deadline - time.monotonic()))
        if await self.socket.poll(math.ceil(left * 1000)):  # ceil: a last fraction of a millisecond is waited, not spun
            return await self._recv()
        if deadline is not None and time.monotonic() >= deadline:
            raise Empty


@contextlib.contextmanager
def bounded_kernel_polls() -> Iterator[None]:
    """Within the block, nbclient's kernel client polls in bounded slices (see module docstring)."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg
    AsyncZMQSocketChannel.get_msg = _sliced_get_msg
    try:
        yield
    finally:
        AsyncZMQSocketChannel.get_msg = original


class Stopped(KeyboardInterrupt):
    """nbexec got SIGTERM or SIGINT and shut its kernels down (their process groups are gone)."""

    def __init__(self, signum: int):
        import signal

        super().__init__(f"stopped by {signal.Signals(signum).name}: the kernel and its processes were shut down")
        self.signum = signum


def kill_kernels(grace_s: float | None = None) -> None:
    """Stop every kernel started here that is still running: SIGTERM to its process group, up to ``grace_s``
    seconds (default ``KILL_GRACE_S``) for the kernel to exit, then SIGKILL to whatever is left in the group
    (a worker, multiprocessing's resource tracker, which ignores SIGTERM)."""
    import os
    import signal
    import subprocess

    grace_s = KILL_GRACE_S if grace_s is None else grace_s
    kernels = [(p, g) for p, g in _KERNELS if p.poll() is None]
    _KERNELS.clear()
    deadline = time.monotonic() + grace_s
    for sig in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
        for proc, pgid in kernels:
            try:
                os.killpg(pgid, sig) if pgid and hasattr(os, "killpg") else proc.send_signal(sig)
            except (ProcessLookupError, PermissionError):
                pass
            if sig == signal.SIGTERM:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
    for proc, _ in kernels:
        proc.wait()  # reap it: SIGKILL cannot be refused


@contextlib.contextmanager
def kernels_stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT kill the kernels started here (:func:`kill_kernels`) and raise
    :class:`Stopped`; on the way out any kernel still alive is killed too. Outside the main thread (where
    Python cannot set signal handlers) only the latter."""
    import signal
    import threading

    def handler(signum: int, frame: Any) -> None:
        for s in old:
            signal.signal(s, signal.SIG_IGN)  # a second signal while stopping changes nothing
        kill_kernels()
        raise Stopped(signum)

    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        kill_kernels()


class UnknownParameterError(ValueError):
    """A parameter given for a notebook whose parameters cell does not assign it."""


def parameter_names(notebook: str | Path) -> set[str]:
    """The names the notebook's cell tagged ``parameters`` assigns (at any depth of its top-level statements)."""
    import ast

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise UnknownParameterError(f"{notebook} has no cell tagged 'parameters'; it takes no parameters")
    names: set[str] = set()
    for node in ast.walk(ast.parse(cells[0].source)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def check_parameter_names(notebook: str | Path, parameters: dict[str, Any]) -> None:
    """One :class:`UnknownParameterError` naming every parameter the notebook does not have (with the
    closest names it does have)."""
    import difflib

    known = parameter_names(notebook)
    unknown = sorted(set(parameters) - known)
    if unknown:
        hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, known, 1)) else "")
                 for u in unknown]
        raise UnknownParameterError(f"{Path(notebook).name} has no parameter {', '.join(hints)}; "
                                    f"its parameters are: {', '.join(sorted(known))}")


def resolve_value(value: str) -> Any:
    """A ``-p`` value as the papermill command line reads it (``papermill.cli._resolve_type``)."""
    from papermill.cli import _resolve_type

    return _resolve_type(value)


def encrypted_kernel_manager() -> type:
    """nbclient's ``AsyncKernelManager`` with CurveZMQ transport encryption where the kernel declares support
    (``transport_encryption = "auto"``; ipykernel's kernelspec does): the kernel then no longer warns on every
    start that it runs over TCP without encryption, because it does not. Each kernel's process and process
    group are recorded when it starts, so that :func:`kill_kernels` can stop it and its workers."""
    import zmq
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypt_when_supported(self) -> str:
            return "auto" if zmq.has("curve") else "disabled"

        async def start_kernel(self, **kw: Any) -> None:
            await super().start_kernel(**kw)
            prov = self.provisioner
            _KERNELS.append((prov.process, getattr(prov, "pgid", None)))

    return EncryptedKernelManager


def execute_notebook(source: str | Path, target: str | Path, fresh: bool = False, **kwargs: Any) -> Any:
    """``papermill.execute_notebook`` inside :func:`bounded_kernel_polls` and :func:`kernels_stop_on_signals`,
    after refusing parameters the notebook does not have; ``cwd`` defaults to the notebook's folder, the progress
    bar is off, the output notebook's folder is created, and the kernel's transport is encrypted
    (:func:`encrypted_kernel_manager`). ``fresh``: the kernel ignores (and overwrites) cached task results. The
    kernel learns the folder this command runs from (``GAN_HELPERS_CALLER_CWD``), so that a relative data path
    given on the command line is found there (:func:`gan_helpers.notebook.setup`)."""
    import os

    import papermill as pm

    from ..cache import FRESH_ENV

    check_parameter_names(source, kwargs.get("parameters") or {})
    kwargs.setdefault("cwd", str(Path(source).parent))
    kwargs.setdefault("progress_bar", False)
    kwargs.setdefault("kernel_manager_class", encrypted_kernel_manager())
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in (FRESH_ENV, "GAN_HELPERS_CALLER_CWD")}
    if fresh:
        os.environ[FRESH_ENV] = "1"  # the kernel inherits this process's environment
    os.environ["GAN_HELPERS_CALLER_CWD"] = saved["GAN_HELPERS_CALLER_CWD"] or os.getcwd()
    try:
        with bounded_kernel_polls(), kernels_stop_on_signals():
            return pm.execute_notebook(str(source), str(target), **kwargs)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def read_parameters(files=(), yamls=(), plain=(), raw=()) -> dict[str, Any]:
    """Parameters from ``-f`` files, ``-y`` YAML strings, ``-p`` and ``-r`` pairs, in papermill's order
    (later ones win). A missing or non-mapping file is a ``ValueError`` naming it."""
    import yaml

    params: dict[str, Any] = {}
    for f in files:
        if not Path(f).is_file():
            raise ValueError(f"parameters file {str(f)!r} does not exist")
        doc = yaml.safe_load(Path(f).read_text()) or {}
        if not isinstance(doc, dict):
            raise ValueError(f"parameters file {str(f)!r} must hold a mapping of name: value, not a {type(doc).__name__}")
        params.update(doc)
    for y in yamls:
        params.update(yaml.safe_load(y) or {})
    params.update({k: resolve_value(v) for k, v in plain})
    params.update(dict(raw))
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("-f", "--parameters-file", action="append", default=[], help="YAML file of parameters (papermill -f)")
    ap.add_argument("-y", "--parameters-yaml", action="append", default=[], help="YAML string of parameters")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter, read as papermill reads it (int, float, True/False/None, else a string)")
    ap.add_argument("-r", "--parameter-raw", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter kept as a string")
    ap.add_argument("--fresh", action="store_true",
                    help="ignore (and overwrite) the task results cached under output_dir/cache/")
    args = ap.parse_args(argv)
    if not args.input.is_file():
        ap.error(f"no notebook at {args.input}")
    try:
        params = read_parameters(args.parameters_file, args.parameters_yaml, args.parameter, args.parameter_raw)
        check_parameter_names(args.input, params)
    except ValueError as e:
        ap.error(str(e))
    try:
        execute_notebook(args.input, args.output, fresh=args.fresh, parameters=params, cwd=str(args.input.parent))
    except Stopped as e:
        print(f"[nbexec] {e}", file=sys.stderr, flush=True)
        return 128 + e.signum
    print(f"[nbexec] wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
