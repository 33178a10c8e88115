"""Fixtures of the map tests: the tiny world's scene manifest and AOI, built once per session (read-only)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from shapely.geometry.base import BaseGeometry

from inseason.extract.scenes import find_scenes
from inseason.sources.aoi import read_aoi


@pytest.fixture(scope="session")
def tiny_scenes(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """Every scene of the tiny world (2021 and 2022), no quality filter."""
    out = tmp_path_factory.mktemp("predict-scenes") / "scenes.parquet"
    return find_scenes(stac=str(tiny_world / "stac" / "catalog.json"), aoi=str(tiny_world / "aoi.geojson"),
                       start="2021-01-01", end="2022-12-31", out=out, min_valid=0.0, quiet=True)


@pytest.fixture(scope="session")
def tiny_aoi(tiny_world: Path) -> BaseGeometry:
    """The tiny world's AOI in lon/lat."""
    return read_aoi(tiny_world / "aoi.geojson")
