"""Finished work survives: a per-task result cache under ``output_dir/cache/``.

:func:`gan_helpers.runtime.run_tasks` runs an experiment's independent trainings (its seeds and arms). Given a
:class:`ResultCache` (``run.cache``, which :func:`gan_helpers.notebook.setup` roots at ``output_dir/cache/``),
it writes each task's result there the moment the task finishes, and a rerun loads the finished ones instead
of training them again (it prints how many it reused). A notebook stopped after 35 of its 40 minutes then
restarts where it stopped.

**What a result is keyed by.** A task ``fn(*args)`` is found again under a key made of

* ``fn``'s qualified name (``module.qualname``; for :func:`gan_helpers.runtime.call` tasks, the function
  called is one of the arguments and is named the same way);
* a content hash of its arguments (:func:`digest`): tensors and arrays by dtype, shape and bytes;
  dataclasses by class and fields; ``nn.Module`` s by class, ``repr`` (its layers' settings) and
  ``state_dict``; dicts, lists, tuples and sets recursively; plain values by type and value; functions and
  classes by qualified name; any other object through its ``cache_key()`` method (e.g.
  :meth:`gan_helpers.selftrain.ImagePool.cache_key`). Anything else is a :class:`UnhashableArgument` error
  that names where it sits (``task 0 of train_arm: argument 3.network``), before any work, never a silent miss;
* the versions of ``gan_helpers``, torch and numpy;
* anything the caller declares with :meth:`ResultCache.depending_on` (e.g. a checkpoint file's content).

Notebook parameters are in a task's key **only through its arguments**: every parameter a training uses
reaches it as an argument, so changing, say, ``iterations`` retrains every task that receives it, while a
parameter no task receives (a plot's size, a verdict's threshold) reuses every finished training. A change
of one arm's argument retrains only that arm. The thread count is not in the key: a result trained with
another count is still a valid result of that task (bit-identical only at the same count, which a rerun with
the same settings on the same machine keeps, see :func:`~gan_helpers.runtime.run_tasks`).

**What the key cannot see** is code: editing a function of ``gan_helpers`` without changing
``gan_helpers.__version__`` leaves old results in place. Run with ``--fresh``
(``python -m gan_helpers.tools.nbexec --fresh``, ``make reproduce FRESH=1``) or set ``GAN_FRESH=1``: the
cache is then not read, and every result is trained and written anew. ``make test`` runs the notebooks
fresh.

**Format.** One file per task, ``<function>/<key>.pt``, written by ``torch.save`` into a temporary file and
renamed into place (an interrupt never leaves half a file). Reading needs ``torch.load(weights_only=False)``,
i.e. pickle: the records hold NumPy arrays and objects of this package (``SelfTraining``), which the
``weights_only`` loader refuses. A pickle can run code when loaded, so a cache is read only from the run's
own ``output_dir``; never copy someone else's ``cache/`` folder into yours. A file that cannot be read (from
an older version of a class, say) is reported in one line and trained again.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import struct
import types
from pathlib import Path, PurePath
from typing import Any, Callable

import numpy as np
import torch

KEY_FORMAT = 1          # bump when the way keys are computed changes
FRESH_ENV = "GAN_FRESH"  # "1": ignore (and overwrite) cached results
_MISSING = object()


class UnhashableArgument(TypeError):
    """A task argument without a stable content hash; the message says where it sits and what it is."""


def qualified_name(obj: Any, where: str = "the task's function") -> str:
    """``module.qualname`` of a function or class; lambdas and local functions have none that is stable."""
    module, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qual or "<lambda>" in qual or "<locals>" in qual:
        raise UnhashableArgument(f"{where} is {obj!r}, which has no stable qualified name (a lambda or a local "
                                 f"function): use a module-level function")
    return f"{module}.{qual}"


class _Hasher:
    """Feeds a canonical byte stream of a value into BLAKE2b. Objects met twice (the same training images in
    every task) are hashed once per :class:`_Hasher`: the memo is by identity and holds each object, so that
    no identity is reused by another object while the hasher lives."""

    def __init__(self):
        self._memo: dict[int, tuple[Any, bytes]] = {}

    def digest(self, value: Any, where: str) -> bytes:
        h = hashlib.blake2b(digest_size=20)
        self._feed(h, value, where)
        return h.digest()

    def _bytes(self, h, tag: bytes, data: bytes | memoryview) -> None:
        h.update(tag + struct.pack("<Q", len(data)))
        h.update(data)

    def _feed(self, h, v: Any, where: str) -> None:  # noqa: C901 (one branch per kind of value)
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            self._bytes(h, b"p" + type(v).__name__.encode(), v if isinstance(v, bytes) else repr(v).encode())
            return
        if isinstance(v, (np.generic,)):
            self._bytes(h, b"n", v.dtype.str.encode() + v.tobytes())
            return
        if isinstance(v, (PurePath, torch.device, torch.dtype)):
            self._bytes(h, b"s" + type(v).__name__.encode(), str(v).encode())
            return
        if isinstance(v, enum.Enum):
            self._bytes(h, b"e", f"{qualified_name(type(v), where)}.{v.name}".encode())
            return
        if id(v) not in self._memo:  # large shared objects (tensors, modules, dataclasses) are hashed once
            sub = hashlib.blake2b(digest_size=20)
            self._feed_object(sub, v, where)
            self._memo[id(v)] = (v, sub.digest())
        h.update(self._memo[id(v)][1])

    def _feed_object(self, h, v: Any, where: str) -> None:
        if isinstance(v, torch.Tensor):
            if v.layout != torch.strided:
                raise UnhashableArgument(f"{where} is a {v.layout} tensor: pass it dense")
            t = v.detach().to("cpu").resolve_conj().resolve_neg().contiguous()
            self._bytes(h, b"T", f"{t.dtype}{tuple(t.shape)}".encode())
            self._bytes(h, b"", t.reshape(-1).view(torch.uint8).numpy().data if t.numel() else b"")
            return
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                self._bytes(h, b"O", repr(v.shape).encode())
                self._feed(h, v.tolist(), where)
                return
            a = np.ascontiguousarray(v)
            self._bytes(h, b"A", f"{a.dtype.str}{a.shape}".encode())
            self._bytes(h, b"", a.reshape(-1).view(np.uint8).data)
            return
        if isinstance(v, torch.nn.Module):
            self._bytes(h, b"M", f"{qualified_name(type(v), where)}\n{v!r}".encode())
            self._feed(h, dict(v.state_dict()), f"{where}.state_dict()")
            return
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            self._bytes(h, b"D", qualified_name(type(v), where).encode())
            for f in dataclasses.fields(v):
                self._bytes(h, b"f", f.name.encode())
                self._feed(h, getattr(v, f.name), f"{where}.{f.name}")
            return
        if isinstance(v, dict):
            items = sorted(((self.digest(k, f"{where} key {k!r}"), k) for k in v.keys()), key=lambda t: t[0])
            self._bytes(h, b"d", struct.pack("<Q", len(items)))
            for kd, k in items:
                h.update(kd)
                self._feed(h, v[k], f"{where}[{k!r}]")
            return
        if isinstance(v, (list, tuple)):
            name = qualified_name(type(v), where) if hasattr(v, "_fields") else type(v).__name__
            self._bytes(h, b"l", f"{name}{len(v)}".encode())
            for i, x in enumerate(v):
                self._feed(h, x, f"{where}[{i}]")
            return
        if isinstance(v, (set, frozenset)):
            parts = sorted(self.digest(x, f"{where} element") for x in v)
            self._bytes(h, b"S", b"".join(parts))
            return
        if isinstance(v, (type, types.FunctionType)) or (isinstance(v, types.BuiltinFunctionType)
                                                         and isinstance(getattr(v, "__self__", None), types.ModuleType)):
            self._bytes(h, b"F", qualified_name(v, where).encode())
            return
        if callable(getattr(v, "cache_key", None)):
            self._bytes(h, b"K", qualified_name(type(v), where).encode())
            self._feed(h, v.cache_key(), f"{where}.cache_key()")
            return
        raise UnhashableArgument(
            f"{where} is a {type(v).__module__}.{type(v).__qualname__}, which has no stable content hash: pass plain "
            f"data (tensors, arrays, dataclasses, dicts, numbers, strings), or give the class a cache_key() method")


def digest(value: Any, where: str = "the value") -> str:
    """The content hash of ``value`` (hex), stable across processes and machines (see the module docstring)."""
    return _Hasher().digest(value, where).hex()


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b of a file's bytes: for :meth:`ResultCache.depending_on` when a task reads a file by its path."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def task_name(fn: Callable, args: tuple) -> str:
    """What a task is called in the cache folder: its function, or for ``call(f, args)`` tasks, ``f``."""
    from .runtime import call

    if fn is call and args and callable(args[0]):
        return qualified_name(args[0], "argument 0 (the function called)")
    return qualified_name(fn)


class ResultCache:
    """Task results on disk, one file per task, under ``root`` (see the module docstring).

    ``fresh=True`` never reads (every task runs) but still writes, so the next run reuses what this one
    finished. ``depending_on`` adds values that every key depends on."""

    def __init__(self, root: str | os.PathLike, fresh: bool = False, depending_on: dict | None = None):
        self.root, self.fresh, self.extra = Path(root), bool(fresh), dict(depending_on or {})

    def __repr__(self) -> str:
        return f"ResultCache({str(self.root)!r}{', fresh=True' if self.fresh else ''})"

    def depending_on(self, **values: Any) -> "ResultCache":
        """A cache whose keys also depend on ``values`` (what tasks use without receiving it as an argument)."""
        return ResultCache(self.root, self.fresh, {**self.extra, **values})

    def keys(self, fn: Callable, tasks: list[tuple]) -> list[str]:
        """One key per task, ``<function>/<hash>``; an argument without a content hash is an
        :class:`UnhashableArgument` naming the task and the argument, raised before any task runs."""
        from . import __version__

        hasher = _Hasher()
        fixed = hasher.digest({"format": KEY_FORMAT, "gan_helpers": __version__, "torch": torch.__version__,
                               "numpy": np.__version__, "extra": self.extra}, "depending_on")
        keys = []
        for i, args in enumerate(tasks):
            name = task_name(fn, args)
            h = hashlib.blake2b(fixed + name.encode(), digest_size=20)
            for j, a in enumerate(args):
                h.update(hasher.digest(a, f"task {i} of {name}: argument {j}"))
            keys.append(f"{name}/{h.hexdigest()}")
        return keys

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def load(self, key: str, default: Any = _MISSING) -> Any:
        """The stored result of ``key``, or ``default`` if there is none (or if the cache is fresh)."""
        p = self.path(key)
        if self.fresh or not p.is_file():
            return default
        try:
            return torch.load(p, map_location="cpu", weights_only=False)  # pickle: see the module docstring
        except Exception as e:  # an unreadable file is trained again, and said so
            print(f"[cache] {p} could not be read ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''});"
                  f" training that task again", flush=True)
            return default

    def save(self, key: str, result: Any) -> None:
        """Write ``result`` atomically: into a temporary file beside it, then renamed into place."""
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            torch.save(result, tmp)
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)


def from_environment(root: str | os.PathLike) -> ResultCache:
    """The cache a notebook gets: under ``root``, fresh when ``GAN_FRESH=1`` (set by ``--fresh``)."""
    return ResultCache(root, fresh=os.environ.get(FRESH_ENV, "") not in ("", "0"))
