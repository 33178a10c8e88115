"""`sample_scene` on crafted rasters whose every pixel encodes its own band, row and column.

Each band's value at (row, col) of its own grid is ``2500 * band_index + row * 48 + col + 1``, so a value
read on the wrong grid, from the wrong block, or from the wrong band is caught exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from inseason.errors import RemoteError
from inseason.extract.sample import SceneTask, read_again, sample_scene
from inseason.synth.grid import BAND_RES
from inseason.tables import OBSERVATIONS, S2_BANDS

EPSG = 32615
LEFT, TOP = 500_000.0, 4_000_000.0
EXTENT_M = 480  # 48 px at 10 m, 24 at 20 m, 8 at 60 m; 16 px blocks leave partial blocks at 20 and 60 m
RES = BAND_RES  # the synthetic world's Sentinel-2 band resolutions (10, 20 and 60 m)
CLOUD_ROW_COL = (5, 7)  # a 20 m SCL pixel flagged cloud high (9)
SHADOW_ROW_COL = (6, 7)  # cloud shadow (3): kept by default
NODATA_B01 = (0, 2)  # a 60 m B01 pixel with nodata


def encoded(band: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return 2500 * S2_BANDS.index(band) + rows * 48 + cols + 1


def write_band(path: Path, band: str, *, crs: int = EPSG) -> None:
    res = RES[band]
    n = EXTENT_M // res
    rows, cols = np.mgrid[0:n, 0:n]
    if band == "SCL":
        data = np.full((n, n), 4, np.uint8)
        data[CLOUD_ROW_COL] = 9
        data[SHADOW_ROW_COL] = 3
    else:
        data = encoded(band, rows, cols).astype(np.uint16)
        if band == "B01":
            data[NODATA_B01] = 0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype=data.dtype,
        crs=f"EPSG:{crs}",
        transform=Affine(res, 0, LEFT, 0, -res, TOP),
        nodata=0,
        tiled=True,
        blockxsize=16,
        blockysize=16,
        compress="deflate",
    ) as ds:
        ds.write(data, 1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("crafted")
    for band in RES:
        write_band(root / f"{band}.tif", band)
    return {band: str(root / f"{band}.tif") for band in RES}


def task(hrefs: dict[str, str], *, boa_offset: int = 0, epsg: int = EPSG) -> SceneTask:
    return SceneTask(
        scene_id="S2X_TEST_20220601_0_L2A",
        date=dt.date(2022, 6, 1),
        tile="00TST",
        year=2022,
        boa_offset=boa_offset,
        epsg=epsg,
        hrefs=hrefs,
    )


def centre(res: int, row: int, col: int) -> tuple[float, float]:
    return LEFT + (col + 0.5) * res, TOP - (row + 0.5) * res


def grid_index(res: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.floor((TOP - y) / res).astype(int), np.floor((x - LEFT) / res).astype(int)


def test_each_band_is_read_on_its_own_grid_with_the_offset_removed(scene: dict[str, str]) -> None:
    rng = np.random.default_rng(0)
    dropped = [centre(20, *CLOUD_ROW_COL), centre(60, *NODATA_B01), centre(20, *SHADOW_ROW_COL)]
    x = np.concatenate([[p[0] for p in dropped], LEFT + rng.uniform(0, EXTENT_M, 400)])
    y = np.concatenate([[p[1] for p in dropped], TOP - rng.uniform(0, EXTENT_M, 400)])
    ids = np.arange(len(x), dtype=np.int64) + 1000
    result = sample_scene(task(scene, boa_offset=-1000), ids, x, y)
    assert result.skipped is None and result.table is not None
    table = result.table
    assert table.schema.equals(OBSERVATIONS)
    got = table.to_pydict()
    index = {pid: i for i, pid in enumerate(ids)}
    rows = [index[p] for p in got["point_id"]]

    scl_r, scl_c = grid_index(20, x, y)
    b01_r, b01_c = grid_index(60, x, y)
    masked = (scl_r == CLOUD_ROW_COL[0]) & (scl_c == CLOUD_ROW_COL[1])
    nodata = (b01_r == NODATA_B01[0]) & (b01_c == NODATA_B01[1])
    assert masked.any() and nodata.any()
    assert sorted(got["point_id"]) == sorted(ids[~masked & ~nodata].tolist())
    for band in S2_BANDS:
        r, c = grid_index(RES[band], x[rows], y[rows])
        np.testing.assert_array_equal(got[band], encoded(band, r, c) - 1000, err_msg=band)
    np.testing.assert_array_equal(
        got["scl"], np.where((scl_r == SHADOW_ROW_COL[0]) & (scl_c == SHADOW_ROW_COL[1]), 3, 4)[rows]
    )
    assert set(got["scene_id"]) == {"S2X_TEST_20220601_0_L2A"} and set(got["tile"]) == {"00TST"}
    assert set(got["date"]) == {dt.date(2022, 6, 1)}


def test_a_custom_mask_also_drops_shadow(scene: dict[str, str]) -> None:
    xs, ys = zip(*[centre(20, *SHADOW_ROW_COL), centre(20, *CLOUD_ROW_COL), centre(20, 10, 10)])
    ids = np.array([1, 2, 3], np.int64)
    default = sample_scene(task(scene), ids, np.array(xs), np.array(ys)).table
    custom = sample_scene(task(scene), ids, np.array(xs), np.array(ys), scl_mask=(0, 1, 3, 7, 8, 9, 10, 11)).table
    assert default is not None and custom is not None
    assert default.column("point_id").to_pylist() == [1, 3]
    assert default.column("scl").to_pylist() == [3, 4]
    assert custom.column("point_id").to_pylist() == [3]


def test_only_the_blocks_holding_points_are_read(scene: dict[str, str]) -> None:
    # three points inside the first 16 × 16 block of the 10 m grid (which nests in block 0 of every grid)
    x = np.array([LEFT + 15, LEFT + 75, LEFT + 155])
    y = np.array([TOP - 15, TOP - 95, TOP - 155])
    one_block = sample_scene(task(scene), np.arange(3), x, y)
    assert one_block.blocks_read == len(RES)  # one block per file
    spread = sample_scene(task(scene), np.arange(3), x + np.array([0, 150, 300]), y - np.array([0, 150, 300]))
    assert spread.blocks_read == 4 * 3 + 6 * 2 + 1 * 2 + 2  # 10 m: 3 blocks each, 20 m: 2, 60 m: 1, SCL: 2
    assert spread.table is not None and spread.table.num_rows == 3
    assert spread.bytes_read > one_block.bytes_read > 0


def test_points_outside_the_scene_give_no_observation(scene: dict[str, str]) -> None:
    x = np.array([LEFT - 5, LEFT + 5, LEFT + EXTENT_M + 5])
    y = np.array([TOP - 5, TOP + 5, TOP - 5])
    result = sample_scene(task(scene), np.arange(3), x, y)
    assert result.skipped is None and result.table is not None and result.table.num_rows == 0


def test_unreadable_or_foreign_bands_skip_the_scene_with_a_reason(scene: dict[str, str], tmp_path: Path) -> None:
    x, y = np.array([LEFT + EXTENT_M - 5]), np.array([TOP - EXTENT_M + 5])  # in the last block of every file
    truncated = tmp_path / "B04.tif"
    data = Path(scene["B04"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    result = sample_scene(task({**scene, "B04": str(truncated)}), np.arange(1), x, y)
    assert result.table is None
    assert result.skipped is not None and result.skipped.startswith(f"B04 unreadable ({truncated})")

    missing = sample_scene(task({**scene, "B11": str(tmp_path / "nowhere.tif")}), np.arange(1), x, y)
    assert missing.skipped is not None and "B11 unreadable" in missing.skipped and "nowhere.tif" in missing.skipped

    no_asset = sample_scene(task({k: v for k, v in scene.items() if k != "B8A"}), np.arange(1), x, y)
    assert no_asset.skipped == "no B8A asset"

    foreign = tmp_path / "B02.tif"
    write_band(foreign, "B02", crs=32616)
    other_crs = sample_scene(task({**scene, "B02": str(foreign)}), np.arange(1), x, y)
    assert other_crs.skipped is not None and "EPSG:32616" in other_crs.skipped and "not EPSG:32615" in other_crs.skipped


def test_read_again_waits_longer_each_time_and_reads_fresh() -> None:
    calls: list[bool] = []

    def flaky(fresh: bool) -> str:
        calls.append(fresh)
        if len(calls) <= 3:
            raise RemoteError(f"cannot read http://host/B04.tif (try {len(calls)})")
        return "pixels"

    waits: list[float] = []
    assert read_again(flaky, retries=4, backoff=0.5, what="B04 of scene S", sleep=waits.append) == ("pixels", 3)
    assert waits == [0.5, 1.0, 2.0] and calls == [False, True, True, True]
    calls.clear()
    with pytest.raises(RemoteError) as info:
        read_again(flaky, retries=2, backoff=0.0, what="B04 of scene S", sleep=waits.append)
    assert str(info.value) == (
        "B04 of scene S: cannot read http://host/B04.tif (try 3) (failed 3 times): check the connection and the "
        "scene server, then run again with the same options to resume"
    )
