"""CDL-like label rasters (EPSG:5070, 30 m, uint8 CDL codes with the official colour table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

from inseason.cog import write_cog
from inseason.labels import cdl_class, cdl_colormap
from inseason.synth.crops import CropCalendar
from inseason.synth.grid import LABEL_EPSG, LABEL_RES, WorldGrid

#: Where CDL's classifier goes wrong most: each crop's usual confusion partners.
CONFUSION: dict[int, tuple[int, ...]] = {
    1: (5, 4),
    2: (5,),
    3: (5, 111),
    4: (1,),
    5: (2, 1),
    24: (61, 176),
    26: (5, 24),
    61: (176,),
    176: (61, 37),
}


def label_grid(grid: WorldGrid) -> tuple[Affine, tuple[int, int]]:
    """The 30 m Conus Albers grid (snapped to CDL's 30 m lattice) that covers the world.

    Args:
        grid: the world's grid.

    Returns:
        The label grid's transform and (rows, cols).
    """
    left, bottom, right, top = transform_bounds(
        grid.epsg, LABEL_EPSG, grid.left, grid.top - grid.height_m, grid.left + grid.width_m, grid.top
    )
    left, bottom = np.floor(left / LABEL_RES) * LABEL_RES, np.floor(bottom / LABEL_RES) * LABEL_RES
    right, top = np.ceil(right / LABEL_RES) * LABEL_RES, np.ceil(top / LABEL_RES) * LABEL_RES
    shape = (int((top - bottom) / LABEL_RES), int((right - left) / LABEL_RES))
    return Affine(LABEL_RES, 0, left, 0, -LABEL_RES, top), shape


def cdl_raster(
    calendar: CropCalendar, grid: WorldGrid, year: int, rng: np.random.Generator, *, noise: float
) -> tuple[np.ndarray, Affine]:
    """The year's label raster: the 10 m truth reduced to 30 m Albers by majority, plus CDL-like noise.

    Args:
        calendar: the crop calendar (the truth).
        grid: the world's grid.
        year: the label year.
        rng: the generator of the noise.
        noise: the share of pixels of confusable classes given a confused class.

    Returns:
        The uint8 CDL codes (0: nodata) and their transform (`label_grid`).
    """
    truth = calendar.code_of(year)[calendar.landscape.units]
    transform, shape = label_grid(grid)
    labels = np.zeros(shape, dtype=np.uint8)
    reproject(
        truth,
        labels,
        src_transform=grid.transform,
        src_crs=f"EPSG:{grid.epsg}",
        dst_transform=transform,
        dst_crs=f"EPSG:{LABEL_EPSG}",
        resampling=Resampling.mode,
        src_nodata=0,
        dst_nodata=0,
    )
    flip = (rng.random(shape) < noise) & np.isin(labels, list(CONFUSION))
    for code, partners in CONFUSION.items():
        where = flip & (labels == code)
        labels[where] = rng.choice(np.array(partners, dtype=np.uint8), size=int(where.sum()))
    return labels, transform


def write_cdl(path: Path, labels: np.ndarray, transform: Affine, year: int, *, block_size: int) -> int:
    """Write a label raster as a COG with CDL's colour table and the class names present as tags.

    Args:
        path: the COG to write.
        labels: the uint8 CDL codes (0: nodata).
        transform: the raster's transform in Conus Albers.
        year: the label year (a tag).
        block_size: the COG's block size in pixels.

    Returns:
        The size of the written file, bytes.
    """
    present = [int(c) for c in np.unique(labels) if c]
    tags = {
        "YEAR": str(year),
        "SOURCE": "inseason synthetic CDL-like labels",
        **{f"CLASS_{c}": cdl_class(c).name for c in present},
    }
    return write_cog(
        path,
        labels,
        crs=LABEL_EPSG,
        transform=transform,
        nodata=0,
        block_size=block_size,
        resampling="NEAREST",
        colormap=cdl_colormap(),
        tags=tags,
    )
