"""Read an AOI's pixels block by block into calendar-true ragged series held in memory.

The map grid is the 10 m grid of the scenes' B02 band, in the UTM zone most scenes use, snapped outward
around the AOI. A *block* is a square of that grid; :func:`read_block` reads, for every scene up to a date,
only the internal blocks of each band's COG under the block (20 m and 60 m bands are resampled to 10 m by
nearest neighbour: each 10 m pixel takes the value of the coarser pixel that contains its centre; a scene of
another UTM zone is warped the same way, so a map across a zone boundary has no seam), drops observations
whose SCL class is masked or whose bands hold nodata, adds the scene's BOA offset (harmonisation across
processing baselines) and packs the valid observations of every pixel into the layout of the series store:
int16 values × bands, dates and offsets. Memory grows with the block, never with the AOI, plus the
:class:`BlockCache` of decoded COG blocks (bounded, 512 MiB by default), which lets the 16 to 576 map blocks
under one real COG block (1 024 px at 10, 20 or 60 m) share a single fetch and decode. A local map run gives
the cache a job folder on local disk (:func:`job_block_folder`), shared by its worker processes, so that a COG
block is fetched once per job even when a season's working set outgrows memory or neighbouring map blocks go
to different workers.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from inseason.data import SeriesStore
from inseason.errors import InputError, OutputError, RemoteError
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
from inseason.sources.access import input_errors, input_path, manifest_access
from inseason.sources.aoi import aoi_to_crs
from inseason.storage import FILE, InputAccess, gdal_env, gdal_path, is_s3, open_raster
from inseason.tables import S2_BANDS, S2_SCALE

__all__ = [
    "BLOCK_CACHE_BYTES",
    "BLOCK_CACHE_DIR_ENV",
    "CLAIM_WAIT_S",
    "DISK_RESERVE_BYTES",
    "Block",
    "BlockCache",
    "BlockSeries",
    "MapGrid",
    "SceneRef",
    "block_cache",
    "check_block_size",
    "crop_mask_block",
    "job_block_folder",
    "map_grid",
    "plan_blocks",
    "read_block",
    "scene_refs",
]

Floats = npt.NDArray[np.float64]
T = TypeVar("T")
#: Resolution of the map grid (the 10 m bands of Sentinel-2), metres.
MAP_RES = 10.0
#: Most bytes of decoded COG blocks a process keeps by default (:class:`BlockCache`): 512 MiB, or
#: ``$INSEASON_BLOCK_CACHE_MB`` mebibytes (each worker process of a map run has its own, on the job folder they share).
BLOCK_CACHE_BYTES = int(os.environ.get("INSEASON_BLOCK_CACHE_MB", "512") or 512) << 20
#: The environment variable naming where a local map run puts its job folder of decoded blocks (a local disk;
#: by default the system's temporary folder).
BLOCK_CACHE_DIR_ENV = "INSEASON_BLOCK_CACHE_DIR"
#: Free bytes a :class:`BlockCache` leaves on the job folder's disk: below them it writes no more blocks there.
DISK_RESERVE_BYTES = 1 << 30
#: Longest wait, seconds, for a block another worker has claimed (then the waiting worker fetches it itself).
CLAIM_WAIT_S = 60.0
#: Most bytes of COG blocks fetched in one read when blocks go to the job folder (memory need not hold them).
_RUN_BYTES = 32 << 20


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
    access: InputAccess | None = None  # how its files are read (the manifest's settings); None: as they are


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

    def extended(self, later: BlockSeries) -> BlockSeries:
        """These series followed by ``later``'s observations: the block read from more scenes, all newer.

        What `read_block` gives for this series' scenes and ``later``'s together, when every scene of
        ``later`` is dated after every scene of this one (no date of both, so no tile-overlap repeat to drop).

        Args:
            later: the same block's series from scenes dated after this one's last observation.

        Returns:
            The joined series (``skipped`` of both, ``retried`` of ``later``).

        Raises:
            ValueError: ``later`` is of another block, bands or pixels, or holds a date not after this
                series' last one.
        """
        if later.block != self.block or later.bands != self.bands or not np.array_equal(later.pixels, self.pixels):
            raise ValueError(f"series of block {later.block.index} cannot extend block {self.block.index}")
        if self.days.size and later.days.size and int(later.days.min()) <= int(self.days.max()):
            raise ValueError("the later series holds dates not after the earlier one's last date")
        n = self.pixels.size
        rows = np.concatenate([np.repeat(np.arange(n), self.counts), np.repeat(np.arange(n), later.counts)])
        order = np.argsort(rows, kind="stable")  # each pixel's earlier observations, then its later ones
        counts = self.counts + later.counts
        skipped = self.skipped + tuple(s for s in later.skipped if s not in self.skipped)
        return BlockSeries(
            block=self.block,
            bands=self.bands,
            pixels=self.pixels,
            values=np.concatenate([self.values, later.values])[order],
            days=np.concatenate([self.days, later.days])[order],
            scl=np.concatenate([self.scl, later.scl])[order],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            skipped=skipped,
            retried=later.retried,
        )

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
        The scenes as plain references, each with the manifest's input access (signing, anonymous or
        requester-pays reads; `inseason.sources.access.manifest_access`).

    Raises:
        InputError: the manifest's recorded access settings are unreadable.
    """
    access = manifest_access(scenes)
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
                    access=access,
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
        options = {**GDAL_COG_ENV, **(GDAL_RETRY_ENV if fresh else {})}
        with (
            input_errors(href, first.access),
            gdal_env([href], access=first.access, **options),
            rasterio.open(input_path(href, first.access)) as ds,
        ):
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


