"""Read an AOI's pixels block by block into calendar-true ragged series held in memory.

The map grid is the 10 m grid of the scenes' B02 band, in the CRS the scenes share, snapped outward around
the AOI. A *block* is a square of that grid; :func:`read_block` reads, for every scene up to a date, only
the window of each band's COG that covers the block (20 m and 60 m bands are resampled to 10 m by nearest
neighbour: each 10 m pixel takes the value of the coarser pixel that contains its centre), drops
observations whose SCL class is masked or whose bands hold nodata, adds the scene's BOA offset
(harmonisation across processing baselines) and packs the valid observations of every pixel into the
layout of the series store: int16 values × bands, dates and offsets. Memory grows with the block, never
with the AOI.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import rasterio
from affine import Affine
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from inseason.data import SeriesStore
from inseason.errors import InputError, RemoteError
from inseason.extract.sample import (
    DEFAULT_SCL_MASK,
    GDAL_COG_ENV,
    GDAL_RETRY_ENV,
    SCENE_BACKOFF_S,
    SCENE_RETRIES,
    gdal_reason,
    is_transient,
    read_again,
)
from inseason.labels import cdl_classes
from inseason.season import days_since_epoch, season_start_day
from inseason.sources.aoi import aoi_to_crs
from inseason.storage import gdal_env, gdal_path, open_raster
from inseason.tables import S2_BANDS, S2_SCALE

__all__ = [
    "Block",
    "BlockSeries",
    "MapGrid",
    "SceneRef",
    "check_block_size",
    "crop_mask_block",
    "map_grid",
    "plan_blocks",
    "read_block",
    "scene_refs",
]

Floats = npt.NDArray[np.float64]
T = TypeVar("T")
#: Resolution of the map grid (the 10 m bands of Sentinel-2), metres.
MAP_RES = 10.0


@dataclass(frozen=True)
class MapGrid:
    """The map's 10 m pixel grid: CRS (EPSG code), affine transform and size."""

    epsg: int
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f


@dataclass(frozen=True)
class Block:
    """One square unit of work of the map: its index and its pixel window in the map grid."""

    index: int
    row: int
    col: int
    height: int
    width: int

    def transform(self, grid: MapGrid) -> Affine:
        """Affine transform of the block's own pixel grid.

        Args:
            grid: the map grid the block belongs to.

        Returns:
            The transform from block pixel (col, row) to the grid's CRS.
        """
        return grid.transform @ Affine.translation(self.col, self.row)

    def pixel_centres(self, grid: MapGrid, pixels: npt.ArrayLike) -> tuple[Floats, Floats]:
        """Map coordinates of the centres of block pixels given as row-major indices (``row * width + col``).

        Args:
            grid: the map grid the block belongs to.
            pixels: row-major pixel indices into the block.

        Returns:
            The x and y coordinates in the grid's CRS, one per pixel.
        """
        rows, cols = np.divmod(np.asarray(pixels, np.int64), self.width)
        t = self.transform(grid)
        # the arithmetic of Affine @ (x, y), written out for arrays
        x: Floats = (cols + 0.5) * t.a + (rows + 0.5) * t.b + t.c
        y: Floats = (cols + 0.5) * t.d + (rows + 0.5) * t.e + t.f
        return x, y


@dataclass(frozen=True)
class SceneRef:
    """What a reader needs of one scene of the manifest (plain data, cheap to send to worker processes)."""

    scene_id: str
    date: dt.date
    epsg: int
    boa_offset: int
    hrefs: dict[str, str]


