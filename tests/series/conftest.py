"""Fixtures of the series tests: label points, scenes and observations of the tiny world, built once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.sources.points import make_label_points
from tests.once import build_once


@dataclass(frozen=True)
class TinyObservations:
    """Paths of the tiny world and of the label points and observations extracted from it."""

    world: Path
    points: Path
    observations: Path


@pytest.fixture(scope="session")
def tiny_observations(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyObservations:
    """Label points every 10th pixel of 2021 and 2022 and their observations in every scene (read-only)."""
    root = build_once(tmp_path_factory, "series-inputs", lambda folder: _extract_tiny(tiny_world, folder))
    return TinyObservations(world=tiny_world, points=root / "points.parquet", observations=root / "obs")


def _extract_tiny(tiny_world: Path, root: Path) -> None:
    make_label_points(
        cdl=tiny_world / "labels",
        aoi=tiny_world / "aoi.geojson",
        years=[2021, 2022],
        stride=10,
        out=root / "points.parquet",
        quiet=True,
    )
    find_scenes(
        stac=tiny_world / "stac" / "catalog.json",
        aoi=tiny_world / "aoi.geojson",
        start="2021-01-01",
        end="2022-12-31",
        out=root / "scenes.parquet",
        quiet=True,
    )
    extract(root / "points.parquet", root / "scenes.parquet", out=root / "obs", workers=1, quiet=True)


@pytest.fixture(scope="session")
def tiny_series(tiny_observations: TinyObservations, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The series table of the tiny world's observations, CDL names as labels (read-only)."""
    from inseason.series.build import make_series

    def build(folder: Path) -> None:
        make_series(
            tiny_observations.observations,
            points=tiny_observations.points,
            out=folder / "series.parquet",
            quiet=True,
        )

    return build_once(tmp_path_factory, "series-table", build) / "series.parquet"
