"""Shared fixtures: synthetic worlds, one loopback S3 server and one Spark session, built once per test session.

The worlds are reused read-only. The S3 server's AWS variables are set before Spark starts, so Spark's Python
workers inherit them (as executors on a cluster inherit theirs from the cluster's configuration).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from inseason.engines.spark import get_spark
from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.series.build import make_series
from inseason.series.split import split_series
from inseason.sources.points import make_label_points
from inseason.synth import synth
from inseason.testing.s3 import LoopbackS3
from tests.once import build_once

pytest_plugins = ["inseason.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tiny`` world (seed 1): one 2.4 km tile, 2021 and 2022. Treat it as read-only."""
    folder = build_once(
        tmp_path_factory, "tiny-world", lambda root: synth(root / "tiny", size="tiny", seed=1, quiet=True)
    )
    return folder / "tiny"


@dataclass(frozen=True)
class SmallPipeline:
    """The files of the `small` world run through the pipeline with the local engine (read-only)."""

    world: Path
    points: Path
    scenes: Path
    observations: Path
    series: Path
    split: Path


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory: pytest.TempPathFactory) -> SmallPipeline:
    """The `small` world (seed 1, season 2022) through labels → scenes → extract → series → split, once per
    session: every 5th label pixel, the six largest CDL classes plus Other (``cdl-major:6``),
    split by field (70/15/15)."""
    root = build_once(tmp_path_factory, "small", _build_small_pipeline)
    return _small_pipeline_files(root)


def _small_pipeline_files(root: Path) -> SmallPipeline:
    return SmallPipeline(
        world=root / "world",
        points=root / "points.parquet",
        scenes=root / "scenes.parquet",
        observations=root / "obs",
        series=root / "series.parquet",
        split=root / "split.parquet",
    )


def _build_small_pipeline(root: Path) -> None:
    files = _small_pipeline_files(root)
    world = synth(files.world, size="small", seed=1, years=(2022,), quiet=True).path
    make_label_points(
        cdl=world / "labels", aoi=world / "aoi.geojson", years=[2022], stride=5, out=files.points, quiet=True
    )
    find_scenes(
        stac=world / "stac" / "catalog.json",
        aoi=world / "aoi.geojson",
        start="2022-01-01",
        end="2022-12-31",
        out=files.scenes,
        quiet=True,
    )
    extract(files.points, files.scenes, out=files.observations, quiet=True)
    make_series(files.observations, points=files.points, label_map="cdl-major:6", out=files.series, quiet=True)
    split_series(files.series, by="field", out=files.split, seed=0, quiet=True)


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
    folder = build_once(tmp_path_factory, "engine-inputs", lambda root: _build_engine_inputs(tiny_world, root))
    return folder / "points.parquet", folder / "scenes.parquet"


def _build_engine_inputs(tiny_world: Path, folder: Path) -> None:
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


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs one worker per core) each worker computes with one thread, so
    that PyTorch's and OpenMP's thread pools of the workers do not fight over the same cores. The
    environment variable reaches the subprocesses that tests start."""
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start Spark or headless Chromium or build the `small` world (they run by
    default; ``-m "not spark"``, ``-m "not browser"`` or ``-m "not slow"`` leaves them out)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "spark" in fixtures:
            item.add_marker(pytest.mark.spark)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if "small_pipeline" in fixtures or "small_world_series" in fixtures:
            item.add_marker(pytest.mark.slow)
