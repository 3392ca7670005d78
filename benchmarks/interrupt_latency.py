"""How long Ctrl-C takes to stop :func:`gan_helpers.runtime.run_tasks`, and whether workers are left behind.

A child Python process runs ``run_tasks(time.sleep, [(6,)] * 6, workers=2)`` (six 6-second tasks on two
worker processes, the case of issue 25). After ``--after`` seconds (default 2.5) this script sends SIGINT
to that process (``--target process``, what a signal handler or a debugger sees) or to its whole process group
(``--target group``: a terminal's Ctrl-C, and JupyterLab's Kernel -> Interrupt), and reports the seconds until the
``KeyboardInterrupt`` surfaced in the child and until the child exited, and how many of its child processes
(the two workers and multiprocessing's resource tracker) were still alive 1 s later. Issue 25 measured 19.4 s
before the fix (every queued task ran first); ``interrupt_latency_cpu_2core.json`` holds this script's numbers
before and after it.

    python benchmarks/interrupt_latency.py [--after 2.5] [--repeats 3] [--target process|group]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

CHILD = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
from gan_helpers.runtime import run_tasks
print("ready", flush=True)
t0 = time.monotonic()
try:
    run_tasks(time.sleep, [(6,)] * 6, workers=2)
    print("finished", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic():.6f}", flush=True)
"""


def once(after: float, target: str) -> dict:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    p = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(after)
    children = psutil.Process(p.pid).children(recursive=True)  # the 2 workers and the resource tracker
    t_sig = time.monotonic()
    if target == "group":
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in a terminal, Jupyter's interrupt: the whole group
    else:
        os.kill(p.pid, signal.SIGINT)
    line = p.stdout.readline().strip()
    p.wait()
    t_exit = time.monotonic()
    time.sleep(1.0)
    alive = [w.pid for w in children if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    surfaced = float(line.split()[1]) - t_sig if line.startswith("interrupted") else None
    return {"children_seen": len(children), "exception_after_s": None if surfaced is None else round(surfaced, 2),
            "exit_after_s": round(t_exit - t_sig, 2), "children_alive_1s_after_exit": len(alive), "child_said": line}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--after", type=float, default=2.5, help="seconds before the interrupt")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target", choices=("process", "group"), default="process", help="who gets the SIGINT")
    args = ap.parse_args()
    runs = [once(args.after, args.target) for _ in range(args.repeats)]
    print(json.dumps({"after_s": args.after, "target": args.target, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
