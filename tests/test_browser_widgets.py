"""The committed notebooks in JupyterLab, in a real (headless) Chromium: saved sliders render as widgets once the
notebooks are trusted as `make lab` trusts them, with nothing cut off and no raw text (tests/browser_check.py).
Skipped where Playwright or a Chromium is missing (`pip install playwright`; Debian: `apt-get install chromium`).
About a minute: it starts JupyterLab and opens each notebook."""
import pytest

from browser_check import NOTEBOOKS, browser_available, run

pytestmark = pytest.mark.skipif(not browser_available(), reason="needs Playwright and a Chromium")


@pytest.fixture(scope="module")
def trusted():
    return {r["notebook"][:2]: r for r in run(NOTEBOOKS)}


@pytest.mark.parametrize("number", [p.name[:2] for p in NOTEBOOKS])
def test_saved_sliders_render_as_widgets_with_nothing_cut_off_and_no_raw_text(trusted, number):
    r = trusted[number]
    assert r["expected"] > 0 and r["sliders"] == r["expected"], f"{r['sliders']} of {r['expected']} sliders render"
    assert not r["problems"], r["problems"]


def test_an_untrusted_notebook_shows_its_sliders_as_raw_text():
    """What a clone opened without `jupyter trust` shows, and what the check exists to catch."""
    (r,) = run(NOTEBOOKS[-1:], trust=False, settle_s=10)
    assert r["sliders"] == 0 and any("raw text" in p for p in r["problems"]), r
