"""`inseason bench engines` on the tiny world with a few scenes: keys, counts, identical outputs (no timings
asserted). It lives with the Spark tests to reuse their session."""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import SparkSession

from inseason.bench.engines import bench_engines, bench_engines_markdown


def test_bench_engines_reports_both_engines_and_identical_outputs(tiny_world: Path, spark: SparkSession) -> None:
    result = bench_engines(world=tiny_world, years=[2022], max_scenes=4, workers=2, quiet=True)
    json.dumps(result)  # one JSON object
    assert result["identical"] is True
    assert (result["scenes"], result["workers"], result["world"]["years"]) == (4, 2, [2022])
    assert result["observations"] > 0 and result["series"] > 0 and result["points"] > 0
    assert result["local_rows_per_s"] > 0 and result["spark_rows_per_s"] > 0
    assert result["spark_startup_s"] == 0.0  # the session of the tests was already running
    assert SparkSession.getActiveSession() is spark  # and is left running
    table = bench_engines_markdown(result)
    assert "| spark local[2] |" in table and "identical outputs: yes" in table
