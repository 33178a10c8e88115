"""Figure helpers of the report: line contrast, band colours, importance noise, confusion switcher, points."""

from __future__ import annotations

import colorsys
import copy
from typing import Any

import pytest

from inseason import labels
from inseason.report import figures


def _hue(color: str) -> float:
    r, g, b = (c / 255 for c in labels.hex_rgb(color))
    return colorsys.rgb_to_hls(r, g, b)[0]


def test_pale_colours_are_darkened_keeping_their_hue() -> None:
    corn = "#ffd300"  # CDL corn: contrast about 1.5 on white
    assert figures.contrast_on_white(corn) < 2
    shade = figures.line_color(corn)
    assert figures.contrast_on_white(shade) >= figures.MIN_LINE_CONTRAST
    assert abs(_hue(shade) - _hue(corn)) < 0.02
    assert shade != corn
    assert figures.line_color("#267000") == "#267000"  # soybeans green already reads
    assert figures.contrast_on_white("#000000") > 20 and abs(figures.contrast_on_white("#ffffff") - 1) < 1e-9


def test_class_curves_use_readable_line_colours(evaluation: dict[str, Any]) -> None:
    fig = figures.class_curve_figure(evaluation)
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert lines["Corn"].marker.color == "#ffd300"
    assert figures.contrast_on_white(lines["Corn"].line.color) >= figures.MIN_LINE_CONTRAST


def test_every_band_gets_its_own_colour() -> None:
    bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "NDVI", "VH"]
    colors = figures.band_colors(bands)
    assert len(set(colors.values())) == len(bands)
    assert all(figures.contrast_on_white(c) >= figures.MIN_LINE_CONTRAST for c in colors.values())


def test_importance_marks_values_within_the_noise(evaluation: dict[str, Any]) -> None:
    result = copy.deepcopy(evaluation["importance"]["bands"][-1])  # one result per importance date; the last
    result["n_repeats"] = 5
    result["features"] = [
        {"name": "B02", "importance": -0.01, "std": 0.02, "n_observations": 9},
        {"name": "B04", "importance": 0.3, "std": 0.02, "n_observations": 9},
    ]
    later = {**copy.deepcopy(result), "as_of": "07-01"}
    rows = figures.importance_significance([result, later])
    assert [(r["as_of"], r["name"], r["significant"]) for r in rows] == [
        ("07-01", "B02", False),
        ("07-01", "B04", True),
        (result["as_of"], "B02", False),
        (result["as_of"], "B04", True),
    ]
    fig = figures.importance_figure([result, later], title="Importance of bands", axis="band")
    assert [t.name for t in fig.data] == ["as of 07-01", f"as of {result['as_of']}"]
    assert list(fig.data[0].error_x.array) == [0.02, 0.02]
    assert list(fig.data[0].marker.opacity) == [0.45, 1.0]
    assert "as of 07-01, " in fig.layout.title.text


def test_confusion_switcher_is_a_dropdown_inside_the_figure(evaluation: dict[str, Any]) -> None:
    fig = figures.confusion_figure(evaluation, as_of="12-31")
    menu = fig.layout.updatemenus[0]
    assert menu.type == "dropdown" and menu.x == 0 and menu.xanchor == "left"
    assert [b.label for b in menu.buttons] == ["counts", "share of true class", "share of predicted class"]
    assert fig.layout.title.text == "Confusion matrix, as of 12-31 (end of season)"


def test_points_one_trace_per_class_for_one_season(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    n = len(ev["map"]["x"])
    ev["map"]["year"] = [2021 if i % 2 == 0 else 2020 for i in range(n)]
    shown = range(0, n, 2)
    fig = figures.class_points_figure(ev, which="truth", year=2021)
    assert sorted(t.name for t in fig.data) == sorted({ev["classes"][ev["map"]["truth"][i]]["name"] for i in shown})
    assert sum(len(t.x) for t in fig.data) == len(shown)
    corn = next(t for t in fig.data if t.name == "Corn")
    assert corn.marker.color == "#ffd300"
    assert figures.contrast_on_white(corn.marker.line.color) >= 4.5
    without_years = figures.class_points_figure(evaluation, which="truth")
    assert sum(len(t.x) for t in without_years.data) == n


def test_hex_colours_are_parsed_in_one_place() -> None:
    assert labels.hex_rgb("#ffd300") == (255, 211, 0) and labels.hex_rgb("267000") == (38, 112, 0)
    assert labels.rgb_hex((255, 211, 0, 255)) == "#ffd300" and labels.rgb_hex([38, 112, 0]) == "#267000"
    assert figures.relative_luminance("#ffffff") == 1.0 and figures.relative_luminance("#000000") == 0.0
    with pytest.raises(ValueError, match="'#fff' is not #rrggbb"):
        labels.hex_rgb("#fff")
    layout = figures.base_layout("Title", height=300)
    assert layout["title"]["text"] == "Title" and layout["height"] == 300 and layout["template"] == "plotly_white"
