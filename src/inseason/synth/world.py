"""Build a synthetic world folder (DESIGN §5) and read it back.

Layout of a world folder::

    world.json              what was made: config, grids, tiles (and their COGs' extent), years, counts, bytes
    synth.yaml              the resolved config
    aoi.geojson             the area of interest (lon/lat)
    labels/CDL_YYYY.tif     CDL-like label rasters (EPSG:5070, 30 m)
    scenes/TILE/YYYY/ID/    one COG per band and the SCL
    stac/catalog.json       static STAC catalog of the scenes
    truth/fields.parquet    field polygons (GeoParquet, EPSG:5070)
    truth/crops.parquet     per field and year: crops, planting and harvest dates
    truth/scenes.parquet    per scene: requested and flagged cloud, baseline, offset

The folder is built under a temporary name beside ``out`` and renamed at the end, so an interrupted run
leaves no half-world behind.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Transformer
from rasterio.features import shapes
from shapely.geometry import box, mapping, shape

from inseason.config import StageRequest, SynthConfig, Workers, dump_yaml, synth_config
from inseason.engines.local import default_workers, run_local
from inseason.errors import InputError, OutputError
from inseason.labels import cdl_class
from inseason.progress import progress_bar
from inseason.storage import atomic_path, output_lock
from inseason.synth.acquisitions import plan_datatakes
from inseason.synth.catalog import write_catalog
from inseason.synth.crops import make_calendar
from inseason.synth.grid import LABEL_EPSG, WorldGrid, real_tile, world_grid
from inseason.synth.labels import cdl_raster, write_cdl
from inseason.synth.landscape import make_landscape
from inseason.synth.render import WorldState
from inseason.synth.scenes import write_datatake

WORLD_VERSION = 1


class SynthRequest(StageRequest):
    """What the ``synth`` stage is asked to do: the world's folder, its `SynthConfig` and how to write it.

    The world's parameters are a :class:`~inseason.config.SynthConfig` (a named size plus overrides, resolved by
    `inseason.config.synth_config`, whose validators hold every check of them); the request adds what is not a
    property of the world: where it goes and how it is written. Built alike by ``inseason synth`` and
    :func:`synth`; :func:`run_synth` does the work.

    Attributes:
        out: the world's folder (local; built elsewhere and swapped in whole).
        config: the world's parameters (``world.json`` and ``synth.yaml`` record them).
        overwrite: replace a world already in ``out``.
        workers: processes rendering datatakes (None: the usable cores, at most 4).
        quiet: no progress bar.
        real_layout: write each scene's COGs as the real Sentinel-2 tile holding its world tile (10 980 px at
            10 m, 1 024-px blocks, DEFLATE with predictor 2, overviews), the world's pixels in place and nodata
            around them, for benchmarks (the pixels are the same as without it).
    """

    out: Path
    config: SynthConfig
    overwrite: bool = False
    workers: Workers = None
    quiet: bool = False
    real_layout: bool = False


@dataclass(frozen=True)
class WorldSummary:
    """What ``synth`` made: the world's folder and its ``world.json`` document (the result of `run_synth`).

    Attributes:
        path: the world's folder.
        info: the content of ``world.json``: config, grids, tiles, years, counts and bytes (the layout in this
            module's docstring).
    """

    path: Path
    info: dict[str, Any]

    @property
    def years(self) -> tuple[int, ...]:
        """The label years of the world."""
        return tuple(int(y) for y in self.info["years"])

    @property
    def scenes(self) -> int:
        """The scenes written (reprocessed duplicates included)."""
        return int(self.info["scenes"])

    @property
    def bytes(self) -> int:
        """The bytes of the labels and scenes written."""
        return int(self.info["bytes"])


def build_state(config: SynthConfig) -> WorldState:
    """Recreate the world's landscape and crop calendar from its config (deterministic from the seed).

    Args:
        config: the world's settings.

    Returns:
        The grid, landscape and crop calendar the renderer needs.
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    grid = world_grid(config)
    landscape = make_landscape(rng, grid.shape, field_scale=config.field_scale)
    calendar = make_calendar(rng, landscape, config.years)
    return WorldState(seed=config.seed, grid=grid, calendar=calendar)


def _estimated_bytes(config: SynthConfig, n_takes: int, *, real_layout: bool = False) -> int:
    """About how many bytes the world's scenes take on disk."""
    px10 = (config.tile_m // 10) ** 2 * config.tiles_x * config.tiles_y * (2 if config.across_zones else 1)
    # about 1.4 bytes per 10 m pixel per band once deflated (4 bands at 10 m, 6 at 20 m, 2 at 60 m)
    need = n_takes * px10 * 1.4 * (4 + 6 / 4 + 2 / 36 + 0.1) * 2 / 1.4
    if real_layout:  # and the nodata around the world in each real tile: about 3 MB a scene
        need += n_takes * px10 / (config.tile_m // 10) ** 2 * 3e6
    return int(need)


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an output folder holding other files, or another world unless ``overwrite``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        holder = "another world" if (out / "world.json").exists() else "other files"
        if not overwrite or holder != "another world":
            hint = "pass --overwrite to replace it" if holder == "another world" else "choose an empty folder"
            raise OutputError(f"output folder {out} already holds {holder}: {hint}")


_STATE: WorldState | None = None


def _init_worker(state: WorldState) -> None:
    """Worker initializer: keep the world's state for the datatakes the worker renders."""
    global _STATE
    _STATE = state


def _write_take(args: tuple[Any, Path, int, bool]) -> list[dict[str, Any]]:
    """Render and write one datatake in a worker (after `_init_worker`)."""
    assert _STATE is not None
    take, root, block_size, real_layout = args
    return write_datatake(_STATE, take, root, block_size=block_size, real_layout=real_layout)


def synth(
    out: str | os.PathLike[str],
    *,
    size: str = "tiny",
    seed: int = 1,
    overwrite: bool = False,
    workers: int | None = None,
    quiet: bool = False,
    real_layout: bool = False,
    **overrides: Any,
) -> WorldSummary:
    """Generate a synthetic world of ``size`` (tiny, small, demo, large) into ``out``.

    ``overrides`` replace fields of the size's :class:`~inseason.config.SynthConfig` (``years``,
    ``tiles_x``, ``cloudiness``, …). The same size, seed and overrides give byte-identical files.

    Args:
        out: the world's folder (built elsewhere and swapped in whole).
        size: ``tiny``, ``small``, ``demo`` or ``large``.
        seed: the seed of every draw.
        overwrite: replace a world already in ``out``.
        workers: processes rendering datatakes (default: the usable cores, at most 4).
        quiet: no progress bar.
        real_layout: write the scenes as real Sentinel-2 tiles (10 980 px at 10 m, 1 024-px blocks) with the
            world's pixels inside and nodata around them (see `SynthRequest`).
        **overrides: fields of the size's `SynthConfig` to replace.

    Returns:
        The world's folder and its ``world.json`` content.

    Raises:
        InputError: the size is unknown, an override is invalid or no acquisition falls in the season.
        OutputError: ``out`` holds other files (or another world without ``overwrite``), or the disk is
            (or would be) full.
    """
    config = synth_config(size, seed=seed, **overrides)
    return run_synth(
        SynthRequest.of(
            out=Path(out), config=config, overwrite=overwrite, workers=workers, quiet=quiet, real_layout=real_layout
        )
    )


def run_synth(request: SynthRequest) -> WorldSummary:
    """Generate the world a request describes into its folder (see :func:`synth`).

    Args:
        request: the folder, the world's config and how to write it.

    Returns:
        The world's folder and its ``world.json`` content.

    Raises:
        InputError: no acquisition falls in the season.
        OutputError: ``out`` holds other files (or another world without ``overwrite``), or the disk is
            (or would be) full.
    """
    config, out = request.config, request.out
    _check_out(out, request.overwrite)
    state = build_state(config)
    takes = plan_datatakes(config, np.random.default_rng(np.random.SeedSequence([config.seed, 2])))
    if not takes:
        raise InputError(f"no acquisitions fall in the season {config.season} of years {list(config.years)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    need = _estimated_bytes(config, len(takes), real_layout=request.real_layout)
    free = shutil.disk_usage(out.parent).free
    if need > free * 0.9:
        raise OutputError(
            f"not enough disk space in {out.parent}: the {config.size} world needs about "
            f"{need / 1e6:,.0f} MB and {free / 1e6:,.0f} MB are free"
        )
    try:
        # built in a temporary folder, then swapped in: an older world there is moved aside and deleted; the
        # lock beside the folder keeps a second synth from building the same world at the same time
        with output_lock(out, verb="synth", file=True), atomic_path(out) as tmp:
            info = _build(
                tmp,
                config,
                state,
                takes,
                workers=request.workers,
                quiet=request.quiet,
                real_layout=request.real_layout,
            )
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OutputError(f"disk full while writing the world to {out}: free space and run again") from None
        raise
    return WorldSummary(path=out, info=info)


def _build(
    root: Path,
    config: SynthConfig,
    state: WorldState,
    takes: list[Any],
    *,
    workers: int | None,
    quiet: bool,
    real_layout: bool = False,
) -> dict[str, Any]:
    """Write labels, scenes, catalog, truth and ``world.json`` into the new folder ``root``; return the info."""
    root.mkdir(parents=True)
    for sub in ("labels", "scenes", "truth"):
        (root / sub).mkdir()
    grid, calendar = state.grid, state.calendar
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    total = 0
    classes: dict[int, int] = {}
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("labels", total=len(config.years))
        for year in config.years:
            labels, transform = cdl_raster(calendar, grid, year, rng, noise=config.label_noise)
            total += write_cdl(
                root / "labels" / f"CDL_{year}.tif", labels, transform, year, block_size=config.block_size
            )
            for code, count in zip(*np.unique(labels, return_counts=True)):
                if code:
                    classes[int(code)] = classes.get(int(code), 0) + int(count)
            bar.advance(task)
        _write_truth(root, state)

        task = bar.add_task("scenes", total=len(takes))
        records: list[dict[str, Any]] = []
        jobs = [(take, root, config.block_size, real_layout) for take in takes]
        for _, batch in run_local(
            _write_take, jobs, workers=workers or default_workers(4), initializer=_init_worker, initargs=(state,)
        ):
            records.extend(batch)
            bar.advance(task)
        records.sort(key=lambda r: (r["datetime"], r["tile"], r["scene_id"]))
        total += sum(r["bytes"] for r in records)
        write_catalog(root, records, title=f"inseason synthetic world ({config.size}, seed {config.seed})")
        _write_scene_truth(root, records)

    aoi = _aoi(grid)
    west, south, east, north = grid.lonlat_bounds()
    _write_json(
        root / "aoi.geojson",
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"name": f"inseason {config.size} world"}, "geometry": mapping(aoi)}
            ],
        },
    )
    dates = sorted({r["datetime"][:10] for r in records})
    info = {
        "inseason:world_version": WORLD_VERSION,
        "generator": f"inseason {version('inseason')}",
        "size": config.size,
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "scene_epsg": grid.epsg,  # the world grid's, and the first zone's
        "scene_epsgs": sorted({t.epsg for t in grid.tiles}),
        "label_epsg": LABEL_EPSG,
        "years": list(config.years),
        "bbox": [round(v, 7) for v in (west, south, east, north)],
        "tiles": [
            {
                "name": t.name,
                "epsg": t.epsg,
                "bounds": list(t.bounds),
                "size_m": t.size_m,
                "cog_bounds": list((real_tile(t) if real_layout else t).bounds),
            }
            for t in grid.tiles
        ],
        "real_layout": real_layout,
        "fields": calendar.landscape.n_fields,
        "datatakes": len(takes),
        "scenes": len(records),
        "reprocessed_scenes": sum(r["reprocessed"] for r in records),
        "first_date": dates[0],
        "last_date": dates[-1],
        "classes": {str(c): {"name": cdl_class(c).name, "pixels": n} for c, n in sorted(classes.items())},
        "bytes": total,
    }
    _write_json(root / "world.json", info)
    dump_yaml(config, root / "synth.yaml")
    return info


