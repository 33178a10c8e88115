"""`inseason bench ingest`: our windowed, block-wise extraction against the course's way.

The ARSET course downloads each whole COG and then samples it point by point. Both sides here extract the
same points (every 15th label pixel of a few boxes in a tile, the course's density) from the same scenes
served over loopback HTTP by a file server that counts the bytes it sends, with the same number of worker
processes, so the result shows bytes transferred and observations per second side by side, and their ratios.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import rasterio
import rasterio.transform
import requests
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, box

from inseason.bench.predict import linked_scenes
from inseason.config import check_workers
from inseason.engines.local import default_workers, run_local
from inseason.errors import InputError
from inseason.extract.sample import DEFAULT_SCL_MASK, SceneTask
from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract, plan_extraction
from inseason.observations import read_manifest
from inseason.sources.aoi import WGS84, to_crs
from inseason.sources.points import make_label_points
from inseason.synth import load_world, synth
from inseason.tables import LABEL_POINTS, S2_BANDS, SCENE_MANIFEST, read_table, write_table
from inseason.testing import serve_world
from inseason.testing.http_files import RangeFileServer
from inseason.testing.real_layout import REAL_ORIGIN, REAL_SIZE_10M, write_scene

__all__ = ["DEFLATE_MB_S", "bench_ingest", "bench_ingest_dense", "course_scene"]

#: Deflate decode rate of one core on the reference machine (MB/s of decompressed output).
DEFLATE_MB_S = 300.0


@dataclass(frozen=True)
class _CourseUnit:
    task: SceneTask
    point_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    workdir: str
    scl_mask: tuple[int, ...]


def course_scene(unit: _CourseUnit) -> tuple[int, int, int]:
    """The course's way for one scene: download every band's whole file, then sample point by point.

    Args:
        unit: the scene, its points' ids and coordinates, a scratch folder and the SCL classes to mask.

    Returns:
        (valid observations, bytes downloaded, bytes decoded).
    """
    downloaded = decoded = 0
    values: dict[str, list[int]] = {}
    local = Path(unit.workdir) / f"{unit.task.scene_id}.tif"
    with requests.Session() as session:
        for band in ("SCL", *S2_BANDS):
            with session.get(unit.task.hrefs[band], timeout=60, stream=True) as response:
                response.raise_for_status()
                with open(local, "wb") as f:
                    for chunk in response.iter_content(1 << 20):
                        f.write(chunk)
                        downloaded += len(chunk)
            with rasterio.open(local) as ds:
                array = ds.read(1)
                decoded += array.nbytes
                column = []
                for x, y in zip(unit.x, unit.y):  # the course's per-point loop
                    row, col = ds.index(x, y)
                    inside = 0 <= row < ds.height and 0 <= col < ds.width
                    column.append(int(array[row, col]) if inside else 0)
            values[band] = column
    local.unlink()
    scl = np.array(values["SCL"])
    stack = np.array([values[b] for b in S2_BANDS])
    valid = (scl != 0) & ~np.isin(scl, unit.scl_mask) & (stack != 0).all(axis=0)
    return int(valid.sum()), downloaded, decoded


#: The side of the tile of the world `bench_ingest` makes: a third of a real MGRS tile's.
_TILE_M = 32_940


def _box_spans(width: float, height: float, box_m: float) -> tuple[float, float, float]:
    """The margin and the spans along x and y left for boxes of ``box_m`` in a tile of ``width`` × ``height``.

    Raises:
        InputError: the boxes do not fit in the tile.
    """
    margin = min(box_m, width / 10)
    span_x, span_y = width - 2 * margin - box_m, height - 2 * margin - box_m
    if span_x < 0 or span_y < 0:
        raise InputError(
            f"--box-m {box_m:g}: boxes that large do not fit in the world's {width:g} m tile: use a smaller --box-m"
        )
    return margin, span_x, span_y


def _boxes_aoi(info: dict[str, Any], *, boxes: int, box_m: float) -> MultiPolygon:
    """``boxes`` squares of ``box_m`` spread along the first tile's diagonal of a world, as one lon/lat geometry."""
    tile = info["tiles"][0]
    west, south, east, north = tile["bounds"]
    margin, span_x, span_y = _box_spans(east - west, north - south, box_m)
    squares = []
    for i in range(boxes):
        f = (i + 0.5) / boxes
        x0, y0 = west + margin + f * span_x, south + margin + (1 - f) * span_y
        squares.append(box(x0, y0, x0 + box_m, y0 + box_m))
    return to_crs(MultiPolygon(squares), CRS.from_epsg(tile["epsg"]), WGS84)


