"""The synthetic world's truth on a map grid, straight from the generator.

Each pixel's CDL code and, for double crops, the true transition day (for tests, benchmarks and scoring
maps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from pyproj import Transformer

from inseason.predict.read import Block, MapGrid
from inseason.season import day_of_season
from inseason.synth import load_world


@dataclass(frozen=True)
class PixelTruth:
    """Truth of some pixels: CDL code and the true double-crop transition day of season (−1 if none)."""

    codes: np.ndarray  # int32
    transition_day: np.ndarray  # int64


def world_truth(
    world: str | os.PathLike[str], *, grid: MapGrid, block: Block, pixels: np.ndarray, year: int, season: str = "01-01"
) -> PixelTruth:
    """What the generator of ``world`` grew in ``year`` at block ``pixels``.

    The true transition of a double crop is the middle of the fallow gap between the first crop's harvest
    and the second crop's planting. Pixels off the world get code 0.

    Args:
        world: the synthetic world's folder.
        grid: the map grid.
        block: the block the pixels belong to.
        pixels: row-major pixel indices into the block.
        year: the season's label year.
        season: the month-day the season starts on.

    Returns:
        The CDL code and true transition day of season (−1 if none) of each pixel.
    """
    info, state = load_world(world)
    x, y = block.pixel_centres(grid, pixels)
    if grid.epsg != info["scene_epsg"]:
        x, y = Transformer.from_crs(grid.epsg, info["scene_epsg"], always_xy=True).transform(x, y)
    wc, wr = ~state.grid.transform @ (np.asarray(x), np.asarray(y))
    wr, wc = np.floor(wr).astype(np.int64), np.floor(wc).astype(np.int64)
    units = state.calendar.landscape.units
    inside = (wr >= 0) & (wr < units.shape[0]) & (wc >= 0) & (wc < units.shape[1])
    unit = np.where(inside, units[np.clip(wr, 0, units.shape[0] - 1), np.clip(wc, 0, units.shape[1] - 1)], 0)
    codes = np.where(inside, state.calendar.code_of(year)[unit], 0).astype(np.int32)
    gap = np.full(state.calendar.landscape.n_units, -1, np.int64)
    for row in state.calendar.truth.to_pylist():
        if row["year"] == year and row["second_planting_date"] is not None:
            middle = row["harvest_date"] + (row["second_planting_date"] - row["harvest_date"]) / 2
            gap[row["field_id"]] = day_of_season(middle, year, season)
    return PixelTruth(codes=codes, transition_day=np.where(inside, gap[unit], -1))