def _aoi(grid: WorldGrid) -> Any:
    """The world's area of interest in lon/lat: its extent inset by 2 %, or, across zones, inside the tiles.

    Across two UTM zones the tiles (rotated against each other) leave corners of the grid's extent unseen: the
    area is the tiles' lon/lat extent inset by 2 % and then more, until every point of it is in some tile.
    """
    west, south, east, north = grid.lonlat_bounds()
    if len({t.epsg for t in grid.tiles}) == 1:
        inset_x, inset_y = (east - west) * 0.02, (north - south) * 0.02
        return box(west + inset_x, south + inset_y, east - inset_x, north - inset_y)
    seen = shapely.union_all(
        [
            shapely.transform(
                box(*t.bounds).segmentize(t.size_m / 16),
                Transformer.from_crs(t.epsg, 4326, always_xy=True).transform,
                interleaved=False,
            )
            for t in grid.tiles
        ]
    )
    west, south, east, north = seen.bounds
    for inset in np.arange(0.02, 0.5, 0.01):
        dx, dy = (east - west) * inset, (north - south) * inset
        aoi = box(west + dx, south + dy, east - dx, north - dy)
        if seen.contains(aoi):
            return aoi
    raise AssertionError("the tiles of the world hold no area of interest")  # world_grid overlaps them


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, the file whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


