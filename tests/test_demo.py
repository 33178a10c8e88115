"""`inseason demo` runs the whole pipeline and ends with the report; run again, it reuses every stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inseason.demo import run_demo
from inseason.errors import OutputError

QUICK = {name: {"preset": name, "overrides": {"epochs": 2, "batch_size": 16}} for name in ("arset", "tempcnn")}


def test_demo_runs_every_stage_then_reuses_them(tmp_path: Path) -> None:
    said: list[str] = []
    result = run_demo(tmp_path / "demo", size="tiny", stride=10, models=QUICK, quiet=True, say=said.append)
    assert result.report == tmp_path / "demo" / "report.html" and result.report.stat().st_size > 1_000_000
    html = result.report.read_text()
    assert "Models compared" in html and "Time-series viewer" in html
    assert set(result.metrics) == {"arset", "tempcnn"}
    assert all(0 <= m["overall_accuracy"] <= 1 for m in result.metrics.values())
    for name in ("points.parquet", "scenes.parquet", "series.parquet", "split.parquet", "split.audit.md",
                 "runs/arset/model.json", "runs/tempcnn/evaluation.json"):
        assert (tmp_path / "demo" / name).exists(), name
    assert not any("reusing" in line for line in said)
    classes = json.loads((tmp_path / "demo" / "runs" / "tempcnn" / "evaluation.json").read_text())["classes"]
    other = next(c for c in classes if c["name"] == "Other")  # the label map's colour, not a CDL code's
    assert other == {"name": "Other", "code": None, "color": "#808080"}
    assert next(c for c in classes if c["name"] == "Corn") == {"name": "Corn", "code": 1, "color": "#ffd300"}

    said.clear()
    again = run_demo(tmp_path / "demo", size="tiny", stride=10, models=QUICK, quiet=True, say=said.append)
    assert again.metrics == result.metrics
    assert len(said) == 10 and all("reusing" in line for line in said)  # world … evaluate tempcnn

    with pytest.raises(OutputError, match="holds a tiny world of seed 1"):
        run_demo(tmp_path / "demo", size="tiny", seed=2, models=QUICK, quiet=True, say=said.append)
