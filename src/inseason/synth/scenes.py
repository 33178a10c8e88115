"""Write the scenes of one datatake: a folder of COGs per tile the orbit covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import box, mapping

from inseason.cog import write_cog
from inseason.synth.acquisitions import Datatake, boa_offset
from inseason.synth.grid import BAND_RES, Tile
from inseason.synth.render import (
    SCL_CIRRUS,
    SCL_CLOUD_HIGH,
    SCL_CLOUD_MEDIUM,
    SCL_NODATA,
    WorldState,
    render,
    swath_polygon,
)

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

    Args:
        world: the world.
        take: the datatake.
        tile: the tile.
        rendered: the datatake's arrays over the whole world from `render` (rendered here when None).

    Returns:
        One array per band and ``SCL``, cut to the tile.
    """
    rendered = rendered if rendered is not None else render(world, take)
    rows, cols = world.grid.tile_window(tile)
    out = {}
    for band, array in rendered.items():
        f = BAND_RES[band] // 10
        out[band] = array[rows.start // f : rows.stop // f, cols.start // f : cols.stop // f]
    return out


def _footprint(world: WorldState, take: Datatake, tile: Tile) -> tuple[dict[str, Any], list[float]]:
    """Lon/lat polygon of the tile's imaged area (the tile square, cut at the swath edge)."""
    geom = box(*tile.bounds)
    if not take.full_swath:
        geom = geom.intersection(swath_polygon(world.grid))
    to_ll = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    ll = shapely.transform(geom.segmentize(tile.size_m / 8), to_ll.transform, interleaved=False)
    return mapping(ll), [round(v, 7) for v in ll.bounds]


def write_datatake(world: WorldState, take: Datatake, root: Path, *, block_size: int) -> list[dict[str, Any]]:
    """Render ``take`` and write one scene per covered tile (twice when reprocessed).

    Args:
        world: the world.
        take: the datatake.
        root: the world's folder.
        block_size: the COGs' block size in pixels.

    Returns:
        One record per scene written: ids, folder, tile, date, orbit, baseline and BOA offset, cloud and
        nodata percentages, footprint, bbox, bytes, and the transform and shape of each resolution.
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
        for version, baseline in versions:
            folder = scene_dir(take, tile, version=version)
            (root / folder).mkdir(parents=True, exist_ok=True)
            size = 0
            for band, array in arrays.items():
                res = BAND_RES[band]
                size += write_cog(
                    root / folder / f"{band}.tif",
                    array,
                    crs=tile.epsg,
                    transform=tile.transform(res),
                    nodata=0,
                    block_size=block_size,
                    resampling="NEAREST" if band == "SCL" else "AVERAGE",
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
                    "nodata_percentage": round(float(1 - valid.mean()) * 100, 4),
                    "requested_cloud": take.cloud,
                    "footprint": footprint,
                    "bbox": bbox,
                    "bytes": size,
                    "transforms": {str(r): list(tile.transform(r))[:6] for r in (10, 20, 60)},
                    "shapes": {str(r): list(tile.shape(r)) for r in (10, 20, 60)},
                }
            )
    return records
