"""`inseason bench predict`: map pixels per second end to end (read + model + write) against the model alone.

Both sides run in one process on the same pixels and as-of date of a synthetic world: *end to end* is
`predict_map` from the scene manifest to the COG, *model only* is the bundle's predictor over the same
pixels' series already in memory. Their ratio, ``end_to_end_over_model_only``, shows what the I/O costs
(the issue's target: at least 0.5 for the `arset` network). The networks get untrained weights of their
preset's architecture and inputs: speed does not depend on what they learned.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import rasterio
from pyproj import Transformer
from shapely.geometry import Polygon

from inseason.bench.distill import STUDENT_BACKENDS, bench_student, check_student_setting
from inseason.config import check_workers
from inseason.data import FeatureConfig, InputSpec, Normalization, feature_names
from inseason.data.adapters import AdapterConfig
from inseason.errors import InputError
from inseason.extract.scenes import find_scenes
from inseason.labels import cdl_class
from inseason.models import create_model, model_info, model_spec
from inseason.predict.maps import predict_map
from inseason.predict.read import (
    Block,
    BlockCache,
    MapGrid,
    SceneRef,
    block_cache,
    check_block_size,
    job_block_folder,
    map_grid,
    plan_blocks,
    read_block,
    scene_refs,
)
from inseason.sources.aoi import read_aoi
from inseason.sources.stac import scene_record
from inseason.synth import centre_square, load_world, synth
from inseason.tables import S2_BANDS, SCENE_MANIFEST
from inseason.testing.http_files import RangeFileServer
from inseason.testing.real_layout import (
    BAND_RESOLUTION,
    REAL_BLOCK,
    REAL_ORIGIN,
    REAL_SIZE_10M,
    RealScene,
    write_scene,
)
from inseason.train import BACKENDS, TRAIN_PRESETS, Backend, LabelClass, Predictor, load_bundle, write_bundle

__all__ = ["AMPLIFICATION_BANDS", "bench_networks", "bench_predict", "bench_read_amplification", "linked_scenes"]

#: The networks `bench_predict` times by default: the course's, the default map network and the incremental one.
DEFAULT_NETWORKS = ("arset", "tempcnn", "gru-incremental")
#: Classes of the benchmark bundles (CDL codes): the ARSET course's crops plus winter wheat and a double crop.
_CODES = (1, 2, 3, 5, 24, 26, 176)
#: The bands the read-amplification bench reads by default: every L2A band the bundles use (SCL is read too).
AMPLIFICATION_BANDS: tuple[str, ...] = S2_BANDS


def bench_networks() -> tuple[str, ...]:
    """The networks `bench_predict` can time: the training presets whose model is a neural network.

    Returns:
        Their names, in the presets' order.
    """
    return tuple(name for name, preset in TRAIN_PRESETS.items() if model_info(preset["model"]["name"]).neural)


def _check_networks(networks: Sequence[str]) -> None:
    """Refuse no networks, or one that is not in `bench_networks` (the message names those)."""
    known = bench_networks()
    unknown = [n for n in networks if n not in known]
    if unknown or not networks:
        what = f"unknown network {', '.join(map(repr, unknown))}" if unknown else "no network"
        raise InputError(f"bench predict: {what}: use {', '.join(known)} (--networks, a comma list)")


def untrained_bundle(
    network: str,
    out: Path,
    *,
    seed: int,
    params: Mapping[str, Any] | None = None,
    codes: Sequence[int] = _CODES,
) -> Path:
    """An untrained bundle of ``network`` with its training preset's adapter and features.

    Args:
        network: a training preset's name (``arset``, ``tempcnn``...).
        out: the bundle folder to write.
        seed: the seed of the random weights.
        params: the network's hyper-parameters that differ from the preset's architecture defaults (a
            smaller network maps faster where only the run's behaviour matters, as in tests).
        codes: the CDL codes of its classes, one class each (default: the course's crops, winter wheat and a
            double crop).

    Returns:
        ``out``.
    """
    preset = TRAIN_PRESETS[network]
    adapter = AdapterConfig(**preset["adapter"])
    features = FeatureConfig(**preset.get("features", {}))
    channels = feature_names(S2_BANDS, features, has_scl=True)
    spec = InputSpec(
        adapter=adapter,
        features=features,
        normalization=Normalization(
            mean=np.zeros(len(channels), np.float32), std=np.full(len(channels), 0.1, np.float32)
        ),
    )
    model = create_model(
        preset["model"]["name"],
        n_bands=len(channels),
        n_steps=adapter.n_steps,
        n_classes=len(codes),
        seed=seed,
        **{**preset["model"].get("params", {}), **dict(params or {})},  # the preset's architecture, then params
    )
    classes = [LabelClass(name=cdl_class(c).name, codes=(c,), color=cdl_class(c).color) for c in codes]
    write_bundle(
        out,
        network=model,
        model_spec=model_spec(model),
        spec=spec,
        bands=S2_BANDS,
        classes=classes,
        prior=np.full(len(codes), 1 / len(codes), np.float32),
        season_start="01-01",
        fingerprint="bench",
        metrics={},
        config={"benchmark": network},
    )
    return out


def bench_predict(
    *,
    networks: Sequence[str] | None = None,
    world: str | Path | None = None,
    size: str = "tiny",
    as_of: dt.date | None = None,
    block_size: int = 256,
    workers: int = 1,
    seed: int = 1,
    quiet: bool = True,
    read_scenes: int = 24,
    read_bands: Sequence[str] = AMPLIFICATION_BANDS,
    read_memory_mb: int = 256,
    read_workers: int = 2,
    read_compare_scenes: int = 6,
    side_m: float | None = None,
    update_days: int = 7,
    student: bool = False,
    student_setting: str = "many-classes",
    student_scale: float = 1.0,
    backend: Backend = "torch",
) -> dict[str, Any]:
    """Measure end-to-end and model-only map pixels per second for each network, and the reader's bytes.

    For each network it also times an in-season update (`inseason.predict.maps` ``update``): a map kept with
    its series as of ``update_days`` before the as-of date, then updated with the as-of date (reading only
    the scenes between). ``update_over_full`` is that update's seconds over the end-to-end run mapping the
    same date from scratch.

    The bytes the map reader fetches are measured on COGs with the real L2A layout
    (`bench_read_amplification`): a season of scenes read by several workers through memory caches on one
    job folder, beside a memory cache alone and no cache.

    Args:
        networks: the training presets whose networks are measured (default: `DEFAULT_NETWORKS`; on ONNX
            Runtime the ones it runs: not the recurrent one).
        world: a world made by ``inseason synth`` to reuse (None: make one of ``size`` in a temporary folder).
        size: the size of the world to make.
        as_of: the map's as-of date (None: 1 August of the world's last year).
        block_size: the map's block side, pixels.
        workers: the map run's processes.
        seed: the world's and the weights' seed.
        quiet: hide the progress bars.
        read_scenes: scenes of the read-amplification measurement.
        read_bands: bands of the read-amplification measurement (SCL is read too).
        read_memory_mb: the memory bound of each reader process's block cache, MiB.
        read_workers: the reader processes sharing the job folder.
        read_compare_scenes: scenes of the reader's memory-only and uncached measurements.
        side_m: map a square of this side (metres) at the world's centre; None maps the world's whole AOI.
        update_days: days between the kept map and the date an update adds.
        student: also train a ``tempcnn`` teacher and distil a ``tempcnn-small`` student on an accuracy
            setting, and score and time both on torch and ONNX Runtime (`inseason.bench.distill`).
        student_setting: the `inseason.bench.accuracy` setting they are trained and scored on.
        student_scale: its size relative to the default.
        backend: what runs the networks (`inseason.train.onnx`): torch, onnx or onnx-int8.

    Returns:
        The world (size, year, as-of date, scenes, grid), the block size and workers, each network's pixels,
        seconds and rates, each network's ``end_to_end_over_model_only`` and ``update_over_full`` (also per
        network: ``update_s``, ``update_scenes``, the scenes the update read), ``read_amplification`` (bytes read
        ÷ bytes of the COG blocks the AOI touches, real layout, workers sharing a job folder; target at most
        1.1) and ``read`` (that measurement in full, with the memory-only and uncached readers' side by side);
        with ``student``, ``student`` (`inseason.bench.distill.bench_student`: the teacher's and student's
        pixels/s and macro-F1, ``speedup`` and ``macro_f1_drop``).

    Raises:
        InputError: an unknown network (or none), fewer than one worker or read worker, a block below 16
            pixels, fewer than one read scene, a read memory bound below 1 MiB, or a ``world`` that is not a
            world folder; checked before any work.
    """
    if networks is None:
        networks = DEFAULT_NETWORKS if backend == "torch" else ("arset", "tempcnn")
    networks = list(dict.fromkeys(networks))  # each network once
    _check_networks(networks)
    check_workers(workers)
    check_block_size(block_size)
    if read_scenes < 1:
        raise InputError(f"bench predict: read_scenes={read_scenes}: give at least 1 scene")
    if read_memory_mb < 1:
        raise InputError(f"bench predict: read_memory_mb={read_memory_mb}: give at least 1 MiB")
    if read_workers < 1:
        raise InputError(f"bench predict: read_workers={read_workers}: give at least 1 worker process")
    if side_m is not None and side_m <= 0:
        raise InputError(f"bench predict: side_m={side_m}: give a positive square side in metres")
    if update_days < 1:
        raise InputError(f"bench predict: update_days={update_days}: give at least 1 day")
    unknown = [b for b in read_bands if b not in S2_BANDS]
    if unknown or not read_bands:
        raise InputError(f"bench predict: read bands {unknown or 'none'}: use L2A bands ({', '.join(S2_BANDS)})")
    if backend not in BACKENDS:
        raise InputError(f"bench predict: backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if student:
        check_student_setting(student_setting, STUDENT_BACKENDS)
    given = load_world(world)[0] if world is not None else None  # a folder without a world: refused first
    with tempfile.TemporaryDirectory(prefix="inseason-bench-predict-") as tmp:
        root = Path(tmp)
        world = Path(world) if world is not None else synth(root / "world", size=size, seed=seed, quiet=quiet).path
        info = given if given is not None else load_world(world)[0]
        year = max(info["years"])
        date = as_of or dt.date(year, 8, 1)
        aoi = read_aoi(world / "aoi.geojson") if side_m is None else centre_square(info, side_m=side_m)
        scenes = find_scenes(
            stac=str(world / "stac" / "catalog.json"),
            aoi=aoi,
            start=dt.date(year, 1, 1),
            end=date,
            out=root / "scenes.parquet",
            min_valid=0.0,
            quiet=True,
        )
        refs = scene_refs(scenes, since=dt.date(year, 1, 1), until=date)
        grid = map_grid(aoi, refs)
        stores = [
            read_block(block, grid=grid, scenes=refs, aoi=aoi).store(season="01-01", year=year)
            for block in plan_blocks(grid, aoi, block_size=block_size)
        ]
        day = (date - dt.date(year, 1, 1)).days
        results: dict[str, Any] = {}
        for network in networks:
            bundle = load_bundle(untrained_bundle(network, root / f"bundle-{network}", seed=seed))
            block_cache().clear()  # each timed run decodes its COG blocks, as a new map process does
            started = time.perf_counter()
            run = predict_map(
                bundle,
                scenes=root / "scenes.parquet",
                aoi=aoi,
                as_of=[date],
                out=root / f"maps-{network}",
                block_size=block_size,
                workers=workers,
                quiet=True,
                backend=backend,
            )
            end_to_end = time.perf_counter() - started
            pixels = run.mapped_pixels[date.isoformat()]
            predictor = Predictor(bundle, batch_size=4096, backend=backend)
            started = time.perf_counter()
            for store in stores:
                rows = np.flatnonzero(store.counts > 0)
                if rows.size:
                    predictor.predict_proba(store, as_of=day, rows=rows)
            model_only = time.perf_counter() - started
            e2e_rate, model_rate = pixels / end_to_end, pixels / model_only
            earlier, update_out = date - dt.timedelta(days=update_days), root / f"update-{network}"
            for dates, update in (([earlier], False), ([date], True)):  # keep a week earlier, then update
                block_cache().clear()
                started = time.perf_counter()
                predict_map(
                    bundle,
                    scenes=root / "scenes.parquet",
                    aoi=None if update else aoi,
                    as_of=dates,
                    out=update_out,
                    block_size=block_size,
                    workers=workers,
                    quiet=True,
                    keep_series=True,
                    update=update,
                    backend=backend,
                )
            update_s = time.perf_counter() - started
            results[network] = {
                "pixels": pixels,
                "end_to_end_s": round(end_to_end, 3),
                "model_only_s": round(model_only, 3),
                "end_to_end_pixels_per_s": round(e2e_rate, 1),
                "model_only_pixels_per_s": round(model_rate, 1),
                "end_to_end_over_model_only": round(e2e_rate / model_rate, 3),
                "update_s": round(update_s, 3),
                "update_scenes": sum(1 for r in refs if earlier < r.date <= date),
                "update_over_full": round(update_s / end_to_end, 3),
            }
        distilled = (
            bench_student(
                root / "student",
                scenes=root / "scenes.parquet",
                aoi=aoi,
                date=date,
                stores=stores,
                block_size=block_size,
                setting=student_setting,
                scale=student_scale,
                seed=seed,
            )
            if student
            else None
        )
    read = bench_read_amplification(
        scenes=read_scenes,
        bands=read_bands,
        block_size=block_size,
        memory_mb=read_memory_mb,
        workers=read_workers,
        compare_scenes=read_compare_scenes,
    )
    return {
        "world": {
            "size": info["size"],
            "year": year,
            "as_of": date.isoformat(),
            "scenes": len(refs),
            "grid": [grid.height, grid.width],
            "side_m": side_m,
        },
        "block_size": block_size,
        "workers": workers,
        "backend": backend,
        "networks": results,
        "end_to_end_over_model_only": {n: r["end_to_end_over_model_only"] for n, r in results.items()},
        "update_days": update_days,
        "update_over_full": {n: r["update_over_full"] for n, r in results.items()},
        "read_amplification": read["read_amplification"],
        "read": read,
        **({"student": distilled} if distilled is not None else {}),
    }


#: Upper-left corner of the bench's tiles (EPSG:32614) and its AOI inside them (UTM metres): 15 km x 10 km
#: that straddles 10 m and 20 m COG block edges (10 240 m and 20 480 m from the tile's corner).
_BENCH_EPSG = 32614
_BENCH_AOI_UTM = (608_000.0, 4_185_000.0, 623_000.0, 4_195_000.0)


def _bench_values(band: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Noise-like pixels (compressing like real ones) in the COG blocks under the AOI, constant elsewhere."""
    res = BAND_RESOLUTION[band]
    left, bottom, right, top = _BENCH_AOI_UTM
    x0, y0 = REAL_ORIGIN
    side = REAL_BLOCK * res  # metres of one block
    # the AOI's blocks, widened to whole blocks, in the band's pixels
    c0, c1 = int((left - x0) // side) * REAL_BLOCK, (int((right - x0) // side) + 1) * REAL_BLOCK
    r0, r1 = int((y0 - top) // side) * REAL_BLOCK, (int((y0 - bottom) // side) + 1) * REAL_BLOCK

    def values(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        h = (rows.astype(np.uint64) * np.uint64(73_856_093)) ^ (cols.astype(np.uint64) * np.uint64(19_349_663))
        if band == "SCL":  # vegetation, bare soil, water: a few bits a pixel, as real SCL
            noisy = (4 + (h >> np.uint64(11)) % np.uint64(3)).astype(np.uint8)
        else:
            noisy = (np.uint64(500) + h % np.uint64(2_000)).astype(np.uint16)
        inside = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
        return np.where(inside, noisy, 4 if band == "SCL" else 1000)

    return values


def _touched_bytes(path: Path, grid: MapGrid) -> tuple[int, int]:
    """Compressed bytes and count of the full-resolution COG blocks of ``path`` under the map grid."""
    left, bottom, right, top = grid.bounds
    with rasterio.open(path) as ds:
        bh, bw = ds.block_shapes[0]
        t = ds.transform
        c0, c1 = int((left - t.c) // t.a), math.ceil((right - t.c) / t.a)
        r0, r1 = int((t.f - top) // -t.e), math.ceil((t.f - bottom) / -t.e)
        rows = range(max(0, r0) // bh, (min(ds.height, r1) - 1) // bh + 1)
        cols = range(max(0, c0) // bw, (min(ds.width, c1) - 1) // bw + 1)
        return sum(ds.block_size(1, i, j) for i in rows for j in cols), len(rows) * len(cols)


def linked_scenes(root: Path, scene: RealScene, copies: int) -> list[tuple[dict[str, Any], dict[str, Path]]]:
    """``copies`` scenes 5 days apart whose files are hard links to ``scene``'s: (manifest row, files) each.

    Every copy is a scene of its own to the reader (its own hrefs, so its own cache keys and fetches) at the
    cost of one written scene.

    Args:
        root: the folder the copies' folders (``scene-NNN``) go in (on the same file system as the scene).
        scene: the written scene.
        copies: how many scenes to make.

    Returns:
        Each copy's scene manifest row (``hrefs`` not set) and its files per band.
    """
    base = scene_record(scene.item).row(1.0)
    linked = []
    for k in range(copies):
        folder = root / f"scene-{k:03d}"
        folder.mkdir()
        paths = {}
        for band, path in scene.paths.items():
            paths[band] = folder / path.name
            os.link(path, paths[band])
        step = dt.timedelta(days=5 * k)
        row = {**base, "scene_id": f"{scene.scene_id}-{k:03d}", "date": base["date"] + step}
        row["datetime"] = base["datetime"] + step
        linked.append((row, paths))
    return linked


def _read_share(job: tuple[list[Block], MapGrid, list[SceneRef], Polygon, tuple[str, ...], int, str]) -> dict[str, int]:
    """A worker process of the read bench: read its map blocks through its own cache on the shared folder."""
    blocks, grid, refs, aoi, bands, max_bytes, folder = job
    cache = BlockCache(max_bytes, folder=folder)
    for block in blocks:
        read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=bands, cache=cache)
    return {
        "decoded": cache.decoded,
        "disk_hits": cache.disk_hits,
        "waits": cache.waits,
        "disk_bytes": cache.disk_bytes,
    }


def bench_read_amplification(
    *,
    scenes: int = 24,
    bands: Sequence[str] = AMPLIFICATION_BANDS,
    size_10m: int = REAL_SIZE_10M,
    block_size: int = 256,
    memory_mb: int = 256,
    workers: int = 2,
    uncached: bool = True,
    compare_scenes: int = 6,
) -> dict[str, Any]:
    """Bytes the map reader fetches ÷ bytes of the COG blocks the AOI touches, on COGs with the real layout.

    One scene is written with the real L2A layout (`inseason.testing.real_layout`: 10 980 px at 10 m,
    1 024-px blocks, deflate with predictor 2, overviews) and ``scenes`` scenes are made of hard links to its
    files under different paths (each a scene of its own to the reader: its own hrefs, cache keys and
    fetches), served over a loopback HTTP server with Range requests, which counts the bytes it sends. A
    season's many scenes make the working set of one row of map blocks (every scene × band) outgrow a
    realistic memory bound, as in a real season (about 70 scenes). The map reader reads a 15 km × 10 km AOI
    block by block three ways, each from a fresh server (GDAL's own caches start empty):

    - *shared* (what ``predict`` does on one machine): ``workers`` processes, map block ``i`` to worker
      ``i mod workers`` (neighbours to different workers, as a process pool hands them out), each with a
      memory cache of ``memory_mb`` MiB on one job folder (`inseason.predict.read.BlockCache`);
    - *memory*: one process, a memory cache and no folder (the reader before the folder), on the first
      ``compare_scenes`` scenes with the memory bound scaled alike (``memory_mb × compare_scenes ÷ scenes``:
      the same share of the season's working set, so the same misses per byte, at a fraction of the cost);
    - with ``uncached``, *uncached*: no cache at all, on the same scenes (every map block fetches the COG
      blocks under it: a ratio that does not depend on the number of scenes).

    Args:
        scenes: scenes (dates) to read.
        bands: the bands read (SCL is read too).
        size_10m: the tile's side at 10 m, pixels (10 980: real).
        block_size: the map's block side, pixels.
        memory_mb: each process's memory bound of decoded blocks, MiB.
        workers: the processes of the shared side.
        uncached: also measure the reader without a cache.
        compare_scenes: scenes of the memory-only and uncached measurements.

    Returns:
        ``read_amplification`` (the shared side's bytes sent ÷ bytes of the touched blocks; the target is at
        most 1.1), ``decoded_blocks``, ``disk_hits`` and ``waits`` (blocks another worker was fetching)
        summed over the workers, ``disk_bytes`` (the job folder's size), ``touched_blocks``, the bytes;
        ``memory_read_amplification``, ``memory_decode_amplification``, ``memory_over_shared``; with
        ``uncached`` ``uncached_read_amplification`` and ``uncached_over_shared`` (ratios of bytes per
        touched byte of the scenes each side read).

    Raises:
        InputError: fewer than one scene or worker, a block below 16 pixels, a memory bound below 1 MiB, or
            bands that are not L2A bands.
    """
    if scenes < 1:
        raise InputError(f"bench predict: scenes={scenes}: give at least 1 scene")
    if not bands or any(b not in S2_BANDS for b in bands):
        raise InputError(f"bench predict: read bands {list(bands)}: use L2A bands ({', '.join(S2_BANDS)})")
    if memory_mb < 1:
        raise InputError(f"bench predict: memory_mb={memory_mb}: give at least 1 MiB")
    if workers < 1:
        raise InputError(f"bench predict: workers={workers}: give at least 1 worker process")
    check_block_size(block_size)
    bands = tuple(dict.fromkeys(bands))
    left, bottom, right, top = _BENCH_AOI_UTM
    to_lonlat = Transformer.from_crs(_BENCH_EPSG, 4326, always_xy=True)
    aoi = Polygon([to_lonlat.transform(x, y) for x, y in ((left, bottom), (right, bottom), (right, top), (left, top))])
    max_bytes = memory_mb << 20
    with tempfile.TemporaryDirectory(prefix="inseason-bench-read-") as tmp:
        root = Path(tmp)
        written = write_scene(
            root / "written",
            _bench_values,
            date=dt.date(2024, 4, 1),
            epsg=_BENCH_EPSG,
            bands=(*bands, "SCL"),
            size_10m=size_10m,
        )
        linked = linked_scenes(root, written, scenes)
        result: dict[str, Any] = {
            "scenes": scenes,
            "bands": [*bands, "SCL"],
            "size_10m": size_10m,
            "memory_mb": memory_mb,
            "workers": workers,
        }

        def serve(server: RangeFileServer, count: int) -> tuple[list[SceneRef], MapGrid, list[Block]]:
            rows = [{**row, "hrefs": [(b, server.url_for(p)) for b, p in paths.items()]} for row, paths in linked]
            table = pa.Table.from_pylist(rows[:count], schema=SCENE_MANIFEST)
            refs = scene_refs(table, since=dt.date(2024, 1, 1), until=dt.date(2025, 12, 31))
            grid = map_grid(aoi, refs)
            return refs, grid, plan_blocks(grid, aoi, block_size=block_size)

        with RangeFileServer(root) as server, job_block_folder(root) as folder:
            refs, grid, blocks = serve(server, scenes)
            server.reset_stats()
            jobs = [(blocks[w::workers], grid, refs, aoi, bands, max_bytes, str(folder)) for w in range(workers)]
            if workers == 1:
                counts = [_read_share(jobs[0])]
            else:
                with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                    counts = list(pool.map(_read_share, jobs))
            sent = server.stats().bytes_sent
        touched = [_touched_bytes(path, grid) for path in written.paths.values()]
        touched_bytes, touched_blocks = scenes * sum(t[0] for t in touched), scenes * sum(t[1] for t in touched)
        result |= {
            "read_amplification": round(sent / touched_bytes, 3),
            "bytes_read": sent,
            "touched_bytes": touched_bytes,
            "touched_blocks": touched_blocks,
            **{key: sum(c[key] for c in counts) for key in ("disk_hits", "waits", "disk_bytes")},
            "decoded_blocks": sum(c["decoded"] for c in counts),
            "decode_amplification": round(sum(c["decoded"] for c in counts) / touched_blocks, 3),
            "grid": [grid.height, grid.width],
        }
        count = min(compare_scenes, scenes)
        result["compare_scenes"] = count
        sides = {"memory": BlockCache(max_bytes * count // scenes)} | ({"uncached": BlockCache(0)} if uncached else {})
        for side, cache in sides.items():
            with RangeFileServer(root) as server:
                refs, grid, blocks = serve(server, count)
                server.reset_stats()
                for block in blocks:
                    read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=bands, cache=cache)
                sent = server.stats().bytes_sent
            ratio = sent / (touched_bytes * count / scenes)
            result |= {
                f"{side}_read_amplification": round(ratio, 3),
                f"{side}_decode_amplification": round(cache.decoded / (touched_blocks * count / scenes), 3),
                f"{side}_over_shared": round(ratio / result["read_amplification"], 2),
            }
    return result


def main() -> None:
    """Run the benchmark from a plain script (``python -m inseason.bench.predict``) and print JSON."""
    print(json.dumps(bench_predict(), indent=1))


if __name__ == "__main__":
    main()