@dataclass(frozen=True)
class BlockSeries:
    """The ragged series of a block's mapped pixels, in the series store layout.

    Observation ``j`` of pixel ``i`` is at ``offsets[i] + j``; observations are in date order.
    ``pixels`` are row-major indices into the block (``row * width + col``).
    """

    block: Block
    bands: tuple[str, ...]
    pixels: np.ndarray  # int64 [P]
    values: np.ndarray  # int16 [N_obs, C], reflectance × 10 000 after the BOA offset
    days: np.ndarray  # int32 [N_obs], days since 1970-01-01
    scl: np.ndarray  # uint8 [N_obs]
    offsets: np.ndarray  # int64 [P + 1]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (scene_id, reason) of unreadable scenes
    retried: int = 0  # remote files read again after a transient fault

    @property
    def counts(self) -> np.ndarray:
        """Number of valid observations of each pixel."""
        return np.diff(self.offsets)

    def store(self, *, season: str, year: int) -> SeriesStore:
        """The observations of season ``year`` as a `SeriesStore`, one row per pixel.

        The store is what the training package's predictor and adapters consume; rows carry no label.

        Args:
            season: the month-day the season starts on.
            year: the season's label year.

        Returns:
            The store (days of season 0 to 399 only), its rows in the order of ``pixels``.
        """
        start = season_start_day(year, season)
        doy = self.days.astype(np.int64) - start
        keep = (doy >= 0) & (doy < 400)
        row_of_obs = np.repeat(np.arange(self.pixels.size), self.counts)
        counts = np.bincount(row_of_obs[keep], minlength=self.pixels.size)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n = self.pixels.size
        return SeriesStore(
            bands=self.bands,
            scales=np.full(len(self.bands), S2_SCALE, np.float32),
            values=self.values[keep],
            doy=doy[keep].astype(np.int16),
            scl=self.scl[keep],
            offsets=offsets,
            labels=np.full(n, "", dtype=object),
            label_codes=np.zeros(n, np.int32),
            years=np.full(n, year, np.int16),
            splits=np.full(n, None, dtype=object),
            sample_ids=self.pixels.copy(),
            season=season,
            fingerprint=f"block-{self.block.index}-{year}",
        )


def scene_refs(scenes: pa.Table, *, since: dt.date, until: dt.date) -> list[SceneRef]:
    """The manifest's scenes dated ``since`` … ``until`` (inclusive), sorted by (date, scene_id).

    Args:
        scenes: the scene manifest.
        since: the first date.
        until: the last date.

    Returns:
        The scenes as plain references.
    """
    refs = []
    for row in scenes.select(["scene_id", "date", "epsg", "boa_offset", "hrefs"]).to_pylist():
        if since <= row["date"] <= until:
            refs.append(
                SceneRef(
                    scene_id=row["scene_id"],
                    date=row["date"],
                    epsg=int(row["epsg"]),
                    boa_offset=int(row["boa_offset"] or 0),
                    hrefs=dict(row["hrefs"]),
                )
            )
    return sorted(refs, key=lambda r: (r.date, r.scene_id))


def map_grid(aoi: BaseGeometry, scenes: Sequence[SceneRef], *, fresh: bool = False) -> MapGrid:
    """The 10 m grid (B02's) covering the lon/lat ``aoi``, in the CRS most of the scenes use.

    The grid is aligned to the pixel edges of the first scene's B02 in that CRS, so every 10 m band is
    read without resampling and every 20/60 m pixel covers whole map pixels (Sentinel-2 grids nest).

    Args:
        aoi: the area to map, lon/lat.
        scenes: the scenes the map is read from.
        fresh: read a remote B02 anew rather than from GDAL's cache (a read again after a fault).

    Returns:
        The map grid, snapped outward around the AOI.

    Raises:
        InputError: no scene, or the first scene's B02 is missing or unreadable.
        RemoteError: the first scene's B02 is remote and could not be read for a fault that may pass.
    """
    if not scenes:
        raise InputError(
            "the scene manifest holds no scene up to the as-of date: run inseason scenes "
            "for the season or choose a later --as-of"
        )
    epsg = Counter(s.epsg for s in scenes).most_common(1)[0][0]
    first = next(s for s in scenes if s.epsg == epsg)
    if "B02" not in first.hrefs:
        raise InputError(f"scene {first.scene_id} has no B02 asset: the map grid is B02's 10 m grid")
    href = first.hrefs["B02"]
    try:
        with open_raster(href, **GDAL_COG_ENV, **(GDAL_RETRY_ENV if fresh else {})) as ds:
            origin = ds.transform
    except RasterioError as exc:
        reason = _one_line(gdal_reason(exc))
        if is_transient(href, reason):
            raise RemoteError(f"cannot read {href} of scene {first.scene_id} ({reason})") from None
        raise InputError(f"cannot read B02 of scene {first.scene_id} ({href}): {reason}") from None
    left, bottom, right, top = aoi_to_crs(aoi, epsg).bounds
    x0 = origin.c + math.floor((left - origin.c) / MAP_RES) * MAP_RES
    y0 = origin.f - math.floor((origin.f - top) / MAP_RES) * MAP_RES
    width = max(1, math.ceil((right - x0) / MAP_RES))
    height = max(1, math.ceil((y0 - bottom) / MAP_RES))
    return MapGrid(epsg=epsg, transform=Affine(MAP_RES, 0.0, x0, 0.0, -MAP_RES, y0), width=width, height=height)


