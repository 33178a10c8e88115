"""Scene quality over the AOI only: the share of AOI pixels whose scene classification (SCL) is usable.

A tile's own ``eo:cloud_cover`` describes all 110 km of it; a scene that is cloudy in the west can be
clear over a small AOI in the east. :func:`scl_valid_fraction` reads only the window of the SCL COG that
covers the AOI (over HTTP or S3 that is the COG header and the blocks under the AOI, nothing else),
rasterises the AOI polygon on that window and counts the pixels whose class is not masked.

The default mask is the ARSET course's: 0 no data, 1 saturated/defective, 7 unclassified, 8 and 9 cloud
(medium, high probability), 11 snow/ice. Cloud shadow (3) and thin cirrus (10) are kept. Inside the tile,
SCL 0 (no data, e.g. beyond the swath edge of a partial orbit) is an invalid pixel like a cloud. Pixels
of the AOI outside the tile's raster grid are not counted at all (they belong to another tile), so for an
AOI straddling two tiles each tile's scene gets the fraction of its own part of the AOI.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from inseason.extract.sample import DEFAULT_SCL_MASK, GDAL_COG_ENV
from inseason.sources.access import open_input
from inseason.sources.aoi import aoi_to_crs
from inseason.storage import InputAccess

__all__ = [
    "DEFAULT_SCL_MASK",
    "AoiQuality",
    "UnreadableScene",
    "aoi_in_crs",
    "aoi_mask",
    "aoi_window",
    "scl_valid_fraction",
]

#: rasterio's rasterisation, run from several threads at once, can leak a spurious
#: ``NotGeoreferencedWarning`` from one thread's in-memory dataset into another: rasterise one at a time
#: (it takes microseconds next to the read).
_RASTERIZE_LOCK = threading.Lock()


class UnreadableScene(Exception):
    """The SCL asset of a scene cannot be read (missing, HTTP error, truncated or corrupt file)."""


@dataclass(frozen=True)
class AoiQuality:
    """Quality of one scene over the AOI: valid share, pixel counts and the window that was read.

    With ``keep_pixels`` (:func:`scl_valid_fraction`) it also holds what was read, for checks that look at
    other bands on the same pixels (the BOA offset check, `inseason.extract.offset`): the SCL window, the AOI
    mask on it, the window's affine transform and the SCL's CRS; None otherwise.
    """

    valid_fraction: float
    aoi_pixels: int
    valid_pixels: int
    window: Window | None
    scl: npt.NDArray[np.integer[Any]] | None = field(default=None, compare=False, repr=False)
    inside: npt.NDArray[np.bool_] | None = field(default=None, compare=False, repr=False)
    transform: Affine | None = field(default=None, compare=False, repr=False)
    crs: Any = field(default=None, compare=False, repr=False)

    def counts(self) -> dict[str, int]:
        """Pixel counts as a plain dict (for logs and metadata).

        Returns:
            ``aoi_pixels`` and ``valid_pixels``.
        """
        return {"aoi_pixels": self.aoi_pixels, "valid_pixels": self.valid_pixels}


def aoi_in_crs(aoi: BaseGeometry, crs: Any) -> BaseGeometry:
    """The lon/lat polygon ``aoi`` in ``crs`` (its edges densified first so they bend correctly).

    Args:
        aoi: the AOI polygon in lon/lat.
        crs: the target CRS (anything rasterio or pyproj accepts, e.g. a dataset's ``crs``).

    Returns:
        The AOI in ``crs``.
    """
    return aoi_to_crs(aoi, crs)


def aoi_window(geom: BaseGeometry, transform: Affine, width: int, height: int) -> Window | None:
    """Smallest pixel window of a north-up grid holding ``geom``'s bounds, clipped to the grid.

    Args:
        geom: the AOI in the grid's CRS.
        transform: the grid's affine transform (north up).
        width: the grid's width in pixels.
        height: the grid's height in pixels.

    Returns:
        The window, or None when the AOI misses the grid.
    """
    minx, miny, maxx, maxy = geom.bounds
    inverse = ~transform
    cols, rows = zip(*(inverse @ (x, y) for x, y in ((minx, maxy), (maxx, miny), (minx, miny), (maxx, maxy))))
    c0, c1 = max(0, math.floor(min(cols))), min(width, math.ceil(max(cols)))
    r0, r1 = max(0, math.floor(min(rows))), min(height, math.ceil(max(rows)))
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def aoi_mask(geom: BaseGeometry, transform: Affine, shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Boolean array of ``shape``: True where a pixel's centre lies in ``geom``.

    An AOI smaller than a pixel (no centre inside) gets the pixels it touches instead, so it is never empty
    when it overlaps.

    Args:
        geom: the AOI in the CRS of ``transform``.
        transform: the affine transform of the array's top-left pixel.
        shape: ``(rows, columns)`` of the array.

    Returns:
        The mask, True inside the AOI.
    """
    with _RASTERIZE_LOCK:
        inside: npt.NDArray[np.bool_] = geometry_mask(
            [mapping(geom)], out_shape=shape, transform=transform, invert=True
        )
        if not inside.any():
            inside = geometry_mask([mapping(geom)], out_shape=shape, transform=transform, invert=True, all_touched=True)
    return inside


def _reason(exc: BaseException) -> str:
    """GDAL's own words: rasterio's message plus the chained errors it points to ("see previous")."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        text = " ".join(str(seen).split())
        if text and text not in parts:
            parts.append(text)
        seen = seen.__cause__ or seen.__context__
    return "; ".join(reversed(parts)) or type(exc).__name__


def scl_valid_fraction(
    href: str,
    aoi: BaseGeometry,
    *,
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    gdal_options: Mapping[str, object] | None = None,
    keep_pixels: bool = False,
    access: InputAccess | None = None,
) -> AoiQuality:
    """Share of the AOI's pixels in the SCL COG at ``href`` whose class is not in ``scl_mask``.

    Only the window covering the AOI is read. Pixels of the AOI outside the raster are not counted; an AOI
    that misses the raster gives a fraction of 0 with no pixels.

    Args:
        href: the SCL COG: a path or a ``file://``, ``http(s)://`` or ``s3://`` URI.
        aoi: the AOI polygon in lon/lat.
        scl_mask: the SCL classes that are not usable.
        gdal_options: GDAL settings over `GDAL_COG_ENV`.
        keep_pixels: also return the SCL window read, the AOI mask on it, its transform and the CRS.
        access: how the scene's files are read (`inseason.sources.access.open_input`; None: the environment's,
            with the signing the href needs).

    Returns:
        The valid share, the pixel counts and the window read (with ``keep_pixels``, the pixels too).

    Raises:
        UnreadableScene: the file cannot be opened or read (missing, HTTP 404, truncated, corrupt, no CRS),
            with GDAL's reason.
        InputError: the server refused the read (credentials, signing, requester pays).
        SigningError: the href needs a token and none could be fetched.
    """
    env = {**GDAL_COG_ENV, **(gdal_options or {})}
    try:
        with open_input(href, access, signer=None, **env) as ds:
            if ds.crs is None:
                raise UnreadableScene(f"{href} has no CRS")
            geom = aoi_in_crs(aoi, ds.crs)
            window = aoi_window(geom, ds.transform, ds.width, ds.height)
            if window is None:
                return AoiQuality(0.0, 0, 0, None)
            scl = ds.read(1, window=window)
            origin = ds.transform @ Affine.translation(window.col_off, window.row_off)
            inside = aoi_mask(geom, origin, scl.shape)
            crs = ds.crs
    except (RasterioError, OSError, ValueError, MemoryError) as exc:
        raise UnreadableScene(_reason(exc)) from None
    except Exception as exc:  # GDAL's CPLE_* errors that rasterio lets through
        if type(exc).__module__.startswith("rasterio"):
            raise UnreadableScene(_reason(exc)) from None
        raise
    total = int(inside.sum())
    if total == 0:
        return AoiQuality(0.0, 0, 0, window)
    valid = int((inside & ~np.isin(scl, list(scl_mask))).sum())
    if keep_pixels:
        return AoiQuality(valid / total, total, valid, window, scl=scl, inside=inside, transform=origin, crs=crs)
    return AoiQuality(valid / total, total, valid, window)
