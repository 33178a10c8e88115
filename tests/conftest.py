"""Shared fixtures: synthetic worlds are built once per test session and reused read-only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.series.build import make_series
from inseason.series.split import split_series
from inseason.sources.points import make_label_points
from inseason.synth import synth

pytest_plugins = ["inseason.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tiny`` world (seed 1): one 2.4 km tile, 2021 and 2022. Treat it as read-only."""
    return synth(tmp_path_factory.mktemp("worlds") / "tiny", size="tiny", seed=1, quiet=True).path


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
    """The `small` world (seed 1) through labels → scenes → extract → series → split, once per session:
    every 10th label pixel of 2021 and 2022, the six largest CDL classes plus Other (``cdl-major:6``),
    split by field (70/15/15)."""
    root = tmp_path_factory.mktemp("small")
    world = synth(root / "world", size="small", seed=1, quiet=True).path
    files = SmallPipeline(
        world=world,
        points=root / "points.parquet",
        scenes=root / "scenes.parquet",
        observations=root / "obs",
        series=root / "series.parquet",
        split=root / "split.parquet",
    )
    make_label_points(
        cdl=world / "labels", aoi=world / "aoi.geojson", years=[2021, 2022], stride=10, out=files.points, quiet=True
    )
    find_scenes(
        stac=world / "stac" / "catalog.json",
        aoi=world / "aoi.geojson",
        start="2021-01-01",
        end="2022-12-31",
        out=files.scenes,
        quiet=True,
    )
    extract(files.points, files.scenes, out=files.observations, quiet=True)
    make_series(files.observations, points=files.points, label_map="cdl-major:6", out=files.series, quiet=True)
    split_series(files.series, by="field", out=files.split, seed=0, quiet=True)
    return files


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
