"""Execute a notebook with papermill, without the stall that widget cells can cause.

``python -m gan_helpers.tools.nbexec IN.ipynb OUT.ipynb [-f params.yaml] [-p name value ...]`` is a
drop-in for the ``papermill`` command line (values given with ``-p`` are read as YAML, so
``-p iterations 2000`` is an integer).

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
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

POLL_SLICE_S = 0.2


async def _sliced_get_msg(self, timeout: float | None = None) -> dict[str, Any]:
    """``AsyncZMQSocketChannel.get_msg`` with the wait cut into ``POLL_SLICE_S`` slices."""
    assert self.socket is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL_SLICE_S if deadline is None else max(0.0, min(POLL_SLICE_S, deadline - time.monotonic()))
        if await self.socket.poll(int(left * 1000)):
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


def execute_notebook(source: str | Path, target: str | Path, **kwargs: Any) -> Any:
    """``papermill.execute_notebook`` inside :func:`bounded_kernel_polls`; ``cwd`` defaults to the
    notebook's folder and the progress bar is off."""
    import papermill as pm

    kwargs.setdefault("cwd", str(Path(source).parent))
    kwargs.setdefault("progress_bar", False)
    with bounded_kernel_polls():
        return pm.execute_notebook(str(source), str(target), **kwargs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("-f", "--parameters-file", type=Path, help="YAML file of parameters (papermill -f)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = ap.parse_args(argv)
    import yaml

    if not args.input.is_file():
        ap.error(f"no notebook at {args.input}")
    params: dict[str, Any] = {}
    if args.parameters_file:
        params.update(yaml.safe_load(args.parameters_file.read_text()) or {})
    for name, value in args.parameter:
        params[name] = yaml.safe_load(value)
    execute_notebook(args.input, args.output, parameters=params, cwd=str(args.input.parent))
    print(f"[nbexec] wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
