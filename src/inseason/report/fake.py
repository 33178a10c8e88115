"""A small fake ``inseason predict --out`` folder and a CDL-coded truth raster, without running a model.

For tests and previews of the report's map section (see `inseason.evaluate.fake_evaluation` for the
evaluation).

The maps are written by the predict writer itself (`inseason.predict.cog.write_class_map`), so they have
the real structure: two bands (class index with colour table, confidence %), tags with class names and
codes, COG layout. Each pixel takes the true class of the nearest test point of the evaluation (a Voronoi
"field" map around the points), in a UTM zone; the truth raster is the same in the points' own CRS at 30 m
with CDL codes. The earlier as-of dates get a share of pixels wrong, as early maps are.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform as transform_points
from scipy.spatial import cKDTree

from inseason.labels import hex_rgb
from inseason.predict.maps import AreaEntry, MapRun, class_areas, class_counts, map_file, write_summary
from inseason.storage import atomic_path

#: CRS of the fake maps (predict writes UTM maps) and of the fake truth raster (CDL's own CRS).
MAP_EPSG = 32615
TRUTH_CRS = "EPSG:5070"


def _grid_around(
    xs: np.ndarray, ys: np.ndarray, *, pixel_m: float, margin: int
) -> tuple[Affine, int, int, np.ndarray, np.ndarray]:
    """A north-up grid of ``pixel_m`` pixels holding the points with ``margin`` pixels to spare on every side.

    The grid is aligned on multiples of ``pixel_m``.

    Returns:
        The grid's transform, width and height, and the x and y coordinates of every pixel centre
        (two (height, width) arrays).
    """
    left = np.floor(xs.min() / pixel_m - margin) * pixel_m
    top = np.ceil(ys.max() / pixel_m + margin) * pixel_m
    width = int(np.ceil((xs.max() - left) / pixel_m) + margin)
    height = int(np.ceil((top - ys.min()) / pixel_m) + margin)
    transform = Affine(pixel_m, 0, left, 0, -pixel_m, top)
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return transform, width, height, transform.c + transform.a * cols, transform.f + transform.e * rows


def _nearest_class(tree: cKDTree, truth: np.ndarray, xs: np.ndarray, ys: np.ndarray, reach: float) -> np.ndarray:
    """Index (0-based) of the true class of the nearest point, -1 farther than ``reach``."""
    distance, nearest = tree.query(np.column_stack([xs.ravel(), ys.ravel()]), k=1)
    out: np.ndarray = truth[nearest]
    out[distance > reach] = -1
    return out.reshape(xs.shape)


def write_fake_maps(
    out: str | os.PathLike[str],
    evaluation: dict[str, Any],
    *,
    dates: Sequence[str] = ("2021-06-15", "2021-08-01", "2021-09-15"),
    pixel_m: float = 40.0,
    errors: Sequence[float] = (0.3, 0.1, 0.0),
    with_areas: bool = True,
    seed: int = 0,
    truth: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a fake predict folder at ``out`` around the test points of ``evaluation`` (``evaluation["map"]``).

    Args:
        out: folder to create (``summary.json`` and ``map_YYYY-MM-DD.tif`` per date).
        evaluation: an evaluation dict whose ``classes`` and ``map`` points shape the maps.
        dates: ISO as-of dates, one COG each.
        pixel_m: pixel size of the map (metres, UTM).
        errors: share of pixels given a wrong class at each date (same length as ``dates``).
        with_areas: write ``summary["areas"]`` (pixels and hectares of "no data" and of each class, see
            `inseason.predict.maps.class_areas`) as predict does; without it the summary is an older
            predict's, which the report counts from the COGs.
        seed: seed of the wrong pixels and of the confidence values.
        truth: where to write the CDL-coded truth raster too (EPSG:5070, 30 m), or ``None``.

    Returns:
        The folder.
    """
    from inseason.predict.cog import map_tags, write_class_map
    from inseason.predict.read import Block, MapGrid

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    points = evaluation["map"]
    classes = evaluation["classes"]
    truth_index = np.asarray(points["truth"], np.int64)
    px, py = (np.asarray(v) for v in transform_points(points["crs"], f"EPSG:{MAP_EPSG}", points["x"], points["y"]))
    transform, width, height, xs, ys = _grid_around(px, py, pixel_m=pixel_m, margin=8)
    base = _nearest_class(cKDTree(np.column_stack([px, py])), truth_index, xs, ys, reach=6 * pixel_m)
    grid = MapGrid(epsg=MAP_EPSG, transform=transform, width=width, height=height)
    block = Block(index=0, row=0, col=0, height=height, width=width)
    colors = [hex_rgb(c["color"]) for c in classes]
    names = [c["name"] for c in classes]
    codes = [[c["code"]] if c.get("code") is not None else [] for c in classes]
    maps: dict[str, str] = {}
    mapped: dict[str, int] = {}
    areas: list[AreaEntry] = []
    for date, share in zip(dates, errors, strict=True):
        wrong = (rng.random(base.shape) < share) & (base >= 0)
        labels = np.where(wrong, (base + rng.integers(1, len(classes), base.shape)) % len(classes), base)
        class_band = np.where(base >= 0, labels + 1, 0).astype(np.uint8)
        confidence = np.where(class_band > 0, rng.integers(35, 101, base.shape), 0).astype(np.uint8)
        tags = map_tags(as_of=dt.date.fromisoformat(date), fingerprint="fake", class_names=names, class_codes=codes)
        path = write_class_map(
            folder / map_file(date), [(block, class_band, confidence)], grid=grid, colors=colors, tags=tags
        )
        maps[date] = str(path)
        counts = class_counts(class_band, len(names))
        areas.append(class_areas(date, counts, names, pixel_m * pixel_m))
        mapped[date] = int(counts[1:].sum())
    run = MapRun(
        out=str(folder),
        maps=maps,
        items={},
        double_crops={},
        gif=None,
        blocks=1,
        resumed_blocks=0,
        mapped_pixels=mapped,
        empty_blocks=[],
        skipped_scenes=[],
        areas=areas,
    )
    summary = asdict(run)
    if not with_areas:
        del summary["areas"]
    write_summary(folder, summary)
    if truth is not None:
        write_fake_truth(truth, evaluation)
    return folder


