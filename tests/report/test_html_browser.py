"""The report in a real browser: headless Chromium, network disabled, opened from a file URL, at a laptop
width (1366 px) and a phone width (420 px): every plot drawn, nothing wider than the screen."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select, WebDriverWait

from inseason.labels import hex_rgb
from inseason.report import write_report
from inseason.testing.browser import console_errors, external_requests, headless_chromium

#: Figures of the report with a comparison and wall-to-wall maps: comparison curve, two curves, confusion,
#: course windows, band and period importance, class map, truth, confidence, areas, accuracy by field, and
#: the time-series viewer.
EXPECTED_PLOTS = 13

_DRAWN_PLOTS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(div =>
    Array.isArray(div.data) && div.data.length > 0 &&
    div.querySelector('svg.main-svg') !== null &&
    div.querySelectorAll('g.trace path, g.trace image, .heatmaplayer image, canvas').length > 0).length;
"""

# Elements (outside SVG drawings, which clip their own content) whose box leaves the viewport sideways,
# unless an ancestor scrolls sideways (a table's own scrolling box); plus the page's own scroll width.
_OVERFLOW = """
const vw = window.innerWidth;
const scrolls = (el) => {
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll') return true;
  }
  return false;
};
const bad = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
  if (el.closest('#js-plotly-tester')) continue;  // plotly's text-measuring element, parked off-screen
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden') continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  if ((r.left < -1 || r.right > vw + 1) && !scrolls(el)) {
    bad.push(el.tagName + '.' + el.className + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
}
return {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, bad: bad.slice(0, 10)};
"""

# Plots whose drawing is wider than their container (plotly did not follow a resize).
_WIDE_PLOTS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(div => {
  const svg = div.querySelector('svg.main-svg');
  return svg && svg.getBoundingClientRect().width > div.parentElement.getBoundingClientRect().width + 2;
}).length;
"""

# The confusion matrix's view switcher lies inside its figure.
_MENU_INSIDE = """
const menu = document.querySelector('.updatemenu-container');
const box = menu.getBoundingClientRect();
const fig = menu.closest('.figure').getBoundingClientRect();
return [box.left >= fig.left - 1, box.right <= fig.right + 1, box.top >= fig.top - 1, box.width > 0];
"""


@pytest.fixture(scope="module")
def report(evaluation: dict[str, Any], maps_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    other = {**evaluation, "title": "Second model"}
    root = tmp_path_factory.mktemp("report")
    # A label map whose first class merges many codes (as "Other" does): its legend entry is long.
    bundle = root / "run"
    bundle.mkdir()
    classes = [
        {
            "name": c["name"],
            "codes": [c["code"], *(range(100, 140) if k == 0 else [])],
            "color": list(hex_rgb(c["color"])),
        }
        for k, c in enumerate(evaluation["classes"])
    ]
    (bundle / "model.json").write_text(json.dumps({"classes": classes}))
    return write_report(
        evaluation,
        out=root / "report.html",
        comparisons=[other],
        maps=maps_folder,
        truth=maps_folder.parent / "truth.tif",
        bundle=bundle,
    )


@pytest.fixture(scope="module")
def browser(report: Path) -> Iterator[Any]:
    with headless_chromium() as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.get(report.as_uri())
        WebDriverWait(driver, 90).until(lambda d: d.execute_script(_DRAWN_PLOTS) >= EXPECTED_PLOTS)
        yield driver


def _artifacts(report: Path) -> Path:
    folder = Path(os.environ.get("INSEASON_TEST_ARTIFACTS", report.parent))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _full_page_screenshot(driver: Any, path: Path, width: int) -> None:
    """A PNG of the whole page at ``width`` CSS pixels (the viewport stretched to the page's height)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": min(height, 16000), "deviceScaleFactor": 1, "mobile": False},
    )
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(data["data"]))


def _at_width(driver: Any, width: int) -> dict[str, Any]:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    )
    driver.execute_script("window.dispatchEvent(new Event('resize'))")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return window.innerWidth") == width and d.execute_script(_WIDE_PLOTS) == 0
    )
    return driver.execute_script(_OVERFLOW)


def test_every_plot_renders_without_errors_or_network(browser: Any, report: Path) -> None:
    assert browser.execute_script("return document.querySelectorAll('div.figure').length") == EXPECTED_PLOTS
    assert browser.execute_script(_DRAWN_PLOTS) == EXPECTED_PLOTS
    assert console_errors(browser) == []
    assert external_requests(browser) == []
    title = browser.execute_script("return document.getElementById('timeseries-viewer').layout.title.text")
    assert title.startswith("Sample ")
    artifacts = _artifacts(report)
    if artifacts != report.parent:
        shutil.copy(report, artifacts / "report.html")


@pytest.mark.parametrize("width", [1366, 420])
def test_no_sideways_overflow(browser: Any, report: Path, width: int) -> None:
    state = _at_width(browser, width)
    assert state["innerWidth"] == width
    assert state["bad"] == []
    assert state["scrollWidth"] <= width
    assert browser.execute_script(_MENU_INSIDE) == [True, True, True, True]
    # Every grid has one column at phone width and two at laptop width.
    columns = browser.execute_script(
        "return getComputedStyle(document.querySelector('.grid')).gridTemplateColumns.split(' ').length"
    )
    assert columns == (1 if width == 420 else 2)
    screenshot = _artifacts(report) / f"report-{width}.png"
    _full_page_screenshot(browser, screenshot, width)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000
    _at_width(browser, 1366)
    assert console_errors(browser) == []


def test_date_slider_switches_the_map(browser: Any) -> None:
    _at_width(browser, 1366)
    state = (
        "const f = Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".find(d => d.layout.sliders && d.layout.sliders.length);"
        "return [f.layout.sliders[0].steps.map(s => s.label), f.data.map(t => t.visible), f.id];"
    )
    labels, visible, div_id = browser.execute_script(state)
    assert labels == ["06-15", "08-01", "09-15"]
    assert visible == [False, False, True]  # the latest date first
    browser.execute_script(
        f"Plotly.relayout('{div_id}', {{'sliders[0].active': 0}});"
        f"const f = document.getElementById('{div_id}');"
        "Plotly.update(f, f.layout.sliders[0].steps[0].args[0]);"
    )
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(state)[1] == [True, False, False])
    assert console_errors(browser) == []


def test_sample_picker_redraws_the_time_series(browser: Any) -> None:
    viewer_state = (
        "const v = document.getElementById('timeseries-viewer');"
        "return [v.layout.title.text, JSON.stringify(v.data.map(t => t.y)),"
        " v.data.filter(t => t.yaxis === 'y').map(t => t.line.color)];"
    )
    before = browser.execute_script(viewer_state)
    assert len(before[2]) == 4 and len(set(before[2])) == 4  # every band its own colour
    picker = Select(browser.find_element("id", "sample-picker"))
    assert len(picker.options) == 12
    picker.select_by_index(5)
    sample_id = picker.options[5].text.split(" — ")[0]
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(viewer_state)[0] != before[0])
    after = browser.execute_script(viewer_state)
    assert after[0].startswith(f"Sample {sample_id} ")
    assert after[1] != before[1]
    assert console_errors(browser) == []
    assert external_requests(browser) == []
