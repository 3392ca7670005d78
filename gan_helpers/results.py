"""The results contract every notebook follows: ``output_dir/results.json``.

It holds ``parameters``, ``runtime_s`` (seconds from the notebook's setup cell to this file), ``scale``
(``"smoke"`` for a CI-sized run, else ``"full"``), ``claims`` (each ``{key, claim, source, verdict, evidence}``,
as :func:`gan_helpers.claims.judge` returns them) and the notebook's own keys. A verdict is computed from the
run's numbers by the claims engine, never typed in.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import outputs
from .claims import VERDICTS


def verdict(holds: bool | None, partly: bool = False) -> str:
    """``holds`` / ``partly`` / ``does not hold`` from booleans; ``None`` means inconclusive."""
    if holds is None:
        return "inconclusive"
    if holds:
        return "holds"
    return "partly" if partly else "does not hold"


def claim(claim: str, source: str, verdict: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """One claim of the document with this run's verdict and the numbers it rests on."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if not evidence:
        raise ValueError(f"claim {claim!r} has no evidence; a verdict must rest on numbers")
    return {"claim": claim, "source": source, "verdict": verdict, "evidence": to_jsonable(evidence)}


def to_jsonable(obj: Any) -> Any:
    """NumPy/torch scalars and arrays, tuples, paths and non-finite floats -> plain JSON values
    (NaN and infinities become ``None``). Floats are rounded to 6 significant digits so that
    reruns diff cleanly."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return float(f"{x:.6g}") if math.isfinite(x) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_results(output_dir: str | Path, parameters: dict[str, Any], runtime_s: float,
                  claims: list[dict[str, Any]], **extra: Any) -> Path:
    """Validate and write ``output_dir/results.json``; returns its path."""
    for c in claims:
        if not {"claim", "source", "verdict", "evidence"} <= set(c) <= {"key", "claim", "source", "verdict", "evidence"} \
                or c["verdict"] not in VERDICTS:
            raise ValueError(f"malformed claim: {c!r}; judge claims with gan_helpers.claims.judge")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = outputs.active()
    smoke = bool(parameters.get("smoke", False)) or bool(m is not None and m.smoke and m.real == out.resolve())
    doc = {"parameters": parameters, "runtime_s": runtime_s, "scale": "smoke" if smoke else "full", "claims": claims, **extra}
    path = out / "results.json"
    tmp = out / "results.json.tmp"
    outputs.record(path, tmp)
    tmp.write_text(json.dumps(to_jsonable(doc), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)  # atomic: a reader sees the old file or the whole new one
    (out / "INCOMPLETE").unlink(missing_ok=True)  # the marker gan_helpers.notebook.setup wrote
    return path


def notebook_parameters(namespace: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The values of the parameters cell's names, from a notebook's ``globals()``."""
    return {n: to_jsonable(namespace[n]) for n in names}
