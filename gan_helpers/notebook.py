"""The setup call at the top of every notebook: parameters, checks, threads, output folder.

A notebook's first code cell (tagged ``parameters``) assigns flat values, one comment each, and a
visible smoke-scale line (pyro's convention: ``smoke = "CI" in os.environ``). The next cell calls

    run = setup(globals(), checks={...})

which (nanoGPT's ``config_keys`` idea) collects every plain value the parameters cell assigned
into ``run.parameters`` (what ``results.json`` records), checks them against the shared
vocabulary :data:`RULES` plus the notebook's own ``checks`` **before any data is drawn or any
network trained**, sets the thread count, and prepares ``output_dir``: a marker file
``INCOMPLETE`` is written first and a previous run's ``results.json`` removed, so that a run
stopped half-way never leaves new outputs beside old results (``results.json`` is written last,
atomically, by :func:`gan_helpers.results.write_results`, which removes the marker).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .results import to_jsonable
from .runtime import default_workers, resolve_device, set_threads

MARKER = "INCOMPLETE"
_IPYTHON_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open", "display"}


class ParameterError(ValueError):
    """A notebook parameter with a value it cannot take; the message names it and what is allowed."""


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], str | None]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return f"an integer{'' if lo is None else f' >= {lo}'}{'' if hi is None else f' and <= {hi}'}"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"an integer{'' if lo is None else f' >= {lo}'}{'' if hi is None else f' and <= {hi}'}"
        return None
    return check


def _number(lo: float, hi: float | None = None, lo_open: bool = True, hi_open: bool = False):
    def check(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        ok = ok and (v > lo if lo_open else v >= lo) and (hi is None or (v < hi if hi_open else v <= hi))
        if not ok:
            left = "(" if lo_open else "["
            right = ")" if (hi is None or hi_open) else "]"
            return f"a number in {left}{lo}, {'inf' if hi is None else hi}{right}"
        return None
    return check


def _one_of(*allowed):
    def check(v):
        return None if v in allowed else f"one of {list(allowed)}"
    return check


def _list_of(item: Callable[[Any], str | None], distinct: bool = True, non_empty: bool = True):
    def check(v):
        if not isinstance(v, (list, tuple)) or (non_empty and not v):
            return "a non-empty list" + (" of distinct values" if distinct else "")
        for x in v:
            why = item(x)
            if why:
                return f"a list whose every entry is {why} (got {x!r})"
        if distinct and len(set(v)) != len(v):
            return "a list of distinct values"
        return None
    return check


def _device(v):
    if v in ("auto", "cpu", "mps") or (isinstance(v, str) and v.split(":")[0] == "cuda"):
        return None
    return "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _policy(v):
    from .augment import parse_policy

    try:
        parse_policy(v)
    except (ValueError, AttributeError):
        return "a comma-separated subset of 'color,translation,cutout', or '' for none"
    return None


# The shared parameter vocabulary: every notebook uses these names with these meanings.
RULES: dict[str, Callable[[Any], str | None]] = {
    "iterations": _int(1),
    "seeds": _list_of(_int(0)),
    "seed": _int(0),
    "image_size": _one_of(32, 64),
    "batch_size": _int(2),
    "n_train": _int(2),
    "n_eval_samples": _int(10),
    "n_reference": _int(10),
    "ngf": _int(1),
    "ndf": _int(1),
    "nz": _int(1),
    "lr": _number(0.0),
    "lr_g": _number(0.0),
    "lr_d": _number(0.0),
    "beta1": _number(0.0, 1.0, lo_open=False, hi_open=True),
    "ema_decay": _number(0.0, 1.0, lo_open=False, hi_open=True),
    "g_steps_per_d_step": _int(1),
    "d_steps_per_g_step": _int(1),
    "ratios": _list_of(_int(1)),
    "eval_every": _int(1),
    "augment": _policy,
    "device": _device,
    "amp": _one_of(True, False),
    "progress": _one_of(True, False),
    "workers": _int(0),
    "output_dir": lambda v: None if isinstance(v, str) and v.strip() else "a non-empty folder path",
}


def check_parameters(params: dict[str, Any], checks: dict[str, Callable[[Any, dict], str | None]] | None = None) -> None:
    """Raise one :class:`ParameterError` naming every parameter whose value is not allowed.

    ``checks``: the notebook's own rules, ``name -> f(value, params) -> None or what is allowed``;
    they may look at the other parameters (``len(arm_iterations) == len(ratios)``)."""
    problems = []
    for name, value in params.items():
        why = None
        if name in (checks or {}):
            why = checks[name](value, params)
        elif name in RULES:
            why = RULES[name](value)
        if why:
            problems.append(f"{name} = {value!r}: must be {why}")
    if problems:
        raise ParameterError("invalid parameter" + ("s" if len(problems) > 1 else "") + ": " + "; ".join(problems))


def collect_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """Every plain value the parameters cell assigned: names not starting with ``_``, of type bool,
    int, float, str, None, or lists/tuples/dicts of those (modules, functions and IPython's own
    names are left out)."""
    def plain(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return True
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        return False
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _IPYTHON_NAMES and plain(v)}


@dataclass
class Run:
    """What :func:`setup` returns: the checked parameters and the run's environment."""

    parameters: dict[str, Any]
    out: Path
    device: torch.device
    threads: int
    workers: int
    smoke: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.parameters[name]


