"""The Spark engine on a Spark Connect session (Databricks serverless and shared clusters hand out these):
extract and series give what the local engine gives, and workers' project errors come back to the driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inseason.extract.stage import extract
from inseason.series.build import make_series


def _parts(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("year=*/tile=*/part-*"))}


@pytest.mark.spark
def test_extract_and_series_on_spark_connect_equal_the_local_engine(
    engine_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    points, scenes = engine_inputs
    local = tmp_path / "local"
    expected = extract(points, scenes, out=local / "obs", workers=1, quiet=True)
    make_series(local / "obs", points=points, out=local / "series.parquet", quiet=True)
    script = Path(__file__).with_name("on_spark_connect.py")
    done = subprocess.run(
        [sys.executable, str(script), str(points), str(scenes), str(tmp_path / "connect")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        timeout=1800,
    )  # a guard against a hung JVM, not a speed goal
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["session"] == "pyspark.sql.connect.session" and not result["has_context"]
    assert {k: result["extract"][k] for k in ("done", "observations", "bytes_read")} == {
        k: getattr(expected, k) for k in ("done", "observations", "bytes_read")
    }
    assert _parts(tmp_path / "connect" / "obs") == _parts(local / "obs") != {}
    assert pq.read_table(tmp_path / "connect" / "series.parquet").equals(
        pq.read_table(local / "series.parquet"), check_metadata=True
    )
    assert result["error"] == "unit -1 is negative"
