"""`inseason bench series`: a memory-capped grouping gives the same series table as an uncapped one."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from inseason.bench.series import bench_series
from inseason.cli import app


def test_capped_and_uncapped_series_are_identical() -> None:
    result = bench_series(points=3000, dates=12, memory_limit="16MB", quiet=True)
    assert result["identical"] is True
    assert result["capped"]["series"] == result["uncapped"]["series"] == 3000
    assert 0.7 * 3000 * 12 < result["observations"] < 0.9 * 3000 * 12
    assert result["observations_on_disk_mb"] > 0 and result["baseline_rss_mb"] > 0


def test_cli_prints_one_json_object() -> None:
    result = CliRunner().invoke(app, ["bench", "series", "--points", "500", "--dates", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["identical"] is True and doc["points"] == 500 and "working_memory_over_data" in doc
