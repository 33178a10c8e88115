"""CDL label rasters: local GeoTIFFs (a folder of years, a national or clipped file, any CRS) and CropScape.

* :func:`find_cdl_file` picks a year's file from a folder (``CDL_YYYY.tif``, else the one ``*YYYY*.tif``) or
  checks a single file's year.
* :func:`fetch_cropscape` asks CropScape's ``GetCDLFile`` for a bbox (EPSG:5070 metres) and year, follows the
  ``returnURL`` of its XML answer to the clipped GeoTIFF and caches it on disk by (bbox, year). The service
  answers a request it refuses (a year it does not serve, a box outside its coverage) with HTTP 500 and a SOAP
  fault: that answer is not retried, and its ``faultstring`` becomes a one-line :class:`InputError` when it is
  about the year or the box (the user's fix), else a :class:`RemoteError`. A 500 without a fault is retried. A
  TLS certificate this machine does not trust is named as such with its fix (:data:`CROPSCAPE_CA_HINT`).
* :func:`read_label_window` reads only the AOI's window of a label raster (the AOI is reprojected to the
  raster's CRS), with a mask of the pixels whose centre lies inside the AOI.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import requests
from affine import Affine
from pyproj import CRS
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError, RemoteError
from inseason.sources.aoi import aoi_to_crs
from inseason.sources.http import download, fetch, make_session, soap_fault, status_error
from inseason.storage import atomic_path

__all__ = [
    "CDL_CRS",
    "CONUS_BOUNDS",
    "CROPSCAPE_CA_HINT",
    "CROPSCAPE_URL",
    "FIRST_CDL_YEAR",
    "LabelWindow",
    "cdl_file_year",
    "cropscape_bbox",
    "default_cache_dir",
    "fetch_cropscape",
    "find_cdl_file",
    "parse_cdl_file_response",
    "read_label_window",
]

log = logging.getLogger(__name__)

#: CropScape's CDL web service root; ``GetCDLFile`` is requested under it.
CROPSCAPE_URL = "https://nassgeodata.gmu.edu/axis2/services/CDLService"
#: How a user trusts the CA of CropScape's certificate (quoted when this machine does not trust it).
CROPSCAPE_CA_HINT = "--ca-bundle PATH (inseason labels) or REQUESTS_CA_BUNDLE=PATH / SSL_CERT_FILE=PATH"
#: CRS of the national CDL and of every CropScape bbox: NAD83 / CONUS Albers.
CDL_CRS = CRS.from_epsg(5070)
#: Extent of the national 30 m CDL in EPSG:5070 metres (west, south, east, north).
CONUS_BOUNDS: tuple[float, float, float, float] = (-2_356_095.0, 276_915.0, 2_258_235.0, 3_172_605.0)
#: The first year with a CDL (for some states).
FIRST_CDL_YEAR = 1997
_YEAR_IN_NAME = re.compile(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)")
_TIFF_SUFFIXES = (".tif", ".tiff")


# ------------------------------------------------------------------------------------------ local files


def cdl_file_year(path: str | os.PathLike[str]) -> int | None:
    """The year written in a label file's name (``CDL_2021.tif``, ``2021_30m_cdls.tif``), or ``None``.

    Args:
        path: the label file.

    Returns:
        The one year in the name, or None when it holds none or several.
    """
    years = {int(y) for y in _YEAR_IN_NAME.findall(Path(path).name)}
    return years.pop() if len(years) == 1 else None


def _tiffs(folder: Path) -> list[Path]:
    found = [
        p
        for pattern in ("*", "*/*")
        for p in folder.glob(pattern)
        if p.is_file() and p.suffix.lower() in _TIFF_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(found)


def find_cdl_file(cdl: str | os.PathLike[str], year: int) -> Path:
    """The label GeoTIFF for ``year``: from a folder, or ``cdl`` itself when it is a file.

    In a folder (and its direct subfolders, as a national CDL zip unpacks) ``CDL_YYYY.tif`` wins, else the one
    GeoTIFF whose name holds the year (names that contain "cdl" preferred when several do). A single file
    serves the year written in its name, or any one year when its name holds none.

    Args:
        cdl: a folder of label GeoTIFFs, or one GeoTIFF.
        year: the season year.

    Returns:
        The GeoTIFF for ``year``.

    Raises:
        InputError: the path does not exist, the year is missing (the message lists the years found), a single
            file names another year, or several files could serve the year.
    """
    path = Path(cdl)
    if not path.exists():
        raise InputError(
            f"CDL path {path} does not exist: give a folder of CDL_YYYY.tif files, a GeoTIFF or 'cropscape'"
        )
    if path.is_file():
        named = cdl_file_year(path)
        if named is not None and named != year:
            raise InputError(f"CDL file {path} is for {named}, not {year}: give a folder with one GeoTIFF per year")
        return path
    tiffs = _tiffs(path)
    exact = [p for p in tiffs if p.name.lower() in (f"cdl_{year}.tif", f"cdl_{year}.tiff")]
    if exact:
        return exact[0]
    candidates = [p for p in tiffs if cdl_file_year(p) == year]
    if len(candidates) > 1:
        cdl_named = [p for p in candidates if "cdl" in p.name.lower()]
        candidates = cdl_named or candidates
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = ", ".join(str(p.relative_to(path)) for p in candidates)
        raise InputError(
            f"CDL folder {path} has several GeoTIFFs for {year} ({names}): keep one or name it CDL_{year}.tif"
        )
    found = sorted({y for p in tiffs if (y := cdl_file_year(p)) is not None})
    have = ", ".join(map(str, found)) if found else "none"
    raise InputError(
        f"CDL folder {path} has no GeoTIFF for {year} (years found: {have}): add CDL_{year}.tif or drop the year"
    )


# ----------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LabelWindow:
    """The AOI's window of a label raster: codes, georeferencing and which pixels are inside the AOI.

    ``codes`` holds the raster values (int32) with nodata set to 0; ``inside`` is True where a pixel's
    centre lies inside the AOI and the code is not 0. ``res_m`` is the pixel size in metres (x, y),
    approximated at the window's centre when the CRS is geographic.
    """

    path: Path
    codes: np.ndarray
    inside: np.ndarray
    transform: Affine
    crs: CRS
    res_m: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the window."""
        rows, cols = self.codes.shape
        return rows, cols

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (in ``crs``) of the given rows and columns.

        Args:
            rows: pixel rows in the window.
            cols: pixel columns in the window, one per row.

        Returns:
            ``(x, y)`` arrays in ``crs``.
        """
        t = self.transform
        c = np.asarray(cols, dtype=np.float64) + 0.5
        r = np.asarray(rows, dtype=np.float64) + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f

    def grid_origin(self) -> tuple[int, int]:
        """(row, column) of the window's first pixel on the CRS-wide grid of this resolution.

        Counting from the CRS origin makes stride sampling line up between a national file and any clip of it.

        Returns:
            ``(row, column)`` of the window's top-left pixel.
        """
        t = self.transform
        return round(t.f / t.e), round(t.c / t.a)


def _open_error(path: Path, exc: Exception) -> InputError:
    text = " ".join(str(exc).split())
    return InputError(f"label raster {path} cannot be read ({text}): is it a GeoTIFF?")


def read_label_window(path: str | os.PathLike[str], aoi: BaseGeometry) -> LabelWindow:
    """Read the window of ``path`` covering ``aoi`` (lon/lat geometry), whatever the raster's CRS.

    The AOI is reprojected to the raster's CRS; only the window that covers it is read (band 1).

    Args:
        path: the label GeoTIFF (any CRS).
        aoi: the AOI in lon/lat.

    Returns:
        The window's codes (nodata as 0), its georeferencing and the mask of pixels inside the AOI.

    Raises:
        InputError: the file is unreadable, has no CRS, is rotated or holds non-integer values, or the AOI
            does not overlap it.
    """
    path = Path(path)
    try:
        ds = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise _open_error(path, exc) from None
    with ds:
        if ds.crs is None:
            raise InputError(f"label raster {path} has no CRS: georeference it (e.g. gdal_edit.py -a_srs EPSG:5070)")
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise InputError(f"label raster {path} is rotated: warp it to a north-up grid (gdalwarp)")
        if not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
            raise InputError(f"label raster {path} holds {ds.dtypes[0]} values: label codes must be integers")
        crs = CRS.from_wkt(ds.crs.to_wkt())
        aoi_r = aoi_to_crs(aoi, crs)
        left, bottom, right, top = ds.bounds
        if not aoi_r.intersects(box(left, bottom, right, top)):
            bounds = tuple(round(v, 3) for v in ds.bounds)
            raise InputError(
                f"AOI does not overlap label raster {path} (raster bounds {bounds} in {_crs_name(crs)}): "
                "check the AOI or the file"
            )
        w, s, e, n = aoi_r.bounds
        cols = [(x - t.c) / t.a for x in (w, e)]
        rows = [(y - t.f) / t.e for y in (s, n)]
        c0, c1 = max(0, math.floor(min(cols))), min(ds.width, math.ceil(max(cols)))
        r0, r1 = max(0, math.floor(min(rows))), min(ds.height, math.ceil(max(rows)))
        if c1 <= c0 or r1 <= r0:
            raise InputError(f"AOI does not overlap label raster {path}: check the AOI or the file")
        window = Window(c0, r0, c1 - c0, r1 - r0)
        try:
            codes = ds.read(1, window=window).astype(np.int32)
        except (RasterioError, OSError) as exc:
            raise _open_error(path, exc) from None
        if ds.nodata is not None and not (isinstance(ds.nodata, float) and math.isnan(ds.nodata)):
            codes[codes == int(ds.nodata)] = 0
        transform = Affine(t.a, 0.0, t.c + c0 * t.a, 0.0, t.e, t.f + r0 * t.e)
    inside = geometry_mask([aoi_r], out_shape=codes.shape, transform=transform, invert=True) & (codes != 0)
    return LabelWindow(
        path=path, codes=codes, inside=inside, transform=transform, crs=crs, res_m=_res_m(transform, crs, codes.shape)
    )


def _res_m(t: Affine, crs: CRS, shape: tuple[int, ...]) -> tuple[float, float]:
    rx, ry = abs(t.a), abs(t.e)
    if crs.is_geographic:
        lat = math.radians(t.f + t.e * shape[0] / 2)
        return rx * 111_320.0 * math.cos(lat), ry * 110_574.0
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return rx * factor, ry * factor


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


# --------------------------------------------------------------------------------------------- CropScape


def default_cache_dir() -> Path:
    """Where downloads are cached when no ``cache_dir`` is given.

    Returns:
        ``$INSEASON_CACHE``, else ``$XDG_CACHE_HOME/inseason``, else ``~/.cache/inseason``.
    """
    env = os.environ.get("INSEASON_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inseason"


def cropscape_bbox(aoi: BaseGeometry, *, pixel: float = 30.0) -> tuple[int, int, int, int]:
    """The EPSG:5070 bbox (metres, rounded outward to ``pixel``) of a lon/lat AOI, for ``GetCDLFile``.

    Args:
        aoi: the AOI in lon/lat.
        pixel: the grid the bbox is rounded outward to, in metres.

    Returns:
        ``(xmin, ymin, xmax, ymax)`` in EPSG:5070 metres.

    Raises:
        InputError: the AOI lies outside the contiguous US, which the CDL does not cover.
    """
    aoi_m = aoi_to_crs(aoi, CDL_CRS)
    if not aoi_m.intersects(box(*CONUS_BOUNDS)):
        raise InputError(
            "AOI lies outside the contiguous US, which is all CDL/CropScape covers: use --vector "
            "labels for other regions"
        )
    w, s, e, n = aoi_m.bounds
    return (
        int(math.floor(w / pixel) * pixel),
        int(math.floor(s / pixel) * pixel),
        int(math.ceil(e / pixel) * pixel),
        int(math.ceil(n / pixel) * pixel),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_ABOUT_YEAR = re.compile(r"\byears?\b", re.IGNORECASE)
_ABOUT_BOX = re.compile(
    r"bbox|bounding box|area of interest|\baoi\b|extent|coordinates|intersect|outside|coverage", re.IGNORECASE
)


def _refusal(message: str, *, url: str, status: int | None) -> InputError | RemoteError:
    """The error of a ``GetCDLFile`` answer that refuses the request, decided by what the service says."""
    said = f'"{message}"' + (f" (HTTP {status})" if status is not None else "")
    if _ABOUT_YEAR.search(message):
        return InputError(
            f"CropScape GetCDLFile {url} refused the year: {said}: choose a year CropScape serves in --years, "
            "or give local CDL files with --cdl FOLDER"
        )
    if _ABOUT_BOX.search(message):
        return InputError(
            f"CropScape GetCDLFile {url} refused the AOI's box (EPSG:5070 metres): {said}: give an AOI inside the "
            "contiguous US, or local CDL files with --cdl FOLDER"
        )
    return RemoteError(f"CropScape GetCDLFile {url} answered with an error: {said}")


def parse_cdl_file_response(body: bytes | str, *, url: str, status: int | None = None) -> str:
    """The ``returnURL`` of a ``GetCDLFile`` answer.

    Success is XML holding a ``returnURL`` element (any namespace). A refusal is a SOAP fault (with HTTP 500) or
    an XML error text: about the year or the box it is the user's to fix (:class:`InputError`), else the
    service's (:class:`RemoteError`).

    Args:
        body: the service's answer.
        url: the request, for messages.
        status: the answer's HTTP status, quoted when given.

    Returns:
        The URL of the clipped GeoTIFF.

    Raises:
        InputError: the service refuses the year or the box; the message names ``url`` and quotes the service.
        RemoteError: the answer holds no ``returnURL`` for another reason (another SOAP fault, an XML or HTML
            body with an error text); the message names ``url`` and quotes the service's own message.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    fault = soap_fault(text)
    if fault is not None:
        raise _refusal(fault, url=url, status=status)
    message = ""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError:
        root = None
    if root is not None:
        for element in root.iter():
            if _local(element.tag) == "returnURL" and element.text and element.text.strip():
                return element.text.strip()
        for name in ("faultstring", "Text", "Reason", "message", "error", "Error"):
            found = [e.text.strip() for e in root.iter() if _local(e.tag) == name and e.text and e.text.strip()]
            if found:
                message = found[0]
                break
        if not message:
            message = " ".join(" ".join(t.strip() for t in root.itertext() if t.strip()).split())
        if message:
            raise _refusal(message[:300], url=url, status=status)
    else:
        message = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style|head).*?</\1>", " ", text)).split())
    message = message[:300] or "an empty answer"
    suffix = f" (HTTP {status})" if status is not None else ""
    raise RemoteError(f"CropScape GetCDLFile {url} answered without a returnURL: {message}{suffix}")