@dataclass(frozen=True)
class _FileInfo:
    """What a read needs of one band file besides its pixels: grid, size, internal blocks, nodata, CRS."""

    transform: Affine
    width: int
    height: int
    block_height: int
    block_width: int
    nodata: int
    dtype: str
    epsg: int | None

    @classmethod
    def of(cls, ds: rasterio.DatasetReader) -> _FileInfo:
        block_height, block_width = ds.block_shapes[0]
        return cls(
            transform=ds.transform,
            width=ds.width,
            height=ds.height,
            block_height=block_height,
            block_width=block_width,
            nodata=int(ds.nodata) if ds.nodata is not None else 0,
            dtype=ds.dtypes[0],
            epsg=ds.crs.to_epsg() if ds.crs is not None else None,
        )


class BlockCache:
    """Decoded internal blocks of the scenes' COGs, kept so each block is read and decoded once per job.

    Map blocks (256 px) are smaller than the COGs' blocks (1 024 px at 10, 20 and 60 m, so one COG block
    covers 16, 64 or 576 map blocks): without a cache every map block would fetch and decode the COG blocks
    under it again. Entries are keyed by (file, overview level, block row, block column); a file is its href,
    plus its modification time and size when it is local (a rewritten file is read anew). Its grid, block
    shape and nodata are kept too, so a map block whose COG blocks are all held opens no file.

    **Memory.** Bounded by ``max_bytes`` of decoded pixels (plus a few hundred bytes per entry and per file):
    the least recently used blocks are dropped first, but never one that the current map block (since the
    last :meth:`scope`) has used, as the scenes and bands of one map block are read in a cycle that the next
    map block repeats; a block that does not fit then is decoded, used and not kept in memory. Map blocks are
    read row by row, so without a folder every COG block is decoded once only when memory holds one row of
    COG blocks across the AOI for every file read: at the real layout (2 MiB per uint16 block, 1 MiB for SCL)
    up to 50 MiB per scene with all twelve bands and SCL for an AOI up to 10 km wide, about 15 MiB more per
    further 10 km; scenes whose SCL masks the whole map block cost only their SCL. A real season (about 70
    scenes) needs several GiB: more than memory holds. ``$INSEASON_BLOCK_CACHE_MB`` sets the default bound.

    **Job folder** (``folder``, a local disk; see :func:`job_block_folder`). Every block decoded is also
    written there as a raw array file (``np.save``, under a temporary name then ``os.replace``, so no reader
    ever sees half a block) and a block missing from memory is memory-mapped from there before it is
    fetched. Worker processes of one job share the folder, so a block is fetched once per job whatever the
    number of scenes, the memory bound or the worker that needs it. Before fetching, a worker claims the
    block with a claim file (``O_EXCL``, holding its process id); another worker needing it meanwhile polls
    for the block's file, and fetches it itself if the claim goes without a file (a failed read), the
    claimer's process has ended, or ``claim_wait`` seconds pass: never a deadlock. Disk use is bounded by
    the job: the decoded bytes of the COG blocks under the map grid, for every scene × band read, each
    written once. At the real layout and a 10 km AOI that is 2 × 2 blocks of each 10 m band, 1 × 1 to 2 × 2
    of each 20 m band and SCL, 1 of each 60 m band: about 50 to 90 MiB per scene with all twelve bands
    (4 to 6 GiB for a 70-scene season), growing with the AOI's area. A cache writes no block that would
    leave less than ``disk_reserve`` bytes free on the folder's disk (those blocks are fetched again when
    needed). Only local runs share a folder; on Spark each executor keeps its own memory cache.

    A new map grid (:meth:`scope`) empties the memory (not the folder: it holds one job's blocks). Only
    successful reads are kept: a block that came short is never held nor written.
    """

    def __init__(
        self,
        max_bytes: int = BLOCK_CACHE_BYTES,
        *,
        folder: str | os.PathLike[str] | None = None,
        claim_wait: float = CLAIM_WAIT_S,
        disk_reserve: int = DISK_RESERVE_BYTES,
    ) -> None:
        """Make an empty cache.

        Args:
            max_bytes: the most bytes of decoded blocks held in memory (0: none).
            folder: the job folder shared with the job's other workers (None: memory only).
            claim_wait: the longest wait, seconds, for a block another worker has claimed.
            disk_reserve: free bytes left on the folder's disk.
        """
        self.max_bytes = max_bytes
        self.claim_wait = claim_wait
        self.disk_reserve = disk_reserve
        self.nbytes = 0
        self.hits = 0
        self.decoded = 0
        self.disk_hits = 0  # blocks read from the folder (written by this worker or another)
        self.disk_writes = 0
        self.disk_bytes = 0  # bytes this cache wrote to the folder
        self.waits = 0  # blocks another worker was fetching, read from the folder once written
        self.folder: Path | None = None
        self._blocks: OrderedDict[Hashable, tuple[np.ndarray, int]] = OrderedDict()
        self._files: dict[Hashable, _FileInfo] = {}
        self._claims: set[Path] = set()
        self._call = 0
        self._pinned = 0  # bytes of the held blocks the current map block has used
        self._scope: Hashable = None
        self.use_folder(folder)

    def __len__(self) -> int:
        """Number of blocks held in memory."""
        return len(self._blocks)

    def clear(self) -> None:
        """Drop every block and file held in memory (the counters and the folder stay)."""
        self._blocks.clear()
        self._files.clear()
        self.nbytes = self._pinned = 0

    def use_folder(self, folder: str | os.PathLike[str] | None) -> None:
        """Share the blocks through a job folder from now on (None: memory only); a change empties the memory.

        Args:
            folder: the job folder (it must exist), or None.
        """
        path = None if folder is None else Path(folder)
        if path != self.folder:
            self.clear()  # held blocks may be memory-mapped files of the folder before
            self.folder = path

    def scope(self, key: Hashable) -> None:
        """Start the reads of a map block of job ``key`` (the map grid): a new job empties the memory.

        Args:
            key: what identifies the job.
        """
        if key != self._scope:
            self.clear()
            self._scope = key
        self._call += 1
        self._pinned = 0

    def room(self) -> int:
        """Bytes the current map block can still add to memory: the bound less the blocks it has used.

        Returns:
            The bytes (0 or more).
        """
        return max(0, self.max_bytes - self._pinned)

    def holds(self, key: Hashable) -> bool:
        """Whether a block is held, in memory or in the folder (without marking it used).

        Args:
            key: (file, level, block row, block column).

        Returns:
            True when it is held.
        """
        return key in self._blocks or (self.folder is not None and self._path(key).exists())

    def file(self, key: Hashable) -> _FileInfo | None:
        """The kept facts of a file (grid, size, blocks, nodata, CRS).

        Args:
            key: the file (:func:`_file_key`).

        Returns:
            Its facts, or None when they are not kept.
        """
        return self._files.get(key)

    def keep_file(self, key: Hashable, info: _FileInfo) -> None:
        """Keep the facts of a file.

        Args:
            key: the file (:func:`_file_key`).
            info: its facts.
        """
        self._files[key] = info

    def get(self, key: Hashable) -> np.ndarray | None:
        """A held block (marked used by the current map block), from memory or else the folder, or None.

        Args:
            key: (file, level, block row, block column).

        Returns:
            The decoded block (memory-mapped when it comes from the folder), or None when it is not held.
        """
        found = self._blocks.get(key)
        if found is None:
            return self._from_disk(key)
        if found[1] != self._call:
            self._pinned += int(found[0].nbytes)
        self._blocks[key] = (found[0], self._call)
        self._blocks.move_to_end(key)
        self.hits += 1
        return found[0]

    def put(self, key: Hashable, block: np.ndarray) -> None:
        """Hold a block just decoded: write it to the folder, and keep it in memory if it fits.

        Least recently used blocks of earlier map blocks are dropped from memory to make room.

        Args:
            key: (file, level, block row, block column).
            block: the decoded pixels.
        """
        self.decoded += 1
        self._write(key, block)
        self._keep(key, block)

    def claim(self, key: Hashable) -> bool:
        """Claim a block to fetch, so the job's other workers wait for it rather than fetch it too.

        Args:
            key: (file, level, block row, block column).

        Returns:
            True when this worker should fetch it (claimed, or no folder to claim in), False when another
            worker holds the claim or the block's file appeared meanwhile (:meth:`wait` then reads it).
        """
        if self.folder is None:
            return True
        claim = self._path(key).with_suffix(".claim")
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError:
            return True  # no claim possible (a folder removed): fetch unclaimed
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
        self._claims.add(claim)
        if self._path(key).exists():  # written between the look in the folder and the claim
            self.release([key])
            return False
        return True

    def release(self, keys: Sequence[Hashable]) -> None:
        """Give up this worker's claims on blocks (after their fetch, or its failure).

        Args:
            keys: the blocks claimed.
        """
        if self.folder is None:
            return
        for key in keys:
            claim = self._path(key).with_suffix(".claim")
            if claim in self._claims:
                self._claims.discard(claim)
                claim.unlink(missing_ok=True)

    def wait(self, key: Hashable, *, sleep: Callable[[float], Any] = time.sleep) -> np.ndarray | None:
        """Wait for a block another worker has claimed, and read it from the folder once written.

        Args:
            key: (file, level, block row, block column).
            sleep: how to wait between looks.

        Returns:
            The block, or None when the claim went without a file, its worker has ended or ``claim_wait``
            seconds passed (the caller then fetches the block itself).
        """
        if self.folder is None:
            return None
        claim = self._path(key).with_suffix(".claim")
        deadline, pause = time.monotonic() + self.claim_wait, 0.002
        while True:
            found = self._from_disk(key)
            if found is not None:
                self.waits += 1
                return found
            if not _claimer_alive(claim) or time.monotonic() > deadline:
                return self._from_disk(key)  # written as the claim went, or not at all
            sleep(pause)
            pause = min(2 * pause, 0.05)

    def _path(self, key: Hashable) -> Path:
        """The block's file in the folder: a digest of its key (the same in every worker of the job)."""
        assert self.folder is not None
        return self.folder / f"{hashlib.sha1(repr(key).encode()).hexdigest()}.npy"

    def _from_disk(self, key: Hashable) -> np.ndarray | None:
        """The block memory-mapped from the folder (and held in memory), or None when it is not there."""
        if self.folder is None:
            return None
        try:
            block: np.ndarray = np.load(self._path(key), mmap_mode="r")
        except (OSError, ValueError):  # not there (or the folder is gone)
            return None
        self.disk_hits += 1
        self._keep(key, block)
        return block

    def _write(self, key: Hashable, block: np.ndarray) -> None:
        """Write a block to the folder, whole or not at all, unless the disk would keep too little free."""
        if self.folder is None:
            return
        path = self._path(key)
        temporary = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex}.tmp")
        try:
            if shutil.disk_usage(self.folder).free < self.disk_reserve + block.nbytes:
                return
            with open(temporary, "wb") as file:
                np.save(file, np.ascontiguousarray(block))
            os.replace(temporary, path)
        except OSError:  # a full disk or a folder removed: the block is fetched again when needed
            temporary.unlink(missing_ok=True)
            return
        self.disk_writes += 1
        self.disk_bytes += int(block.nbytes)

    def _keep(self, key: Hashable, block: np.ndarray) -> None:
        """Hold a block in memory when it fits, dropping least recently used blocks of earlier map blocks."""
        size = int(block.nbytes)
        while self.nbytes + size > self.max_bytes and self._blocks:
            oldest, (array, call) = next(iter(self._blocks.items()))
            if call == self._call:  # every held block serves this map block: keep them, not this one
                return
            del self._blocks[oldest]
            self.nbytes -= int(array.nbytes)
        if self.nbytes + size <= self.max_bytes:
            self._blocks[key] = (block, self._call)
            self.nbytes += size
            self._pinned += size


