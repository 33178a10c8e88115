"""Write the scenes of one datatake: a folder of COGs per tile the orbit covers.

By default each COG covers its world tile exactly. With the real layout, each is the real Sentinel-2 tile
that holds the world tile (`inseason.synth.grid.real_tile`): 10 980 x 10 980 px at 10 m (5 490 at 20 m,
1 830 at 60 m), 1 024-px blocks, DEFLATE with predictor 2 and overviews, the world's pixels in their place
and nodata (0) around them, written through a sparse scratch file (`write_windowed_cog`) so memory stays a
few blocks per band whatever the tile's size.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from pyproj import Transformer
from rasterio.windows import Window
from shapely.geometry import box, mapping

from inseason.cog import write_cog
from inseason.synth.acquisitions import Datatake, boa_offset
from inseason.synth.grid import BAND_RES, Tile, WorldGrid, real_tile
from inseason.synth.render import (
    SCL_CIRRUS,
    SCL_CLOUD_HIGH,
    SCL_CLOUD_MEDIUM,
    SCL_NODATA,
    WorldState,
    render,
    swath_polygon,
)
from inseason.testing.real_layout import REAL_BLOCK, copy_as_cog

_PLATFORM_CODE = {"sentinel-2a": "S2A", "sentinel-2b": "S2B", "sentinel-2c": "S2C"}


def scene_id(take: Datatake, tile: Tile, *, version: int = 0) -> str:
    """Earth-search style scene id, e.g. ``S2B_15SYS_20210405_0_L2A``.

    Args:
        take: the datatake.
        tile: the tile.
        version: 0, or 1 for the reprocessed scene.

    Returns:
        The scene id.
    """
    return f"{_PLATFORM_CODE[take.platform]}_{tile.name}_{take.date:%Y%m%d}_{version}_L2A"


def scene_dir(take: Datatake, tile: Tile, *, version: int = 0) -> str:
    """Folder of a scene's COGs, relative to the world root.

    Args:
        take: the datatake.
        tile: the tile.
        version: 0, or 1 for the reprocessed scene.

    Returns:
        ``scenes/TILE/YEAR/SCENE_ID``.
    """
    return f"scenes/{tile.name}/{take.date.year}/{scene_id(take, tile, version=version)}"


def tile_arrays(
    world: WorldState, take: Datatake, tile: Tile, rendered: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The arrays of ``take`` cut to ``tile`` (the generator's truth for the tile's COGs).

    A tile in the world grid's CRS is a window of the rendered arrays; a tile of the other UTM zone (a world
    ``across_zones``) takes, at each of its pixels, the rendered pixel of the same resolution that holds the
    pixel's centre (nearest neighbour across the zones' rotation), so both zones' scenes show the same ground
    at the same longitude and latitude.

    Args:
        world: the world.
        take: the datatake.
        tile: the tile.
        rendered: the datatake's arrays over the whole world from `render` (rendered here when None).

    Returns:
        One array per band and ``SCL``, cut to the tile.
    """
    rendered = rendered if rendered is not None else render(world, take)
    out = {}
    if tile.epsg != world.grid.epsg:
        for band, array in rendered.items():
            at_rows, at_cols = _grid_pixels(world.grid, tile, BAND_RES[band])
            out[band] = array[at_rows, at_cols]
        return out
    rows, cols = world.grid.tile_window(tile)
    for band, array in rendered.items():
        f = BAND_RES[band] // 10
        out[band] = array[rows.start // f : rows.stop // f, cols.start // f : cols.stop // f]
    return out


@functools.lru_cache(maxsize=8)
def _grid_pixels(grid: WorldGrid, tile: Tile, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column, in the world grid at ``res`` metres, of the pixel holding each pixel centre of ``tile``."""
    n = tile.size_m // res
    x = tile.left + (np.arange(n) + 0.5) * res
    y = tile.top - (np.arange(n) + 0.5) * res
    gx, gy = Transformer.from_crs(tile.epsg, grid.epsg, always_xy=True).transform(*np.meshgrid(x, y))
    rows = np.floor((grid.top - gy) / res).astype(np.int64)
    cols = np.floor((gx - grid.left) / res).astype(np.int64)
    shape = (grid.height_m // res, grid.width_m // res)
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]:
        raise AssertionError(f"tile {tile.name} reaches outside the world grid")  # world_grid holds every tile
    return rows, cols


def _footprint(world: WorldState, take: Datatake, tile: Tile) -> tuple[dict[str, Any], list[float]]:
    """Lon/lat polygon of the tile's imaged area (the tile square, cut at the swath edge)."""
    geom = box(*tile.bounds)
    if tile.epsg != world.grid.epsg:  # the other zone's tile, cut in the world grid's CRS
        to_grid = Transformer.from_crs(tile.epsg, world.grid.epsg, always_xy=True)
        geom = shapely.transform(geom.segmentize(tile.size_m / 8), to_grid.transform, interleaved=False)
        if not take.full_swath:
            geom = geom.intersection(swath_polygon(world.grid))
        to_ll = Transformer.from_crs(world.grid.epsg, 4326, always_xy=True)
        ll = shapely.transform(geom, to_ll.transform, interleaved=False)
        return mapping(ll), [round(v, 7) for v in ll.bounds]
    if not take.full_swath:
        geom = geom.intersection(swath_polygon(world.grid))
    to_ll = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    ll = shapely.transform(geom.segmentize(tile.size_m / 8), to_ll.transform, interleaved=False)
    return mapping(ll), [round(v, 7) for v in ll.bounds]


def write_windowed_cog(
    path: Path, array: np.ndarray, cog: Tile, res: int, *, row: int, col: int, block_size: int, resampling: str
) -> int:
    """Write ``array`` at (``row``, ``col``) of ``cog``'s grid at ``res`` metres as a COG, nodata (0) around it.

    The pixels go into a sparse scratch GeoTIFF beside ``path`` (the blocks around them are never written, so
    they cost neither memory nor time), which GDAL's COG driver then lays out as real L2A files are: every
    block stored, DEFLATE with predictor 2, overviews, header first. GDAL's block cache is held to 64 MB, so
    memory stays a few blocks whatever the raster's size.

    Args:
        path: the file to write (atomically).
        array: the pixels (uint16 reflectance or uint8 classes), inside the raster.
        cog: the raster's tile (its CRS, corner and side).
        res: the pixel size, metres.
        row: the raster row of ``array``'s first row.
        col: the raster column of ``array``'s first column.
        block_size: the side of the COG's blocks, pixels.
        resampling: the overviews' resampling (``AVERAGE`` for reflectance, ``NEAREST`` for classes).

    Returns:
        The size of the written file, bytes.
    """
    rows, cols = cog.shape(res)
    scratch = path.with_name(f".{path.name}.blocks-{os.getpid()}.tif")
    profile: dict[str, Any] = dict(
        driver="GTiff",
        width=cols,
        height=rows,
        count=1,
        dtype=array.dtype,
        crs=f"EPSG:{cog.epsg}",
        transform=cog.transform(res),
        nodata=0,
        tiled=True,
        blockxsize=block_size,
        blockysize=block_size,
        sparse_ok=True,
    )
    try:
        with rasterio.Env(GDAL_CACHEMAX=64):
            with rasterio.open(scratch, "w", **profile) as dst:
                dst.write(array, 1, window=Window(col, row, array.shape[1], array.shape[0]))
            copy_as_cog(scratch, path, resampling=resampling, block_size=block_size)
    finally:
        scratch.unlink(missing_ok=True)
    return path.stat().st_size


def _write_band(path: Path, band: str, array: np.ndarray, tile: Tile, cog: Tile, block_size: int) -> int:
    """Write one band of a scene: ``tile``'s pixels in a COG of ``cog``'s extent; return the file's size."""
    res = BAND_RES[band]
    resampling = "NEAREST" if band == "SCL" else "AVERAGE"
    if cog == tile:
        transform = tile.transform(res)
        return write_cog(path, array, crs=tile.epsg, transform=transform, block_size=block_size, resampling=resampling)
    row, col = round((cog.top - tile.top) / res), round((tile.left - cog.left) / res)
    return write_windowed_cog(path, array, cog, res, row=row, col=col, block_size=block_size, resampling=resampling)


def write_datatake(
    world: WorldState, take: Datatake, root: Path, *, block_size: int, real_layout: bool = False
) -> list[dict[str, Any]]:
    """Render ``take`` and write one scene per covered tile (twice when reprocessed).

    Args:
        world: the world.
        take: the datatake.
        root: the world's folder.
        block_size: the COGs' block size in pixels (the real layout's is 1 024).
        real_layout: write each scene as the real Sentinel-2 tile holding its world tile (`real_tile`): the
            world's pixels in place and nodata around them.

    Returns:
        One record per scene written: ids, folder, tile, date, orbit, baseline and BOA offset, cloud and
        nodata percentages (of the whole COG), footprint (the imaged part of the world tile), bbox, bytes, and
        the transform and shape of each resolution (the COGs').
    """
    rendered = render(world, take)
    records = []
    for tile in world.grid.tiles:
        arrays = tile_arrays(world, take, tile, rendered)
        scl = arrays["SCL"]
        valid = scl != SCL_NODATA
        if not valid.any():
            continue
        versions = [(0, take.baseline)] + ([(1, take.reprocessed_baseline)] if take.reprocessed_baseline else [])
        footprint, bbox = _footprint(world, take, tile)
        cloudy = np.isin(scl[valid], (SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS)).mean()
        cog = real_tile(tile) if real_layout else tile
        nodata = 1 - valid.sum() / (cog.shape(20)[0] * cog.shape(20)[1])
        for version, baseline in versions:
            folder = scene_dir(take, tile, version=version)
            (root / folder).mkdir(parents=True, exist_ok=True)
            size = 0
            for band, array in arrays.items():
                size += _write_band(
                    root / folder / f"{band}.tif", band, array, tile, cog, REAL_BLOCK if real_layout else block_size
                )
            records.append(
                {
                    "scene_id": scene_id(take, tile, version=version),
                    "scene_dir": folder,
                    "tile": tile.name,
                    "epsg": tile.epsg,
                    "datetime": take.datetime.isoformat(),
                    "platform": take.platform,
                    "relative_orbit": take.relative_orbit,
                    "datatake": take.index,
                    "datatake_id": (
                        f"GS2{_PLATFORM_CODE[take.platform][-1]}_{take.datetime:%Y%m%dT%H%M%S}"
                        f"_{take.relative_orbit:03d}"
                    ),
                    "processing_baseline": baseline,
                    "boa_offset": boa_offset(baseline),
                    "reprocessed": version,
                    "cloud_cover": round(float(cloudy) * 100, 4),
                    "nodata_percentage": round(float(nodata) * 100, 4),
                    "requested_cloud": take.cloud,
                    "footprint": footprint,
                    "bbox": bbox,
                    "bytes": size,
                    "transforms": {str(r): list(cog.transform(r))[:6] for r in (10, 20, 60)},
                    "shapes": {str(r): list(cog.shape(r)) for r in (10, 20, 60)},
                }
            )
    return records
