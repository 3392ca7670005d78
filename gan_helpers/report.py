"""``REPORT.md``: one table of every claim of every notebook of a run, with verdicts and numbers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
    return str(v)


def evidence_text(evidence: dict[str, Any], limit: int = 300) -> str:
    s = "; ".join(f"{k} = {_fmt(v)}" for k, v in evidence.items())
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= limit else s[:limit - 3] + "..."


def build_report(run_dir: str | Path, title: str = "Reproduction report") -> Path:
    """Read ``run_dir/*/results.json`` (one folder per notebook) and write ``run_dir/REPORT.md``."""
    run_dir = Path(run_dir)
    results = sorted(run_dir.glob("*/results.json"))
    lines = [f"# {title}", "", f"Run folder: `{run_dir}`", "",
             "| notebook | claim | source | verdict | evidence (this run) |", "|---|---|---|---|---|"]
    counts: dict[str, int] = {}
    runtimes = []
    for path in results:
        doc = json.loads(path.read_text())
        nb = path.parent.name
        runtimes.append((nb, doc.get("runtime_s")))
        for c in doc.get("claims", []):
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            lines.append(f"| {nb} | {c['claim']} | {c['source']} | **{c['verdict']}** | {evidence_text(c['evidence'])} |")
    if not results:
        lines.append("| (none) | no results.json found | | | |")
    lines += ["", "Verdicts: " + (", ".join(f"{v}: {n}" for v, n in sorted(counts.items())) or "none"), "",
              "| notebook | runtime (s) |", "|---|---|"]
    lines += [f"| {nb} | {rt:.0f} |" if isinstance(rt, (int, float)) else f"| {nb} | ? |" for nb, rt in runtimes]
    out = run_dir / "REPORT.md"
    out.write_text("\n".join(lines) + "\n")
    return out
