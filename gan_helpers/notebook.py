"""The setup call at the top of every notebook: parameters, checks, threads, output folder.

A notebook's first code cell (tagged ``parameters``) assigns flat values, one comment each, and a
visible smoke-scale line (pyro's convention: ``smoke = "CI" in os.environ``). Its last line,
``smoke_scale = {"iterations": 20, "seeds": [0], ...}``, says what a smoke run shrinks; :func:`setup`
applies it, so it wins over values papermill injects after the parameters cell: ``CI=1`` with
``-f configs/paper/NN.yaml`` runs the preset's code path (its data set, image size, widths, feature
network, device) at the smoke run's iterations, seeds and sample counts. The next cell calls

    run = setup(globals(), checks={...}, data_dirs=["dataset"])

which (nanoGPT's ``config_keys`` idea) collects every plain value the parameters cell assigned
into ``run.parameters`` (what ``results.json`` records), checks them against the shared
vocabulary :data:`RULES` plus the notebook's own ``checks`` **before any data is drawn or any
network trained**, sets the thread count, and prepares ``output_dir``:

* ``data_dirs`` names the parameters that hold a folder or file the notebook reads (``dataset`` when it
  is a path, a checkpoint). An ``output_dir`` that is inside such a folder, equal to it, or contains it
  is refused with one :class:`ParameterError` naming both paths (symbolic links resolved): outputs
  never mix with the data, and a second run never reads the first run's outputs as data.
  A relative data path is looked up in the kernel's folder (``notebooks/``) and, when the notebook was
  started by :mod:`gan_helpers.tools.nbexec` or ``reproduce``, in the folder the command ran from
  (:data:`CALLER_CWD`); the error for one found in neither says where it looked.
* :func:`gan_helpers.outputs.start` sets the previous run's outputs aside into ``output_dir/previous/``
  (by that run's manifest, never by pattern) and starts this run's ``MANIFEST.jsonl``; a folder holding
  files that no recorded run wrote is refused. A marker file ``INCOMPLETE`` is written first, so
  a run stopped half-way is recognisable (``results.json`` is written last, atomically, by
  :func:`gan_helpers.results.write_results`, which removes the marker).

``run.cache`` (a :class:`gan_helpers.cache.ResultCache` rooted at ``output_dir/cache/``) keeps each
finished training of :func:`gan_helpers.runtime.run_tasks`, so that a rerun with the same parameters
reuses it; ``GAN_FRESH=1`` in the environment (``--fresh`` of ``nbexec`` and ``reproduce``) ignores it.
The cache folder is not one of the run's outputs: nothing here moves or deletes it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .cache import ResultCache, from_environment
from . import outputs
from .results import to_jsonable
from .runtime import default_workers, resolve_device, set_threads

MARKER = "INCOMPLETE"
CALLER_CWD = "GAN_HELPERS_CALLER_CWD"  # set by nbexec: the folder the command was run from
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
    smoke_scale: dict[str, Any] = field(default_factory=dict)  # what the smoke run shrank (name: value set)
    cache: ResultCache | None = None  # finished tasks, under out/cache/ (gan_helpers.cache)

    def __getitem__(self, name: str) -> Any:
        return self.parameters[name]

    def savefig(self, fig, name: str, dpi: int = 100) -> Path:
        """Save a figure (or the figure of an axes) as ``output_dir/name``, recorded in the run's manifest."""
        from .plots import save_figure

        return save_figure(fig, self.out / name, dpi=dpi)


def _data_paths(namespace: dict[str, Any], params: dict[str, Any], data_dirs) -> dict[str, Path]:
    """The data paths among ``data_dirs`` (parameter names, or paths given as ``Path``): each value that is an
    existing file or folder. A relative value found only in :data:`CALLER_CWD` is made absolute there, in
    ``namespace`` and ``params`` alike."""
    found: dict[str, Path] = {}
    caller = os.environ.get(CALLER_CWD)
    for entry in data_dirs:
        if isinstance(entry, Path):
            if entry.exists():
                found[str(entry)] = entry
            continue
        value = params.get(entry)
        if not isinstance(value, str) or not value.strip():
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and not path.exists() and caller and (Path(caller) / path).exists():
            path = Path(caller) / path
            namespace[entry] = params[entry] = str(path)
        if path.exists():
            found[entry] = path
    return found


def _where_looked(check):
    """A check of a data parameter whose refusal says where a relative path was looked for."""
    def wrapped(value, params):
        why = check(value, params)
        if why and isinstance(value, str) and value.strip() and not Path(value).expanduser().is_absolute():
            places = [str(Path.cwd())] + ([os.environ[CALLER_CWD]] if os.environ.get(CALLER_CWD) else [])
            why += (f" (a relative path is looked up in {' and in '.join(places)}; {value!r} is in neither"
                    if len(places) > 1 else f" (a relative path is looked up in {places[0]}, the notebook's folder;"
                    f" {value!r} is not there") + ": give an absolute path)"
        return why
    return wrapped


