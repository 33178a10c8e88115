"""Sample one scene at many points, reading only the COG blocks that hold points.

All points of a block are gathered at once (no per-point loop), each band on its own 10/20/60 m grid.

This is the pure unit of work of `extract` (DESIGN §4): the local and Spark engines both call
:func:`sample_scene` and get the same Arrow table back.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from inseason.errors import InputError, RemoteError
from inseason.progress import plural
from inseason.sources.access import SigningError, default_access, input_errors, input_path
from inseason.storage import InputAccess, gdal_env
from inseason.tables import OBSERVATIONS, S2_BANDS

#: SCL classes the ARSET course drops: no data, saturated, unclassified, cloud medium/high, snow.
DEFAULT_SCL_MASK: tuple[int, ...] = (0, 1, 7, 8, 9, 11)


def check_scl_mask(scl_mask: Sequence[int]) -> None:
    """Refuse an SCL mask with a class outside 0-11, the classes of Sentinel-2's scene classification.

    Args:
        scl_mask: the SCL classes to drop.

    Raises:
        InputError: a class is below 0 or above 11.
    """
    if any(not 0 <= c <= 11 for c in scl_mask):
        raise InputError(f"scl_mask {list(scl_mask)} must hold SCL classes between 0 and 11 (e.g. 0,1,7,8,9,11)")


#: GDAL settings for reading COGs: no directory listing, merged range requests, a block cache, and retries.
#: GDAL repeats a request answered 408, 429 or 5xx, or whose connection was reset, up to 5 times, waiting
#: 0.1 s first and longer each time (a first wait of 1 s made a 503 on every fifth request cost ten times the
#: run: each of them waited a second for a read of milliseconds). A body cut short it does not repeat: it hands
#: the short block to libtiff ("got N bytes, expected M") and keeps it in its cache; :func:`sample_scene` reads
#: such a band again.
GDAL_COG_ENV: dict[str, object] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "0.1",
    "GDAL_HTTP_RETRY_CODES": "408,429,500,502,503,504",
    "VSI_CACHE": "TRUE",
    "GDAL_CACHEMAX": 256,  # MB
}

#: Added on a band's second and later reads: /vsicurl/ and /vsis3/ forget a file's cached blocks when it is
#: closed, so a block that came short the first time is fetched again instead of served from the cache.
GDAL_RETRY_ENV: dict[str, object] = {"CPL_VSIL_CURL_NON_CACHED": "/vsicurl/:/vsis3/"}

#: Reads of a band of a scene after a transient fault, and the first wait (doubled after each).
SCENE_RETRIES = 5
SCENE_BACKOFF_S = 0.1

#: GDAL's words for a fault a later read may not meet: a short block (a body cut short), an HTTP status a
#: server sends when busy, a curl transfer failure (reset, timeout, connection closed early).
_TRANSIENT = re.compile(
    r"got \d+ bytes, expected \d+|HTTP (?:response |error )?code:? (?:408|429|5\d\d)|curl error|timed out|timeout"
    r"|connection (?:reset|refused|closed)|transfer closed|empty reply|recv failure|send failure|couldn't connect",
    re.IGNORECASE,
)
_REMOTE = ("http://", "https://", "s3://", "/vsicurl", "/vsis3/")


@dataclass(frozen=True)
class SceneTask:
    """What a worker needs to sample one scene: its assets and the points assigned to it."""

    scene_id: str
    date: dt.date
    tile: str
    year: int  # season of the points
    boa_offset: int
    epsg: int  # CRS of every band, as the scene manifest says; the points' x and y are in it
    hrefs: dict[str, str]  # band name (B01…B12, SCL) → href


@dataclass
class SceneResult:
    """Observations of one scene, or the reason it was skipped, with what reading it cost."""

    table: pa.Table | None
    bytes_read: int = 0
    blocks_read: int = 0
    skipped: str | None = None
    points: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    transient: bool = False  # skipped for a fault a later read may not meet (network), not for the files
    retried: int = 0  # requests GDAL repeated and reads of a band repeated, after transient faults


def _nodata(ds: rasterio.DatasetReader) -> int:
    """The band's nodata value (Sentinel-2 L2A uses 0, also when a file does not say so)."""
    return int(ds.nodata) if ds.nodata is not None else 0


