"""Fixtures of the extraction tests: label points and scene manifests of synthetic worlds, one full extraction.

Everything here is built once per session and must be treated as read-only by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.sources.points import make_label_points
from inseason.synth import synth


@dataclass(frozen=True)
class Inputs:
    """A world and the label points and scene manifest made from it."""

    world: Path
    points: Path
    scenes: Path


def make_inputs(world: Path, folder: Path, *, years: list[int], stride: int) -> Inputs:
    """Stride-sampled CDL points and the static catalog's scenes over the world's AOI (no quality filter)."""
    make_label_points(
        cdl=str(world / "labels"),
        aoi=str(world / "aoi.geojson"),
        years=years,
        stride=stride,
        out=folder / "points.parquet",
        quiet=True,
    )
    find_scenes(
        stac=str(world / "stac" / "catalog.json"),
        aoi=str(world / "aoi.geojson"),
        start=f"{min(years)}-01-01",
        end=f"{max(years)}-12-31",
        out=folder / "scenes.parquet",
        min_valid=0.0,
        quiet=True,
    )
    return Inputs(world, folder / "points.parquet", folder / "scenes.parquet")


@pytest.fixture(scope="session")
def tiny_inputs(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """Every 15th label pixel of the tiny world (both years) and all its scenes."""
    return make_inputs(tiny_world, tmp_path_factory.mktemp("tiny-inputs"), years=[2021, 2022], stride=15)


@pytest.fixture(scope="session")
def tiny_observations(tiny_inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted extraction of ``tiny_inputs`` with two workers (the reference of the resume test)."""
    out = tmp_path_factory.mktemp("tiny-obs") / "obs"
    extract(tiny_inputs.points, tiny_inputs.scenes, out=out, workers=2, quiet=True)
    return out


@pytest.fixture(scope="session")
def wide_inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """Two 4.8 km tiles overlapping by 960 m (16 × 16 blocks of 128 px at 10 m), June 2022; every 5th pixel."""
    world = synth(
        tmp_path_factory.mktemp("worlds") / "wide",
        size="tiny",
        seed=3,
        tiles_x=2,
        tile_m=4800,
        overlap_m=960,
        years=(2022,),
        season=("06-01", "06-25"),
        quiet=True,
    ).path
    return make_inputs(world, tmp_path_factory.mktemp("wide-inputs"), years=[2022], stride=5)
