"""The local and Spark engines give byte-identical results on the `small` world (two overlapping tiles,
one season): extract part files, and the series table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from inseason.extract.stage import extract
from inseason.series.build import make_series


def _parts(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("year=*/tile=*/part-*"))}


def test_spark_extract_and_series_equal_the_local_engine(
    small_pipeline: Any, spark: SparkSession, tmp_path: Path
) -> None:
    totals = extract(small_pipeline.points, small_pipeline.scenes, out=tmp_path / "obs", engine="spark", quiet=True)
    local = _parts(small_pipeline.observations)
    assert totals.done == len(local) > 100 and totals.skipped == 0
    assert len({name.split("/")[1] for name in local}) == 2  # both tiles of the world
    assert _parts(tmp_path / "obs") == local  # byte for byte, file by file

    make_series(
        tmp_path / "obs",
        points=small_pipeline.points,
        label_map="cdl-major:6",
        out=tmp_path / "series.parquet",
        engine="spark",
        partitions=4,
        quiet=True,
    )
    assert pq.read_table(tmp_path / "series.parquet").equals(pq.read_table(small_pipeline.series), check_metadata=True)
