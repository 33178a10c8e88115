"""The report file: self-contained, every section present, clear errors for bad evaluations."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from inseason.errors import InputError
from inseason.evaluate import fake_evaluation
from inseason.report import render_report, write_report


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    return fake_evaluation(n_boot=30)


def test_report_is_self_contained(evaluation: dict[str, Any], tmp_path: Path) -> None:
    path = write_report(evaluation, out=tmp_path / "out" / "report.html")
    text = path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)
    assert text.count("Plotly.newPlot") >= 10 and "window.Plotly" in text  # plotly.js inlined once
    for heading in ("Accuracy by as-of date", "Per-class metrics", "Confusion matrix", "Course protocol",
                    "Importance", "Maps of the test area", "Accuracy by field", "Time-series viewer", "Data",
                    "Leakage audit", "Run configuration"):
        assert f"<h2>{heading}" in text
    assert "background:#ffd300" in text and "(CDL 1)" in text  # CDL corn colour in the legend
    assert text.count("<option value=") == 12


def test_optional_sections_and_missing_support(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    ev["course_windows"] = None
    ev["importance"] = {"bands": None, "periods": None,
                        "attention": {"day_of_season": [0, 15, 30], "weight": [0.2, 0.3, 0.5]}}
    ev["per_class"][2]["support"] = 0
    ev["classes_without_support"] = ["Rice"]
    text = render_report(ev, title="Custom <title>")
    assert "Course protocol" not in text and "Attention by date" in text
    assert "no support" in text and "No test samples for: Rice" in text
    assert "<h1>Custom &lt;title&gt;</h1>" in text


def test_bad_evaluations(evaluation: dict[str, Any], tmp_path: Path) -> None:
    broken = {k: v for k, v in evaluation.items() if k != "by_as_of_date"}
    with pytest.raises(InputError, match="lacks \\['by_as_of_date'\\]"):
        render_report(broken)
    with pytest.raises(InputError, match="schema version 99"):
        render_report({**evaluation, "schema_version": 99})
    with pytest.raises(InputError, match="no as-of dates"):
        render_report({**evaluation, "by_as_of_date": []})
    with pytest.raises(InputError, match="is a folder"):
        write_report(evaluation, out=tmp_path)