def check_output_dir(output_dir: str | Path, data: dict[str, Path]) -> None:
    """One :class:`ParameterError` if ``output_dir`` is inside, equal to, or contains a data path (symbolic
    links resolved), naming both paths."""
    out = Path(os.path.realpath(Path(output_dir).expanduser()))
    problems = []
    for name, path in data.items():
        real = Path(os.path.realpath(path))
        what = "the data" if name == str(path) else name
        if real == out:
            problems.append(f"it is the folder {what} = {str(path)!r} ({real}) that this notebook reads")
        elif real in out.parents:
            problems.append(f"it is inside the folder {what} = {str(path)!r} ({real}) that this notebook reads")
        elif out in real.parents:
            problems.append(f"it contains {what} = {str(path)!r} ({real}), which this notebook reads")
    if problems:
        raise ParameterError(f"output_dir = {str(output_dir)!r} ({out}): " + "; ".join(problems)
                             + ". A run's outputs must not mix with its data (a second run would read them, and "
                               "the data's own files could be overwritten): choose an output_dir outside it. "
                               "Nothing was written.")


SMOKE_SCALE = "smoke_scale"


def apply_smoke_scale(namespace: dict[str, Any]) -> dict[str, Any]:
    """In a smoke run (the parameter ``smoke``, else ``"CI" in os.environ``), set every ``name: value`` of
    the namespace's ``smoke_scale`` dict in the namespace itself (a notebook's ``globals()``), after any
    values papermill injected; returns what it set ({} outside a smoke run). A name the parameters cell
    does not assign is a :class:`ParameterError` (a typo would otherwise leave the full value)."""
    smoke = bool(namespace.get("smoke", "CI" in os.environ))
    scale = namespace.get(SMOKE_SCALE)
    if not smoke or scale is None:
        return {}
    if not isinstance(scale, dict):
        raise ParameterError(f"{SMOKE_SCALE} = {scale!r}: must be a dict of parameter name: smoke-run value")
    unknown = sorted(k for k in scale if k not in namespace or k in (SMOKE_SCALE, "smoke"))
    if unknown:
        raise ParameterError(f"{SMOKE_SCALE} names {', '.join(map(repr, unknown))}, which the parameters cell does "
                             f"not assign (or which cannot be shrunk)")
    namespace.update(scale)
    return dict(scale)


def setup(namespace: dict[str, Any], checks: dict[str, Callable[[Any], str | None]] | None = None,
          n_tasks: int = 1, verbose: bool = True, data_dirs=()) -> Run:
    """Apply the smoke scale (:func:`apply_smoke_scale`); collect, check and record the parameters; set
    threads; prepare ``output_dir`` (see the module).

    ``n_tasks``: how many independent trainings the notebook will run (its seeds times arms), to size
    the worker pool (parameter ``workers``: 0 picks one per core). ``data_dirs``: the names of the
    parameters that hold a folder or file the notebook reads (or paths, as ``Path``)."""
    shrunk = apply_smoke_scale(namespace)
    params = collect_parameters(namespace)
    params.pop(SMOKE_SCALE, None)  # what ran is recorded: the shrunk values themselves
    data = _data_paths(namespace, params, data_dirs)
    checks = dict(checks or {})
    for name in data_dirs:
        if isinstance(name, str) and (name in checks or name in RULES):
            checks[name] = _where_looked(checks.get(name) or (lambda v, p, r=RULES[name]: r(v)))
    check_parameters(params, checks)
    out = Path(params.get("output_dir", "outputs"))
    check_output_dir(out, data)
    smoke = bool(params.get("smoke", "CI" in os.environ))
    device = resolve_device(params.get("device", "auto"))
    try:
        outputs.start(out, smoke=smoke)
    except outputs.OutputFolderError as e:
        raise ParameterError(f"output_dir = {str(out)!r}: {e}") from None
    threads = set_threads()
    w = params.get("workers", 0)
    workers = default_workers(n_tasks) if not w else min(w, max(1, n_tasks))
    if device.type != "cpu":
        workers = 1  # one accelerator: the runs take turns on it
    outputs.record(out / MARKER)
    (out / MARKER).write_text("a run started here and has not finished; results.json is written last\n")
    cache = from_environment(out / "cache")
    if verbose:
        seeds = params.get("seeds", [params.get("seed")])
        from .runtime import amp_enabled  # bf16 or float32 changes both the speed and the numbers of a run
        precision = "" if "amp" not in params else \
            f", bf16 autocast: {'on' if amp_enabled(bool(params['amp']), device) else 'off (float32)'}"
        print(f"device: {device}{precision}, torch threads: {threads}, worker processes: {workers}, "
              f"seeds: {', '.join(map(str, seeds))}"
              + (", SMOKE SCALE (the CI environment variable is set"
                 + (f"; shrunk: {', '.join(shrunk)}" if shrunk else "") + ")" if smoke else "")
              + f"; outputs in {out}/" + ("; cached results ignored (GAN_FRESH)" if cache.fresh else ""))
    return Run(to_jsonable(params), out, device, threads, workers, smoke, smoke_scale=to_jsonable(shrunk), cache=cache)


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
