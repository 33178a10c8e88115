"""Scene band files with the layout of real Sentinel-2 L2A COGs, and the Earth Search v1 item that lists them.

Real L2A COGs (Earth Search's ``sentinel-cogs``) are 10 980 × 10 980 pixels at 10 m (5 490 at 20 m,
1 830 at 60 m; one 109.8 km tile), tiled in 1 024-pixel blocks, DEFLATE with the horizontal predictor (2),
with overviews, uint16 reflectance (uint8 SCL) with nodata 0, in the tile's UTM zone (EPSG 326xx / 327xx)
on a grid whose origin is a multiple of 60 m. :func:`write_band` writes one such file block by block from a
function of (row, col), or from a small pattern tiled over the raster, so memory stays a few blocks whatever
the size; :func:`write_scene` writes the bands of one scene and returns :func:`stac_item`'s item for it,
with Earth Search v1 asset keys (``blue``, ``red``, ``nir``, ``scl``…), ``proj:*`` and ``raster:bands``.

Smaller tiles keep the layout (block size, compression, overviews) with ``size_10m`` below 10 980 (a
multiple of 6, so the 20 m and 60 m grids nest in the 10 m one).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.warp import transform_geom
from rasterio.windows import Window

from inseason import storage
from inseason.tables import S2_COMMON_NAMES

__all__ = [
    "ASSET_KEYS",
    "BAND_RESOLUTION",
    "REAL_BLOCK",
    "REAL_ORIGIN",
    "REAL_SIZE_10M",
    "RealScene",
    "Values",
    "band_size",
    "band_transform",
    "scene_values",
    "stac_item",
    "write_band",
    "write_scene",
]

#: Side of a real L2A tile at 10 m, pixels (109.8 km).
REAL_SIZE_10M = 10_980
#: Side of the internal blocks of the real COGs, pixels.
REAL_BLOCK = 1_024
#: Upper-left corner of the tile grid used by default (easting, northing), metres: like real tiles', a
#: multiple of 60 m.
REAL_ORIGIN = (600_000.0, 4_200_000.0)
#: Resolution of each L2A band, metres.
BAND_RESOLUTION: dict[str, int] = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B11": 20,
    "B12": 20,
    "SCL": 20,
}
#: Earth Search v1 asset key of each band (its common name, `inseason.tables.S2_COMMON_NAMES`).
ASSET_KEYS: dict[str, str] = {**S2_COMMON_NAMES, "SCL": "scl"}
_CENTRE_WAVELENGTH = {
    "B01": 0.443,
    "B02": 0.49,
    "B03": 0.56,
    "B04": 0.665,
    "B05": 0.704,
    "B06": 0.74,
    "B07": 0.783,
    "B08": 0.842,
    "B8A": 0.865,
    "B09": 0.945,
    "B11": 1.61,
    "B12": 2.19,
}
#: The values of one band: given the rows (an int64 column, shape [h, 1]) and columns (an int64 row, shape
#: [1, w]) of a window in the band's own pixel grid, the pixel values, broadcastable to [h, w].
Values = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _resolution(band: str) -> int:
    if band not in BAND_RESOLUTION:
        raise ValueError(f"unknown band {band!r}: use one of {', '.join(BAND_RESOLUTION)}")
    return BAND_RESOLUTION[band]


def band_size(band: str, size_10m: int = REAL_SIZE_10M) -> int:
    """Side of ``band``'s raster, pixels, for a tile of ``size_10m`` pixels at 10 m.

    Args:
        band: the band (``B02``, ``SCL``…).
        size_10m: the tile's side at 10 m, pixels (10 980 for a real tile).

    Returns:
        The side at the band's resolution (10 980, 5 490 or 1 830 for a real tile).

    Raises:
        ValueError: an unknown band, or ``size_10m`` not a positive multiple of 6.
    """
    if size_10m <= 0 or size_10m % 6:
        raise ValueError(f"size_10m={size_10m}: use a positive multiple of 6 so the 20 m and 60 m grids nest")
    return size_10m * 10 // _resolution(band)


def band_transform(band: str, origin: tuple[float, float] = REAL_ORIGIN) -> Affine:
    """The affine transform of ``band``'s raster for a tile whose upper-left corner is ``origin``.

    Args:
        band: the band.
        origin: (easting, northing) of the tile's upper-left corner, metres.

    Returns:
        The transform (north up, square pixels of the band's resolution).

    Raises:
        ValueError: an unknown band.
    """
    res = float(_resolution(band))
    return Affine(res, 0.0, origin[0], 0.0, -res, origin[1])


def _values_of(values: Values | np.ndarray) -> Values:
    if callable(values):
        return values
    pattern = np.asarray(values)
    if pattern.ndim != 2 or 0 in pattern.shape:
        raise ValueError(f"a pattern must be a non-empty 2-D array, not of shape {pattern.shape}")
    return lambda rows, cols: pattern[rows % pattern.shape[0], cols % pattern.shape[1]]


def write_band(
    path: str | os.PathLike[str],
    values: Values | np.ndarray,
    *,
    band: str,
    epsg: int,
    origin: tuple[float, float] = REAL_ORIGIN,
    size_10m: int = REAL_SIZE_10M,
    block_size: int = REAL_BLOCK,
    overviews: bool = True,
) -> Path:
    """Write one band of a scene as a COG with the real L2A layout, block by block.

    The pixels are made one block at a time into a scratch tiled GeoTIFF next to ``path`` (deleted after),
    which GDAL's COG driver then lays out: ``block_size`` tiles, DEFLATE with predictor 2, overviews by
    halving down to below one block (average for reflectance, nearest for SCL), header first. Memory stays a
    few blocks. Reflectance bands are uint16, SCL uint8; nodata is 0.

    Args:
        path: the file to write (atomically).
        values: a function of (rows, cols) in the band's pixel grid (see :data:`Values`), or a small 2-D
            pattern repeated over the raster.
        band: the band (``B02``… or ``SCL``), which sets the resolution and data type.
        epsg: the UTM zone's EPSG code (326xx north, 327xx south).
        origin: (easting, northing) of the tile's upper-left corner, metres.
        size_10m: the tile's side at 10 m, pixels (a multiple of 6).
        block_size: the side of the internal blocks, pixels.
        overviews: build overviews (real files have them).

    Returns:
        ``path``.

    Raises:
        ValueError: an unknown band, a bad ``size_10m`` or a pattern that is not 2-D.
    """
    path = Path(path)
    side = band_size(band, size_10m)
    dtype = "uint8" if band == "SCL" else "uint16"
    make = _values_of(values)
    profile: dict[str, Any] = dict(
        driver="GTiff",
        width=side,
        height=side,
        count=1,
        dtype=dtype,
        crs=f"EPSG:{epsg}",
        transform=band_transform(band, origin),
        nodata=0,
        tiled=True,
        blockxsize=block_size,
        blockysize=block_size,
        compress="DEFLATE",
        zlevel=1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.blocks-{os.getpid()}.tif")
    try:
        with rasterio.Env(GDAL_CACHEMAX=64, GDAL_NUM_THREADS=1):
            with rasterio.open(scratch, "w", **profile) as dst:
                for row in range(0, side, block_size):
                    for col in range(0, side, block_size):
                        h, w = min(block_size, side - row), min(block_size, side - col)
                        rows = np.arange(row, row + h, dtype=np.int64)[:, None]
                        cols = np.arange(col, col + w, dtype=np.int64)[None, :]
                        block = np.broadcast_to(np.asarray(make(rows, cols)), (h, w)).astype(dtype)
                        dst.write(block, 1, window=Window(col, row, w, h))
            resampling = "NEAREST" if band == "SCL" else "AVERAGE"
            copy_as_cog(scratch, path, resampling=resampling, block_size=block_size, overviews=overviews)
    finally:
        scratch.unlink(missing_ok=True)
    return path


def copy_as_cog(
    scratch: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    resampling: str = "AVERAGE",
    block_size: int = REAL_BLOCK,
    overviews: bool = True,
) -> None:
    """Copy a tiled scratch GeoTIFF to ``path`` as a COG with the real L2A profile, atomically.

    DEFLATE with predictor 2, ``block_size`` blocks, overviews: the one place that profile is written, for
    this module and ``inseason synth --real-layout``.

    Args:
        scratch: the source GeoTIFF (any layout GDAL reads).
        path: the COG to write (through a temporary name and a rename).
        resampling: the overviews' resampling (``AVERAGE`` for reflectance, ``NEAREST`` for class bands).
        block_size: the COG's internal block side, pixels.
        overviews: whether to build overviews.
    """
    with storage.atomic_path(path) as tmp:
        rasterio.shutil.copy(
            scratch,
            tmp,
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="2",
            BLOCKSIZE=str(block_size),
            OVERVIEWS="AUTO" if overviews else "NONE",
            OVERVIEW_RESAMPLING=resampling,
            NUM_THREADS="1",
        )


def scene_values(
    value: int | Mapping[str, int], *, scl: int = 4, pattern: np.ndarray | None = None
) -> Callable[[str], Values]:
    """Per-band values for :func:`write_scene`: a constant reflectance (or one per band), SCL ``scl``.

    Args:
        value: the digital number of every reflectance band, or one per band.
        scl: the SCL class of every pixel (4: vegetation).
        pattern: an optional small int 2-D pattern added to the reflectance (tiled over the raster).

    Returns:
        A function of the band giving that band's :data:`Values`.
    """

    def of(band: str) -> Values:
        if band == "SCL":
            return lambda rows, cols: np.full((rows.shape[0], cols.shape[1]), scl, np.uint8)
        base = value[band] if isinstance(value, Mapping) else value
        if pattern is None:
            return lambda rows, cols: np.full((rows.shape[0], cols.shape[1]), base, np.uint16)
        tiled = _values_of(pattern)
        return lambda rows, cols: (base + tiled(rows, cols)).astype(np.uint16)

    return of


@dataclass(frozen=True)
class RealScene:
    """A scene written by :func:`write_scene`: its files per band and its Earth Search v1 STAC item."""

    scene_id: str
    date: dt.date
    epsg: int
    origin: tuple[float, float]
    size_10m: int
    paths: dict[str, Path]
    item: dict[str, Any]

    @property
    def hrefs(self) -> dict[str, str]:
        """The item's asset hrefs per band (what a scene manifest holds)."""
        return {band: self.item["assets"][ASSET_KEYS[band]]["href"] for band in self.paths}


def write_scene(
    folder: str | os.PathLike[str],
    values: Callable[[str], Values | np.ndarray],
    *,
    date: dt.date,
    epsg: int,
    bands: Sequence[str] = ("B02", "B04", "B08", "SCL"),
    tile: str | None = None,
    scene_id: str | None = None,
    origin: tuple[float, float] = REAL_ORIGIN,
    size_10m: int = REAL_SIZE_10M,
    block_size: int = REAL_BLOCK,
    href_base: str | None = None,
    processing_baseline: str = "05.09",
    boa_offset_applied: bool = True,
    cloud_cover: float = 5.0,
    platform: str = "sentinel-2a",
) -> RealScene:
    """Write the bands of one scene with the real layout under ``folder/<scene_id>/`` and build its item.

    Files are named like Earth Search's (``B02.tif``, ``SCL.tif``…).

    Args:
        folder: where the scene's folder goes.
        values: the values of each band (``values(band)``: a :data:`Values` function or a small pattern).
        date: the sensing date (the item's datetime is 10:30 UTC that day).
        epsg: the UTM zone's EPSG code.
        bands: the bands to write.
        tile: the MGRS tile (``14SKB``); by default one made of the zone.
        scene_id: the item id; by default Earth Search's ``S2A_<tile>_<YYYYMMDD>_0_L2A``.
        origin: (easting, northing) of the tile's upper-left corner, metres.
        size_10m: the tile's side at 10 m, pixels (a multiple of 6; 10 980 for a real tile).
        block_size: the side of the internal blocks, pixels.
        href_base: the URL the scene folder is served under (the item's hrefs are ``href_base/<scene_id>/B02.tif``);
            by default the files' local paths.
        processing_baseline: ``s2:processing_baseline``.
        boa_offset_applied: ``earthsearch:boa_offset_applied``.
        cloud_cover: ``eo:cloud_cover``, percent.
        platform: ``platform`` (``sentinel-2a``, ``sentinel-2b``, ``sentinel-2c``).

    Returns:
        The scene: its files and its item.

    Raises:
        ValueError: an unknown band or a bad ``size_10m``.
    """
    zone, south = epsg % 100, epsg // 100 == 327
    tile = tile or f"{zone:02d}{'H' if south else 'S'}KB"
    scene_id = scene_id or f"S2{platform[-1].upper()}_{tile}_{date:%Y%m%d}_0_L2A"
    scene_dir = Path(folder) / scene_id
    paths: dict[str, Path] = {}
    for band in bands:
        paths[band] = write_band(
            scene_dir / f"{band}.tif",
            values(band),
            band=band,
            epsg=epsg,
            origin=origin,
            size_10m=size_10m,
            block_size=block_size,
        )
    if href_base is None:
        hrefs = {band: str(p) for band, p in paths.items()}
    else:
        hrefs = {band: f"{href_base.rstrip('/')}/{scene_id}/{band}.tif" for band in paths}
    item = stac_item(
        scene_id,
        date=date,
        epsg=epsg,
        hrefs=hrefs,
        tile=tile,
        origin=origin,
        size_10m=size_10m,
        processing_baseline=processing_baseline,
        boa_offset_applied=boa_offset_applied,
        cloud_cover=cloud_cover,
        platform=platform,
    )
    return RealScene(scene_id, date, epsg, origin, size_10m, paths, item)


def stac_item(
    scene_id: str,
    *,
    date: dt.date,
    epsg: int,
    hrefs: Mapping[str, str],
    tile: str,
    origin: tuple[float, float] = REAL_ORIGIN,
    size_10m: int = REAL_SIZE_10M,
    processing_baseline: str = "05.09",
    boa_offset_applied: bool = True,
    cloud_cover: float = 5.0,
    platform: str = "sentinel-2a",
) -> dict[str, Any]:
    """An Earth Search v1 (``sentinel-2-l2a``) STAC item for a scene, shaped like the real ones.

    Assets are keyed by common name (``blue``, ``red``, ``nir``, ``scl``…) with ``proj:shape``,
    ``proj:transform``, ``raster:bands`` (nodata 0, scale 0.0001 and, from baseline 04.00, offset -0.1) and
    ``eo:bands``; properties carry ``proj:epsg``, ``mgrs:*``, ``grid:code``, ``s2:processing_baseline``,
    ``s2:datatake_id``, ``s2:product_uri`` and ``earthsearch:boa_offset_applied``; the geometry is the tile's
    footprint in lon/lat.

    Args:
        scene_id: the item id.
        date: the sensing date.
        epsg: the UTM zone's EPSG code.
        hrefs: the file of each band.
        tile: the MGRS tile (``14SKB``).
        origin: (easting, northing) of the tile's upper-left corner, metres.
        size_10m: the tile's side at 10 m, pixels.
        processing_baseline: ``s2:processing_baseline`` (``05.09``).
        boa_offset_applied: ``earthsearch:boa_offset_applied``.
        cloud_cover: ``eo:cloud_cover``, percent.
        platform: ``platform``.

    Returns:
        The item, a JSON-ready dict.

    Raises:
        ValueError: an unknown band or a bad ``size_10m``.
    """
    sensed = dt.datetime.combine(date, dt.time(10, 30), tzinfo=dt.UTC)
    stamp = f"{sensed:%Y%m%dT%H%M%S}"
    baseline = processing_baseline.replace(".", "")
    with_offset = processing_baseline >= "04.00"
    extent = size_10m * 10.0
    x0, y0 = origin
    footprint = {
        "type": "Polygon",
        "coordinates": [[(x0, y0), (x0 + extent, y0), (x0 + extent, y0 - extent), (x0, y0 - extent), (x0, y0)]],
    }
    geometry = transform_geom(f"EPSG:{epsg}", "EPSG:4326", footprint)
    ring = geometry["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assets: dict[str, Any] = {}
    for band, href in hrefs.items():
        res = _resolution(band)
        side = band_size(band, size_10m)
        raster: dict[str, Any] = {"nodata": 0, "data_type": "uint8" if band == "SCL" else "uint16"}
        raster["spatial_resolution"] = res
        asset: dict[str, Any] = {
            "href": href,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": f"{band} - {res}m" if band != "SCL" else "Scene classification map (SCL)",
            "proj:shape": [side, side],
            "proj:transform": [res, 0, x0, 0, -res, y0],
            "roles": ["data", "reflectance"],
        }
        if band != "SCL":
            raster.update(bits_per_sample=15, scale=0.0001, offset=-0.1 if with_offset else 0.0)
            key = ASSET_KEYS[band]
            asset["eo:bands"] = [
                {"name": key, "common_name": key, "center_wavelength": _CENTRE_WAVELENGTH[band]},
            ]
            asset["gsd"] = res
        asset["raster:bands"] = [raster]
        assets[ASSET_KEYS[band]] = asset
    zone = epsg % 100
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
            "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
        ],
        "id": scene_id,
        "collection": "sentinel-2-l2a",
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "geometry": geometry,
        "properties": {
            "datetime": sensed.isoformat().replace("+00:00", ".000000Z"),
            "platform": platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud_cover,
            "proj:epsg": epsg,
            "mgrs:utm_zone": zone,
            "mgrs:latitude_band": tile[-3],
            "mgrs:grid_square": tile[-2:],
            "grid:code": f"MGRS-{tile}",
            "s2:product_type": "S2MSI2A",
            "s2:processing_baseline": processing_baseline,
            "s2:product_uri": f"S2{platform[-1].upper()}_MSIL2A_{stamp}_N{baseline}_R000_T{tile}_{stamp}.SAFE",
            "s2:datatake_id": f"GS2{platform[-1].upper()}_{stamp}_000000_N{processing_baseline}",
            "s2:sequence": "0",
            "earthsearch:boa_offset_applied": boa_offset_applied,
        },
        "links": [],
        "assets": assets,
    }