def check_block_size(block_size: int) -> None:
    """Refuse a block too small to be worth a worker's read and a COG tile.

    Args:
        block_size: the side of a block, pixels.

    Raises:
        InputError: ``block_size`` is below 16.
    """
    if block_size < 16:
        raise InputError(f"block_size={block_size} is too small: use at least 16 pixels (256 is a good size)")


def plan_blocks(grid: MapGrid, aoi: BaseGeometry, *, block_size: int) -> list[Block]:
    """The blocks of ``block_size`` pixels that overlap the lon/lat ``aoi``, row by row.

    Args:
        grid: the map grid.
        aoi: the area to map, lon/lat.
        block_size: the side of a block, pixels (the last row and column of blocks may be smaller).

    Returns:
        The blocks, indexed 0, 1, … in row-major order.

    Raises:
        InputError: ``block_size`` is below 16.
    """
    check_block_size(block_size)
    shape = aoi_to_crs(aoi, grid.epsg)
    blocks: list[Block] = []
    for row in range(0, grid.height, block_size):
        for col in range(0, grid.width, block_size):
            height, width = min(block_size, grid.height - row), min(block_size, grid.width - col)
            left, top = grid.transform @ (col, row)
            right, bottom = grid.transform @ (col + width, row + height)
            if shape.intersects(box(left, bottom, right, top)):
                blocks.append(Block(index=len(blocks), row=row, col=col, height=height, width=width))
    return blocks


def _aoi_mask(shape: BaseGeometry, grid: MapGrid, block: Block) -> np.ndarray:
    """True where a block pixel's centre lies in the AOI (given in the grid's CRS)."""
    inside: np.ndarray = geometry_mask(
        [mapping(shape)], out_shape=(block.height, block.width), transform=block.transform(grid), invert=True
    )
    return inside


def crop_mask_block(path: str, grid: MapGrid, block: Block) -> np.ndarray:
    """True where a CDL-coded raster (e.g. last year's CDL) marks a crop.

    The raster is reprojected onto the block by nearest neighbour; outside it every pixel is masked out.

    Args:
        path: the raster, a path or ``s3://`` URI, any CRS.
        grid: the map grid.
        block: the block to mask.

    Returns:
        bool [height, width] of the block.

    Raises:
        InputError: the raster cannot be read.
    """
    crop_codes = np.array([c.code for c in cdl_classes().values() if c.is_crop])
    codes = np.zeros((block.height, block.width), np.uint8)
    try:
        with open_raster(path) as src:
            reproject(
                rasterio.band(src, 1),
                codes,
                dst_transform=block.transform(grid),
                dst_crs=f"EPSG:{grid.epsg}",
                resampling=Resampling.nearest,
                dst_nodata=0,
            )
    except RasterioError as exc:
        raise InputError(f"crop mask {path} is not a readable raster: {exc}") from None
    return np.isin(codes, crop_codes)


