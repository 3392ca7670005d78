"""Device choice, seeding and thread settings shared by every notebook."""
from __future__ import annotations

import os
import pickle
import random
import warnings
from pathlib import Path

import numpy as np
import torch


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``.

    Asking for a device that is not there is an error that says so, not a crash later on.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for, but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"device={device!r} was asked for, but MPS is not available; use device='auto' or 'cpu'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Use ``n`` intra-op threads. Default: ``OMP_NUM_THREADS`` if set (e.g. 1 when several jobs share
    the cores; oversubscribed OpenMP threads can slow training many-fold), else the CPUs this
    process may use. Returns the number set."""
    if n is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        n = int(os.environ["OMP_NUM_THREADS"])
    if n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def amp_enabled(amp: bool, device: torch.device) -> bool:
    """bf16 autocast only where the hardware runs bf16 natively: CUDA GPUs with bf16 support, and CPUs
    whose oneDNN reports bf16 (AVX512-BF16 or AMX). Elsewhere bf16 is emulated and slower, so ``amp``
    is ignored there and the run stays in float32."""
    if not amp:
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, empty, truncated, not a checkpoint, holding objects
    this repository never writes, or made for other models; the message names the file and the cause."""


def _pickle_globals(data: bytes) -> list[str]:
    """The ``module.name`` globals a pickle stream (or several, back to back) asks for, read with
    :mod:`pickletools` (which only parses: nothing is imported or run)."""
    import io
    import pickletools

    found: list[str] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        strings: list[str] = []
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    found.append(arg.replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str):
                    strings.append(arg)
        except Exception:  # the end of the pickles, or bytes that are not one (a tensor's raw data)
            break
    return list(dict.fromkeys(found))


def _blocked_global(path, message: str) -> str | None:
    """The global that ``weights_only`` refused: from torch's message, or else the first one in the pickle
    that torch's allowlist lacks."""
    import re
    import zipfile

    m = re.search(r"GLOBAL ([\w.]+)", message)
    if m:
        return m.group(1)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        else:
            data = Path(path).read_bytes()
    except Exception:
        return None
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = set(_get_allowed_globals())
    blocked = [g for g in _pickle_globals(data) if g not in allowed]
    return blocked[0] if blocked else None