#: Prefix of job folders: ``inseason-blocks-<process id>-<random>``.
_JOB_PREFIX = "inseason-blocks-"


def _pid_alive(pid: int) -> bool:
    """Whether a process of this machine runs with ``pid``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def _claimer_alive(claim: Path) -> bool:
    """Whether a claim file is there and the process that wrote it still runs (on this machine)."""
    try:
        text = claim.read_text()
    except OSError:
        return False
    return not text.strip().isdigit() or _pid_alive(int(text))  # no id yet: being written


def _sweep(parent: Path) -> None:
    """Remove the job folders under ``parent`` left by runs whose process has ended (a run killed by SIGKILL)."""
    for folder in parent.glob(f"{_JOB_PREFIX}*-*"):
        owner = folder.name.removeprefix(_JOB_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def job_block_folder(parent: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A job folder for the decoded COG blocks of one map run, made now and removed when the run ends.

    The folder is shared by the run's worker processes (:class:`BlockCache` ``folder``); this process's cache
    (:func:`block_cache`) uses it until the run ends, also on error. Its name holds this process's id, and
    each new job folder removes those under the same parent whose process has ended (a run killed by SIGKILL
    cannot remove its own).

    Args:
        parent: where to make it, a local disk (None: ``$INSEASON_BLOCK_CACHE_DIR``, else the system's
            temporary folder).

    Yields:
        The folder.

    Raises:
        OutputError: the parent folder cannot hold a new folder.
    """
    parent = parent if parent is not None else os.environ.get(BLOCK_CACHE_DIR_ENV) or None
    where = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    try:
        where.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{_JOB_PREFIX}{os.getpid()}-", dir=where))
    except OSError as exc:
        raise OutputError(
            f"cannot make the folder of decoded blocks in {where} ({exc.strerror}): "
            f"set ${BLOCK_CACHE_DIR_ENV} to a writable local folder"
        ) from None
    _sweep(where)
    try:
        yield folder
    finally:
        if _CACHE.folder == folder:
            _CACHE.use_folder(None)
        shutil.rmtree(folder, ignore_errors=True)


