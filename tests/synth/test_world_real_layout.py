"""`inseason synth --real-layout`: the scenes are real Sentinel-2 tiles holding the world's pixels.

Real L2A COGs are 10 980 x 10 980 px at 10 m (5 490 at 20 m, 1 830 at 60 m), 1 024-px blocks, DEFLATE with
predictor 2 and overviews, on a UTM grid whose upper-left corner is the MGRS square's corner rounded to 60 m
(Earth Search's 15SYS: 699960, 3700020). The real-layout world puts the same pixels as the normal world in
their place inside such a tile, nodata (0) around them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.windows import Window, from_bounds
from rio_cogeo.cogeo import cog_validate

from inseason.synth import SynthRequest, WorldSummary, synth
from inseason.synth import run_synth as real_run_synth
from inseason.synth.grid import BAND_RES
from tests.cli.helpers import run_in_process

#: Two datatakes (one per relative orbit) of the tiny world: 26 COGs of 10 980 px are enough to check.
SEASON = ("06-01", "06-05")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny world of 2022 (two datatakes) in the normal layout and, through the CLI, in the real one."""
    folder = tmp_path_factory.mktemp("real-layout")
    normal = synth(folder / "normal", size="tiny", years=(2022,), season=SEASON, workers=1, quiet=True).path
    requests: list[SynthRequest] = []

    def short_season(request: SynthRequest) -> WorldSummary:
        # the CLI has no --season: the request it built is run on the two-datatake season
        requests.append(request)
        config = request.config.model_copy(update={"season": SEASON})
        return real_run_synth(request.model_copy(update={"config": config}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("inseason.synth.run_synth", short_season)
        ran = run_in_process(
            "synth", "--size", "tiny", "--years", "2022", "--real-layout", "--workers", "1", "--json",
            "--out", str(folder / "real"),
        )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert [r.real_layout for r in requests] == [True]
    assert json.loads(ran.stdout)["real_layout"] is True
    return normal, folder / "real"


def _item(world: Path, scene_id: str) -> dict:
    return json.loads((world / "stac" / "sentinel-2-l2a" / scene_id / f"{scene_id}.json").read_text())


def _scenes(world: Path) -> list[dict]:
    return pq.read_table(world / "truth" / "scenes.parquet").to_pylist()


def _folder(world: Path, scene: dict) -> Path:
    return world / "scenes" / scene["tile"] / str(scene["date"].year) / scene["scene_id"]


def test_the_cogs_have_the_real_l2a_layout(worlds: tuple[Path, Path]) -> None:
    _, real = worlds
    scenes = _scenes(real)
    assert len(scenes) >= 2 and {s["relative_orbit"] for s in scenes} == {83, 126}
    for band, res in BAND_RES.items():
        path = _folder(real, scenes[0]) / f"{band}.tif"
        valid, errors, _ = cog_validate(path, quiet=True)
        assert valid, (band, errors)
        with rasterio.open(path) as ds:
            assert ds.shape == (109_800 // res, 109_800 // res)
            assert ds.crs.to_epsg() == 32615 and ds.res == (res, res)
            assert (ds.transform.c, ds.transform.f) == (699_960, 3_700_020)  # Earth Search's 15SYS
            assert ds.block_shapes[0] == (1024, 1024)
            assert ds.compression.name == "deflate" and ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
            assert ds.nodata == 0 and ds.dtypes[0] == ("uint8" if band == "SCL" else "uint16")
            # overviews by halving until one block holds the raster
            assert ds.overviews(1) == {10: [2, 4, 8, 16], 20: [2, 4, 8], 60: [2]}[res]


def test_the_pixels_inside_are_the_normal_worlds_and_nodata_around_them(worlds: tuple[Path, Path]) -> None:
    normal, real = worlds
    scenes = _scenes(normal)
    assert [s["scene_id"] for s in scenes] == [s["scene_id"] for s in _scenes(real)]
    for scene in scenes:
        for band in ("B02", "B8A", "B09", "SCL"):
            with (
                rasterio.open(_folder(normal, scene) / f"{band}.tif") as small,
                rasterio.open(_folder(real, scene) / f"{band}.tif") as big,
            ):
                inside = from_bounds(*small.bounds, transform=big.transform).round_offsets().round_lengths()
                expected = small.read(1)
                assert (expected > 0).mean() > 0.3  # the world's pixels, not a window of nodata
                np.testing.assert_array_equal(big.read(1, window=inside), expected)
                # a ring of two blocks around the world: nodata only
                ring = Window(inside.col_off - 2048, inside.row_off - 2048, inside.width + 4096, inside.height + 4096)
                ring = ring.intersection(Window(0, 0, big.width, big.height))
                around = big.read(1, window=ring)
                r0, c0 = int(inside.row_off - ring.row_off), int(inside.col_off - ring.col_off)
                around[r0 : r0 + inside.height, c0 : c0 + inside.width] = 0
                assert not around.any()
                # the whole raster from its coarsest overview: data only where the world is
                coarse = big.read(1, out_shape=(big.height // 16 or 1, big.width // 16 or 1))
                assert 0 < (coarse > 0).mean() < 0.002


def test_items_describe_the_real_tiles(worlds: tuple[Path, Path]) -> None:
    normal, real = worlds
    info = json.loads((real / "world.json").read_text())
    assert info["real_layout"] is True
    assert info["tiles"][0]["cog_bounds"] == [699_960, 3_590_220, 809_760, 3_700_020]
    assert json.loads((normal / "world.json").read_text())["tiles"][0]["cog_bounds"] == info["tiles"][0]["bounds"]
    for scene in _scenes(real):
        item, normal_item = _item(real, scene["scene_id"]), _item(normal, scene["scene_id"])
        assert item["assets"]["red"]["proj:shape"] == [10_980, 10_980]
        assert item["assets"]["scl"]["proj:shape"] == [5_490, 5_490]
        assert item["assets"]["coastal"]["proj:transform"] == [60, 0, 699_960, 0, -60, 3_700_020]
        assert item["geometry"] == normal_item["geometry"]  # the footprint is where the data is
        # the share of nodata is the whole tile's: the world's 2.4 km tile is 0.05 % of it
        assert 99.9 < item["properties"]["s2:nodata_pixel_percentage"] < 100