@dataclass(frozen=True)
class _BothRuns:
    """One run of each side: ours (the extract stage's result, bytes sent, COG blocks read) and the course's."""

    ours: Any
    ours_bytes: int
    blocks: int
    course_obs: int
    course_decoded: int
    course_seconds: float
    course_bytes: int


def _run_both(servers: Any, tmp_path: Path, run: int, units: list[Any], *, workers: int, quiet: bool) -> _BothRuns:
    """Extract the points from the scenes with our stage (into a fresh folder), then the course's way."""
    servers.files.reset_stats()
    out = tmp_path / f"obs-{run}"
    ours = extract(tmp_path / "points.parquet", tmp_path / "scenes.parquet", out=out, workers=workers, quiet=quiet)
    ours_bytes = servers.files.stats().bytes_sent
    blocks = sum(e.get("blocks_read", 0) for e in read_manifest(out).values())
    servers.files.reset_stats()
    started = time.perf_counter()
    course_obs = course_decoded = 0
    for _, (n_obs, _, n_decoded) in run_local(course_scene, units, workers=workers):
        course_obs += n_obs
        course_decoded += n_decoded
    course_seconds = time.perf_counter() - started
    return _BothRuns(
        ours, ours_bytes, blocks, course_obs, course_decoded, course_seconds, servers.files.stats().bytes_sent
    )


