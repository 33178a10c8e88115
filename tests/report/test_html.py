"""The report file: self-contained, honest headline, small-test-set warning, readable tables, clear errors."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from inseason.errors import InputError
from inseason.evaluate import write_evaluation
from inseason.report import ReportRequest, ReportResult, render_report, run_report, write_report
from inseason.report.html import _least_accurate, first_class_reaching
from inseason.report.tables import AUDIT_EXPLANATIONS, audit_table, format_number, value_html


def _figure_count(text: str) -> int:
    return len(re.findall(r"<div class='figure[ '\"]", text))


def test_report_is_self_contained(evaluation: dict[str, Any], tmp_path: Path) -> None:
    path = write_report(evaluation, out=tmp_path / "out" / "report.html")
    text = path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)
    assert text.count("Plotly.newPlot") >= 10 and "window.Plotly" in text  # plotly.js inlined once
    for heading in (
        "Accuracy by as-of date",
        "Per-class metrics",
        "Confusion matrix",
        "Course protocol",
        "Importance",
        "Maps of the test area",
        "Accuracy by field",
        "Time-series viewer",
        "Data",
        "Leakage audit",
        "Run configuration",
    ):
        assert f"<h2>{heading}" in text
    assert "background:#ffd300" in text and "Corn (CDL 1)" in text  # CDL corn colour in the legend
    assert text.count("<option value=") == 12
    assert 'displayModeBar": "hover"' in text or '"displayModeBar": "hover"' in text
    assert "minmax(min(460px,100%),1fr)" in text and ".table-scroll{max-width:100%;overflow-x:auto" in text
    # Every table sits in its own sideways-scrolling box.
    assert text.count("<div class='table-scroll'><table") == len(re.findall(r"<table(?! class='(?:kv )?sub')", text))


def test_headline_states_the_end_of_season_date_and_the_best_date(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    ev["end_of_season"] = "12-31"
    ev["best_as_of"] = {"as_of": "09-12", "overall_accuracy": 0.91, "macro_f1": 0.876, "kappa": 0.85}
    ev["intervals"]["resampled"] = "location+field"
    text = render_report(ev)
    headline = text.split("<h2>")[0]
    assert "overall accuracy, as of 12-31 (end of season)" in headline
    assert "best in-season date: as of 09-12" in headline and "<b>0.876</b>" in headline
    assert "resampling whole location+field units" in headline
    assert "Per-class metrics (as of 12-31 (end of season))" in text
    assert "Confusion matrix, as of 12-31 (end of season)" in text


def test_models_table_has_end_of_season_best_date_and_names_the_first_class(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    other = copy.deepcopy(evaluation)
    other["title"] = "ARSET <recipe>"
    other["earliest_date"] = {"Corn": None, "Soybeans": "07-15", "Rice": None, "Other": "04-16"}
    other["best_as_of"] = {"as_of": "08-28", "overall_accuracy": 0.7, "macro_f1": 0.738, "kappa": 0.6}
    other["macro_f1"] = 0.498
    assert first_class_reaching(other) == ("Other", "04-16")
    text = render_report(ev, comparisons=[other])
    table = text.split("<h2>Models compared</h2>")[1].split("</table>")[0]
    assert "<th>end of season (as of)</th>" in table and "<th>best as-of date</th>" in table
    assert "<th>macro-F1 at best date</th>" in table
    row = next(r for r in table.split("<tr>") if "ARSET &lt;recipe&gt;" in r)
    assert "0.498" in row and "08-28" in row and "0.738" in row
    assert "2 of 4 (first: Other, as of 04-16)" in row


def test_course_protocol_prints_ours_beside_the_published_figures(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    ev["course_windows"]["published"] = {
        "overall_accuracy": 0.7111,
        "macro_f1": 0.6222,
        "n_pixels": 14904,
        "n_windows": 15,
        "source": "course slides <p. 12>",
    }
    text = render_report(ev)
    course = text.split("<h2>Course protocol (ARSET)</h2>")[1].split("<h2>")[0]
    assert "0.711" in course and "0.622" in course and "14,904 pixels, 15 windows" in course
    assert f"{ev['course_windows']['overall_accuracy']:.3f}" in course
    assert "Source: course slides &lt;p. 12&gt;." in course
    assert "0.756" not in course  # nothing hard-coded
    ev["course_windows"]["published"] = None
    course = render_report(ev).split("<h2>Course protocol (ARSET)</h2>")[1].split("<h2>")[0]
    assert "published figures are not recorded" in course and "0.756" not in course


def test_small_test_set_warns_and_greys_every_figure(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    ev["sample_size"] = {
        "n": 4,
        "min_per_class": 1,
        "classes_below": ["Corn"],
        "too_small": True,
        "warning": "only 4 test samples <fewer than 30>",
    }
    text = render_report(ev)
    body = text.split("<main>")[1]
    assert body.index("id='sample-size-warning'") < body.index("<h2>")  # at the top
    assert "only 4 test samples &lt;fewer than 30&gt;" in text and "<fewer than 30>" not in text
    figures = _figure_count(text)
    assert figures >= 10
    assert text.count("<div class='figure greyed'>") == figures
    assert text.count("grey-note") == figures - 1  # the viewer is greyed without a note of its own
    assert ".figure.greyed{opacity:.45" in text
    fine = render_report(evaluation)
    assert "sample-size-warning" not in fine and "figure greyed" not in fine


def test_readable_data_and_audit_tables(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    ev["leakage_audit"] = {
        "method": "block",
        "samples": {"train": 180, "test": 42},
        "blocks_in_several_splits": {"count": 33, "examples": [[1, 2], [3, 4]]},
        "fields_in_several_splits": {"count": 0, "examples": []},
        "distances_m": {"train-test": {"min": 310.5, "p01": 320.0, "p05": 400.0, "p50": 1250.0}},
        "leaks": [],
        "leak_free": True,
    }
    text = render_report(ev)
    audit = text.split("<h2>Leakage audit</h2>")[1].split("<h2>")[0]
    assert "{" not in audit and "&quot;" not in audit  # no raw JSON
    assert "Verdict: no leakage found" in audit
    assert "33 blocks hold samples of several splits, yet the split is leak free" in audit
    assert "<th scope='row'>blocks in several splits</th>" in audit
    assert AUDIT_EXPLANATIONS["blocks_in_several_splits"] in audit
    assert "<th>1st percentile</th>" in audit and "1,250" not in audit and "1250" in audit
    data = text.split("<h2>Data</h2>")[1].split("<h2>")[0]
    assert "<th scope='row'>samples per class</th>" in data and "<th scope='row'>Corn</th>" in data
    assert "<th scope='row'>seasons</th><td>2021</td>" in data
    assert "{" not in data
    assert audit_table(None) == "<p class='note'>No leakage audit recorded for this run.</p>"
    leaky = audit_table({"leaks": ["fields_in_several_splits"], "leak_free": False})
    assert "Verdict: leakage found: fields in several splits." in leaky


def test_value_formatting_and_escaping() -> None:
    assert format_number(14904) == "14,904" and format_number(2021) == "2021" and format_number(0.123456) == "0.123"
    assert format_number(3.0) == "3" and format_number(0.00012) == "0.00012" and format_number(True) == "yes"
    assert value_html({"a<b": ["x<y", 2]}).count("&lt;") == 2
    assert value_html([{"name": "B<2", "n": 3}]).startswith("<table class='sub'>")


def test_points_maps_without_a_predict_folder(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    n = len(ev["map"]["x"])
    ev["map"]["year"] = [2020 if i % 2 else 2021 for i in range(n)]
    text = render_report(ev)
    maps = text.split("<h2>Maps of the test area</h2>")[1].split("<h2>")[0]
    assert "Test points of season 2021 (the latest of 2)" in maps
    assert "Truth, season 2021" in maps


def test_optional_sections_and_missing_support(evaluation: dict[str, Any]) -> None:
    ev = copy.deepcopy(evaluation)
    ev["course_windows"] = None
    ev["importance"] = {
        "bands": None,
        "periods": None,
        "attention": {"day_of_season": [0, 15, 30], "weight": [0.2, 0.3, 0.5]},
    }
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
    with pytest.raises(InputError, match="truth and bundle go with maps"):
        render_report(evaluation, truth=tmp_path / "cdl.tif")


def test_counts_read_in_the_right_number(evaluation: dict[str, Any]) -> None:
    """ "1 block holds", "The only field": never "1 blocks" or "1 fields"."""
    one = audit_table({"leak_free": True, "blocks_in_several_splits": {"count": 1, "examples": [7]}})
    assert "1 block holds samples of several splits" in one and "1 blocks" not in one
    many = audit_table({"leak_free": True, "blocks_in_several_splits": {"count": 12_345, "examples": []}})
    assert "12,345 blocks hold samples of several splits" in many
    assert _least_accurate(1, 1, "field") == "The only field."
    assert _least_accurate(1, 40, "field") == "The least accurate of 40 fields."
    assert _least_accurate(3, 3, "block") == "All 3 blocks, least accurate first."
    assert _least_accurate(15, 40, "field") == "The 15 least accurate of 40 fields."
    ev = copy.deepcopy(evaluation)
    ev["spatial"]["groups"] = ev["spatial"]["groups"][:1]
    text = render_report(ev)
    assert f"<p class='note'>The only {ev['spatial']['by']}.</p>" in text
    assert "The 1 least accurate" not in text


# ---------------------------------------------------------------------------------- request and result


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--truth", "cdl.tif"], {"truth": "cdl.tif"}),
        (["--bundle", "run"], {"bundle": "run"}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    evaluation: dict[str, Any], tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    source, out = write_evaluation(evaluation, tmp_path / "evaluation.json"), tmp_path / "report.html"
    with pytest.raises(InputError) as info:
        write_report(evaluation, out=out, **options)
    result = CliRunner().invoke(app, ["--quiet", "report", str(source), "--out", str(out), *flags])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        ReportRequest.of(evaluation=evaluation, out=str(out), **options)
    assert not out.exists()


def test_a_report_request_round_trips(evaluation: dict[str, Any]) -> None:
    request = ReportRequest.of(
        evaluation=evaluation,
        out="reports/report.html",
        title="Delta 2022",
        comparisons=[evaluation],
        maps="s3://bucket/maps",
        truth="CDL_2022.tif",
        bundle="runs/model",
    )
    assert request.out == Path("reports/report.html") and request.comparisons == (evaluation,)
    assert ReportRequest.of(**request.model_dump()) == request
    with pytest.raises(InputError, match="evaluation has no as-of dates"):
        ReportRequest.of(**{**request.model_dump(), "comparisons": [{**evaluation, "by_as_of_date": []}]})


def test_the_report_result_holds_what_was_written(
    evaluation: dict[str, Any], maps_folder: Path, tmp_path: Path
) -> None:
    plain = run_report(ReportRequest.of(evaluation=evaluation, out=tmp_path / "plain.html"))
    assert plain == ReportResult(path=tmp_path / "plain.html", title=evaluation.get("title") or "inseason evaluation")
    request = ReportRequest.of(evaluation=evaluation, out=tmp_path / "maps.html", title="Maps", maps=str(maps_folder))
    result = run_report(request)
    assert result == ReportResult(path=tmp_path / "maps.html", title="Maps")
    text = result.path.read_text(encoding="utf-8")
    assert "<title>Maps</title>" in text and "<h1>Maps</h1>" in text
    assert f"<title>{plain.title}</title>" in plain.path.read_text(encoding="utf-8")
    assert write_report(evaluation, out=tmp_path / "again.html", title="Maps", maps=str(maps_folder)).read_bytes() == (
        text.encode("utf-8")
    )
