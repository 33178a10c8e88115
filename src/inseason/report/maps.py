"""Wall-to-wall maps of an ``inseason predict --out`` folder for the report: read, decimated, with areas.

A predict folder holds ``summary.json`` and one class map COG ``map_YYYY-MM-DD.tif`` per as-of date (see
`inseason.predict.maps` and `inseason.predict.cog`): band 1 the class index (1…K, 0 nodata) with a colour
table, band 2 the confidence in percent (1–100), tags naming the classes and their source (CDL) codes.
`read_maps` reads every date at most ``max_size`` pixels on the long side (nearest-neighbour from the COG
overviews), the mapped area of each class at full resolution (from ``summary["areas"]`` when predict wrote
it, else counted block by block), and optionally the truth: a CDL-coded GeoTIFF in any CRS, reprojected onto
the decimated map grid (nearest) and translated to class indices through the classes' codes (from the map's
tags, or from a model bundle's ``model.json``).

`error_adjusted_areas` adds Olofsson et al. (2014) area estimates with 95 % intervals, using the
evaluation's test points (``evaluation["map"]``) as the reference sample: the map class at each point
against its true class. Those points are not a probability sample drawn from the map's strata, so the
report labels these estimates as such.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject
from rasterio.warp import transform as transform_points

from inseason.errors import InputError
from inseason.evaluate.area import area_weighted_accuracy

__all__ = ["MapClass", "MapLayer", "MapSet", "error_adjusted_areas", "read_maps"]

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
    path: Path
    classes: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class MapSet:
    """What the report draws from a predict folder: the decimated layers on one grid, their classes,
    the mapped areas per as-of date and, when given, the truth on the same grid."""

    folder: Path
    crs: str
    transform: Affine  # of the decimated arrays
    full_shape: tuple[int, int]  # (height, width) of the COGs
    classes: list[MapClass]
    layers: list[MapLayer]
    areas: list[dict[str, Any]]  # per as-of date: as_of, pixel_area_m2, classes [{index, name, pixels, hectares}]
    truth: np.ndarray | None = None
    truth_source: str | None = None
    truth_unmatched: float = 0.0  # share of truth pixels whose code no class lists (drawn as nodata)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the decimated arrays."""
        return self.layers[0].classes.shape if self.layers else (0, 0)


def _hex(rgba: tuple[int, ...]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgba[:3])


def _read_summary(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    if not folder.is_dir() or not path.is_file():
        raise InputError(f"maps folder {folder} holds no summary.json: give the --out folder of a finished "
                         "inseason predict run")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}): run inseason predict again") from None
    if not isinstance(summary, dict) or not summary.get("maps"):
        raise InputError(f"{path} lists no maps: run inseason predict with at least one --as-of date")
    return summary


def _map_paths(folder: Path, summary: dict[str, Any]) -> list[tuple[str, Path]]:
    """(as-of date, COG path) per date, the folder's own copy first (the folder may have moved)."""
    out = []
    for date in sorted(summary["maps"]):
        here = folder / f"map_{date}.tif"
        recorded = Path(str(summary["maps"][date]))
        path = here if here.is_file() else recorded
        if not path.is_file():
            raise InputError(f"map of {date} is missing ({here} not found): run inseason predict again into "
                             f"{folder}")
        out.append((date, path))
    return out


def _classes_from_tags(path: Path, ds: rasterio.DatasetReader) -> list[MapClass]:
    tags = ds.tags()
    if ds.count < 2 or "INSEASON_CLASS_NAMES" not in tags:
        raise InputError(f"{path} is not an inseason class map (two bands and INSEASON_CLASS_NAMES tag): "
                         "give the --out folder of inseason predict")
    names = json.loads(tags["INSEASON_CLASS_NAMES"])
    codes = json.loads(tags.get("INSEASON_CLASS_CODES", "[]")) or [[] for _ in names]
    try:
        colormap = ds.colormap(1)
    except ValueError:
        colormap = {}
    return [MapClass(index=k + 1, name=str(name), codes=tuple(int(c) for c in code_list),
                     color=_hex(colormap.get(k + 1, (128, 128, 128))))
            for k, (name, code_list) in enumerate(zip(names, codes, strict=True))]


def _bundle_codes(bundle: str | os.PathLike[str], classes: list[MapClass]) -> list[MapClass]:
    """``classes`` with the source codes of the bundle's label map (its ``model.json``)."""
    manifest_path = Path(bundle) / "model.json"
    if not manifest_path.is_file():
        raise InputError(f"{bundle} holds no model bundle (model.json): give the run folder of inseason train")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{manifest_path} is not valid JSON ({exc}): the bundle is corrupt, retrain") from None
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
    return abs(ds.transform.a * ds.transform.e) * factor * factor