def _write_truth(root: Path, state: WorldState) -> None:
    """Field polygons (GeoParquet in the label CRS) and the crop calendar truth."""
    landscape = state.calendar.landscape
    units = landscape.units
    to_albers = Transformer.from_crs(state.grid.epsg, LABEL_EPSG, always_xy=True)
    polygons: dict[int, Any] = {}
    for geom, value in shapes(
        units, mask=(units <= landscape.n_fields) & (units > 0), transform=state.grid.transform, connectivity=4
    ):
        polygons[int(value)] = shapely.transform(shape(geom), to_albers.transform, interleaved=False)
    ids = sorted(polygons)
    crs = CRS.from_epsg(LABEL_EPSG)
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": crs.to_json_dict(),
                "bbox": list(state.grid.lonlat_bounds()),
            }
        },
    }
    table = pa.table(
        {
            "field_id": pa.array(ids, pa.int64()),
            "area_ha": pa.array([round(polygons[i].area / 10_000, 3) for i in ids], pa.float64()),
            "geometry": pa.array([polygons[i].wkb for i in ids], pa.binary()),
        }
    ).replace_schema_metadata({b"geo": json.dumps(geo).encode(), b"inseason:crs": f"EPSG:{LABEL_EPSG}".encode()})
    pq.write_table(table, root / "truth" / "fields.parquet")
    pq.write_table(state.calendar.truth, root / "truth" / "crops.parquet")