def bench_ingest(
    *,
    world: str | Path | None = None,
    years: tuple[int, ...] = (2022,),
    boxes: int = 3,
    box_m: float = 1500.0,
    stride: int = 15,
    max_scenes: int = 24,
    workers: int | None = None,
    repeats: int = 3,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run both sides on the same points and scenes and return the measurements and their ratios.

    ``world`` reuses a world made by ``inseason synth``; without it a world with one 32.94 km tile (a third
    of a real MGRS tile's side) and June of ``years`` is made in a temporary folder. ``max_scenes`` caps the
    scenes (the clearest first over the AOI, then by date) so that the whole-file side finishes in minutes.
    Both sides use ``workers`` processes, and read the world through loopback STAC and range-file servers.

    Args:
        world: a world made by ``inseason synth`` to reuse (None: make one in a temporary folder).
        years: the seasons to use.
        boxes: the number of square AOIs spread along the first tile's diagonal.
        box_m: each square's side, metres.
        stride: every ``stride``-th label pixel is a label point.
        max_scenes: the most scenes to read.
        workers: processes of each side (None: the local engine's default).
        repeats: runs of each side, in turn (ours, then the course's, then ours again …); the speed-up is
            the median run's, with the lowest and highest beside it.
        quiet: hide the progress bars.

    Returns:
        The world, points, scenes and workers; for ``ours`` and ``course`` the observations, bytes sent,
        seconds, observations per second and decode rate per core (of the run with the median speed-up);
        whether both found the same observations in every run, the bytes ratio, the speed-up with its
        ``speedup_spread`` ``[lowest, highest]`` over the runs, and `DEFLATE_MB_S`.

    Raises:
        InputError: a count below one, a box side that is not positive or too large for the tile, no years,
            or a ``world`` that is not a world folder or lacks the years; checked before any work.
    """
    check_workers(workers)
    counts = {"--boxes": boxes, "--stride": stride, "--max-scenes": max_scenes, "--repeats": repeats}
    for option, value in counts.items():
        if value < 1:
            raise InputError(f"{option} {value}: use at least 1")
    if not box_m > 0:
        raise InputError(f"--box-m {box_m}: give the side of a box in metres, above 0")
    if not years:
        raise InputError("bench ingest needs at least one year")
    given = load_world(world)[0] if world is not None else None  # a folder without a world: refused first
    if given is None:
        _box_spans(_TILE_M, _TILE_M, box_m)
    elif not set(years) <= set(given["years"]):
        raise InputError(f"bench ingest: the world holds the years {given['years']}, not {sorted(years)}")
    workers = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="inseason-bench-") as tmp:
        tmp_path = Path(tmp)
        if world is None:  # a third of a real tile's side, one month: whole files cost what they do
            world = synth(
                tmp_path / "world",
                size="demo",
                seed=1,
                years=years,
                tile_m=_TILE_M,
                season=("06-01", "06-30"),
                quiet=quiet,
            ).path
        world = Path(world)
        info = given if given is not None else load_world(world)[0]
        aoi = _boxes_aoi(info, boxes=boxes, box_m=box_m)
        points = make_label_points(
            cdl=world / "labels", aoi=aoi, years=list(years), stride=stride, out=tmp_path / "points.parquet", quiet=True
        )
        with serve_world(world) as servers:
            first, last = f"{min(years)}-01-01", f"{max(years)}-12-31"
            find_scenes(stac=servers.stac.url, aoi=aoi, start=first, end=last, out=tmp_path / "all.parquet", quiet=True)
            scenes = read_table(tmp_path / "all.parquet", SCENE_MANIFEST, what="scene manifest")
            order = pc.sort_indices(scenes, [("valid_fraction_aoi", "descending"), ("date", "ascending")])
            scenes = scenes.take(order.slice(0, max_scenes))
            write_table(scenes, tmp_path / "scenes.parquet")

            plan = plan_extraction(read_table(tmp_path / "points.parquet", LABEL_POINTS, what="label points"), scenes)
            units = [_CourseUnit(t, *plan.points_of(t), workdir=tmp, scl_mask=DEFAULT_SCL_MASK) for t in plan.tasks]
            runs = [_run_both(servers, tmp_path, run, units, workers=workers, quiet=quiet) for run in range(repeats)]

    speedups = [(r.ours.observations / r.ours.seconds) / (r.course_obs / r.course_seconds) for r in runs]
    median = runs[int(np.argsort(speedups)[(len(speedups) - 1) // 2])]  # the (lower) median run
    ours, ours_bytes, blocks = median.ours, median.ours_bytes, median.blocks
    course_obs, course_decoded, course_seconds, course_bytes = (
        median.course_obs,
        median.course_decoded,
        median.course_seconds,
        median.course_bytes,
    )
    block_px = info["config"]["block_size"] ** 2
    ours_decoded = blocks * block_px * 2  # int16 blocks (SCL blocks are uint8: a slight over-estimate)
    ours_rate = ours.observations / ours.seconds
    course_rate = course_obs / course_seconds
    same = all(r.ours.observations == r.course_obs == runs[0].ours.observations for r in runs)
    return {
        "world": {"size": info["size"], "tiles": len(info["tiles"]), "years": list(years)},
        "points": points.num_rows,
        "scenes": len(plan.tasks),
        "workers": workers,
        "ours": {
            "observations": ours.observations,
            "bytes": ours_bytes,
            "seconds": ours.seconds,
            "observations_per_s": round(ours_rate, 1),
            "decode_mb_per_s_per_core": round(ours_decoded / 1e6 / ours.seconds / workers, 1),
        },
        "course": {
            "observations": course_obs,
            "bytes": course_bytes,
            "seconds": round(course_seconds, 3),
            "observations_per_s": round(course_rate, 1),
            "decode_mb_per_s_per_core": round(course_decoded / 1e6 / course_seconds / workers, 1),
        },
        "repeats": repeats,
        "same_observations": same,
        "bytes_ratio": round(course_bytes / max(ours_bytes, 1), 2),
        "speedup": round(ours_rate / course_rate, 2),
        "speedup_spread": [round(min(speedups), 2), round(max(speedups), 2)],
        "deflate_limit_mb_per_s": DEFLATE_MB_S,
    }


#: The dense setting's tile (EPSG:32614, a real tile's upper-left corner) and date.
_DENSE_EPSG = 32614
_DENSE_DATE = dt.date(2024, 4, 1)


def _noise(band: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Noise-like pixels over the whole tile (they compress about as real ones do), SCL a few classes."""

    def values(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        h = (rows.astype(np.uint64) * np.uint64(73_856_093)) ^ (cols.astype(np.uint64) * np.uint64(19_349_663))
        if band == "SCL":  # vegetation, bare soil, water: a few bits a pixel, as real SCL
            return (4 + (h >> np.uint64(11)) % np.uint64(3)).astype(np.uint8)
        return (np.uint64(500) + h % np.uint64(2_000)).astype(np.uint16)

    return values


def _touched_blocks(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """Distinct internal blocks of the COG ``path`` holding the points (x, y) and the decoded bytes of one."""
    with rasterio.open(path) as ds:
        rows, cols = rasterio.transform.rowcol(ds.transform, x, y)
        bh, bw = ds.block_shapes[0]
        blocks = {(r // bh, c // bw) for r, c in zip(np.asarray(rows).tolist(), np.asarray(cols).tolist())}
        return len(blocks), bh * bw * np.dtype(ds.dtypes[0]).itemsize


def _local_decode_rate(paths: list[Path]) -> float:
    """MB/s of one core decoding ``paths`` whole from the local disk with GDAL (one thread): this machine's limit."""
    decoded, seconds = 0, 0.0
    with rasterio.Env(GDAL_NUM_THREADS=1, GDAL_CACHEMAX=64):
        for path in paths:
            with rasterio.open(path) as ds:
                started = time.perf_counter()
                decoded += ds.read(1).nbytes
                seconds += time.perf_counter() - started
    return decoded / 1e6 / seconds


def bench_ingest_dense(
    *,
    points: int = 10_000,
    scenes: int = 30,
    size_10m: int = REAL_SIZE_10M,
    workers: int | None = None,
    seed: int = 0,
    quiet: bool = True,
) -> dict[str, Any]:
    """Our extraction at a real density: ``points`` label points spread over one tile with the real COG layout.

    One scene of every L2A band and SCL is written with the real layout (`inseason.testing.real_layout`:
    10 980 px at 10 m, 1 024-px blocks, deflate with predictor 2) and noise-like pixels, and ``scenes``
    scenes are made of hard links to its files (each a scene of its own to the reader), served over a
    loopback HTTP server with Range requests. The label points fall at seeded random places over the tile, so
    (at 10 000 points) every block of every band holds some: the extraction decodes whole files, and its
    decode rate per core says how close it comes to the deflate limit: the reference machine's
    (`DEFLATE_MB_S`) and this machine's, measured in the same run by decoding the scene's files whole from the
    local disk in one process. Only our side runs here: the course's whole-file way of 30 scenes of 13 bands
    would move tens of gigabytes.

    Args:
        points: label points over the tile.
        scenes: scenes (5 days apart) they are extracted from.
        size_10m: the tile's side at 10 m, pixels (10 980: real; a multiple of 6).
        workers: extraction processes (None: the local engine's default).
        seed: seed of the points' places.
        quiet: hide the progress bars.

    Returns:
        ``points``, ``scenes``, ``workers``, ``size_10m``, ``observations``, ``seconds``,
        ``observations_per_s``, ``bytes_sent``, ``blocks_read`` (COG blocks the extraction read),
        ``touched_blocks`` (blocks holding a point, every band and scene), ``decoded_mb`` (their decoded size),
        ``decode_mb_per_s_per_core``, ``deflate_limit_mb_per_s`` and ``share_of_limit`` (of `DEFLATE_MB_S`),
        ``local_decode_mb_per_s`` (this machine's whole-file decode, one core) and ``share_of_local``.

    Raises:
        InputError: fewer than one point, scene or worker, or a tile side that is not a positive multiple of 6.
    """
    check_workers(workers)
    for option, value in {"--points": points, "--scenes": scenes}.items():
        if value < 1:
            raise InputError(f"{option} {value}: use at least 1")
    if size_10m < 6 or size_10m % 6:
        raise InputError(f"bench ingest: size_10m={size_10m}: give a positive multiple of 6 (10 980: a real tile)")
    workers = workers or default_workers()
    bands = (*S2_BANDS, "SCL")
    with tempfile.TemporaryDirectory(prefix="inseason-bench-dense-") as tmp:
        root = Path(tmp)
        written = write_scene(
            root / "written", _noise, date=_DENSE_DATE, epsg=_DENSE_EPSG, bands=bands, size_10m=size_10m
        )
        linked = linked_scenes(root, written, scenes)
        rng = np.random.default_rng(seed)
        x0, y0 = REAL_ORIGIN
        side = size_10m * 10.0
        x = x0 + 10.0 + rng.random(points) * (side - 20.0)
        y = y0 - 10.0 - rng.random(points) * (side - 20.0)
        lon, lat = Transformer.from_crs(_DENSE_EPSG, 4326, always_xy=True).transform(x, y)
        table = pa.table(
            {
                "point_id": np.arange(points, dtype=np.int64),
                "x": x,
                "y": y,
                "lon": lon,
                "lat": lat,
                "year": np.full(points, _DENSE_DATE.year, np.int16),
                "label_code": np.ones(points, np.int32),
                "label": ["Corn"] * points,
                "field_id": np.arange(points, dtype=np.int64),
                "source": ["bench"] * points,
            },
            schema=LABEL_POINTS,
        )
        write_table(table, root / "points.parquet")
        touched = [_touched_blocks(path, x, y) for path in written.paths.values()]
        local_rate = _local_decode_rate(list(written.paths.values()))
        touched_blocks = scenes * sum(n for n, _ in touched)
        decoded_bytes = scenes * sum(n * size for n, size in touched)
        with RangeFileServer(root) as server:
            rows = [{**row, "hrefs": [(b, server.url_for(p)) for b, p in paths.items()]} for row, paths in linked]
            write_table(pa.Table.from_pylist(rows, schema=SCENE_MANIFEST), root / "scenes.parquet")
            server.reset_stats()
            started = time.perf_counter()
            result = extract(
                root / "points.parquet", root / "scenes.parquet", out=root / "obs", workers=workers, quiet=quiet
            )
            seconds = time.perf_counter() - started
            sent = server.stats().bytes_sent
        blocks_read = sum(e.get("blocks_read", 0) for e in read_manifest(root / "obs").values())
    decode_rate = decoded_bytes / 1e6 / seconds / workers
    return {
        "points": points,
        "scenes": scenes,
        "workers": workers,
        "size_10m": size_10m,
        "observations": result.observations,
        "seconds": round(seconds, 3),
        "observations_per_s": round(result.observations / seconds, 1),
        "bytes_sent": sent,
        "blocks_read": blocks_read,
        "touched_blocks": touched_blocks,
        "decoded_mb": round(decoded_bytes / 1e6, 1),
        "decode_mb_per_s_per_core": round(decode_rate, 1),
        "deflate_limit_mb_per_s": DEFLATE_MB_S,
        "share_of_limit": round(decode_rate / DEFLATE_MB_S, 3),
        "local_decode_mb_per_s": round(local_rate, 1),
        "share_of_local": round(decode_rate / local_rate, 3),
    }


def main() -> None:
    """Run the benchmark from a plain script (``python -m inseason.bench.ingest``) and print JSON."""
    print(json.dumps(bench_ingest(), indent=1))


if __name__ == "__main__":
    main()