def _read_band(ds: rasterio.DatasetReader, grid: MapGrid, block: Block) -> np.ndarray:
    """Band 1 of ``ds`` on the block's 10 m pixels (nearest: the source pixel holding each centre).

    Only the source window under the block is read; pixels off the raster get its nodata value.
    """
    nodata = int(ds.nodata) if ds.nodata is not None else 0
    t = block.transform(grid)
    xs = t.c + (np.arange(block.width) + 0.5) * t.a
    ys = t.f + (np.arange(block.height) + 0.5) * t.e
    src = ds.transform
    cols = np.floor((xs - src.c) / src.a).astype(np.int64)
    rows = np.floor((ys - src.f) / src.e).astype(np.int64)
    out = np.full((block.height, block.width), nodata, dtype=ds.dtypes[0])
    col_in, row_in = (cols >= 0) & (cols < ds.width), (rows >= 0) & (rows < ds.height)
    if not col_in.any() or not row_in.any():
        return out
    c0, c1 = int(cols[col_in].min()), int(cols[col_in].max()) + 1
    r0, r1 = int(rows[row_in].min()), int(rows[row_in].max()) + 1
    data = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    out[np.ix_(row_in, col_in)] = data[np.ix_(rows[row_in] - r0, cols[col_in] - c0)]
    return out


def read_block(
    block: Block,
    *,
    grid: MapGrid,
    scenes: Sequence[SceneRef],
    aoi: BaseGeometry,
    bands: Sequence[str] = S2_BANDS,
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    keep: np.ndarray | None = None,
    retries: int = SCENE_RETRIES,
    backoff: float = SCENE_BACKOFF_S,
    sleep: Callable[[float], Any] = time.sleep,
) -> BlockSeries:
    """Read every scene of ``scenes`` over ``block`` and pack each mapped pixel's valid observations.

    Mapped pixels are those whose centre is inside the lon/lat ``aoi`` and, if given, where ``keep`` is
    true. An observation is valid when its SCL class is not nodata nor in ``scl_mask`` and no band is
    nodata. Where two scenes of one date cover a pixel (tile overlap) the first scene in (date, scene_id)
    order is kept. A scene whose files cannot be read or are in another CRS is left out and listed in
    ``skipped``, except when the failure is a transient fault of a remote file (a 5xx answer, a body cut
    short, a reset or a timeout; `inseason.extract.sample.is_transient`): that file is read again, with
    backoff and without GDAL's cache (which may hold a block that came short), and when every read fails the
    block fails with `RemoteError`, never quietly without that scene.

    Args:
        block: the block to read.
        grid: the map grid.
        scenes: the scenes, in (date, scene_id) order (`scene_refs`).
        aoi: the area to map, lon/lat.
        bands: the bands to read, in the series' band order.
        scl_mask: SCL classes whose observations are dropped.
        keep: bool [height, width] of the block (e.g. a crop mask), or None for every pixel in the AOI.
        retries: reads again of a remote file after a transient fault (`read_again`).
        backoff: seconds before the first read again, doubled each time.
        sleep: how to wait before a read again.

    Returns:
        The block's ragged series (``retried``: the files read again).

    Raises:
        RemoteError: a remote scene file could not be read after ``retries`` reads again.
    """
    bands = tuple(bands)
    mapped = _aoi_mask(aoi_to_crs(aoi, grid.epsg), grid, block)
    if keep is not None:
        mapped &= keep
    flat_mapped = mapped.ravel()
    pixel_parts, value_parts, day_parts, scl_parts, order_parts = [], [], [], [], []
    skipped: list[tuple[str, str]] = []
    left, top = block.transform(grid) @ (0, 0)
    right, bottom = block.transform(grid) @ (block.width, block.height)
    retried = 0

    def window(scene: SceneRef, band: str, *, clip: bool) -> tuple[np.ndarray | None, int]:
        """The band's values on the block's pixels and its nodata (None: ``clip`` and the file misses the block)."""
        nonlocal retried
        href = scene.hrefs[band]

        def read(fresh: bool) -> tuple[np.ndarray | None, int]:
            try:
                with rasterio.Env(**GDAL_RETRY_ENV) if fresh else nullcontext(), rasterio.open(gdal_path(href)) as ds:
                    nodata = int(ds.nodata) if ds.nodata is not None else 0
                    b = ds.bounds
                    if clip and (b.right <= left or b.left >= right or b.top <= bottom or b.bottom >= top):
                        return None, nodata
                    return _read_band(ds, grid, block).ravel(), nodata
            except RasterioError as exc:
                reason = _one_line(gdal_reason(exc))
                if is_transient(href, reason):  # a fault of the network: read the file again
                    raise RemoteError(f"cannot read {href} ({reason})") from None
                raise

        found, again = read_again(
            read, retries=retries, backoff=backoff, what=f"{band} of scene {scene.scene_id}", sleep=sleep
        )
        retried += again
        return found

    with gdal_env([h for scene in scenes for h in scene.hrefs.values()], **GDAL_COG_ENV):
        for sequence, scene in enumerate(scenes):
            if scene.epsg != grid.epsg:
                skipped.append((scene.scene_id, f"in EPSG:{scene.epsg}, the map grid is EPSG:{grid.epsg}"))
                continue
            try:
                scl, scl_nodata = window(scene, "SCL", clip=True)
                if scl is None:
                    continue
                valid = flat_mapped & (scl != scl_nodata) & ~np.isin(scl, scl_mask)
                if not valid.any():
                    continue
                stack = np.empty((len(bands), int(valid.sum())), np.int32)
                good = np.ones(stack.shape[1], bool)
                for i, band in enumerate(bands):
                    values, nodata = window(scene, band, clip=False)
                    assert values is not None, "an unclipped read always has values"
                    stack[i] = values[valid]
                    good &= stack[i] != nodata  # off the swath in this band
            except RasterioError as exc:
                skipped.append((scene.scene_id, f"unreadable: {_one_line(gdal_reason(exc))}"))
                continue
            except KeyError as exc:
                skipped.append((scene.scene_id, f"unreadable: no asset {exc}"))
                continue
            pixels = np.flatnonzero(valid)[good]
            pixel_parts.append(pixels)
            value_parts.append(np.clip(stack[:, good].T + scene.boa_offset, -32768, 32767).astype(np.int16))
            day_parts.append(np.full(pixels.size, days_since_epoch(scene.date), np.int32))
            scl_parts.append(scl[pixels].astype(np.uint8))
            order_parts.append(np.full(pixels.size, sequence, np.int32))
    parts = (pixel_parts, value_parts, day_parts, scl_parts, order_parts)
    return replace(_pack(block, bands, flat_mapped, *parts, tuple(skipped)), retried=retried)


