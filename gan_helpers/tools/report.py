"""``REPORT.md``: one table of every claim of every notebook of a run, with verdicts and numbers.

A run at smoke scale (``CI`` set: a few iterations, one seed; ``results.json`` says ``"scale": "smoke"``)
gets a banner at the top, and each of its verdicts reads "holds (smoke)": such a verdict tests the code
path, not the claim. The runtime table has one figure per notebook, :data:`RUNTIME`: the wall-clock
seconds that the runner (:mod:`gan_helpers.tools.reproduce`) measured and printed for executing the
notebook, kernel start to last cell.
"""
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


RUNTIME = ("wall-clock (s)", "seconds the runner measured for executing the notebook, kernel start to last "
                             "cell, as it printed them")


def evidence_text(evidence: dict[str, Any], limit: int = 300) -> str:
    """The evidence as ``key = value; ...`` within ``limit`` characters, cut only between words (between two
    entries where that keeps two thirds of it)."""
    s = "; ".join(f"{k} = {_fmt(v)}" for k, v in evidence.items()).replace("\n", " ")
    if len(s) > limit:
        cut = s.rfind("; ", 0, limit - 3)
        if cut < 2 * limit // 3:
            cut = s.rfind(" ", 0, limit - 3)
        s = s[:cut if cut > 0 else limit - 3].rstrip(" ;,=") + " ..."
    return s.replace("|", "\\|")


def is_smoke(doc: dict[str, Any]) -> bool:
    """Whether a ``results.json`` comes from a smoke-scale run."""
    return doc.get("scale") == "smoke" or bool((doc.get("parameters") or {}).get("smoke"))


OUTCOME = {1: "A better", 0: "within noise", -1: "B better"}


def per_seed_text(evidence: dict[str, Any]) -> str:
    """The claim's outcome in each seed, from its evidence's ``per_seed`` (the claims engine: seed -> outcome), or,
    for a claim judged at several settings, each setting's verdict and its seeds' outcomes."""
    if "per_setting" in evidence:
        return "; ".join(f"{label}: {v} ({per_seed_text(evidence.get(label, {}))})"
                         for label, v in evidence["per_setting"].items())
    per = evidence.get("per_seed")
    if isinstance(per, dict):
        return ", ".join(f"{k}: {v}" for k, v in per.items())
    if isinstance(per, list):
        return ", ".join(OUTCOME.get(v, str(v)) if isinstance(v, int) else str(v) for v in per)
    missing = evidence.get("not_testable")
    if isinstance(missing, dict):
        return "; ".join(f"{k}: {v}" for k, v in missing.items())
    return ""


def test_text(evidence: dict[str, Any]) -> str:
    """The declared test of a claim and the thresholds it reads (name = value), from the engine's evidence."""
    tests = evidence.get("test") or {}
    t = "; ".join(f"{k}: {v}" if k != "all" else str(v) for k, v in tests.items())
    th = ", ".join(f"{k} = {_fmt(v)}" for k, v in (evidence.get("thresholds") or {}).items())
    return (t + (f" [{th}]" if th else "")).replace("|", "\\|")


def build_report(run_dir: str | Path, title: str = "Reproduction report", failed: dict[str, str] | None = None,
                 runtimes: dict[str, float] | None = None) -> Path:
    """Read ``run_dir/*/results.json`` (one folder per notebook) and write ``run_dir/REPORT.md``; a notebook
    in ``failed`` (name -> where it failed and why) gets a row saying so instead of claims. ``runtimes``:
    notebook -> seconds as the runner measured them (:data:`RUNTIME`); without them, ``run_dir/runtimes.json``
    if the runner left one."""
    run_dir = Path(run_dir)
    failed = dict(failed or {})
    if runtimes is None and (run_dir / "runtimes.json").is_file():
        runtimes = json.loads((run_dir / "runtimes.json").read_text())
    runtimes = dict(runtimes or {})
    results = sorted(p for p in run_dir.glob("*/results.json") if p.parent.name not in failed)
    docs = {p.parent.name: json.loads(p.read_text()) for p in results}
    smoke = sorted(nb for nb, doc in docs.items() if is_smoke(doc))
    lines = [f"# {title}", "", f"Run folder: `{run_dir}`", ""]
    if smoke:
        lines += [f"> **Smoke-scale run** ({', '.join(smoke) if len(smoke) < len(docs) else 'every notebook'}): the CI "
                  "environment variable was set, so each notebook ran a few iterations on one seed. Its verdicts, "
                  "marked (smoke), test the code path, not the claims: run `make reproduce` without CI for real "
                  "verdicts.", ""]
    lines += ["| notebook | claim | source | test [thresholds] | verdict | per seed | evidence (this run) |",
              "|---|---|---|---|---|---|---|"]
    counts: dict[str, int] = {}
    for nb, doc in docs.items():
        tag = " (smoke)" if nb in smoke else ""
        for c in doc.get("claims", []):
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            ev = {k: v for k, v in c["evidence"].items() if k not in ("test", "thresholds")}
            lines.append(f"| {nb} | {c['claim']} | {c['source']} | {test_text(c['evidence'])} | **{c['verdict']}**{tag} "
                         f"| {per_seed_text(c['evidence'])} | {evidence_text(ev)} |")
    for nb, why in sorted(failed.items()):
        lines.append(f"| {nb} | (the notebook failed; no claims) | | | **failed** | | {why.replace('|', chr(92) + '|')} |")
    if not results and not failed:
        lines.append("| (none) | no results.json found | | | | | |")
    lines += ["", "Verdicts" + (" (smoke scale)" if smoke and len(smoke) == len(docs) else "") + ": "
              + (", ".join(f"{v}: {n}" for v, n in sorted(counts.items())) or "none")
              + (f"; failed notebooks: {len(failed)}" if failed else ""), "",
              f"| notebook | {RUNTIME[0]} |", "|---|---|"]
    for nb in sorted(set(docs) | set(failed) | set(runtimes)):
        rt = runtimes.get(nb)
        lines.append(f"| {nb} | {rt:.0f} |" if isinstance(rt, (int, float)) else f"| {nb} | not measured |")
    lines += ["", f"{RUNTIME[0]}: the {RUNTIME[1]}."]
    out = run_dir / "REPORT.md"
    out.write_text("\n".join(lines) + "\n")
    return out