def _count_areas(path: Path, as_of: str, classes: list[MapClass]) -> dict[str, Any]:
    """Pixels and hectares of each class in one COG, counted block by block at full resolution."""
    k = len(classes)
    with rasterio.open(path) as ds:
        counts = np.zeros(k + 1, np.int64)
        for _, window in ds.block_windows(1):
            counts += np.bincount(ds.read(1, window=window).ravel(), minlength=256)[:k + 1]
        pixel = _pixel_area_m2(ds)
    return {"as_of": as_of, "pixel_area_m2": pixel,
            "classes": [{"index": c.index, "name": c.name, "pixels": int(counts[c.index]),
                         "hectares": float(counts[c.index] * pixel / 10_000)} for c in classes]}


def _summary_areas(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``summary["areas"]`` by as-of date (predict writes a list of per-date entries; a dict keyed by date
    is read as well)."""
    areas = summary.get("areas")
    if not areas:
        return {}
    entries = areas.values() if isinstance(areas, dict) else areas
    return {str(entry["as_of"]): entry for entry in entries}


def _truth_on_grid(truth: str | os.PathLike[str], *, crs: Any, transform: Affine, shape: tuple[int, int],
                   classes: list[MapClass]) -> tuple[np.ndarray, float]:
    """The CDL-coded raster ``truth`` reprojected (nearest) onto the map grid and translated to class
    indices (0 where nodata or where no class lists the code, unless a class is named `OTHER`); also the
    share of valid truth pixels whose code no class lists."""
    try:
        src = rasterio.open(truth)
    except RasterioIOError as exc:
        raise InputError(f"truth raster {truth} cannot be read ({exc}): give a CDL-coded GeoTIFF") from None
    with src:
        if src.crs is None:
            raise InputError(f"truth raster {truth} has no CRS: give a georeferenced GeoTIFF")
        codes = np.zeros(shape, np.int32)
        reproject(source=rasterio.band(src, 1), destination=codes, src_transform=src.transform, src_crs=src.crs,
                  src_nodata=src.nodata if src.nodata is not None else 0, dst_transform=transform, dst_crs=crs,
                  dst_nodata=0, resampling=Resampling.nearest)
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


def read_maps(folder: str | os.PathLike[str], *, truth: str | os.PathLike[str] | None = None,
              bundle: str | os.PathLike[str] | None = None, max_size: int = MAX_SIZE) -> MapSet:
    """Read an ``inseason predict --out`` folder for the report.

    Args:
        folder: the predict output folder (``summary.json`` and ``map_YYYY-MM-DD.tif``).
        truth: optional CDL-coded GeoTIFF (any CRS) of the maps' season, drawn beside them.
        bundle: optional model bundle (or run folder) whose label map translates truth codes to classes;
            without it the codes recorded in the COG tags are used.
        max_size: longest side in pixels of the decimated arrays.

    Returns:
        The decimated maps of every as-of date on one grid, their classes, per-class areas and the truth.

    Raises:
        InputError: not a predict folder, a missing or foreign COG, maps on different grids, an unreadable
            truth raster or a bundle without the map's classes.
    """
    root = Path(folder)
    summary = _read_summary(root)
    paths = _map_paths(root, summary)
    known_areas = _summary_areas(summary)
    layers: list[MapLayer] = []
    classes: list[MapClass] = []
    grid: tuple[Any, Affine, tuple[int, int]] | None = None
    for date, path in paths:
        try:
            ds = rasterio.open(path)
        except RasterioIOError as exc:
            raise InputError(f"map {path} cannot be read ({exc}): run inseason predict again") from None
        with ds:
            if not classes:
                classes = _classes_from_tags(path, ds)
            if grid is None:
                grid = (ds.crs, ds.transform, (ds.height, ds.width))
            elif (ds.crs, ds.transform, (ds.height, ds.width)) != grid:
                raise InputError(f"map {path} is on another grid than the folder's first map: give one predict "
                                 "run's folder")
            shape = _decimated_shape(ds.height, ds.width, max_size)
            band_classes = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
            band_confidence = ds.read(2, out_shape=shape, resampling=Resampling.nearest)
        layers.append(MapLayer(as_of=date, path=path, classes=band_classes.astype(np.uint8),
                               confidence=np.where(band_classes > 0, band_confidence, 0).astype(np.uint8)))
    assert grid is not None  # _read_summary refuses an empty list of maps
    crs, full_transform, full_shape = grid
    height, width = layers[0].classes.shape
    transform = full_transform @ Affine.scale(full_shape[1] / width, full_shape[0] / height)
    if bundle is not None:
        classes = _bundle_codes(bundle, classes)
    areas = [known_areas.get(date) or _count_areas(path, date, classes) for date, path in paths]
    notes = []
    if max(full_shape) > max_size:
        notes.append(f"Drawn at {width}×{height} pixels from {full_shape[1]}×{full_shape[0]} "
                     "(nearest neighbour); areas are counted at full resolution.")
    truth_array, unmatched, source = None, 0.0, None
    if truth is not None:
        truth_array, unmatched = _truth_on_grid(truth, crs=crs, transform=transform, shape=(height, width),
                                                classes=classes)
        source = Path(truth).name
    return MapSet(folder=root, crs=str(crs), transform=transform, full_shape=full_shape, classes=classes,
                  layers=layers, areas=areas, truth=truth_array, truth_source=source, truth_unmatched=unmatched,
                  notes=notes)


def _map_class_at(path: Path, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Band-1 value of the COG at each point (map CRS), 0 outside the map."""
    with rasterio.open(path) as ds:
        rows, cols = rasterio.transform.rowcol(ds.transform, xs, ys)
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < ds.height) & (cols >= 0) & (cols < ds.width)
        out = np.zeros(len(xs), np.uint8)
        if inside.any():
            band = ds.read(1)
            out[inside] = band[rows[inside], cols[inside]]
    return out