def _one_line(text: str) -> str:
    """A message on one line (GDAL's may span several)."""
    return " ".join(text.split())


def _pack(
    block: Block,
    bands: tuple[str, ...],
    mapped: np.ndarray,
    pixel_parts: list[np.ndarray],
    value_parts: list[np.ndarray],
    day_parts: list[np.ndarray],
    scl_parts: list[np.ndarray],
    order_parts: list[np.ndarray],
    skipped: tuple[tuple[str, str], ...],
) -> BlockSeries:
    """Sort observations by (pixel, date, scene order), drop same-date repeats, index them per mapped pixel."""
    if pixel_parts:
        pixel = np.concatenate(pixel_parts)
        values, days = np.concatenate(value_parts), np.concatenate(day_parts)
        scl, order = np.concatenate(scl_parts), np.concatenate(order_parts)
    else:
        pixel, values = np.empty(0, np.int64), np.empty((0, len(bands)), np.int16)
        days, scl, order = np.empty(0, np.int32), np.empty(0, np.uint8), np.empty(0, np.int32)
    sort = np.lexsort((order, days, pixel))
    pixel, values, days, scl = pixel[sort], values[sort], days[sort], scl[sort]
    first = np.ones(pixel.size, bool)
    first[1:] = (pixel[1:] != pixel[:-1]) | (days[1:] != days[:-1])
    pixel, values, days, scl = pixel[first], values[first], days[first], scl[first]
    mapped_pixels = np.flatnonzero(mapped).astype(np.int64)
    rank = np.searchsorted(mapped_pixels, pixel)
    counts = np.bincount(rank, minlength=mapped_pixels.size)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return BlockSeries(
        block=block,
        bands=bands,
        pixels=mapped_pixels,
        values=values,
        days=days,
        scl=scl,
        offsets=offsets,
        skipped=skipped,
    )
