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
from tests.once import build_once


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
    folder = build_once(
        tmp_path_factory,
        "extract-tiny-inputs",
        lambda root: make_inputs(tiny_world, root, years=[2021, 2022], stride=15),
    )
    return Inputs(tiny_world, folder / "points.parquet", folder / "scenes.parquet")


@pytest.fixture(scope="session")
def tiny_observations(tiny_inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted extraction of ``tiny_inputs`` with two workers (the reference of the resume test)."""

    def build(folder: Path) -> None:
        extract(tiny_inputs.points, tiny_inputs.scenes, out=folder / "obs", workers=2, quiet=True)

    return build_once(tmp_path_factory, "extract-tiny-obs", build) / "obs"


@pytest.fixture(scope="session")
def wide_inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """Two 4.8 km tiles overlapping by 960 m (16 × 16 blocks of 128 px at 10 m), June 2022; every 5th pixel."""

    def build(root: Path) -> None:
        world = synth(
            root / "wide",
            size="tiny",
            seed=3,
            tiles_x=2,
            tile_m=4800,
            overlap_m=960,
            years=(2022,),
            season=("06-01", "06-25"),
            quiet=True,
        ).path
        make_inputs(world, root, years=[2022], stride=5)

    root = build_once(tmp_path_factory, "extract-wide", build)
    return Inputs(root / "wide", root / "points.parquet", root / "scenes.parquet")