_CACHE = BlockCache()


def block_cache() -> BlockCache:
    """This process's cache of decoded COG blocks, which :func:`read_block` uses by default.

    Returns:
        The cache (its ``max_bytes`` may be changed; :data:`BLOCK_CACHE_BYTES` by default).
    """
    return _CACHE


def _file_key(href: str) -> Hashable:
    """What identifies a file's content: the href, plus modification time and size for a local file."""
    if ("://" in href and not href.startswith(FILE)) or is_s3(href):
        return (href,)
    try:
        stat = os.stat(gdal_path(href))
    except OSError:
        return (href,)
    return (href, stat.st_mtime_ns, stat.st_size)


def _last_block_col(info: _FileInfo, grid: MapGrid, epsg: int) -> int:
    """The last internal block column of a file under the map grid's bounds (in the file's CRS, ``epsg``)."""
    left, bottom, right, top = grid.bounds
    if epsg != grid.epsg:
        xs, _ = _transformer(grid.epsg, epsg).transform([left, right, left, right], [bottom, bottom, top, top])
        right = max(xs)
    last_col = min(info.width - 1, math.ceil((right - info.transform.c) / info.transform.a) - 1)
    return max(0, last_col) // info.block_width


@functools.lru_cache(maxsize=16)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _centres(grid: MapGrid, block: Block, epsg: int | None) -> tuple[Floats, Floats]:
    """The block's pixel centres in CRS ``epsg``: 1-D x and y when it is the grid's, else 2-D [height, width]."""
    t = block.transform(grid)
    xs: Floats = (t.c + (np.arange(block.width) + 0.5) * t.a).astype(np.float64)
    ys: Floats = (t.f + (np.arange(block.height) + 0.5) * t.e).astype(np.float64)
    if epsg is None or epsg == grid.epsg:
        return xs, ys
    x2, y2 = np.meshgrid(xs, ys)
    tx, ty = _transformer(grid.epsg, epsg).transform(x2, y2)
    return np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)