# ---------------------------------------------------------------------------------------------
# The README's table of verdicts, from the committed runs' results
# ---------------------------------------------------------------------------------------------

README_START, README_END = "<!-- verdicts:start (generated by gan_helpers.tools.report) -->", "<!-- verdicts:end -->"
SNAPSHOT_KEYS = ("parameters", "runtime_s", "scale", "claims", "thresholds", "controls")


def default_run_folders(outputs: str | Path) -> list[Path]:
    """The folders under ``outputs`` that hold a notebook's run on its defaults: ``NN`` (a notebook's own
    ``output_dir``, ``outputs/NN``) or ``NN_<name>`` where a notebook ``NN_<name>.ipynb`` sits in ``outputs`` or
    beside it (the folders of ``make reproduce``'s run folder). A preset's folder, such as ``outputs/04_budget``
    (``configs/budget/04.yaml``), is not one: it used to be snapshotted as ``results/04.json``, over the full run."""
    outputs = Path(outputs)
    out = []
    for d in sorted(p.parent for p in outputs.glob("[0-9][0-9]*/results.json")):
        own = d.name.isdigit() and len(d.name) == 2
        if own or any((f / f"{d.name}.ipynb").is_file() for f in (outputs, outputs.parent)):
            out.append(d)
        else:
            print(f"[report] {d} left out: not a notebook's default output folder (a preset's run?)")
    names = [d.name[:2] for d in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"more than one run of notebook {', '.join(twice)} under {outputs}: "
                         f"{[str(d) for d in out if d.name[:2] in twice]}; keep one")
    return out


def snapshot(outputs: str | Path, results: str | Path) -> dict[str, dict]:
    """Copy the claims, thresholds, controls, parameters, scale and runtime of each notebook's run on its defaults
    (:func:`default_run_folders`) into ``results/NN.json`` (small files, committed: the README's table is generated
    from them). Returns them."""
    outputs, results = Path(outputs), Path(results)
    results.mkdir(parents=True, exist_ok=True)
    docs = {}
    for p in (d / "results.json" for d in default_run_folders(outputs)):
        doc = json.loads(p.read_text())
        keep = {k: doc[k] for k in SNAPSHOT_KEYS if k in doc}
        (results / f"{p.parent.name[:2]}.json").write_text(json.dumps(keep, indent=1) + "\n")
        docs[p.parent.name[:2]] = keep
    if not docs:
        raise FileNotFoundError(f"no notebook's results.json (NN/results.json) under {outputs}")
    return docs


def readme_table(docs: dict[str, dict]) -> str:
    """One row per claim of every notebook: its verdict, every seed's outcome and the declared test."""
    lines = ["| notebook | claim | verdict | per seed | test [thresholds] |", "|---|---|---|---|---|"]
    counts: dict[str, int] = {}
    for nb, doc in sorted(docs.items()):
        tag = " (smoke)" if is_smoke(doc) else ""
        for c in doc.get("claims", []):
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            lines.append(f"| {nb} | {c['claim']} | **{c['verdict']}**{tag} | {per_seed_text(c['evidence'])} "
                         f"| {test_text(c['evidence'])} |")
    lines += ["", "All verdicts: " + ", ".join(f"{v}: {n}" for v, n in sorted(counts.items())) + "."]
    return "\n".join(lines)


def update_readme(readme: str | Path, docs: dict[str, dict]) -> Path:
    """Replace the README's generated section (between :data:`README_START` and :data:`README_END`)."""
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme} has no generated section: add the lines {README_START!r} and {README_END!r}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(head + README_START + "\n" + readme_table(docs) + "\n" + README_END + tail)
    return readme


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Regenerate the README's table of verdicts from the committed runs.")
    ap.add_argument("--outputs", help="folder of NN/results.json (or NN_<notebook>/ beside NN_<notebook>.ipynb) to "
                                      "snapshot into --results first (e.g. notebooks/outputs after `make normalize`)")
    ap.add_argument("--results", default="results", help="the committed snapshots, results/NN.json")
    ap.add_argument("--readme", default="README.md")
    args = ap.parse_args(argv)
    if args.outputs:  # the notebooks rerun this time replace their snapshots; the others' stay as committed
        snapshot(args.outputs, args.results)
    docs = {p.stem: json.loads(p.read_text()) for p in sorted(Path(args.results).glob("[0-9][0-9].json"))}
    print(f"[report] {update_readme(args.readme, docs)}: {sum(len(d['claims']) for d in docs.values())} claims from "
          f"{len(docs)} notebooks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