def write_fake_truth(path: str | os.PathLike[str], evaluation: dict[str, Any], *, pixel_m: float = 30.0) -> Path:
    """Write a CDL-coded GeoTIFF whose pixels take the CDL code of the nearest test point's true class.

    EPSG:5070, ``pixel_m`` metres, nodata 0 (also beyond six map pixels, 240 m, from any point).

    Args:
        path: the GeoTIFF to write (atomically).
        evaluation: an evaluation dict whose ``classes`` and ``map`` points shape the raster.
        pixel_m: the pixel size, metres.

    Returns:
        ``path``.
    """
    points = evaluation["map"]
    tx, ty = (np.asarray(v) for v in transform_points(points["crs"], TRUTH_CRS, points["x"], points["y"]))
    transform, width, height, xs, ys = _grid_around(tx, ty, pixel_m=pixel_m, margin=10)
    index = _nearest_class(
        cKDTree(np.column_stack([tx, ty])), np.asarray(points["truth"], np.int64), xs, ys, reach=6 * 40.0
    )
    codes = np.array([c["code"] or 0 for c in evaluation["classes"]] + [0], np.uint8)
    data = codes[index]  # index -1 picks the trailing 0 (nodata)
    path = Path(path)
    with (
        atomic_path(path) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=1,
            dtype="uint8",
            crs=TRUTH_CRS,
            transform=transform,
            nodata=0,
            compress="DEFLATE",
        ) as dst,
    ):
        dst.write(data, 1)
    return path
