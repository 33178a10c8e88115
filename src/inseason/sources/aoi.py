"""The area of interest (AOI): from a lon/lat bounding box or a vector file, to any CRS.

An AOI is given either as ``"west,south,east,north"`` in degrees (EPSG:4326) or as a vector file (GeoJSON,
GeoPackage, Shapefile: anything OGR reads, in any CRS). It becomes one valid shapely geometry in EPSG:4326
(the union of all features); :func:`aoi_to_crs` densifies its edges and reprojects it to a label raster's or a
scene's CRS, so a lon/lat box becomes the curved outline it really is in Albers or UTM.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError

__all__ = ["WGS84", "aoi_to_crs", "parse_bbox", "read_aoi", "read_vector_geometries", "to_crs"]

WGS84 = CRS.from_epsg(4326)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BBOX = re.compile(rf"^\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*$")


def parse_bbox(text: str) -> BaseGeometry:
    """A ``"west,south,east,north"`` lon/lat string as a shapely box.

    Values must be degrees (west < east within ±180, south < north within ±90): a box in metres (e.g. EPSG:5070)
    is refused with a hint, since it cannot be told apart from a typo otherwise.

    Args:
        text: the bbox, e.g. ``"-90.81,33.39,-90.79,33.41"``.

    Returns:
        The box in lon/lat.

    Raises:
        InputError: ``text`` is not four numbers, not in degrees, or empty or inverted.
    """
    match = _BBOX.match(text)
    if not match:
        raise InputError(f"AOI {text!r} is not a bbox 'west,south,east,north' in degrees nor an existing file")
    west, south, east, north = (float(v) for v in match.groups())
    if not all(-180 <= v <= 180 for v in (west, east)) or not all(-90 <= v <= 90 for v in (south, north)):
        raise InputError(
            f"AOI bbox {text!r} is not in degrees: give 'west,south,east,north' as lon/lat "
            "(EPSG:4326), e.g. '-90.81,33.39,-90.79,33.41'"
        )
    if not (west < east and south < north):
        raise InputError(
            f"AOI bbox {text!r} is empty or inverted: give 'west,south,east,north' with west < east and south < north"
        )
    return box(west, south, east, north)


def read_vector_geometries(
    path: str | os.PathLike[str], *, layer: str | int | None = None, what: str = "vector file"
) -> tuple[np.ndarray, CRS, dict[str, Any]]:
    """Read a vector file's geometries with pyogrio (OGR).

    The CRS comes from the file (GeoJSON is EPSG:4326 by definition).

    Args:
        path: a GeoJSON, GeoPackage, Shapefile or anything else OGR reads.
        layer: the layer to read (name or index); None reads the first.
        what: what the file is, for messages (``"AOI file"``, ``"vector labels"``).

    Returns:
        ``(shapely array, CRS, pyogrio meta)``.

    Raises:
        InputError: the file does not exist, OGR cannot read it, or it has no CRS pyproj understands (the
            message names the file).
    """
    import pyogrio
    import pyogrio.raw

    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    try:
        meta, _, wkb, _ = pyogrio.raw.read(path, layer=layer, columns=[])
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ValueError…
        raise InputError(
            f"{what} {path} cannot be read as GeoJSON/GeoPackage/Shapefile: {' '.join(str(exc).split())}"
        ) from None
    crs = _crs_of(meta.get("crs"), path, what)
    geoms = shapely.from_wkb(wkb) if len(wkb) else np.empty(0, dtype=object)
    return geoms, crs, meta


def _crs_of(text: str | None, path: Path, what: str) -> CRS:
    if not text:
        raise InputError(
            f"{what} {path} has no CRS (a Shapefile needs its .prj): add one, e.g. with `ogr2ogr -a_srs EPSG:4326`"
        )
    try:
        return CRS.from_user_input(text)
    except Exception:
        raise InputError(f"{what} {path} has a CRS pyproj does not understand: {text[:80]}") from None


def read_aoi(aoi: str | os.PathLike[str] | BaseGeometry, *, layer: str | int | None = None) -> BaseGeometry:
    """The AOI as one valid geometry in EPSG:4326 (lon/lat).

    ``aoi`` is a shapely geometry (taken as lon/lat), a path to a vector file (GeoJSON, GeoPackage, Shapefile;
    any CRS; all features are unioned) or a ``"west,south,east,north"`` bbox string in degrees.

    Args:
        aoi: the AOI: a geometry, a vector file or a bbox string.
        layer: the layer of a multi-layer vector file (name or index).

    Returns:
        The AOI's polygons in lon/lat.

    Raises:
        InputError: the AOI is neither an existing file nor a bbox, is unreadable or empty, has no area
            (points or lines), or is not in lon/lat degrees.
    """
    if isinstance(aoi, BaseGeometry):
        geom, source = aoi, "AOI geometry"
    else:
        text = os.fspath(aoi)
        path = Path(text)
        if not path.exists() and _BBOX.match(text):
            return parse_bbox(text)
        if not path.exists():
            raise InputError(
                f"AOI {text!r} is neither an existing vector file nor a bbox 'west,south,east,north' in degrees"
            )
        if path.is_dir():
            raise InputError(f"AOI {path} is a folder: give a GeoJSON/GeoPackage/Shapefile or a bbox")
        geoms, crs, _ = read_vector_geometries(path, layer=layer, what="AOI file")
        geoms = geoms[~shapely.is_missing(geoms)] if len(geoms) else geoms
        if len(geoms) == 0:
            raise InputError(f"AOI file {path} holds no geometry")
        geom = shapely.union_all(shapely.make_valid(geoms))
        if not crs.equals(WGS84):
            geom = to_crs(geom, crs, WGS84)
        source = f"AOI file {path}"
    geom = shapely.make_valid(geom)
    polygonal = _polygonal(geom)
    if polygonal is None or polygonal.is_empty or polygonal.area == 0:
        raise InputError(f"{source} has no area (points or lines?): give polygons or a bbox")
    w, s, e, n = polygonal.bounds
    if w < -180 or e > 180 or s < -90 or n > 90:
        raise InputError(f"{source} is not in lon/lat degrees (bounds {polygonal.bounds}): check its CRS")
    return polygonal


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.union_all(parts) if parts else None
    return None


def to_crs(geom: BaseGeometry, src: CRS | str | int, dst: CRS | str | int, *, densify: bool = True) -> BaseGeometry:
    """``geom`` reprojected from ``src`` to ``dst`` (edges densified first so they bend as they should).

    Args:
        geom: the geometry in ``src``.
        src: its CRS (a pyproj CRS, ``"EPSG:5070"``, WKT or EPSG code).
        dst: the CRS to reproject to.
        densify: add vertices (a hundredth of the larger side apart) before reprojecting; points never are.

    Returns:
        ``geom`` in ``dst``, made valid if reprojection broke it.

    Raises:
        InputError: the geometry lies outside ``dst``'s area of use (coordinates become infinite).
    """
    src, dst = CRS.from_user_input(src), CRS.from_user_input(dst)
    if src.equals(dst):
        return geom
    if densify and geom.geom_type not in ("Point", "MultiPoint"):
        w, s, e, n = geom.bounds
        step = max(e - w, n - s) / 100
        if step > 0:
            geom = shapely.segmentize(geom, step)
    transformer = Transformer.from_crs(src, dst, always_xy=True)
    out = shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    if not np.all(np.isfinite(shapely.get_coordinates(out))):
        raise InputError(f"AOI cannot be expressed in {dst.to_string()}: it lies outside that CRS's area")
    return shapely.make_valid(out) if not out.is_valid else out


def aoi_to_crs(aoi: BaseGeometry, crs: CRS | str | int) -> BaseGeometry:
    """The lon/lat AOI (from :func:`read_aoi`) in ``crs``, its edges densified so they bend correctly.

    Args:
        aoi: the AOI in lon/lat.
        crs: the target CRS: a pyproj or rasterio CRS, ``"EPSG:5070"``, WKT or an EPSG code.

    Returns:
        The AOI in ``crs``.

    Raises:
        InputError: the AOI lies outside ``crs``'s area of use.
    """
    return to_crs(aoi, WGS84, _as_crs(crs))


def _as_crs(crs: object) -> CRS:
    if isinstance(crs, CRS):
        return crs
    if hasattr(crs, "to_wkt"):  # rasterio CRS
        return CRS.from_wkt(crs.to_wkt())
    return CRS.from_user_input(crs)
