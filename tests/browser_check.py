"""The five notebooks as a learner opens them: JupyterLab in a real (headless) Chromium, driven by Playwright.

Copies the committed notebooks into a temporary folder (what a fresh clone has), trusts them with the command
``make lab`` runs (``jupyter trust``), starts JupyterLab on them with its own settings, data and runtime folders
(nothing of yours is read or written), opens each notebook and checks what the page shows:

* every saved slider renders as a widget (``.jupyter-widgets`` / ``.widget-slider`` elements), as many as the
  notebook saved;
* no output shows a widget's raw text (``interactive(children=(...``), and no printed output a raw dict or repr
  (dicts inside HTML tables are listed as notes);
* no slider description or readout is cut off (its text is wider than its box).

``--untrusted`` skips the trust step: the sliders then show as raw text, which is the failure the check exists
to catch. Run it with the package's environment and Playwright installed (``pip install playwright``); it uses
the Chromium at ``$CHROMIUM`` or the first of ``chromium``, ``chromium-browser``, ``google-chrome`` on the PATH
(Debian: ``apt-get install chromium``), or Playwright's own browser when none is found::

    python tests/browser_check.py --screenshot /tmp/sliders.png

Prints one line per notebook and exits non-zero if any check fails. ``tests/test_browser_widgets.py`` runs it
under pytest and is skipped where Playwright or a browser is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SLIDER_MODELS = ("IntSliderModel", "FloatSliderModel", "SelectionSliderModel", "IntRangeSliderModel",
                 "FloatRangeSliderModel", "SelectionRangeSliderModel", "FloatLogSliderModel")
RAW_WIDGET = re.compile(r"interactive\(children=|(?:Selection|Int|Float)Slider\(")
# what a printed dict, list or object repr looks like: {'a': .., {1: .., [], ['a', .., [1, .., np.str_(..), Sequential(..)
RAW_REPR = re.compile(r"\{'|\{\"|\{-?\d+(?:\.\d+)?: |\[\]|\['|\[-?\d+(?:\.\d+)?, |\bnp\.\w+\(|\b(?:Sequential|tensor|array)\(")


def raw_reprs(text: str) -> list[str]:
    """The places in ``text`` that look like a printed dict, list or object repr (at most three)."""
    return [m.group(0) for m in RAW_REPR.finditer(text)][:3]


def find_chromium() -> str | None:
    """The Chromium to drive: ``$CHROMIUM``, else the first Chromium or Chrome on the PATH (None: Playwright's own)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browser_available() -> bool:
    """Playwright is installed and a Chromium is there to drive (a system one, or Playwright's own download)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    if find_chromium():
        return True
    try:
        with sync_playwright() as pw:
            return Path(pw.chromium.executable_path).exists()
    except Exception:
        return False


def saved_sliders(path: Path) -> int:
    """How many slider views the notebook's saved widget state holds."""
    state = nbformat.read(path, as_version=4).metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return sum(m.get("model_name") in SLIDER_MODELS for m in state.values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(notebooks: list[Path], trust: bool = True, timeout: float = 90.0):
    """A JupyterLab server on copies of ``notebooks`` in a temporary folder; yields (base url, token, folder).
    Its Jupyter data, config, runtime and settings folders are temporary too, so the trust database and the
    settings are the fresh ones a new user has. Notebooks open without windowing, so every cell is in the page."""
    with tempfile.TemporaryDirectory(prefix="browser_check_") as tmp:
        tmp = Path(tmp)
        work, home = tmp / "notebooks", tmp / "home"
        work.mkdir()
        for p in notebooks:
            shutil.copy2(p, work / p.name)
        env = dict(os.environ, JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_CONFIG_DIR=str(home / "config"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), PYTHONPATH=str(ROOT))
        settings = home / "settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        bindir = Path(sys.executable).parent
        jupyter = [str(bindir / "jupyter")] if (bindir / "jupyter").exists() else [sys.executable, "-m", "jupyter"]
        if trust:  # what `make lab` does before it starts JupyterLab
            subprocess.run(jupyter + ["trust", *sorted(str(p) for p in work.glob("*.ipynb"))], env=env, check=True,
                           capture_output=True)
        port, token = _free_port(), "browsercheck"
        cmd = jupyter + ["lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        log = open(tmp / "jupyterlab.log", "w")
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        raise RuntimeError("JupyterLab did not start:\n" + (tmp / "jupyterlab.log").read_text()[-3000:])
                    time.sleep(0.5)
            yield base, token, work
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


PAGE_REPORT = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return {widgets: 0, sliders: 0, outputs: [], cut: []};
  const outputs = [...panel.querySelectorAll('.jp-OutputArea-output')];
  const cut = el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1;
  const sliders = [...panel.querySelectorAll('.widget-slider, .jupyter-widget-slider')];
  const labels = [...panel.querySelectorAll('.jp-OutputArea-output .widget-label, .jp-OutputArea-output .widget-readout')];
  return {
    widgets: panel.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
    sliders: sliders.length,
    outputs: outputs.map(o => ({mime: o.getAttribute('data-mime-type') || '', text: o.innerText})),
    cut: labels.filter(cut).map(el => ({text: el.innerText, shown: el.clientWidth, needed: el.scrollWidth})),
  };
}"""


def check_notebook(page, base: str, token: str, name: str, expected_sliders: int, settle_s: float = 60.0,
                   screenshot: Path | None = None) -> dict:
    """Open one notebook and report what the page shows: ``problems`` lists every failed check, ``notes`` the
    dicts shown inside tables (the verdict tables' evidence column), which are reported but do not fail."""
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")  # reset: only this notebook open
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:  # widgets render from the saved state once the notebook has loaded
        if page.evaluate(PAGE_REPORT)["sliders"] >= expected_sliders:
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1500)  # let the last views lay out
    report = page.evaluate(PAGE_REPORT)
    problems, notes = [], []
    if report["sliders"] < expected_sliders:
        problems.append(f"{report['sliders']} of {expected_sliders} saved sliders render as widgets")
    raw = [o["text"] for o in report["outputs"] if RAW_WIDGET.search(o["text"])]
    if raw:
        problems.append(f"{len(raw)} output(s) show a widget as raw text: {raw[0][:80]!r}")
    for o in report["outputs"]:
        found = raw_reprs(o["text"])
        if found:
            (notes if o["mime"] == "text/html" else problems).append(
                f"raw dict or repr in a {o['mime'] or 'text'} output: {found[:3]}")
    for c in report["cut"]:
        problems.append(f"text cut off: {c['text']!r} needs {c['needed']} px, shows {c['shown']} px")
    if screenshot is not None and report["sliders"]:
        view = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact").first
        view.scroll_into_view_if_needed()
        view.screenshot(path=str(screenshot))
    return {"notebook": name, "sliders": report["sliders"], "expected": expected_sliders,
            "widgets": report["widgets"], "problems": problems, "notes": notes}


def run(notebooks: list[Path] = NOTEBOOKS, trust: bool = True, screenshot: Path | None = None,
        screenshot_of: str = "05", settle_s: float = 60.0) -> list[dict]:
    from playwright.sync_api import sync_playwright

    results = []
    with jupyterlab(notebooks, trust=trust) as (base, token, _), sync_playwright() as pw:
        browser = pw.chromium.launch(headless=True, executable_path=find_chromium(),
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            for p in notebooks:  # a fresh page each: one notebook open at a time, as after a new clone
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                shot = screenshot if screenshot is not None and p.name.startswith(screenshot_of) else None
                results.append(check_notebook(page, base, token, p.name, saved_sliders(p), settle_s, shot))
                page.close()
        finally:
            browser.close()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="notebooks to open (default: the five in notebooks/)")
    ap.add_argument("--untrusted", action="store_true", help="skip `jupyter trust` (the sliders then show as text)")
    ap.add_argument("--screenshot", type=Path, help="save the first slider view of one notebook here (PNG)")
    ap.add_argument("--screenshot-of", default="05", help="which notebook to screenshot (its number)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run(args.notebooks or NOTEBOOKS, trust=not args.untrusted, screenshot=args.screenshot,
                  screenshot_of=args.screenshot_of)
    for r in results:
        status = "ok" if not r["problems"] else "FAIL: " + "; ".join(r["problems"])
        print(f"{r['notebook']}: {r['sliders']}/{r['expected']} sliders as widgets - {status}")
        for n in r["notes"]:
            print(f"  note: {n}")
    print(f"checked {len(results)} notebooks in {time.perf_counter() - t0:.0f} s "
          f"({'untrusted' if args.untrusted else 'trusted as make lab does'})")
    return 0 if all(not r["problems"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
