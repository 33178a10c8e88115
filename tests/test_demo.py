"""`inseason demo` runs the whole pipeline, maps the test area and ends with the report; run again, it reuses
every stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from rich.console import Console

from inseason.demo import MAP_DATES, run_demo, summary_table
from inseason.errors import OutputError

QUICK = {name: {"preset": name, "overrides": {"epochs": 2, "batch_size": 16}} for name in ("arset", "tempcnn")}
#: The tiny world, two quick models, and maps of a 600 m square (a sixteenth of the world's 2.4 km tile).
SMALL_MAPS: dict = {"size": "tiny", "stride": 10, "models": QUICK, "map_side_m": 600.0}


def test_demo_runs_every_stage_then_reuses_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    said: list[str] = []
    with caplog.at_level("WARNING", logger="inseason.train"):
        result = run_demo(tmp_path / "demo", **SMALL_MAPS, quiet=True, say=said.append)
    assert not [r for r in caplog.records if "nothing to resume" in r.getMessage()]  # a first run resumes nothing
    assert result.report == tmp_path / "demo" / "report.html" and result.report.stat().st_size > 1_000_000
    html = result.report.read_text()
    assert "Models compared" in html and "Time-series viewer" in html
    assert set(result.metrics) == {"arset", "tempcnn"}
    assert all(0 <= m["overall_accuracy"] <= 1 for m in result.metrics.values())
    for name in (
        "points.parquet",
        "scenes.parquet",
        "series.parquet",
        "split.parquet",
        "split.audit.md",
        "runs/arset/model.json",
        "runs/tempcnn/evaluation.json",
        "maps/summary.json",
    ):
        assert (tmp_path / "demo" / name).exists(), name
    assert not any("reusing" in line for line in said)
    classes = json.loads((tmp_path / "demo" / "runs" / "tempcnn" / "evaluation.json").read_text())["classes"]
    other = next(c for c in classes if c["name"] == "Other")  # the label map's colour, not a CDL code's
    assert other == {"name": "Other", "code": None, "color": "#808080"}
    assert next(c for c in classes if c["name"] == "Corn") == {"name": "Corn", "code": 1, "color": "#ffd300"}

    # Honest headlines: the end-of-season date, each model's best as-of date, and the course protocol beside the
    # course's published figures.
    for name, scores in result.scores.items():
        evaluation = json.loads((tmp_path / "demo" / "runs" / name / "evaluation.json").read_text())
        assert scores.end_of_season == evaluation["end_of_season"] == "12-31"
        curve = {row["as_of"]: row["macro_f1"] for row in evaluation["by_as_of_date"]}
        assert scores.best_as_of["as_of"] in curve
        assert scores.best_as_of["macro_f1"] == pytest.approx(max(curve.values()))
        assert scores.course is not None and 0 <= scores.course["overall_accuracy"] <= 1
        assert scores.course["published"]["overall_accuracy"] == 0.756
    console = Console(width=200, record=True)
    console.print(summary_table(result))
    printed = console.export_text()
    assert "course OA" in printed and "0.756" in printed and "12-31" in printed
    for scores in result.scores.values():
        assert f"{scores.course['overall_accuracy']:.3f}" in printed and scores.best_as_of["as_of"] in printed

    # Wall-to-wall maps of the test area as of each map date of the last season, shown in the report.
    assert sorted(result.maps) == [f"2022-{md}" for md in MAP_DATES]
    for date, path in result.maps.items():
        with rasterio.open(path) as cog:
            assert cog.count == 2 and cog.tags()["INSEASON_AS_OF"] == date
            classes_mapped = cog.read(1)
            assert (classes_mapped > 0).mean() > 0.5  # most of the area has a class
    maps_section = html.split("Maps of the test area")[1]
    for title in (
        "Class map",
        "Truth (CDL_2022.tif) in the model&#x27;s classes",
        "Confidence",
        "Area of each class by as-of date",
    ):
        assert f"<h3 class='fig-title'>{title}</h3>" in maps_section, title
    assert all(f"<th>{date} mapped (ha)</th>" in maps_section for date in result.maps)

    said.clear()
    again = run_demo(tmp_path / "demo", **SMALL_MAPS, quiet=True, say=said.append)
    assert again.metrics == result.metrics and again.maps == result.maps
    assert len(said) == 11 and all("reusing" in line for line in said)  # world … evaluate tempcnn, maps

    # A demo folder from an older version (an evaluation of another schema, no course protocol) is evaluated
    # again, the rest reused.
    stale = tmp_path / "demo" / "runs" / "arset" / "evaluation.json"
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "schema_version": 1}))
    said.clear()
    third = run_demo(tmp_path / "demo", **SMALL_MAPS, quiet=True, say=said.append)
    assert [line for line in said if "reusing" not in line] == [f"evaluate arset (with the course protocol) → {stale}"]
    assert json.loads(stale.read_text())["schema_version"] == 2 and third.metrics == result.metrics

    with pytest.raises(OutputError, match="holds a tiny world of seed 1"):
        run_demo(tmp_path / "demo", size="tiny", seed=2, models=QUICK, quiet=True, say=said.append)