def error_adjusted_areas(maps: MapSet, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """Olofsson et al. (2014) error-adjusted area of each class, per as-of date, with the evaluation's test
    points as the reference sample.

    First choice: the test points that fall on the map (the map class at each point against its true
    class). Points of other seasons than the map's (when the points record their season), outside the map,
    on nodata or of a class the map lacks are left out and counted. When those leave a map class with fewer
    than two points (a map of a small area holds few test points) and the evaluation scored the same
    month-day, the whole test split's confusion matrix as of that date is the reference sample instead (the
    model's predicted class against the truth at every test point, all seasons): the same model, the same
    as-of date, a larger sample. ``reference`` says which was used. A date with neither gets ``error``
    (the reason) instead of estimates.

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
    xs, ys = transform_points(points["crs"], maps.crs, list(points["x"]), list(points["y"]))
    xs, ys = np.asarray(xs), np.asarray(ys)
    truth_index = np.array([map_index.get(names[t], 0) for t in points["truth"]], np.int64)
    years = points.get("year")
    out = []
    k = len(maps.classes)
    for layer, area in zip(maps.layers, maps.areas):
        keep = truth_index > 0
        if years is not None:
            keep &= np.asarray(years) == int(layer.as_of[:4])
        mapped = _map_class_at(layer.path, xs, ys)
        keep &= mapped > 0
        counts = np.zeros((k, k), np.int64)
        np.add.at(counts, (mapped[keep].astype(np.int64) - 1, truth_index[keep] - 1), 1)
        hectares = [next((c["hectares"] for c in area["classes"] if c["name"] == cls.name), 0.0)
                    for cls in maps.classes]
        entry: dict[str, Any] = {"as_of": layer.as_of, "n_points": int(keep.sum()),
                                 "left_out": int(len(keep) - keep.sum()), "reference": "map points"}
        # Only classes present in the map form strata; classes with no mapped area have no stratum.
        strata = [i for i in range(k) if hectares[i] > 0]
        try:
            result = area_weighted_accuracy(counts[np.ix_(strata, strata)], [hectares[i] for i in strata],
                                            classes=[maps.classes[i].name for i in strata])
        except InputError as exc:
            split_counts = _test_split_counts(evaluation, maps, month_day=layer.as_of[5:])
            if split_counts is None:
                entry["error"] = str(exc)
                out.append(entry)
                continue
            counts = split_counts
            entry.update(reference=f"test split as of {layer.as_of[5:]}", n_points=int(counts.sum()), left_out=0)
            try:
                result = area_weighted_accuracy(counts[np.ix_(strata, strata)], [hectares[i] for i in strata],
                                                classes=[maps.classes[i].name for i in strata])
            except InputError as again:
                entry["error"] = str(again)
                out.append(entry)
                continue
        outside = counts.sum() - counts[np.ix_(strata, strata)].sum()
        entry["left_out"] += int(outside)
        entry["n_points"] -= int(outside)
        entry.update(overall_accuracy=result["overall_accuracy"], overall_ci=result["overall_ci"],
                     classes=[{"name": c["name"], "mapped_ha": c["mapped_area"], "area_ha": c["area"],
                               "area_ci_ha": c["area_ci"], "users_accuracy": c["users_accuracy"],
                               "producers_accuracy": c["producers_accuracy"]} for c in result["per_class"]])
        out.append(entry)
    return out


def _test_split_counts(evaluation: dict[str, Any], maps: MapSet, *, month_day: str) -> np.ndarray | None:
    """The evaluation's confusion counts as of ``month_day`` as a (map class × true class) sample matrix in
    the map's class order, or None when the evaluation did not score that date."""
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
