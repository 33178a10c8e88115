"""Wall-to-wall maps of an ``inseason predict --out`` folder for the report: read, decimated, with areas.

A predict folder holds ``summary.json`` and one class map COG ``map_YYYY-MM-DD.tif`` per as-of date (see
`inseason.predict.maps` and `inseason.predict.cog`): band 1 the class index (1…K, 0 nodata) with a colour
table, band 2 the confidence in percent (1–100), tags naming the classes and their source (CDL) codes.
`read_maps` reads every date at most ``max_size`` pixels on the long side (nearest-neighbour from the COG
overviews), the mapped area of each class at full resolution (from ``summary["areas"]`` when predict wrote
it, else counted block by block), and optionally the truth: a CDL-coded GeoTIFF in any CRS, reprojected onto
the decimated map grid (nearest) and translated to class indices through the classes' codes (from the map's
tags, or from a model bundle's ``model.json``). Only the window of the truth raster under the map is read
(decimated when the truth is much finer than the drawn grid), so a national CDL mosaic costs no more than
the map's own extent. The folder and the truth may be local or ``s3://`` (through `inseason.storage`: the
summary with pyarrow, the COGs with GDAL's ``/vsis3/``).

`error_adjusted_areas` adds Olofsson et al. (2014) area estimates with 95 % intervals, using the
evaluation's test points (``evaluation["map"]``) as the reference sample: the map class at each point
against its true class. Those points are not a probability sample drawn from the map's strata, so the
report labels these estimates as such.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject, transform_bounds
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from inseason.errors import InputError
from inseason.evaluate.area import area_weighted_accuracy
from inseason.labels import rgb_hex
from inseason.predict.cog import CLASS_NAMES_TAG, class_tags
from inseason.predict.maps import SUMMARY_FILE, AreaEntry, class_areas, class_counts, map_file
from inseason.season import DEFAULT_START, season_year
from inseason.storage import exists, folder_uri, join_uri, open_raster, read_bytes
from inseason.train import read_manifest

__all__ = [
    "MapClass",
    "MapLayer",
    "MapSet",
    "class_hectares",
    "error_adjusted_areas",
    "map_class_at",
    "read_maps",
    "truth_window",
]

#: Default longest side, in pixels, of the map arrays the report embeds.
MAX_SIZE = 500
#: Name of the class that takes every source code no other class lists, when a label map has one.
OTHER = "Other"


@dataclass(frozen=True)
class MapClass:
    """One class of the map: its band-1 value (1…K), name, source codes and colour (``#rrggbb``)."""

    index: int
    name: str
    codes: tuple[int, ...]
    color: str


@dataclass(frozen=True)
class MapLayer:
    """The map of one as-of date, decimated: class index (0 nodata) and confidence (percent, 0 nodata)."""

    as_of: str
    path: str  # the COG: a local path or an ``s3://`` URI
    classes: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class MapSet:
    """What the report draws from a predict folder.

    The decimated layers on one grid, their classes, the mapped areas per as-of date and, when given, the
    truth on the same grid.
    """

    folder: str  # the predict folder: a local path or an ``s3://`` URI
    crs: str
    transform: Affine  # of the decimated arrays
    full_shape: tuple[int, int]  # (height, width) of the COGs
    classes: list[MapClass]
    layers: list[MapLayer]
    areas: list[AreaEntry]  # per as-of date, as predict writes them (index 0 "no data" first)
    truth: np.ndarray | None = None
    truth_source: str | None = None
    truth_unmatched: float = 0.0  # share of truth pixels whose code no class lists (drawn as nodata)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the decimated arrays."""
        return self.layers[0].classes.shape if self.layers else (0, 0)

    @property
    def name(self) -> str:
        """The predict folder's own name (the last part of its path or URI)."""
        return PurePosixPath(self.folder.rstrip("/")).name or self.folder


def _exists(uri: str) -> bool:
    """Whether the file or object ``uri`` exists; an unreachable S3 bucket or endpoint is an InputError."""
    try:
        return exists(uri)
    except OSError as exc:
        raise InputError(
            f"{uri} cannot be reached ({exc}): check the S3 endpoint (AWS_ENDPOINT_URL), the "
            "region and the credentials, or copy the folder to the local disk"
        ) from None


def _read_summary(folder: str) -> dict[str, Any]:
    path = join_uri(folder, SUMMARY_FILE)
    if not _exists(path):
        raise InputError(
            f"maps folder {folder} holds no {SUMMARY_FILE}: give the --out folder of a finished inseason predict run"
        )
    try:
        summary = json.loads(read_bytes(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}): run inseason predict again") from None
    if not isinstance(summary, dict) or not summary.get("maps"):
        raise InputError(f"{path} lists no maps: run inseason predict with at least one --as-of date")
    return summary


def _map_paths(folder: str, summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(as-of date, COG path or URI) per date, the folder's own copy first (the folder may have moved)."""
    out = []
    for date in sorted(summary["maps"]):
        here = join_uri(folder, map_file(date))
        recorded = str(summary["maps"][date])
        if _exists(here):
            path = here
        elif recorded != here and _exists(recorded):
            path = recorded
        else:
            raise InputError(f"map of {date} is missing ({here} not found): run inseason predict again into {folder}")
        out.append((date, path))
    return out


def _classes_from_tags(path: str, ds: rasterio.DatasetReader) -> list[MapClass]:
    recorded = class_tags(ds.tags())
    if ds.count < 2 or recorded is None:
        raise InputError(
            f"{path} is not an inseason class map (two bands and {CLASS_NAMES_TAG} tag): "
            "give the --out folder of inseason predict"
        )
    names, codes = recorded
    try:
        colormap = ds.colormap(1)
    except ValueError:
        colormap = {}
    return [
        MapClass(
            index=k + 1,
            name=name,
            codes=tuple(code_list),
            color=rgb_hex(colormap.get(k + 1, (128, 128, 128))),
        )
        for k, (name, code_list) in enumerate(zip(names, codes, strict=True))
    ]


def _bundle_codes(bundle: str | os.PathLike[str], classes: list[MapClass]) -> list[MapClass]:
    """``classes`` with the source codes of the bundle's label map (its ``model.json``)."""
    manifest = read_manifest(bundle)
    codes = {str(c["name"]): tuple(int(v) for v in c.get("codes", [])) for c in manifest.get("classes", [])}
    missing = [c.name for c in classes if c.name not in codes]
    if missing:
        raise InputError(f"bundle {bundle} lacks the map's classes {missing}: give the bundle that made the maps")
    return [MapClass(index=c.index, name=c.name, codes=codes[c.name], color=c.color) for c in classes]


def _decimated_shape(height: int, width: int, max_size: int) -> tuple[int, int]:
    scale = max(1.0, max(height, width) / max_size)
    return max(1, math.ceil(height / scale)), max(1, math.ceil(width / scale))


def _pixel_area_m2(ds: rasterio.DatasetReader) -> float:
    """Area of one pixel in square metres (the CRS's linear unit converted)."""
    if ds.crs is None or ds.crs.is_geographic:
        raise InputError(f"{ds.name} is not in a projected CRS: areas need metres (predict writes UTM maps)")
    factor = ds.crs.linear_units_factor[1]
    area: float = abs(ds.transform.a * ds.transform.e) * factor * factor
    return area


def _count_areas(path: str, as_of: str, classes: list[MapClass]) -> AreaEntry:
    """Pixels and hectares of "no data" and of each class in one COG, counted block by block at full size."""
    k = len(classes)
    with open_raster(path) as ds:
        counts = np.zeros(k + 1, np.int64)
        for _, window in ds.block_windows(1):
            counts += class_counts(ds.read(1, window=window), k)
        pixel = _pixel_area_m2(ds)
    return class_areas(as_of, counts, [c.name for c in sorted(classes, key=lambda c: c.index)], pixel)


def _summary_areas(summary: dict[str, Any]) -> dict[str, AreaEntry]:
    """``summary["areas"]`` by as-of date (predict writes a list; a dict keyed by date is read as well)."""
    areas = summary.get("areas")
    if not areas:
        return {}
    entries = areas.values() if isinstance(areas, dict) else areas
    return {str(entry["as_of"]): entry for entry in entries}


def class_hectares(area: AreaEntry, name: str) -> float:
    """The mapped hectares of class ``name`` in one ``summary["areas"]`` entry (0 when the entry lacks it).

    Args:
        area: one as-of date's areas entry (see `inseason.predict.maps.class_areas`).
        name: the class name.

    Returns:
        The hectares.
    """
    return float(next((c["hectares"] for c in area["classes"] if c["name"] == name), 0.0))


#: Margin, in pixels of the output grid, added around the map's extent when choosing the truth window.
TRUTH_MARGIN = 2


def truth_window(
    src: rasterio.DatasetReader, *, crs: Any, transform: Affine, shape: tuple[int, int]
) -> tuple[Window, tuple[int, int]] | None:
    """The window of the truth raster ``src`` that covers the output grid, and the shape to read it at.

    The grid's bounds are transformed into the truth's CRS (edges densified, so a curved outline is
    covered), widened by `TRUTH_MARGIN` output pixels and one truth pixel, and clipped to the raster. When
    the truth is much finer than the output grid (an output pixel spans four or more truth pixels), the
    window is read decimated by a whole factor that keeps each read pixel at most half an output pixel
    (nearest neighbour, from the overviews when the file has them), so memory follows the output grid.

    Args:
        src: the open truth raster.
        crs: CRS of the output grid.
        transform: affine transform of the output grid.
        shape: (height, width) of the output grid.

    Returns:
        ``(window, (rows, cols))`` in the truth raster's pixels, or None when the grid misses the raster.
    """
    height, width = shape
    corners_x = [transform.c, transform.c + transform.a * width]
    corners_y = [transform.f, transform.f + transform.e * height]
    left, bottom, right, top = transform_bounds(
        crs, src.crs, min(corners_x), min(corners_y), max(corners_x), max(corners_y), densify_pts=21
    )
    step = max((right - left) / max(width, 1), (top - bottom) / max(height, 1))
    margin = TRUTH_MARGIN * step + max(abs(src.transform.a), abs(src.transform.e))
    inverse = ~src.transform
    cols, rows = zip(
        *(inverse @ (x, y) for x in (left - margin, right + margin) for y in (bottom - margin, top + margin)),
        strict=True,
    )
    col0, col1 = max(0, math.floor(min(cols))), min(src.width, math.ceil(max(cols)))
    row0, row1 = max(0, math.floor(min(rows))), min(src.height, math.ceil(max(rows)))
    if col1 <= col0 or row1 <= row0:
        return None
    window = Window(col0, row0, col1 - col0, row1 - row0)
    ratio = step / max(abs(src.transform.a), abs(src.transform.e))
    factor = max(1, int(ratio // 2))
    return window, (math.ceil(window.height / factor), math.ceil(window.width / factor))


def _truth_on_grid(
    truth: str | os.PathLike[str], *, crs: Any, transform: Affine, shape: tuple[int, int], classes: list[MapClass]
) -> tuple[np.ndarray, float]:
    """The CDL-coded raster ``truth`` on the map grid in class indices, and the share of unmatched codes.

    The raster is reprojected (nearest) and its codes translated to class indices: 0 where nodata or where
    no class lists the code, unless a class is named `OTHER`. The share is that of valid truth pixels whose
    code no class lists. Only `truth_window` is read.
    """
    uri = str(truth)
    codes = np.zeros(shape, np.int32)
    try:
        with open_raster(uri) as src:
            if src.crs is None:
                raise InputError(f"truth raster {truth} has no CRS: give a georeferenced GeoTIFF")
            found = truth_window(src, crs=crs, transform=transform, shape=shape)
            if found is not None:
                window, read_shape = found
                nodata = src.nodata if src.nodata is not None else 0
                data = src.read(1, window=window, out_shape=read_shape, resampling=Resampling.nearest)
                src_transform = (
                    src.transform
                    @ Affine.translation(window.col_off, window.row_off)
                    @ Affine.scale(window.width / read_shape[1], window.height / read_shape[0])
                )
                reproject(
                    source=data,
                    destination=codes,
                    src_transform=src_transform,
                    src_crs=src.crs,
                    src_nodata=nodata,
                    dst_transform=transform,
                    dst_crs=crs,
                    dst_nodata=0,
                    resampling=Resampling.nearest,
                )
    except RasterioIOError as exc:
        raise InputError(f"truth raster {truth} cannot be read ({exc}): give a CDL-coded GeoTIFF") from None
    top = max([int(codes.max()), *(c for cls in classes for c in cls.codes), 0]) + 1
    other = next((c.index for c in classes if c.name == OTHER), 0)
    lut = np.full(top, other, np.uint8)
    lut[0] = 0
    for cls in classes:
        for code in cls.codes:
            if 0 < code < top:
                lut[code] = cls.index
    valid = codes > 0
    index = np.where(valid, lut[np.clip(codes, 0, top - 1)], 0).astype(np.uint8)
    listed = np.zeros(top, bool)
    for cls in classes:
        listed[[c for c in cls.codes if 0 < c < top]] = True
    unmatched = float((valid & ~listed[np.clip(codes, 0, top - 1)]).sum() / max(1, valid.sum()))
    return index, unmatched


def read_maps(
    folder: str | os.PathLike[str],
    *,
    truth: str | os.PathLike[str] | None = None,
    bundle: str | os.PathLike[str] | None = None,
    max_size: int = MAX_SIZE,
) -> MapSet:
    """Read an ``inseason predict --out`` folder for the report.

    Args:
        folder: the predict output folder (``summary.json`` and ``map_YYYY-MM-DD.tif``), a local path or
            an ``s3://`` URI.
        truth: optional CDL-coded GeoTIFF (any CRS, local or ``s3://``) of the maps' season, drawn beside
            them; only the window under the map is read.
        bundle: optional model bundle (or run folder) whose label map translates truth codes to classes;
            without it the codes recorded in the COG tags are used.
        max_size: longest side in pixels of the decimated arrays.

    Returns:
        The decimated maps of every as-of date on one grid, their classes, per-class areas and the truth.

    Raises:
        InputError: not a predict folder, a missing or foreign COG, maps on different grids, an unreadable
            truth raster, an unreachable S3 location or a bundle without the map's classes.
    """
    root = folder_uri(folder)
    summary = _read_summary(root)
    paths = _map_paths(root, summary)
    known_areas = _summary_areas(summary)
    layers: list[MapLayer] = []
    classes: list[MapClass] = []
    grid: tuple[Any, Affine, tuple[int, int]] | None = None
    for date, path in paths:
        try:
            with open_raster(path) as ds:
                if not classes:
                    classes = _classes_from_tags(path, ds)
                if grid is None:
                    grid = (ds.crs, ds.transform, (ds.height, ds.width))
                elif (ds.crs, ds.transform, (ds.height, ds.width)) != grid:
                    raise InputError(
                        f"map {path} is on another grid than the folder's first map: give one predict run's folder"
                    )
                shape = _decimated_shape(ds.height, ds.width, max_size)
                band_classes = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
                band_confidence = ds.read(2, out_shape=shape, resampling=Resampling.nearest)
        except RasterioIOError as exc:
            raise InputError(f"map {path} cannot be read ({exc}): run inseason predict again") from None
        layers.append(
            MapLayer(
                as_of=date,
                path=path,
                classes=band_classes.astype(np.uint8),
                confidence=np.where(band_classes > 0, band_confidence, 0).astype(np.uint8),
            )
        )
    assert grid is not None  # _read_summary refuses an empty list of maps
    crs, full_transform, full_shape = grid
    height, width = layers[0].classes.shape
    transform = full_transform @ Affine.scale(full_shape[1] / width, full_shape[0] / height)
    if bundle is not None:
        classes = _bundle_codes(bundle, classes)
    areas = [known_areas.get(date) or _count_areas(path, date, classes) for date, path in paths]
    notes = []
    if max(full_shape) > max_size:
        notes.append(
            f"Drawn at {width}×{height} pixels from {full_shape[1]}×{full_shape[0]} "
            "(nearest neighbour); areas are counted at full resolution."
        )
    truth_array, unmatched, source = None, 0.0, None
    if truth is not None:
        truth_array, unmatched = _truth_on_grid(
            truth, crs=crs, transform=transform, shape=(height, width), classes=classes
        )
        source = PurePosixPath(str(truth)).name
    return MapSet(
        folder=root,
        crs=str(crs),
        transform=transform,
        full_shape=full_shape,
        classes=classes,
        layers=layers,
        areas=areas,
        truth=truth_array,
        truth_source=source,
        truth_unmatched=unmatched,
        notes=notes,
    )


def map_class_at(path: str, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Band-1 value (class index) of the COG at each point (map CRS), 0 outside the map.

    Each point inside the map is read on its own (`rasterio.DatasetReader.sample`: one pixel, from the
    tile that holds it, which GDAL caches), so a few hundred points cost a few tiles, never the whole
    full-resolution band.

    Args:
        path: the class map COG (a local path or an ``s3://`` URI).
        xs: x coordinates of the points in the map's CRS.
        ys: y coordinates, same length.

    Returns:
        A uint8 array of the class index at each point (0 outside the map or on nodata).
    """
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    out = np.zeros(len(xs), np.uint8)
    if not len(xs):
        return out
    with open_raster(path) as ds:
        rows, cols = rasterio.transform.rowcol(ds.transform, xs, ys)
        rows, cols = np.atleast_1d(rows), np.atleast_1d(cols)
        inside = (rows >= 0) & (rows < ds.height) & (cols >= 0) & (cols < ds.width)
        if inside.any():
            order = np.flatnonzero(inside)
            values = ds.sample(zip(xs[order].tolist(), ys[order].tolist(), strict=True), indexes=1)
            out[order] = np.fromiter((int(v[0]) for v in values), np.uint8, count=len(order))
    return out


def error_adjusted_areas(maps: MapSet, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """Olofsson et al. (2014) error-adjusted area of each class, per as-of date, from the test points.

    First choice: the test points that fall on the map (the map class at each point against its true
    class). Points of other seasons than the map's (when the points record their season; the map's season
    is `inseason.season.season_year` of its as-of date with the evaluation's ``season_start``, so an
    autumn-sown season is named by the year of its harvest), without coordinates (imported series), outside
    the map, on nodata or of a class the map lacks are left out and counted. When those leave a map class with fewer
    than two points (a map of a small area holds few test points) and the evaluation scored the same
    month-day, the whole test split's confusion matrix as of that date is the reference sample instead (the
    model's predicted class against the truth at every test point, all seasons): the same model, the same
    as-of date, a larger sample. ``reference`` says which was used. A date with neither gets ``error``
    (the reason) instead of estimates.

    Args:
        maps: the maps (`read_maps`).
        evaluation: the evaluation dict whose ``map`` points are the reference sample.

    Returns:
        Per as-of date: ``as_of``, ``n_points``, ``left_out``, ``reference`` ("map points" or "test split as
        of MM-DD"), and either ``error`` or ``overall_accuracy``, ``overall_ci`` and ``classes`` [{name,
        mapped_ha, area_ha, area_ci_ha, users_accuracy, producers_accuracy}].
    """
    points = evaluation.get("map") or {}
    if not points.get("x") or not points.get("crs"):
        return []
    names = [c["name"] for c in evaluation["classes"]]
    map_index = {c.name: c.index for c in maps.classes}
    raw_x = np.array([np.nan if v is None else float(v) for v in points["x"]], np.float64)
    raw_y = np.array([np.nan if v is None else float(v) for v in points.get("y") or [None] * len(raw_x)], np.float64)
    located = np.isfinite(raw_x) & np.isfinite(raw_y)  # imported series may have no coordinates
    xs, ys = np.full(len(raw_x), np.nan), np.full(len(raw_x), np.nan)
    if located.any():
        moved = transform_points(points["crs"], maps.crs, raw_x[located].tolist(), raw_y[located].tolist())
        xs[located], ys[located] = moved[0], moved[1]
    truth_index = np.array([map_index.get(names[t], 0) for t in points["truth"]], np.int64)
    years = points.get("year")
    start = str(evaluation.get("season_start") or DEFAULT_START)
    out = []
    k = len(maps.classes)
    for layer, area in zip(maps.layers, maps.areas):
        keep = (truth_index > 0) & located
        if years is not None:
            season = season_year(dt.date.fromisoformat(layer.as_of), start)
            keep &= np.array([y is not None and int(y) == season for y in years], bool)
        mapped = np.zeros(len(keep), np.uint8)
        mapped[located] = map_class_at(layer.path, xs[located], ys[located])
        keep &= mapped > 0
        counts = np.zeros((k, k), np.int64)
        np.add.at(counts, (mapped[keep].astype(np.int64) - 1, truth_index[keep] - 1), 1)
        hectares = [class_hectares(area, cls.name) for cls in maps.classes]
        entry: dict[str, Any] = {
            "as_of": layer.as_of,
            "n_points": int(keep.sum()),
            "left_out": int(len(keep) - keep.sum()),
            "reference": "map points",
        }
        # Only classes present in the map form strata; classes with no mapped area have no stratum.
        strata = [i for i in range(k) if hectares[i] > 0]
        try:
            result = _strata_estimates(counts, strata, hectares, maps)
        except InputError as exc:
            split_counts = _test_split_counts(evaluation, maps, month_day=layer.as_of[5:])
            if split_counts is None:
                entry["error"] = str(exc)
                out.append(entry)
                continue
            counts = split_counts
            entry.update(reference=f"test split as of {layer.as_of[5:]}", n_points=int(counts.sum()), left_out=0)
            try:
                result = _strata_estimates(counts, strata, hectares, maps)
            except InputError as again:
                entry["error"] = str(again)
                out.append(entry)
                continue
        outside = counts.sum() - counts[np.ix_(strata, strata)].sum()
        entry["left_out"] += int(outside)
        entry["n_points"] -= int(outside)
        entry.update(
            overall_accuracy=result["overall_accuracy"],
            overall_ci=result["overall_ci"],
            classes=[
                {
                    "name": c["name"],
                    "mapped_ha": c["mapped_area"],
                    "area_ha": c["area"],
                    "area_ci_ha": c["area_ci"],
                    "users_accuracy": c["users_accuracy"],
                    "producers_accuracy": c["producers_accuracy"],
                }
                for c in result["per_class"]
            ],
        )
        out.append(entry)
    return out


def _strata_estimates(counts: np.ndarray, strata: list[int], hectares: list[float], maps: MapSet) -> dict[str, Any]:
    """`area_weighted_accuracy` over the ``strata`` (the map classes with mapped area) of a sample matrix."""
    return area_weighted_accuracy(
        counts[np.ix_(strata, strata)],
        [hectares[i] for i in strata],
        classes=[maps.classes[i].name for i in strata],
    )


def _test_split_counts(evaluation: dict[str, Any], maps: MapSet, *, month_day: str) -> np.ndarray | None:
    """The evaluation's confusion counts as of ``month_day`` as a (map class × true class) matrix, or None."""
    row = next((r for r in evaluation.get("by_as_of_date") or [] if r.get("as_of") == month_day), None)
    if row is None or not row.get("confusion"):
        return None
    names = [c["name"] for c in evaluation["classes"]]
    position = {c.name: c.index - 1 for c in maps.classes}
    k = len(maps.classes)
    counts = np.zeros((k, k), np.int64)
    for t, truth_row in enumerate(row["confusion"]["counts"]):  # rows truth, columns prediction
        for p, n in enumerate(truth_row):
            if n and names[t] in position and names[p] in position:
                counts[position[names[p]], position[names[t]]] += int(n)
    return counts
