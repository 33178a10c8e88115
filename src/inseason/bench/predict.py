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
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import rasterio
from pyproj import Transformer
from shapely.geometry import Polygon

from inseason.config import check_workers
from inseason.data import FeatureConfig, InputSpec, Normalization, feature_names
from inseason.data.adapters import AdapterConfig
from inseason.errors import InputError
from inseason.extract.scenes import find_scenes
from inseason.labels import cdl_class
from inseason.models import create_model, model_info, model_spec
from inseason.predict.maps import predict_map
from inseason.predict.read import BlockCache, MapGrid, check_block_size, map_grid, plan_blocks, read_block, scene_refs
from inseason.sources.aoi import read_aoi
from inseason.sources.stac import scene_record
from inseason.synth import load_world, synth
from inseason.tables import S2_BANDS, SCENE_MANIFEST
from inseason.testing.http_files import RangeFileServer
from inseason.testing.real_layout import BAND_RESOLUTION, REAL_BLOCK, REAL_ORIGIN, REAL_SIZE_10M, write_scene
from inseason.train import TRAIN_PRESETS, LabelClass, Predictor, load_bundle, write_bundle

__all__ = ["AMPLIFICATION_BANDS", "bench_networks", "bench_predict", "bench_read_amplification"]

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


def untrained_bundle(network: str, out: Path, *, seed: int) -> Path:
    """An untrained bundle of ``network`` with its training preset's adapter and features.

    Args:
        network: a training preset's name (``arset``, ``tempcnn``...).
        out: the bundle folder to write.
        seed: the seed of the random weights.

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
        preset["model"]["name"], n_bands=len(channels), n_steps=adapter.n_steps, n_classes=len(_CODES), seed=seed
    )
    classes = [LabelClass(name=cdl_class(c).name, codes=(c,), color=cdl_class(c).color) for c in _CODES]
    write_bundle(
        out,
        network=model,
        model_spec=model_spec(model),
        spec=spec,
        bands=S2_BANDS,
        classes=classes,
        prior=np.full(len(_CODES), 1 / len(_CODES), np.float32),
        season_start="01-01",
        fingerprint="bench",
        metrics={},
        config={"benchmark": network},
    )
    return out


def bench_predict(
    *,
    networks: Sequence[str] = ("arset", "tempcnn"),
    world: str | Path | None = None,
    size: str = "tiny",
    as_of: dt.date | None = None,
    block_size: int = 256,
    workers: int = 1,
    seed: int = 1,
    quiet: bool = True,
    read_scenes: int = 2,
    read_bands: Sequence[str] = AMPLIFICATION_BANDS,
) -> dict[str, Any]:
    """Measure end-to-end and model-only map pixels per second for each network, and the reader's bytes.

    The bytes the map reader fetches are measured on COGs with the real L2A layout
    (`bench_read_amplification`), with and without the block cache.

    Args:
        networks: the training presets whose networks are measured.
        world: a world made by ``inseason synth`` to reuse (None: make one of ``size`` in a temporary folder).
        size: the size of the world to make.
        as_of: the map's as-of date (None: 1 August of the world's last year).
        block_size: the map's block side, pixels.
        workers: the map run's processes.
        seed: the world's and the weights' seed.
        quiet: hide the progress bars.
        read_scenes: scenes of the read-amplification measurement.
        read_bands: bands of the read-amplification measurement (SCL is read too).

    Returns:
        The world (size, year, as-of date, scenes, grid), the block size and workers, each network's pixels,
        seconds and rates, each network's ``end_to_end_over_model_only``, ``read_amplification`` (bytes read
        ÷ bytes of the COG blocks the AOI touches, real layout; target at most 1.1) and ``read`` (that
        measurement in full, with the uncached reader's side by side).

    Raises:
        InputError: an unknown network (or none), fewer than one worker, a block below 16 pixels, fewer than
            one read scene, or a ``world`` that is not a world folder; checked before any work.
    """
    networks = list(dict.fromkeys(networks))  # each network once
    _check_networks(networks)
    check_workers(workers)
    check_block_size(block_size)
    if read_scenes < 1:
        raise InputError(f"bench predict: read_scenes={read_scenes}: give at least 1 scene")
    unknown = [b for b in read_bands if b not in S2_BANDS]
    if unknown or not read_bands:
        raise InputError(f"bench predict: read bands {unknown or 'none'}: use L2A bands ({', '.join(S2_BANDS)})")
    given = load_world(world)[0] if world is not None else None  # a folder without a world: refused first
    with tempfile.TemporaryDirectory(prefix="inseason-bench-predict-") as tmp:
        root = Path(tmp)
        world = Path(world) if world is not None else synth(root / "world", size=size, seed=seed, quiet=quiet).path
        info = given if given is not None else load_world(world)[0]
        year = max(info["years"])
        date = as_of or dt.date(year, 8, 1)
        aoi = read_aoi(world / "aoi.geojson")
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
            )
            end_to_end = time.perf_counter() - started
            pixels = run.mapped_pixels[date.isoformat()]
            predictor = Predictor(bundle, batch_size=4096)
            started = time.perf_counter()
            for store in stores:
                rows = np.flatnonzero(store.counts > 0)
                if rows.size:
                    predictor.predict_proba(store, as_of=day, rows=rows)
            model_only = time.perf_counter() - started
            e2e_rate, model_rate = pixels / end_to_end, pixels / model_only
            results[network] = {
                "pixels": pixels,
                "end_to_end_s": round(end_to_end, 3),
                "model_only_s": round(model_only, 3),
                "end_to_end_pixels_per_s": round(e2e_rate, 1),
                "model_only_pixels_per_s": round(model_rate, 1),
                "end_to_end_over_model_only": round(e2e_rate / model_rate, 3),
            }
    read = bench_read_amplification(scenes=read_scenes, bands=read_bands, block_size=block_size)
    return {
        "world": {
            "size": info["size"],
            "year": year,
            "as_of": date.isoformat(),
            "scenes": len(refs),
            "grid": [grid.height, grid.width],
        },
        "block_size": block_size,
        "workers": workers,
        "networks": results,
        "end_to_end_over_model_only": {n: r["end_to_end_over_model_only"] for n, r in results.items()},
        "read_amplification": read["read_amplification"],
        "read": read,
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


def bench_read_amplification(
    *,
    scenes: int = 2,
    bands: Sequence[str] = AMPLIFICATION_BANDS,
    size_10m: int = REAL_SIZE_10M,
    block_size: int = 256,
    uncached: bool = True,
) -> dict[str, Any]:
    """Bytes the map reader fetches ÷ bytes of the COG blocks the AOI touches, on COGs with the real layout.

    ``scenes`` scenes are written with the real L2A layout (`inseason.testing.real_layout`: 10 980 px at
    10 m, 1 024-px blocks, deflate with predictor 2, overviews) in a temporary folder and served over a
    loopback HTTP server with Range requests, which counts the bytes it sends. The map reader then reads a
    15 km × 10 km AOI block by block, as ``predict`` does with one worker, through a fresh block cache
    (`inseason.predict.read.BlockCache`); with ``uncached``, once more without one (the reader before the
    cache: every map block fetches the COG blocks under it again), from a second server so that GDAL's own
    caches start empty.

    Args:
        scenes: scenes (dates) to write and read.
        bands: the bands read (SCL is read too).
        size_10m: the tiles' side at 10 m, pixels (10 980: real).
        block_size: the map's block side, pixels.
        uncached: also measure the reader without a block cache.

    Returns:
        ``read_amplification`` (bytes sent ÷ bytes of the touched blocks; the target is at most 1.1),
        ``decoded_blocks`` and ``touched_blocks``, the bytes, and with ``uncached`` the same for the
        uncached reader and ``uncached_over_cached`` (their ratio of bytes).

    Raises:
        InputError: fewer than one scene, or a block below 16 pixels.
    """
    if scenes < 1:
        raise InputError(f"bench predict: scenes={scenes}: give at least 1 scene")
    if not bands or any(b not in S2_BANDS for b in bands):
        raise InputError(f"bench predict: read bands {list(bands)}: use L2A bands ({', '.join(S2_BANDS)})")
    check_block_size(block_size)
    left, bottom, right, top = _BENCH_AOI_UTM
    to_lonlat = Transformer.from_crs(_BENCH_EPSG, 4326, always_xy=True)
    aoi = Polygon([to_lonlat.transform(x, y) for x, y in ((left, bottom), (right, bottom), (right, top), (left, top))])
    with tempfile.TemporaryDirectory(prefix="inseason-bench-read-") as tmp:
        root = Path(tmp)
        written = [
            write_scene(
                root,
                _bench_values,
                date=dt.date(2024, 6, 1) + dt.timedelta(days=5 * k),
                epsg=_BENCH_EPSG,
                bands=(*dict.fromkeys(bands), "SCL"),
                size_10m=size_10m,
            )
            for k in range(scenes)
        ]
        result: dict[str, Any] = {"scenes": scenes, "bands": [*dict.fromkeys(bands), "SCL"], "size_10m": size_10m}
        sides = {"cached": BlockCache()} | ({"uncached": BlockCache(0)} if uncached else {})
        for side, cache in sides.items():
            with RangeFileServer(root) as server:
                rows = []
                for scene in written:
                    row = scene_record(scene.item).row(1.0)
                    row["hrefs"] = [(band, server.url_for(path)) for band, path in scene.paths.items()]
                    rows.append(row)
                table = pa.Table.from_pylist(rows, schema=SCENE_MANIFEST)
                refs = scene_refs(table, since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
                grid = map_grid(aoi, refs)
                server.reset_stats()
                for block in plan_blocks(grid, aoi, block_size=block_size):
                    read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=bands, cache=cache)
                sent = server.stats().bytes_sent
            touched = [_touched_bytes(path, grid) for scene in written for path in scene.paths.values()]
            touched_bytes, touched_blocks = sum(t[0] for t in touched), sum(t[1] for t in touched)
            prefix = "" if side == "cached" else "uncached_"
            result[f"{prefix}read_amplification"] = round(sent / touched_bytes, 3)
            result[f"{prefix}bytes_read"] = sent
            result[f"{prefix}decoded_blocks"] = cache.decoded
            result[f"{prefix}decode_amplification"] = round(cache.decoded / touched_blocks, 3)
            result["touched_bytes"], result["touched_blocks"] = touched_bytes, touched_blocks
        result["grid"] = [grid.height, grid.width]
        if uncached:
            result["uncached_over_cached"] = round(
                result["uncached_read_amplification"] / result["read_amplification"], 2
            )
    return result


def main() -> None:
    """Run the benchmark from a plain script (``python -m inseason.bench.predict``) and print JSON."""
    print(json.dumps(bench_predict(), indent=1))


if __name__ == "__main__":
    main()
