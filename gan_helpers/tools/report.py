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


def build_seed_report(run_dir: str | Path, title: str = "Verdicts across seeds") -> Path:
    """Read ``run_dir/seed-<S>/<notebook>/results.json`` and write ``run_dir/SEEDS.md``: each claim's
    verdict under every seed, and whether the seeds agree. A verdict that changes with the seed rests
    on a margin smaller than the seed-to-seed spread of the run, whatever its evidence says."""
    run_dir = Path(run_dir)
    seed_dirs = sorted(run_dir.glob("seed-*"), key=lambda p: int(p.name.split("-", 1)[1]))
    seeds = [p.name.split("-", 1)[1] for p in seed_dirs]
    # (notebook, claim index) -> claim text, {seed: verdict}
    table: dict[tuple[str, int], tuple[str, dict[str, str]]] = {}
    runtimes: dict[str, dict[str, float]] = {}
    for seed, sd in zip(seeds, seed_dirs):
        for path in sorted(sd.glob("*/results.json")):
            doc = json.loads(path.read_text())
            nb = path.parent.name
            runtimes.setdefault(nb, {})[seed] = doc.get("runtime_s")
            for i, c in enumerate(doc.get("claims", [])):
                text, verdicts = table.setdefault((nb, i), (c["claim"], {}))
                if c["claim"] != text:
                    raise ValueError(f"{nb} claim {i} reads differently under seed {seed}: {c['claim']!r} vs {text!r}")
                verdicts[seed] = c["verdict"]
    lines = [f"# {title}", "", f"Run folder: `{run_dir}`; seeds {', '.join(seeds) or '(none)'}.", "",
             "| notebook | claim | " + " | ".join(f"seed {s}" for s in seeds) + " | seeds agree |",
             "|---|---|" + "---|" * len(seeds) + "---|"]
    agree = 0
    for (nb, _), (text, verdicts) in sorted(table.items()):
        same = len(verdicts) == len(seeds) and len(set(verdicts.values())) == 1
        agree += same
        cells = " | ".join(verdicts.get(s, "missing") for s in seeds)
        lines.append(f"| {nb} | {text.replace('|', chr(92) + '|')} | {cells} | {'yes' if same else '**no**'} |")
    if not table:
        lines.append("| (none) | no results.json found |" + " |" * len(seeds) + " |")
    lines += ["", f"Claims whose verdict is the same under every seed: {agree} of {len(table)}.", "",
              "| notebook | " + " | ".join(f"runtime seed {s} (s)" for s in seeds) + " |",
              "|---|" + "---|" * len(seeds)]
    lines += [f"| {nb} | " + " | ".join(f"{rt[s]:.0f}" if isinstance(rt.get(s), (int, float)) else "?" for s in seeds) + " |"
              for nb, rt in sorted(runtimes.items())]
    out = run_dir / "SEEDS.md"
    out.write_text("\n".join(lines) + "\n")
    return out