def _read_band(
    info: _FileInfo,
    centres: tuple[Floats, Floats],
    shape: tuple[int, int],
    fetch: Callable[[int, int], np.ndarray],
    *,
    clip: bool,
) -> np.ndarray | None:
    """Band values on the block's 10 m pixels: the source pixel holding each centre (nearest), nodata off it.

    ``centres`` are in the file's CRS, 1-D (x per column, y per row) when the file shares the map grid's CRS,
    else 2-D (a scene of another UTM zone, warped by nearest neighbour). The file's internal blocks under the
    block come from ``fetch(block_row, block_col)``; with ``clip``, None when no centre falls on the file.
    """
    xs, ys = centres
    src = info.transform
    cols = np.floor((xs - src.c) / src.a).astype(np.int64)
    rows = np.floor((ys - src.f) / src.e).astype(np.int64)
    out = np.full(shape, info.nodata, dtype=info.dtype)
    bh, bw = info.block_height, info.block_width
    if xs.ndim == 1:
        col_in, row_in = (cols >= 0) & (cols < info.width), (rows >= 0) & (rows < info.height)
        if not col_in.any() or not row_in.any():
            return None if clip else out
        r_idx, c_idx = np.flatnonzero(row_in), np.flatnonzero(col_in)
        for br in np.unique(rows[r_idx] // bh):
            r_sel = r_idx[rows[r_idx] // bh == br]
            for bc in np.unique(cols[c_idx] // bw):
                c_sel = c_idx[cols[c_idx] // bw == bc]
                data = fetch(int(br), int(bc))
                out[np.ix_(r_sel, c_sel)] = data[np.ix_(rows[r_sel] - br * bh, cols[c_sel] - bc * bw)]
        return out
    inside = (cols >= 0) & (cols < info.width) & (rows >= 0) & (rows < info.height)
    if not inside.any():
        return None if clip else out
    r, c = rows[inside], cols[inside]
    which = (r // bh) * (-(-info.width // bw)) + c // bw
    flat = np.flatnonzero(inside.ravel())
    values = np.empty(r.size, dtype=info.dtype)
    for key in np.unique(which):
        sel = which == key
        br, bc = divmod(int(key), -(-info.width // bw))
        data = fetch(br, bc)
        values[sel] = data[r[sel] - br * bh, c[sel] - bc * bw]
    out.reshape(-1)[flat] = values
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
    cache: BlockCache | None = None,
) -> BlockSeries:
    """Read every scene of ``scenes`` over ``block`` and pack each mapped pixel's valid observations.

    Mapped pixels are those whose centre is inside the lon/lat ``aoi`` and, if given, where ``keep`` is
    true. An observation is valid when its SCL class is not nodata nor in ``scl_mask`` and no band is
    nodata. Where two scenes of one date cover a pixel (tile overlap) the first scene in (date, scene_id)
    order is kept. A scene in another UTM zone than the grid is warped onto it by nearest neighbour (each
    map pixel takes the scene's pixel holding its centre; off the scene, nodata), so a map across a zone
    boundary has no seam. The COGs' internal blocks are read through ``cache``: each is fetched and decoded
    once while the cache holds it (`BlockCache`, in memory or in its job folder, which the job's workers
    share), however many map blocks it covers. A scene whose files
    cannot be read is left out and listed in ``skipped``, except when the failure is a transient fault of a
    remote file (a 5xx answer, a body cut short, a reset or a timeout; `inseason.extract.sample.is_transient`):
    that file is read again, with backoff and without GDAL's cache (which may hold a block that came short),
    and when every read fails the block fails with `RemoteError`, never quietly without that scene.

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
        cache: the decoded COG blocks to read through (None: this process's, :func:`block_cache`).

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
    retried = 0
    cache = block_cache() if cache is None else cache
    cache.scope(grid)
    centres: dict[int | None, tuple[Floats, Floats]] = {}

    def window(scene: SceneRef, band: str, *, clip: bool) -> tuple[np.ndarray | None, int]:
        """The band's values on the block's pixels and its nodata (None: ``clip`` and the file misses the block)."""
        nonlocal retried
        href = scene.hrefs[band]
        file = _file_key(href)

        def read(fresh: bool) -> tuple[np.ndarray | None, int]:
            with ExitStack() as opened:
                datasets: list[rasterio.DatasetReader] = []

                def dataset() -> rasterio.DatasetReader:
                    if not datasets:
                        if fresh:  # read the file anew, not from GDAL's cache (it may hold a block that came short)
                            opened.enter_context(rasterio.Env(**GDAL_RETRY_ENV))
                        opened.enter_context(input_errors(href, scene.access))  # a refusal: one line, the fix
                        datasets.append(opened.enter_context(rasterio.open(input_path(href, scene.access))))
                    return datasets[0]

                try:
                    held_info = cache.file(file) if not fresh else None
                    info = _FileInfo.of(dataset()) if held_info is None else held_info
                    cache.keep_file(file, info)
                    epsg = scene.epsg if info.epsg is None else info.epsg

                    def fetch(row: int, col: int) -> np.ndarray:
                        key = (file, 0, row, col)
                        held = cache.get(key)
                        if held is not None:
                            return held
                        claimed = [key] if cache.claim(key) else []
                        if not claimed:  # another worker of the job fetches it: wait for its file
                            held = cache.wait(key)
                            if held is not None:
                                return held
                        try:
                            # this block and the next ones of its row under the map grid that are not held, in
                            # one read (GDAL fetches their byte ranges together, without reading ahead of them)
                            bh, bw = info.block_height, info.block_width
                            height = min(bh, info.height - row * bh)
                            block_bytes = bh * bw * np.dtype(info.dtype).itemsize
                            last, room = _last_block_col(info, grid, epsg), cache.room() // 2
                            if cache.folder is not None:  # the blocks go to the job folder: memory need not hold them
                                room = max(room, _RUN_BYTES - block_bytes)
                            end = col + 1
                            while (
                                end <= last
                                and room >= block_bytes
                                and not cache.holds((file, 0, row, end))
                                and cache.claim((file, 0, row, end))
                            ):
                                claimed.append((file, 0, row, end))
                                end, room = end + 1, room - block_bytes
                            width = min(end * bw, info.width) - col * bw
                            data: np.ndarray = dataset().read(1, window=Window(col * bw, row * bh, width, height))
                            for c in range(col, end):
                                cache.put((file, 0, row, c), data[:, (c - col) * bw : (c - col + 1) * bw].copy())
                        finally:
                            cache.release(claimed)
                        return data[:, :bw]

                    if epsg not in centres:
                        centres[epsg] = _centres(grid, block, epsg)
                    shape = (block.height, block.width)
                    values = _read_band(info, centres[epsg], shape, fetch, clip=clip)
                    return (None if values is None else values.ravel()), info.nodata
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

    access = next((scene.access for scene in scenes if scene.access is not None), None)
    with gdal_env([h for scene in scenes for h in scene.hrefs.values()], access=access, **GDAL_COG_ENV):
        for sequence, scene in enumerate(scenes):
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