def setup(namespace: dict[str, Any], checks: dict[str, Callable[[Any], str | None]] | None = None,
          n_tasks: int = 1, verbose: bool = True) -> Run:
    """Collect, check and record the parameters; set threads; prepare ``output_dir`` (see the module).

    ``n_tasks``: how many independent trainings the notebook will run (its seeds times arms), to size
    the worker pool (parameter ``workers``: 0 picks one per core)."""
    params = collect_parameters(namespace)
    check_parameters(params, checks)
    device = resolve_device(params.get("device", "auto"))
    threads = set_threads()
    w = params.get("workers", 0)
    workers = default_workers(n_tasks) if not w else min(w, max(1, n_tasks))
    if device.type != "cpu":
        workers = 1  # one accelerator: the runs take turns on it
    out = Path(params.get("output_dir", "outputs"))
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("a run started here and has not finished; results.json is written last\n")
    stale = out / "results.json"
    if stale.exists():
        stale.unlink()  # a previous run's results must not sit beside this run's new files
    smoke = bool(params.get("smoke", "CI" in os.environ))
    if verbose:
        seeds = params.get("seeds", [params.get("seed")])
        print(f"device: {device}, torch threads: {threads}, worker processes: {workers}, seeds: {', '.join(map(str, seeds))}"
              + (", SMOKE SCALE (the CI environment variable is set)" if smoke else "")
              + f"; outputs in {out}/")
    return Run(to_jsonable(params), out, device, threads, workers, smoke)


def require(condition: bool, message: str) -> None:
    """A check that needs the data (``batch_size`` against the number of images read from a folder):
    one :class:`ParameterError` with ``message``, before any network is trained."""
    if not condition:
        raise ParameterError(message)


int_rule, number_rule = _int, _number  # building blocks for a notebook's own checks


def list_of(item: Callable[[Any], str | None], length_of: str | None = None, distinct: bool = False):
    """A notebook check: a list whose entries pass ``item`` (a rule of :data:`RULES` or like them), as
    long as the parameter ``length_of`` if given."""
    inner = _list_of(item, distinct=distinct)

    def check(v, params):
        why = inner(v)
        if why is None and length_of and len(v) != len(params.get(length_of, [])):
            return f"a list with one entry per entry of {length_of} ({len(params.get(length_of, []))})"
        return why
    return check


def number(lo: float, hi: float | None = None, lo_open: bool = True, hi_open: bool = False):
    """A notebook check: a number in the given range."""
    rule = _number(lo, hi, lo_open, hi_open)
    return lambda v, params: rule(v)


def integer(lo: int | None = None, hi: int | None = None):
    """A notebook check: an integer in the given range."""
    rule = _int(lo, hi)
    return lambda v, params: rule(v)


def one_of(*allowed):
    rule = _one_of(*allowed)
    return lambda v, params: rule(v)