def _write_scene_truth(root: Path, records: list[dict[str, Any]]) -> None:
    """The scenes' generator truth (datatake, baseline, offset, cloud…) as ``truth/scenes.parquet``."""
    keys = (
        "scene_id",
        "tile",
        "datatake",
        "platform",
        "relative_orbit",
        "processing_baseline",
        "boa_offset",
        "reprocessed",
        "requested_cloud",
        "cloud_cover",
        "nodata_percentage",
        "bytes",
    )
    table = pa.table({k: [r[k] for r in records] for k in keys})
    table = table.append_column(
        "date", pa.array([dt.date.fromisoformat(r["datetime"][:10]) for r in records], pa.date32())
    )
    pq.write_table(table, root / "truth" / "scenes.parquet")


def centre_square(info: dict[str, Any], *, side_m: float) -> Any:
    """A square of ``side_m`` metres on a side (in the scenes' UTM zone) centred on the world's tiles, in lon/lat.

    The square is clipped to the tiles' extent, so a side larger than the world gives the whole world. Maps
    of part of a world (the demo's, the scaling benchmark's) are drawn in it.

    Args:
        info: the world's ``world.json`` (its tiles' bounds and the scenes' EPSG code).
        side_m: the square's side, metres.

    Returns:
        The square, a shapely polygon in lon/lat (edges densified so it stays square after reprojection).
    """
    bounds = [tile["bounds"] for tile in info["tiles"]]  # in the scenes' UTM zone
    left, bottom = min(b[0] for b in bounds), min(b[1] for b in bounds)
    right, top = max(b[2] for b in bounds), max(b[3] for b in bounds)
    half = min(side_m, right - left, top - bottom) / 2
    cx, cy = (left + right) / 2, (bottom + top) / 2
    to_lonlat = Transformer.from_crs(info["scene_epsg"], 4326, always_xy=True)
    square = shapely.box(cx - half, cy - half, cx + half, cy + half).segmentize(half / 4)
    return shapely.transform(square, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))


def load_world(path: str | os.PathLike[str]) -> tuple[dict[str, Any], WorldState]:
    """Read ``world.json`` and rebuild the generator's state, to ask it for truth (tests, scoring).

    Args:
        path: the world's folder.

    Returns:
        The ``world.json`` content and the rebuilt state.

    Raises:
        InputError: ``path`` holds no world.
    """
    path = Path(path)
    try:
        info = json.loads((path / "world.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{path} is not a world folder (no world.json): make one with `inseason synth`") from None
    config = SynthConfig(**info["config"])
    return info, build_state(config)