def _check_year(year: int) -> None:
    latest = dt.date.today().year
    if not FIRST_CDL_YEAR <= year <= latest:
        raise InputError(f"year {year} has no CDL: CDL exists from {FIRST_CDL_YEAR} to last year ({latest - 1})")


def fetch_cropscape(
    year: int,
    bbox: tuple[int, int, int, int],
    *,
    base_url: str = CROPSCAPE_URL,
    cache_dir: str | os.PathLike[str] | None = None,
    session: requests.Session | None = None,
) -> Path:
    """The CDL GeoTIFF for ``year`` clipped to ``bbox`` (EPSG:5070 metres), from CropScape or the cache.

    ``GET {base_url}/GetCDLFile?year=YYYY&bbox=xmin,ymin,xmax,ymax`` answers XML with a ``returnURL``; the
    GeoTIFF it names is downloaded to ``{cache_dir}/cropscape/CDL_{year}_{xmin}_{ymin}_{xmax}_{ymax}.tif``
    (temporary name, then rename) and checked to open with rasterio. A cached file is returned without any
    request. A refusal (HTTP 500 with a SOAP fault) is read at once, not retried; a 500 without one is retried
    as a transient failure. Pass a session made with ``make_session(ca_bundle=…)`` to trust another CA.

    Args:
        year: the CDL year.
        bbox: ``(xmin, ymin, xmax, ymax)`` in EPSG:5070 metres (:func:`cropscape_bbox`).
        base_url: the CDL web service root.
        cache_dir: the download cache (:func:`default_cache_dir` when None).
        session: the HTTP session (a fresh one with retries when None).

    Returns:
        The cached GeoTIFF.

    Raises:
        InputError: the year has no CDL, the bbox is empty, or the service refuses the year or the box (its
            message is quoted).
        RemoteError: the service fails (after the retries; a TLS certificate this machine does not trust is
            named, with its fix), answers with another error (quoted), or the file it names is not a readable
            GeoTIFF.
    """
    _check_year(year)
    xmin, ymin, xmax, ymax = (int(v) for v in bbox)
    if not (xmin < xmax and ymin < ymax):
        raise InputError(f"CropScape bbox {bbox} is empty: give xmin < xmax and ymin < ymax (EPSG:5070 metres)")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / "cropscape" / f"CDL_{year}_{xmin}_{ymin}_{xmax}_{ymax}.tif"
    if dest.is_file():
        log.debug("CropScape cache hit %s", dest)
        return dest
    session = session or make_session()
    endpoint = base_url.rstrip("/")
    if not endpoint.endswith("/GetCDLFile"):
        endpoint += "/GetCDLFile"
    # The query is written out (not encoded by requests) so the bbox keeps its commas, as the service documents.
    shown = f"{endpoint}?year={year}&bbox={xmin},{ymin},{xmax},{ymax}"
    # A SOAP fault comes with HTTP 500 (the session returns it at once): keep its body to quote the service.
    what = "CropScape GetCDLFile"
    response = fetch(shown, session=session, what=what, ok_statuses=(500,), ca_hint=CROPSCAPE_CA_HINT)
    status = response.status_code
    if status >= 400 and soap_fault(response.content) is None:
        raise status_error(response, what=what, url=shown, session=session)  # a 500 still failing after retries
    tif_url = parse_cdl_file_response(response.content, url=shown, status=status if status >= 400 else None)
    log.info("CropScape CDL %d for bbox %s: %s", year, (xmin, ymin, xmax, ymax), tif_url)
    with atomic_path(dest) as tmp:
        download(tif_url, tmp, session=session, what="CropScape CDL GeoTIFF", ca_hint=CROPSCAPE_CA_HINT)
        try:
            with rasterio.open(tmp) as ds:
                ds.read(1, window=Window(0, 0, min(ds.width, 16), min(ds.height, 16)))
        except (RasterioError, OSError) as exc:
            raise RemoteError(
                f"CropScape CDL GeoTIFF {tif_url} is not a readable GeoTIFF: {' '.join(str(exc).split())}"
            ) from None
    return dest
