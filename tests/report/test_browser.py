"""The report in a real browser: headless Chromium, network disabled, opened from a file URL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select, WebDriverWait

from inseason.evaluate import fake_evaluation
from inseason.report import write_report
from inseason.testing.browser import console_errors, external_requests, headless_chromium

#: Figures of the fake evaluation: two curves, confusion, course windows, band and period importance,
#: three maps, accuracy by field, and the time-series viewer.
EXPECTED_PLOTS = 11

_DRAWN_PLOTS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(div =>
    Array.isArray(div.data) && div.data.length > 0 &&
    div.querySelector('svg.main-svg') !== null &&
    div.querySelectorAll('g.trace path, g.trace image, .heatmaplayer image, canvas').length > 0).length;
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(fake_evaluation(n_boot=50), out=tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def browser(report: Path) -> Iterator[Any]:
    with headless_chromium() as driver:
        driver.get(report.as_uri())
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(_DRAWN_PLOTS) >= EXPECTED_PLOTS)
        yield driver


def test_every_plot_renders_without_errors_or_network(browser: Any, report: Path) -> None:
    assert browser.execute_script("return document.querySelectorAll('div.figure').length") == EXPECTED_PLOTS
    assert browser.execute_script(_DRAWN_PLOTS) == EXPECTED_PLOTS
    assert console_errors(browser) == []
    assert external_requests(browser) == []
    title = browser.execute_script("return document.getElementById('timeseries-viewer').layout.title.text")
    assert title.startswith("Sample ")
    artifacts = Path(os.environ.get("INSEASON_TEST_ARTIFACTS", report.parent))
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "report.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    if artifacts != report.parent:
        shutil.copy(report, artifacts / "report.html")


def test_sample_picker_redraws_the_time_series(browser: Any) -> None:
    viewer_state = ("const v = document.getElementById('timeseries-viewer');"
                    "return [v.layout.title.text, JSON.stringify(v.data.map(t => t.y))];")
    before = browser.execute_script(viewer_state)
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
