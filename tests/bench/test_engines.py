"""`inseason bench engines` on the tiny world with a few scenes: keys, counts, identical outputs (no timings
asserted). It lives with the Spark tests to reuse their session."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from inseason.bench.engines import bench_engines, bench_engines_markdown, break_even_rows
from inseason.engines import spark as spark_engine
from inseason.errors import InputError


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
    faster = result["spark_rows_per_s"] > result["local_rows_per_s"]
    assert (result["spark_break_even_rows"] == 0) if faster else (result["spark_break_even_rows"] is None)
    assert ("Spark pays off from about 0 observation rows" in table) if faster else ("only with more cores" in table)


def test_break_even_is_where_start_up_is_won_back() -> None:
    # local: 100 rows/s; Spark: 200 rows/s after 10 s of start-up -> equal at 2 000 rows (20 s each)
    assert break_even_rows(100.0, 200.0, 10.0) == 2_000
    assert break_even_rows(100.0, 400.0, 3.0) == 400
    assert break_even_rows(100.0, 100.0, 10.0) is None and break_even_rows(100.0, 50.0, 0.0) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "--workers 0: give at least 1 worker process"),
        ({"max_scenes": 0}, "--max-scenes 0: use at least 1"),
        ({"stride": 0}, "bench engines: stride=0: use at least 1"),
        ({"years": [2030]}, "bench engines: the world holds the years [2021, 2022], not [2030]"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    options: dict[str, Any], message: str, tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # any folder made would show here
    with pytest.raises(InputError) as refused:
        bench_engines(world=tiny_world, quiet=True, **options)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_a_world_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a world folder"):
        bench_engines(world=tmp_path, quiet=True)


def test_missing_java_is_named_before_the_local_side_runs(
    tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))  # a new session is needed
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name: None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(InputError, match="needs Java 17 or newer"):
        bench_engines(world=tiny_world, quiet=True)
    assert list(tmp_path.iterdir()) == []
