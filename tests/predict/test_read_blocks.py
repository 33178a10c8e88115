"""The map reader fetches and decodes every internal block of a COG once, through its block cache.

The scenes are COGs with the real L2A layout (1 024-px blocks, deflate with predictor 2, overviews) on smaller
tiles, served over a loopback HTTP server that counts the bytes it sends; map blocks are 128 px, so one 10 m
COG block lies under up to 64 of them (256 at 20 m).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rasterio
from pyproj import Transformer
from shapely.geometry import Polygon

from inseason.errors import OutputError
from inseason.predict.read import (
    BLOCK_CACHE_DIR_ENV,
    BlockCache,
    BlockSeries,
    _file_key,
    block_cache,
    job_block_folder,
    map_grid,
    plan_blocks,
    read_block,
    scene_refs,
)
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


# --- the job folder: a season of scenes, a small memory bound, several worker processes ---------------------

SEASON = 8  # scenes: hard links to the two written scenes' files under different paths (each its own href)
SMALL = 4 * 2**20  # 2 blocks of 1 024 x 1 024 uint16: far fewer than one map block's cycle (8 scenes x 5 files)


def season(folder: Path, written: list[RealScene], root: Path) -> tuple[list[dict], int, int]:
    """SEASON scenes made of hard links (under ``root``, inside the served ``folder``): rows, touched bytes, blocks."""
    rows = []
    for k in range(SEASON):
        scene = written[k % 2]
        copy = root / f"copy-{k:02d}"
        copy.mkdir(parents=True)
        paths = {}
        for band, path in scene.paths.items():
            paths[band] = copy / path.name
            os.link(path, paths[band])
        row = scene_record(scene.item).row(1.0)
        row.update(scene_id=f"{scene.scene_id}-{k:02d}", date=dt.date(2024, 4, 1) + dt.timedelta(days=5 * k))
        rows.append({**row, "paths": paths})
    touched_bytes, touched_blocks = touched(written)
    return rows, touched_bytes * SEASON // 2, touched_blocks * SEASON // 2


def season_table(rows: list[dict], href) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {**{k: v for k, v in row.items() if k != "paths"}, "hrefs": [(b, href(p)) for b, p in row["paths"].items()]}
            for row in rows
        ],
        schema=SCENE_MANIFEST,
    )


def read_share(job: tuple) -> tuple[list[BlockSeries], dict[str, int]]:
    """A worker process: read every ``workers``-th map block from ``first`` through its own cache on ``folder``."""
    table, first, workers, folder = job
    cache = BlockCache(SMALL, folder=folder)
    aoi = lonlat_aoi()
    refs = scene_refs(table, since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    grid = map_grid(aoi, refs)
    blocks = plan_blocks(grid, aoi, block_size=128)[first::workers]
    series = [read_block(b, grid=grid, scenes=refs, aoi=aoi, bands=BANDS, cache=cache) for b in blocks]
    counts = {"decoded": cache.decoded, "disk_hits": cache.disk_hits, "waits": cache.waits}
    return series, counts


@pytest.fixture(scope="module")
def season_rows(scenes, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], int, int, list[BlockSeries]]:
    folder, written = scenes
    rows, touched_bytes, touched_blocks = season(folder, written, folder / "season")
    reference = read_all(season_table(rows, str), BlockCache())  # local files, a cache that holds them all
    return rows, touched_bytes, touched_blocks, reference


def test_a_season_beyond_memory_fetches_each_cog_block_once_through_the_job_folder(scenes, season_rows) -> None:
    folder, _ = scenes
    rows, touched_bytes, touched_blocks, reference = season_rows
    with job_block_folder() as shared, RangeFileServer(folder) as server:
        cache = BlockCache(SMALL, folder=shared)
        series = read_all(season_table(rows, server.url_for), cache)
        sent = server.stats().bytes_sent
        files = list(shared.glob("*.npy"))
        assert len(files) == touched_blocks and not list(shared.glob("*.claim")) and not list(shared.glob("*.tmp"))
        assert sum(f.stat().st_size for f in files) >= cache.disk_bytes > touched_blocks * 2**20 * 0.9
    assert not shared.exists()
    same(series, reference)
    assert cache.decoded == cache.disk_writes == touched_blocks  # every COG block once, though memory held 2
    assert touched_bytes <= sent <= 1.1 * touched_bytes
    assert cache.disk_hits > 5 * touched_blocks and cache.nbytes <= SMALL
    # the same memory bound without the folder: blocks decoded and fetched again for every map block
    with RangeFileServer(folder) as server:
        alone = BlockCache(SMALL)
        again = read_all(season_table(rows[:4], server.url_for), alone)  # 4 scenes keep it cheap
        sent_alone = server.stats().bytes_sent
    assert len(again) == len(series)
    assert alone.decoded > 5 * touched_blocks * 4 // SEASON and sent_alone > 3 * touched_bytes * 4 // SEASON


def test_two_worker_processes_sharing_the_folder_fetch_each_block_once_between_them(scenes, season_rows) -> None:
    folder, _ = scenes
    rows, touched_bytes, touched_blocks, reference = season_rows
    with job_block_folder() as shared, RangeFileServer(folder) as server:
        table = season_table(rows, server.url_for)
        # neighbouring map blocks to different processes, as the map run's pool hands them out
        with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
            (first, a), (second, b) = pool.map(read_share, [(table, 0, 2, str(shared)), (table, 1, 2, str(shared))])
        sent = server.stats().bytes_sent
    merged = [s for pair in zip(first, second) for s in pair] + first[len(second) :]
    same(merged, reference)
    assert a["decoded"] + b["decoded"] == touched_blocks  # each block decoded by one of them
    assert a["disk_hits"] > 0 and b["disk_hits"] > 0  # (which of them decodes a block depends on their pace)
    assert touched_bytes <= sent <= 1.1 * touched_bytes


def test_a_claim_whose_worker_has_ended_or_never_finishes_is_fetched_anyway(scenes, tmp_path: Path) -> None:
    _, written = scenes
    table = manifest(written[:1], str)
    aoi = lonlat_aoi()
    refs = scene_refs(table, since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    grid = map_grid(aoi, refs)
    block = plan_blocks(grid, aoi, block_size=128)[0]
    expected = read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=BANDS, cache=BlockCache(0))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    for owner, wait in ((ended.stdout.decode().strip(), 30.0), (str(os.getpid()), 0.2)):
        folder = tmp_path / f"claims-{owner}"
        folder.mkdir()
        cache = BlockCache(0, folder=folder, claim_wait=wait)
        probe = BlockCache(0, folder=folder)
        keys = []
        for band in (*BANDS, "SCL"):  # claim every block the map block needs, as a worker that stopped would
            file = _file_key(refs[0].hrefs[band])
            keys += [(file, 0, r, c) for r in range(3) for c in range(3)]
        for key in keys:
            (probe._path(key).with_suffix(".claim")).write_text(owner)
        series = read_block(block, grid=grid, scenes=refs, aoi=aoi, bands=BANDS, cache=cache)
        same([series], [expected])
        assert cache.decoded > 0 and cache.waits == 0
        assert all(p.read_text() == owner for p in folder.glob("*.claim"))  # others' claims are left alone


def test_the_job_folder_goes_where_asked_and_is_removed_also_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BLOCK_CACHE_DIR_ENV, str(tmp_path / "scratch"))
    # a run killed by SIGKILL leaves its folder: the next job removes it, never a running job's
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    left = tmp_path / "scratch" / f"inseason-blocks-{ended.stdout.decode().strip()}-x1"
    running = tmp_path / "scratch" / f"inseason-blocks-{os.getpid()}-x2"
    for folder in (left, running):
        folder.mkdir(parents=True)
        (folder / "a.npy").write_bytes(b"1")
    with job_block_folder() as folder:
        assert folder.is_dir() and not left.exists() and running.is_dir()
    running.joinpath("a.npy").unlink()
    running.rmdir()
    made: list[Path] = []

    def failing_run() -> None:
        with job_block_folder() as folder:
            made.append(folder)
            block_cache().use_folder(folder)
            (folder / "x.npy").write_bytes(b"1")
            raise RuntimeError("a failed run")

    with pytest.raises(RuntimeError, match="a failed run"):
        failing_run()
    assert made[0].parent == tmp_path / "scratch" and not made[0].exists()
    assert list((tmp_path / "scratch").iterdir()) == [] and block_cache().folder is None
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(BLOCK_CACHE_DIR_ENV, str(tmp_path / "file"))
    with (
        pytest.raises(OutputError, match=f"set \\${BLOCK_CACHE_DIR_ENV} to a writable local folder"),
        job_block_folder(),
    ):
        pass