def load_checkpoint(path, required: tuple[str, ...] = ()) -> dict:
    """``torch.load(path, weights_only=True)`` with errors that name the file and the cause.

    ``weights_only=True`` unpickles only tensors and plain Python values, so a crafted file cannot run
    code (a checkpoint is a file users download). A missing, empty (0 bytes), truncated or damaged file, one
    that is not a PyTorch checkpoint at all, one holding Python objects this repository never writes (the
    refused global is named; it is never loaded), or one without the ``required`` keys, raises
    :class:`CheckpointError` naming the file and what is wrong."""
    path = Path(path)
    name = repr(str(path))
    if not path.exists():
        raise CheckpointError(f"checkpoint {name} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {name} is a folder, not a checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {name} is empty (0 bytes): a download or copy that did not finish?")
    with open(path, "rb") as f:
        head = f.read(8)
    is_zip, is_pickle = head.startswith(b"PK\x03\x04"), head[:1] == b"\x80"
    if not (is_zip or is_pickle):
        raise CheckpointError(f"{name} is not a PyTorch checkpoint: it starts with {head!r}, not with the zip archive "
                              f"(or pickle) that torch.save writes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on pickle protocols: the error below says what matters
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            blocked = _blocked_global(path, str(e))
            what = f"it asks for {blocked}" if blocked else "it holds more than tensors and plain values"
            raise CheckpointError(
                f"{name} holds Python objects that this repository never writes ({what}); it was refused "
                f"and nothing in it ran. Checkpoints of gan_helpers (GANTrainer.save, a model's "
                f"state_dict) hold only tensors and plain values: use one of those.") from None
        raise CheckpointError(f"{name} is truncated or damaged: its pickle cannot be read ({str(e).splitlines()[0][:120]})") from None
    except (EOFError, OSError, RuntimeError) as e:
        kind = "a zip archive, the format torch.save writes," if is_zip else "a pickle"
        detail = str(e).split(". ")[0].splitlines()[0][:120] if str(e) else type(e).__name__
        raise CheckpointError(f"{name} is truncated or damaged: {kind} that cannot be read to its end "
                              f"({size:,} bytes; {detail})") from None
    except Exception as e:  # anything else torch raises on a foreign file
        raise CheckpointError(f"{name} is not a readable checkpoint ({type(e).__name__}: "
                              f"{(str(e).splitlines() or [''])[0][:200]})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{name} holds a {type(state).__name__}, not a checkpoint dictionary")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{name} is not a checkpoint of this kind: it lacks {missing}")
    return state


def _init_worker(threads: int, parent: int) -> None:
    """Set up a worker process of :func:`run_tasks`: its thread count, no reaction to Ctrl-C (its parent
    stops it), and death with its parent (:func:`_die_with_parent`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent gets the KeyboardInterrupt and terminates us
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked (see _sigint_blocked): a pending one is dropped
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Make this process exit when ``parent`` dies, so that no training outlives a killed notebook.

    On Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (prctl(2)). Elsewhere a daemon thread
    polls every ``poll_s`` seconds whether the process was re-parented (the parent is gone) and exits then.
    A parent that died before this ran is caught by the check that follows. (Linux sends the signal when the
    parent *thread* that started the worker ends; that thread waits inside :func:`run_tasks` until its
    workers are done.)"""
    import signal
    import sys

    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    if not armed:
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(poll_s)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def default_workers(n_tasks: int) -> int:
    """Worker processes for ``n_tasks`` independent trainings: one per core the process may use (at most
    one per task). ``GAN_WORKERS`` in the environment overrides it (1: everything in this process)."""
    env = os.environ.get("GAN_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return min(int(env), max(1, n_tasks))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_tasks))


def call(fn, args: tuple):
    """``fn(*args)``: lets :func:`run_tasks` run tasks of different functions, ``[(fn, args), ...]``."""
    return fn(*args)


class _sigint_blocked:
    """Within the block SIGINT stays pending for this thread, and processes started inherit the blocked signal
    (through fork and exec), so that Ctrl-C while workers import torch reaches only the parent, which then
    terminates them; :func:`_init_worker` ignores and unblocks it. A Ctrl-C in the block is delivered at its
    end, not lost. CPython's ``multiprocessing.resource_tracker`` starts its process the same way."""

    def __enter__(self):
        import signal

        self.mask = hasattr(signal, "pthread_sigmask")
        if self.mask:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc):
        import signal

        if self.mask:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _stop_pool(pool, grace_s: float = 2.0) -> None:
    """Cancel what ``pool`` has not started, terminate its workers (SIGTERM, then SIGKILL after ``grace_s``)
    and reap them: nothing it started is left running."""
    import time

    processes = list((getattr(pool, "_processes", None) or {}).values())  # not a public attribute before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


def run_tasks(fn, tasks: list[tuple], workers: int | None = None, cost: list[float] | None = None,
              progress: bool = False, desc: str = "runs", cache=None) -> list:
    """``[fn(*t) for t in tasks]``, the independent trainings of an experiment (its seeds and arms) spread
    over worker processes.

    Small convolutions do not use two cores well: on the 2-core development machine, two single-threaded
    trainings side by side made 1.3-1.7x the iterations per second of one training on two threads
    (``benchmarks/train_throughput.py``). So with ``workers`` > 1 each task runs in a fresh ("spawn")
    process with ``cores // workers`` threads, the costliest first (``cost``: one estimate per task);
    results come back in task order. ``workers=1`` runs everything here, in order. ``fn`` must be
    importable (a module-level function of ``gan_helpers``), and its arguments and result picklable.
    A task's result depends on its seed, the machine and its thread count, not on which worker ran it.

    **Stopping.** A ``KeyboardInterrupt`` (Ctrl-C, JupyterLab's Kernel -> Interrupt) or an exception from a
    task cancels the queued tasks, terminates the running workers and is re-raised, within seconds
    (``benchmarks/interrupt_latency.py``). Workers ignore Ctrl-C themselves (their parent stops them) and die
    with their parent if it is killed (:func:`_die_with_parent`).

    **Cache.** With ``cache`` (a :class:`gan_helpers.cache.ResultCache`, ``run.cache`` in a notebook) each
    task's result is written as it finishes, and tasks already there are loaded instead of run (one line
    says how many). The worker count and threads per worker are decided from all the tasks, as without a
    cache, so a task trained on a rerun gets the thread count it would have had.
    """
    workers = default_workers(len(tasks)) if workers is None else max(1, min(workers, len(tasks)))
    from tqdm.auto import tqdm

    results: list = [None] * len(tasks)
    todo = list(range(len(tasks)))
    keys: list[str] = []
    if cache is not None:
        from .cache import _MISSING

        keys = cache.keys(fn, tasks)  # an argument without a content hash is an error here, before any work
        todo = []
        for i in range(len(tasks)):
            results[i] = cache.load(keys[i], _MISSING)
            if results[i] is _MISSING:
                todo.append(i)
        reused = len(tasks) - len(todo)
        if reused:
            names = ", ".join(sorted({k.split("/")[0].rsplit(".", 1)[-1] for k in keys}))
            print(f"[cache] reused {reused} of {len(tasks)} finished tasks ({names}) from {cache.root}/; "
                  f"{len(todo)} to run", flush=True)

    finished: set[int] = set()

    def done(i: int, result) -> None:
        results[i] = result
        finished.add(i)
        if cache is not None:
            cache.save(keys[i], result)

    bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo)
    try:
        if workers == 1:
            for i in todo:
                done(i, fn(*tasks[i]))
                bar.update(1)
            return results
        if not todo:
            return results
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // workers)
        order = sorted(todo, key=lambda i: -(cost[i] if cost else 0.0))
        pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads, os.getpid()))
        futures: dict = {}
        try:
            with _sigint_blocked():  # submit() starts the worker processes
                futures = {pool.submit(fn, *tasks[i]): i for i in order}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
                bar.update(1)
        except BaseException:  # KeyboardInterrupt, a task's exception, a worker that died: stop everything
            _stop_pool(pool)
            if cache is not None:  # keep what finished while the loop was not looking
                for fut, i in futures.items():
                    if i not in finished and fut.done() and not fut.cancelled() and fut.exception() is None:
                        done(i, fut.result())
            raise
        pool.shutdown(wait=True)
        return results
    finally:
        bar.close()
