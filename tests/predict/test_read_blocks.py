"""The map reader fetches and decodes every internal block of a COG once, through its block cache.

The scenes are COGs with the real L2A layout (1 024-px blocks, deflate with predictor 2, overviews) on smaller
tiles, served over a loopback HTTP server that counts the bytes it sends; map blocks are 128 px, so one 10 m
COG block lies under up to 64 of them (256 at 20 m).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rasterio
from pyproj import Transformer
from shapely.geometry import Polygon

from inseason.predict.read import BlockCache, BlockSeries, map_grid, plan_blocks, read_block, scene_refs
from inseason.sources.stac import scene_record
from inseason.tables import SCENE_MANIFEST
from inseason.testing.faults import FaultProxy
from inseason.testing.http_files import RangeFileServer
from inseason.testing.real_layout import REAL_ORIGIN, RealScene, write_scene

EPSG = 32614
SIZE_10M = 2400  # 24 km tiles: 3 x 3 blocks of 1 024 px at 10 m, 2 x 2 at 20 m, 1 at 60 m
BANDS = ("B02", "B04", "B11", "B01")
# 12 km x 9 km from 5 km inside the tile: across the 10 m blocks' edges (10 240 m, 20 480 m from the corner)
LEFT, TOP = REAL_ORIGIN[0] + 5_000, REAL_ORIGIN[1] - 5_000
AOI_UTM = (LEFT, TOP - 9_000, LEFT + 12_000, TOP)


def noisy(band: str):
    """Values that differ from pixel to pixel and compress like reflectance (SCL: vegetation or cloud)."""

    def make(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        h = (rows.astype(np.uint64) * np.uint64(73_856_093)) ^ (cols.astype(np.uint64) * np.uint64(19_349_663))
        if band == "SCL":
            return np.where(h % 10 == 0, 9, 4)  # 10% cloud (masked)
        return 500 + h % 2_000

    return make


def lonlat_aoi() -> Polygon:
    left, bottom, right, top = AOI_UTM
    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    return Polygon([to_lonlat.transform(x, y) for x, y in ((left, bottom), (right, bottom), (right, top), (left, top))])


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RealScene]]:
    folder = tmp_path_factory.mktemp("real-layout")
    written = [
        write_scene(
            folder,
            noisy,
            date=dt.date(2024, 5, 1) + dt.timedelta(days=10 * k),
            epsg=EPSG,
            bands=(*BANDS, "SCL"),
            size_10m=SIZE_10M,
        )
        for k in range(2)
    ]
    return folder, written


def manifest(written: list[RealScene], href) -> pa.Table:
    rows = []
    for scene in written:
        row = scene_record(scene.item).row(1.0)
        row["hrefs"] = [(band, href(path)) for band, path in scene.paths.items()]
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SCENE_MANIFEST)


def read_all(table: pa.Table, cache: BlockCache, **options) -> list[BlockSeries]:
    aoi = lonlat_aoi()
    refs = scene_refs(table, since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    grid = map_grid(aoi, refs)
    return [
        read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=BANDS, cache=cache, **options)
        for block in plan_blocks(grid, aoi, block_size=128)
    ]


def touched(written: list[RealScene]) -> tuple[int, int]:
    """Compressed bytes and number of the full-resolution blocks under the AOI's bounding box, every file."""
    total = count = 0
    left, bottom, right, top = AOI_UTM
    for scene in written:
        for path in scene.paths.values():
            with rasterio.open(path) as ds:
                r0, c0 = ds.index(left, top)
                r1, c1 = ds.index(right - 1e-6, bottom + 1e-6)
                bh, bw = ds.block_shapes[0]
                for i in range(r0 // bh, r1 // bh + 1):
                    for j in range(c0 // bw, c1 // bw + 1):
                        total += ds.block_size(1, i, j)
                        count += 1
    return total, count


def same(a: list[BlockSeries], b: list[BlockSeries]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for name in ("pixels", "values", "days", "scl", "offsets"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert x.skipped == y.skipped == ()


def test_each_cog_block_is_fetched_and_decoded_once(scenes) -> None:
    folder, written = scenes
    touched_bytes, touched_blocks = touched(written)
    with RangeFileServer(folder) as server:
        cache = BlockCache()
        series = read_all(manifest(written, server.url_for), cache)
        sent = server.stats().bytes_sent
    assert len(series) > 40 and sum(s.counts.sum() for s in series) > 0
    assert cache.decoded == touched_blocks  # every block under the AOI once, no other
    assert touched_bytes <= sent <= 1.1 * touched_bytes
    assert cache.hits > 10 * cache.decoded
    # the same reads without a cache: identical series, every block fetched and decoded once per map block
    with RangeFileServer(folder) as server:
        uncached = BlockCache(0)
        again = read_all(manifest(written, server.url_for), uncached)
        sent_uncached = server.stats().bytes_sent
    same(series, again)
    assert uncached.decoded > 8 * touched_blocks and len(uncached) == 0
    assert sent_uncached > 1.5 * sent


def test_a_small_cache_holds_its_bound_and_reads_the_same(scenes) -> None:
    _, written = scenes
    reference = read_all(manifest(written, str), BlockCache())
    bound = 12 * 2**20  # 6 blocks of 1 024 x 1 024 uint16: fewer than the AOI's
    small = BlockCache(bound)
    peak = 0
    aoi = lonlat_aoi()
    refs = scene_refs(manifest(written, str), since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    grid = map_grid(aoi, refs)
    series = []
    for block in plan_blocks(grid, aoi, block_size=128):
        series.append(read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=BANDS, cache=small))
        peak = max(peak, small.nbytes)
    same(series, reference)
    assert 0 < peak <= bound
    _, touched_blocks = touched(written)
    assert touched_blocks < small.decoded  # it could not hold them all: some were decoded again


def test_a_rewritten_local_file_is_read_anew(tmp_path: Path) -> None:
    def constant(value: int):
        return lambda band: lambda rows, cols: np.full((rows.shape[0], cols.shape[1]), 4 if band == "SCL" else value)

    scene = write_scene(
        tmp_path, constant(700), date=dt.date(2024, 5, 1), epsg=EPSG, bands=("B02", "SCL"), size_10m=SIZE_10M
    )
    table = manifest([scene], str)
    aoi = lonlat_aoi()
    refs = scene_refs(table, since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    grid = map_grid(aoi, refs)
    block = plan_blocks(grid, aoi, block_size=128)[0]
    cache = BlockCache()
    first = read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=("B02",), cache=cache)
    assert set(first.values[:, 0].tolist()) == {700 + refs[0].boa_offset}
    stat = os.stat(scene.paths["B02"])
    write_scene(tmp_path, constant(900), date=dt.date(2024, 5, 1), epsg=EPSG, bands=("B02",), size_10m=SIZE_10M)
    os.utime(scene.paths["B02"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a coarse clock: still newer
    second = read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=("B02",), cache=cache)
    assert set(second.values[:, 0].tolist()) == {900 + refs[0].boa_offset}


def test_bodies_cut_short_are_read_again_and_never_cached(scenes) -> None:
    folder, written = scenes
    reference = read_all(manifest(written, str), BlockCache())
    with RangeFileServer(folder) as server, FaultProxy(server.url, truncate=0.3, seed=3) as proxy:
        cache = BlockCache()
        series = read_all(manifest(written, lambda p: proxy.url_for(server.url_for(p))), cache, backoff=0.0)
        cut = proxy.stats.faults.get("truncate", 0)
    same(series, reference)
    assert cut > 0 and sum(s.retried for s in series) > 0
