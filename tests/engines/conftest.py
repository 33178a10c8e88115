"""Fixtures of the engine and storage tests: one loopback S3 server and one Spark session per test session.

The S3 server's AWS variables are set before Spark starts, so Spark's Python workers inherit them (as
executors on a cluster inherit theirs from the cluster's configuration).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inseason.engines.spark import get_spark
from inseason.extract.scenes import find_scenes
from inseason.sources.points import make_label_points
from inseason.testing.s3 import LoopbackS3


@pytest.fixture(scope="session")
def s3() -> Iterator[LoopbackS3]:
    """A moto S3 server on loopback with the AWS environment pointing at it for the whole session."""
    with LoopbackS3() as server, server.environment():
        yield server


@pytest.fixture(scope="session")
def spark(s3: LoopbackS3) -> Iterator[Any]:
    """A ``local[2]`` Spark session (no UI, few shuffle partitions) whose workers run this interpreter."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        session = get_spark(
            master="local[2]", config={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
        )
        yield session
        session.stop()


@pytest.fixture(scope="session")
def engine_inputs(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Every 15th label pixel of the tiny world in 2022 and its scenes from April to June (read-only)."""
    folder = tmp_path_factory.mktemp("engine-inputs")
    make_label_points(
        cdl=str(tiny_world / "labels"),
        aoi=str(tiny_world / "aoi.geojson"),
        years=[2022],
        stride=15,
        out=folder / "points.parquet",
        quiet=True,
    )
    find_scenes(
        stac=str(tiny_world / "stac" / "catalog.json"),
        aoi=str(tiny_world / "aoi.geojson"),
        start="2022-04-01",
        end="2022-06-30",
        out=folder / "scenes.parquet",
        min_valid=0.0,
        quiet=True,
    )
    return folder / "points.parquet", folder / "scenes.parquet"
