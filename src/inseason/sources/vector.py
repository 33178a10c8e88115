"""Vector labels: polygons (or points) with a class column, from GeoJSON, GeoPackage or Shapefile, any CRS.

Files are read with pyogrio (OGR). Each feature carries a class value (a user-named column) and optionally a
field id (another column; the feature's index in the file otherwise). Points are placed inside polygons:

* ``per_field`` — ``n`` random points per polygon, each at least ``edge_buffer_m`` from its boundary
  (deterministic from the seed and the feature's index, so adding features elsewhere does not move them);
* ``grid`` — a regular grid of ``spacing_m`` metres (aligned to multiples of the spacing in the working CRS),
  keeping the nodes at least ``edge_buffer_m`` inside a polygon.

Point features are label points already and are used as they are. Sampling works in metres: the file's CRS
when it is projected, otherwise the UTM zone (WGS 84) of the data's centre (the *working CRS*).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError
from inseason.sources.aoi import WGS84, aoi_to_crs, to_crs

__all__ = ["VectorLabels", "grid_points", "random_points", "read_vector_labels", "utm_crs", "working_crs"]

log = logging.getLogger(__name__)
_MAX_ROUNDS = 30


@dataclass(frozen=True)
class VectorLabels:
    """Features of a vector label file, in the working CRS.

    ``labels`` are the class values as text, ``codes`` their int32 codes (the value itself for an integer
    column; 1…K in sorted order of the names for a text column, see ``code_map``), ``field_ids`` the field
    column (or the feature index), ``years`` the ``year`` column when the file has one.
    """

    path: Path
    geometries: np.ndarray
    labels: np.ndarray
    codes: np.ndarray
    field_ids: np.ndarray
    field_valid: np.ndarray
    years: np.ndarray | None
    crs: CRS
    source_crs: CRS
    code_map: dict[str, int]
    index: np.ndarray


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone CRS that holds (lon, lat).

    Args:
        lon: longitude in degrees.
        lat: latitude in degrees (the hemisphere picks north or south zones).

    Returns:
        The UTM CRS (EPSG:326xx or 327xx).
    """
    zone = min(60, max(1, math.floor((lon + 180) / 6) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def working_crs(crs: CRS, geometries: np.ndarray) -> CRS:
    """``crs`` when it is projected (metres), else the UTM zone of the geometries' centre.

    Args:
        crs: the geometries' CRS.
        geometries: the geometries (a shapely array).

    Returns:
        The CRS to sample in.
    """
    if crs.is_projected:
        return crs
    w, s, e, n = shapely.total_bounds(geometries)
    lonlat = to_crs(shapely.Point((w + e) / 2, (s + n) / 2), crs, WGS84, densify=False)
    return utm_crs(lonlat.x, lonlat.y)


def _columns_message(path: Path, column: str, role: str, available: list[str]) -> InputError:
    have = ", ".join(repr(c) for c in available) or "none"
    return InputError(
        f"vector labels {path} have no {role} column {column!r} (columns: {have}): pass one of them as --{role}-column"
    )


def _find_column(name: str, available: list[str]) -> str | None:
    if name in available:
        return name
    folded = [c for c in available if c.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _as_int64(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Values as int64 and a validity mask when they are all integers (or integral floats), else ``None``."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(arr.type):
        return np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64), valid
    if pa.types.is_floating(arr.type):
        f = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64)
        valid &= np.isfinite(f)
        if np.all(f[valid] == np.round(f[valid])):
            return np.where(valid, f, 0).astype(np.int64), valid
        return None
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        text = arr.to_pylist()
        try:
            ints = np.array([int(t) if t is not None and str(t).strip() else 0 for t in text], dtype=np.int64)
        except ValueError:
            return None
        return ints, valid & np.array([t is not None and bool(str(t).strip()) for t in text])
    return None


def read_vector_labels(
    path: str | os.PathLike[str],
    *,
    class_column: str,
    field_column: str | None = None,
    layer: str | int | None = None,
    year_column: str | None = "year",
) -> VectorLabels:
    """Read a vector label file (GeoJSON, GeoPackage, Shapefile, any CRS) into the working CRS.

    Features with no class or no geometry are dropped (with a warning). Column names match case-insensitively
    when they do not match exactly.

    Args:
        path: the vector label file.
        class_column: the column holding each feature's class (integer codes or names).
        field_column: the column holding field ids: integers, or text numbered 1…N in sorted order; the
            feature index when None.
        layer: the layer of a multi-layer file (name or index).
        year_column: a column assigning each feature to a season, used when the file has it; None ignores it.

    Returns:
        The features in the working CRS, with their classes, codes, field ids and years.

    Raises:
        InputError: the file does not exist or cannot be read, has no CRS, lacks ``class_column`` or
            ``field_column`` (the message lists the columns there are), has a year column that is not
            integers, holds lines, or holds no feature with a geometry and a class.
    """
    import pyogrio
    import pyogrio.raw

    path = Path(path)
    if not path.exists():
        raise InputError(f"vector labels {path} do not exist")
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise InputError(
            f"vector labels {path} cannot be read as GeoJSON/GeoPackage/Shapefile: {' '.join(str(exc).split())}"
        ) from None
    available = [str(c) for c in info["fields"]]
    class_col = _find_column(class_column, available)
    if class_col is None:
        raise _columns_message(path, class_column, "class", available)
    field_col = None
    if field_column is not None:
        field_col = _find_column(field_column, available)
        if field_col is None:
            raise _columns_message(path, field_column, "field", available)
    year_col = _find_column(year_column, available) if year_column else None
    columns = list(dict.fromkeys(c for c in (class_col, field_col, year_col) if c))
    try:
        meta, table = pyogrio.raw.read_arrow(path, layer=layer, columns=columns)
    except Exception as exc:
        raise InputError(f"vector labels {path} cannot be read: {' '.join(str(exc).split())}") from None
    if not meta.get("crs"):
        raise InputError(
            f"vector labels {path} have no CRS (a Shapefile needs its .prj): add one, e.g. with "
            "`ogr2ogr -a_srs EPSG:4326`"
        )
    source_crs = CRS.from_user_input(meta["crs"])
    geom_name = meta.get("geometry_name") or "wkb_geometry"
    if geom_name not in table.column_names:
        geom_name = table.column_names[-1]
    geoms = shapely.from_wkb(table.column(geom_name).to_numpy(zero_copy_only=False))
    n = len(geoms)
    index = np.arange(n, dtype=np.int64)

    klass = table.column(class_col)
    ints = _as_int64(klass) if not (pa.types.is_string(klass.type) or pa.types.is_large_string(klass.type)) else None
    if ints is not None:
        codes, ok = ints
        labels = np.array([str(v) for v in codes], dtype=object)
        code_map = {}
    else:
        text = pc.cast(klass, pa.string()).to_pylist()
        ok = np.array([t is not None and bool(str(t).strip()) for t in text])
        labels = np.array([str(t).strip() if t is not None else "" for t in text], dtype=object)
        names = sorted({str(v) for v in labels[ok]})
        code_map = {name: i for i, name in enumerate(names, start=1)}
        codes = np.array([code_map.get(str(v), 0) for v in labels], dtype=np.int64)

    if field_col is not None:
        as_int = _as_int64(table.column(field_col))
        if as_int is not None:
            field_ids, field_valid = as_int
        else:
            text = pc.cast(table.column(field_col), pa.string()).to_pylist()
            names = sorted({t for t in text if t is not None})
            numbering = {name: i for i, name in enumerate(names, start=1)}
            field_ids = np.array([numbering.get(t, 0) for t in text], dtype=np.int64)
            field_valid = np.array([t is not None for t in text])
            log.info(
                "field column %r of %s holds text: fields numbered 1..%d in sorted order", field_col, path, len(names)
            )
    else:
        field_ids, field_valid = index.copy(), np.ones(n, dtype=bool)

    years = None
    if year_col is not None:
        as_int = _as_int64(table.column(year_col))
        if as_int is None:
            raise InputError(f"vector labels {path}: column {year_col!r} does not hold years (integers)")
        years = np.where(as_int[1], as_int[0], -1)
        log.info("vector labels %s: features assigned to seasons by column %r", path, year_col)

    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    lines = present & np.isin(types, (1, 2, 5))  # LineString, LinearRing, MultiLineString
    if lines.any():
        raise InputError(f"vector labels {path} hold lines (feature {int(index[lines][0])}): give polygons or points")
    keep = present & ok
    if (~keep).any():
        log.warning("vector labels %s: %d feature(s) without geometry or class dropped", path, int((~keep).sum()))
    if not keep.any():
        raise InputError(f"vector labels {path} hold no feature with a geometry and a {class_col!r} value")
    geoms = shapely.make_valid(geoms[keep])
    crs = working_crs(source_crs, geoms)
    if not crs.equals(source_crs):
        transformer = Transformer.from_crs(source_crs, crs, always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    return VectorLabels(
        path=path,
        geometries=geoms,
        labels=labels[keep],
        codes=codes[keep].astype(np.int32),
        field_ids=field_ids[keep],
        field_valid=field_valid[keep],
        years=None if years is None else years[keep],
        crs=crs,
        source_crs=source_crs,
        code_map=code_map,
        index=index[keep],
    )


def random_points(polygon: BaseGeometry, n: int, rng: np.random.Generator, *, buffer_m: float = 0.0) -> np.ndarray:
    """Up to ``n`` uniform random points (``(k, 2)`` array) inside ``polygon``, ≥ ``buffer_m`` from its boundary.

    Rejection sampling in the bounding box of the polygon shrunk by the buffer, in vectorised batches; the exact
    distance to the boundary is checked afterwards. Fewer than ``n`` points come back only when the shrunk
    polygon is empty or extremely thin.

    Args:
        polygon: the polygon, in a metric CRS.
        n: the number of points wanted.
        rng: the generator the points are drawn with.
        buffer_m: the distance in metres points keep from the boundary.

    Returns:
        The points' coordinates (``(k, 2)``; k ≤ n).
    """
    inner = polygon.buffer(-buffer_m, quad_segs=16) if buffer_m > 0 else polygon
    if n <= 0 or inner.is_empty or inner.area == 0:
        return np.empty((0, 2))
    shapely.prepare(inner)
    boundary = polygon.boundary
    w, s, e, nn = inner.bounds
    fill = max(inner.area / max((e - w) * (nn - s), 1e-12), 1e-3)
    found: list[np.ndarray] = []
    need = n
    for _ in range(_MAX_ROUNDS):
        m = math.ceil(need / fill * 1.5) + 8
        x, y = rng.uniform(w, e, m), rng.uniform(s, nn, m)
        ok = shapely.contains_xy(inner, x, y)
        if buffer_m > 0 and ok.any():
            ok[ok] = ~shapely.dwithin(boundary, shapely.points(x[ok], y[ok]), buffer_m * (1 - 1e-12))
        pts = np.column_stack([x[ok], y[ok]])[:need]
        found.append(pts)
        need -= len(pts)
        if need <= 0:
            break
    return np.concatenate(found) if found else np.empty((0, 2))


def grid_points(polygon: BaseGeometry, spacing_m: float, *, buffer_m: float = 0.0) -> np.ndarray:
    """Nodes of the grid ``(i × spacing, j × spacing)`` inside ``polygon`` and ≥ ``buffer_m`` from its boundary.

    Args:
        polygon: the polygon, in a metric CRS.
        spacing_m: the grid spacing in metres.
        buffer_m: the distance in metres nodes keep from the boundary.

    Returns:
        The nodes' coordinates (``(k, 2)``), north to south and west to east.
    """
    inner = polygon.buffer(-buffer_m, quad_segs=16) if buffer_m > 0 else polygon
    if inner.is_empty or inner.area == 0:
        return np.empty((0, 2))
    w, s, e, n = inner.bounds
    xs = np.arange(math.ceil(w / spacing_m), math.floor(e / spacing_m) + 1) * spacing_m
    ys = np.arange(math.floor(n / spacing_m), math.ceil(s / spacing_m) - 1, -1) * spacing_m
    if len(xs) == 0 or len(ys) == 0:
        return np.empty((0, 2))
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    ok = shapely.contains_xy(inner, gx, gy)
    if buffer_m > 0 and ok.any():
        ok[ok] = ~shapely.dwithin(polygon.boundary, shapely.points(gx[ok], gy[ok]), buffer_m * (1 - 1e-12))
    return np.column_stack([gx[ok], gy[ok]])


def feature_points(
    labels: VectorLabels,
    *,
    strategy: str,
    per_field: int,
    spacing_m: float,
    edge_buffer_m: float,
    seed: int,
    aoi: BaseGeometry | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Candidate points of every feature, in the working CRS; point features give their own points.

    Args:
        labels: the vector labels.
        strategy: ``"per_field"`` (random points, rng seeded by ``(seed, feature index)``) or ``"grid"``.
        per_field: points per polygon for ``"per_field"``.
        spacing_m: the grid spacing in metres for ``"grid"``.
        edge_buffer_m: the distance in metres points keep from a polygon's boundary.
        seed: the seed of the random points.
        aoi: keep only points inside this lon/lat AOI.

    Returns:
        ``(xy (k, 2), feature position (k,), polygons without points)``.
    """
    xy_parts: list[np.ndarray] = []
    owner_parts: list[np.ndarray] = []
    empty = 0
    aoi_w = aoi_to_crs(aoi, labels.crs) if aoi is not None else None
    if aoi_w is not None:
        shapely.prepare(aoi_w)
    touching = (
        shapely.intersects(aoi_w, labels.geometries)
        if aoi_w is not None
        else np.ones(len(labels.geometries), dtype=bool)
    )
    for pos in np.flatnonzero(touching):
        geom = labels.geometries[pos]
        kind = geom.geom_type
        if kind in ("Point", "MultiPoint"):
            pts = shapely.get_coordinates(geom)
        else:
            polygon = shapely.union_all(
                [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
            )
            if polygon.is_empty:
                continue
            if strategy == "per_field":
                rng = np.random.default_rng([seed, int(labels.index[pos])])
                pts = random_points(polygon, per_field, rng, buffer_m=edge_buffer_m)
            else:
                pts = grid_points(polygon, spacing_m, buffer_m=edge_buffer_m)
            if len(pts) == 0:
                empty += 1
        if aoi_w is not None and len(pts):
            pts = pts[shapely.contains_xy(aoi_w, pts[:, 0], pts[:, 1])]
        xy_parts.append(pts)
        owner_parts.append(np.full(len(pts), pos, dtype=np.int64))
    if not xy_parts:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64), empty
    return np.concatenate(xy_parts), np.concatenate(owner_parts), empty
