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


OUTCOME = {1: "A better", 0: "within noise", -1: "B better"}


def per_seed_text(evidence: dict[str, Any]) -> str:
    """The claim's outcome in each seed, from its evidence's ``per_seed`` (verdicts, or +1/0/-1 of a comparison)."""
    per = evidence.get("per_seed")
    if isinstance(per, dict):
        return ", ".join(f"{k}: {v}" for k, v in per.items())
    if isinstance(per, list):
        return ", ".join(OUTCOME.get(v, str(v)) if isinstance(v, int) else str(v) for v in per)
    return ""


def build_report(run_dir: str | Path, title: str = "Reproduction report", failed: dict[str, str] | None = None) -> Path:
    """Read ``run_dir/*/results.json`` (one folder per notebook) and write ``run_dir/REPORT.md``; a notebook
    in ``failed`` (name -> where it failed and why) gets a row saying so instead of claims."""
    run_dir = Path(run_dir)
    failed = dict(failed or {})
    results = sorted(p for p in run_dir.glob("*/results.json") if p.parent.name not in failed)
    lines = [f"# {title}", "", f"Run folder: `{run_dir}`", "",
             "| notebook | claim | source | verdict | per seed | evidence (this run) |", "|---|---|---|---|---|---|"]
    counts: dict[str, int] = {}
    runtimes = []
    for path in results:
        doc = json.loads(path.read_text())
        nb = path.parent.name
        runtimes.append((nb, doc.get("runtime_s")))
        for c in doc.get("claims", []):
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            lines.append(f"| {nb} | {c['claim']} | {c['source']} | **{c['verdict']}** | {per_seed_text(c['evidence'])} "
                         f"| {evidence_text(c['evidence'])} |")
    for nb, why in sorted(failed.items()):
        lines.append(f"| {nb} | (the notebook failed; no claims) | | **failed** | | {why.replace('|', chr(92) + '|')} |")
    if not results and not failed:
        lines.append("| (none) | no results.json found | | | | |")
    lines += ["", "Verdicts: " + (", ".join(f"{v}: {n}" for v, n in sorted(counts.items())) or "none")
              + (f"; failed notebooks: {len(failed)}" if failed else ""), "",
              "| notebook | runtime (s) |", "|---|---|"]
    lines += [f"| {nb} | {rt:.0f} |" if isinstance(rt, (int, float)) else f"| {nb} | ? |" for nb, rt in runtimes]
    out = run_dir / "REPORT.md"
    out.write_text("\n".join(lines) + "\n")
    return out