def _sample_band(ds: rasterio.DatasetReader, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Values of band 1 at map coordinates (x, y) (nodata outside), reading only the blocks that hold points."""
    cols, rows = ~ds.transform @ (x, y)
    rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    out = np.full(x.shape, _nodata(ds), dtype=ds.dtypes[0])
    inside = (rows >= 0) & (rows < ds.height) & (cols >= 0) & (cols < ds.width)
    bh, bw = ds.block_shapes[0]
    block = (rows // bh) * (ds.width // bw + 1) + cols // bw
    idx = np.flatnonzero(inside)
    order = idx[np.argsort(block[idx], kind="stable")]
    keys, starts = np.unique(block[order], return_index=True)
    nbytes = 0
    for _key, part in zip(keys, np.split(order, starts[1:])):  # zip: no part when no point is inside
        br, bc = rows[part[0]] // bh, cols[part[0]] // bw
        window = Window(bc * bw, br * bh, min(bw, ds.width - bc * bw), min(bh, ds.height - br * bh))
        data = ds.read(1, window=window)
        out[part] = data[rows[part] - br * bh, cols[part] - bc * bw]
        nbytes += ds.block_size(1, int(br), int(bc))
    return out, nbytes, len(keys)


def gdal_reason(exc: RasterioError) -> str:
    """GDAL's own words for a failed read (rasterio puts them in the chained exception).

    Args:
        exc: the error rasterio raised.

    Returns:
        Its message and those of the errors chained to it, joined by ``; ``.
    """
    causes = [str(exc)]
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        causes.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    useful = [c for c in causes if c and "See previous exception" not in c] or causes
    return "; ".join(dict.fromkeys(useful))


def is_transient(href: str, reason: str) -> bool:
    """Whether a failed read of ``href`` may succeed when tried again: a remote file and a network fault.

    A local file, a missing remote one (404), a forbidden one (403) or one GDAL cannot decode is permanent.

    Args:
        href: the file that failed.
        reason: GDAL's words for the failure (:func:`gdal_reason`).

    Returns:
        True for a fault of the network or of a busy server on a remote file.
    """
    return href.startswith(_REMOTE) and _TRANSIENT.search(reason) is not None


T = TypeVar("T")


def read_again(
    read: Callable[[bool], T], *, retries: int, backoff: float, what: str, sleep: Callable[[float], Any] = time.sleep
) -> tuple[T, int]:
    """Call ``read(fresh)`` until it does not raise `RemoteError`: a remote read that met a transient fault.

    The one retry loop of remote COG reads beside GDAL's own (scenes' SCL, predict's blocks). The first call
    gets ``fresh=False``, the later ones ``fresh=True`` (read the files anew with :data:`GDAL_RETRY_ENV`
    instead of from GDAL's cache, which may hold a block that came short), after waits of ``backoff``,
    ``2 × backoff``...

    Args:
        read: the read; it raises `RemoteError` for a fault that may pass (:func:`is_transient`).
        retries: calls after the first.
        backoff: seconds before the second call, doubled before each later one.
        what: what is read, for the message (``block 3 of 2022``).
        sleep: how to wait (a test records the waits).

    Returns:
        What ``read`` returned, and how many calls were made again.

    Raises:
        RemoteError: every call failed; one line naming ``what``, the last fault and how to resume (a
            `~inseason.sources.access.SigningError` is raised at once: its endpoint has had its retries).
    """
    attempt = 0
    while True:
        try:
            return read(attempt > 0), attempt
        except SigningError:
            raise  # the token endpoint has had its own retries
        except RemoteError as exc:
            if attempt >= retries:
                raise RemoteError(
                    f"{what}: {exc} (failed {plural(attempt + 1, 'time')}): check the connection and the scene "
                    "server, then run again with the same options to resume"
                ) from None
            sleep(backoff * 2**attempt)
            attempt += 1


class GdalRetries(logging.Filter):
    """Counts (and hides) GDAL's "Retrying again" warnings: each is one HTTP request GDAL repeats itself."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Count a retry record and drop it; let every other record through.

        Args:
            record: a record of rasterio's GDAL logger.

        Returns:
            False for GDAL's "Retrying again" warning (counted), True otherwise.
        """
        if "Retrying again" in record.getMessage():
            self.count += 1
            return False  # counted in the summary, not printed once per request
        return True


@contextmanager
def counting_gdal_retries() -> Iterator[GdalRetries]:
    """Count GDAL's own HTTP retries while the block runs (rasterio logs them as warnings, hidden meanwhile).

    Yields:
        The counter; its ``count`` is the requests GDAL repeated so far.
    """
    counter = GdalRetries()
    logger = logging.getLogger("rasterio._env")
    logger.addFilter(counter)
    try:
        yield counter
    finally:
        logger.removeFilter(counter)


def sample_scene(
    task: SceneTask,
    point_id: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    retries: int | None = None,
    backoff_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    access: InputAccess | None = None,
) -> SceneResult:
    """Observations of ``task`` at points (``x``, ``y`` in the scene's CRS), masked by SCL and nodata.

    Digital numbers are harmonised to reflectance × 10 000 (the BOA offset is added) and stored as int16.
    A scene whose files cannot be read is returned as skipped, with the reason, instead of raising. A band
    whose read meets a transient fault (:func:`is_transient`: a body cut short, a busy server, a reset) is
    read again up to ``retries`` times, waiting ``backoff_s`` and then twice as long each time, with GDAL's
    cache of the file dropped (one band at a time: with one request in ten cut short, a whole scene of some
    forty requests would almost never read clean); a scene still failing is returned skipped and marked
    ``transient``.

    Args:
        task: the scene: its assets, date, tile, CRS and BOA offset.
        point_id: the points' ids.
        x: the points' x in the scene's CRS (``task.epsg``).
        y: the points' y in the scene's CRS.
        scl_mask: the SCL classes whose observations are dropped.
        retries: reads of a band after the first, when a read meets a transient fault (None:
            :data:`SCENE_RETRIES`).
        backoff_s: seconds before the first of them, doubled for each next one (None: :data:`SCENE_BACKOFF_S`).
        sleep: waits the given seconds between reads of a band (tests pass a recorder).
        access: how the scene's files are read (the scene manifest's; None: the environment's, with the
            signing the hrefs need); each file is signed when it is opened.

    Returns:
        The observations (an `OBSERVATIONS` table, empty when no point is usable) with the bytes and blocks
        read, or no table and the reason the scene was skipped; ``retried`` counts the requests and reads
        repeated after transient faults.

    Raises:
        InputError: a server refused a read (credentials, signing or requester pays: the message says which
            option to change); every scene would meet it, so the run stops.
        SigningError: a file needs a SAS token and the token endpoint failed.
    """
    retries = SCENE_RETRIES if retries is None else retries
    backoff_s = SCENE_BACKOFF_S if backoff_s is None else backoff_s
    values: dict[str, np.ndarray] = {}
    nodata: dict[str, int] = {}
    nbytes = blocks = retried = 0
    access = access if access is not None else default_access(task.hrefs.values())
    with counting_gdal_retries() as gdal_retries, gdal_env(task.hrefs.values(), access=access, **GDAL_COG_ENV):
        for band in ("SCL", *S2_BANDS):
            href = task.hrefs.get(band)
            if href is None:
                return SceneResult(None, nbytes, blocks, skipped=f"no {band} asset", points=len(point_id))
            for attempt in range(retries + 1):
                if attempt:
                    sleep(backoff_s * 2 ** (attempt - 1))
                    retried += 1
                try:
                    with (
                        input_errors(href, access),
                        rasterio.Env(**GDAL_RETRY_ENV) if attempt else nullcontext(),
                        rasterio.open(input_path(href, access)) as ds,
                    ):
                        if ds.crs is None or ds.crs.to_epsg() != task.epsg:
                            return SceneResult(
                                None,
                                nbytes,
                                blocks,
                                points=len(point_id),
                                skipped=f"{band} ({href}) is in {ds.crs}, not EPSG:{task.epsg}",
                            )
                        values[band], n, b = _sample_band(ds, x, y)
                        nodata[band] = _nodata(ds)
                    break
                except RasterioError as exc:
                    reason = gdal_reason(exc)
                    transient = is_transient(href, reason)
                    if not transient or attempt == retries:
                        return SceneResult(
                            None,
                            nbytes,
                            blocks,
                            skipped=f"{band} unreadable ({href}): {reason}",
                            points=len(point_id),
                            transient=transient,
                            retried=retried + gdal_retries.count,
                        )
            nbytes, blocks = nbytes + n, blocks + b
            if band == "SCL":  # points under masked SCL need no other band
                keep = (values["SCL"] != nodata["SCL"]) & ~np.isin(values["SCL"], scl_mask)
                point_id, x, y = point_id[keep], x[keep], y[keep]
                values["SCL"] = values["SCL"][keep]
                if not keep.any():
                    break
        retried += gdal_retries.count
    if len(point_id) == 0 or len(values) < len(S2_BANDS) + 1:
        return SceneResult(OBSERVATIONS.empty_table(), nbytes, blocks, retried=retried)
    stack = np.stack([values[b] for b in S2_BANDS])
    valid = (stack != np.array([[nodata[b]] for b in S2_BANDS])).all(axis=0)  # nodata (off the swath) in any band
    reflectance = np.clip(stack[:, valid].astype(np.int32) + task.boa_offset, -32768, 32767).astype(np.int16)
    n = int(valid.sum())
    columns = {
        "point_id": pa.array(point_id[valid], pa.int64()),
        "scene_id": pa.array([task.scene_id] * n, pa.string()),
        "date": pa.array([task.date] * n, pa.date32()),
        **{band: pa.array(reflectance[i], pa.int16()) for i, band in enumerate(S2_BANDS)},
        "scl": pa.array(values["SCL"][valid], pa.uint8()),
        "tile": pa.array([task.tile] * n, pa.string()),
    }
    return SceneResult(pa.table(columns, schema=OBSERVATIONS), nbytes, blocks, retried=retried)
