"""testing.real_layout: band COGs with the layout of real L2A files, and their Earth Search v1 item."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import rasterio

from inseason.sources.stac import band_hrefs, scene_record
from inseason.testing.real_layout import (
    ASSET_KEYS,
    REAL_BLOCK,
    band_size,
    band_transform,
    scene_values,
    write_band,
    write_scene,
)


def test_a_10m_band_has_the_real_size_blocks_compression_and_overviews(tmp_path):
    path = write_band(tmp_path / "B02.tif", lambda r, c: 1000 + (r * 7 + c * 3) % 500, band="B02", epsg=32614)
    with rasterio.open(path) as ds:
        assert (ds.width, ds.height) == (10_980, 10_980)
        assert ds.block_shapes == [(1024, 1024)]
        assert ds.dtypes == ("uint16",) and ds.nodata == 0
        assert ds.crs.to_epsg() == 32614
        assert ds.transform == rasterio.Affine(10, 0, 600_000, 0, -10, 4_200_000)
        structure = ds.tags(ns="IMAGE_STRUCTURE")
        assert structure["LAYOUT"] == "COG"
        assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "2"
        assert ds.overviews(1) == [2, 4, 8, 16]
        # values are the function of (row, col), across block edges and at the far corner
        window = ds.read(1, window=((1020, 1030), (10_970, 10_980)))
        rows, cols = np.mgrid[1020:1030, 10_970:10_980]
        np.testing.assert_array_equal(window, 1000 + (rows * 7 + cols * 3) % 500)


@pytest.mark.parametrize(("band", "side", "res"), [("B02", 10_980, 10), ("SCL", 5_490, 20), ("B01", 1_830, 60)])
def test_band_sizes_and_transforms_follow_the_resolution(band, side, res):
    assert band_size(band) == side
    assert band_transform(band, (300_000.0, 5_000_040.0)) == rasterio.Affine(res, 0, 300_000, 0, -res, 5_000_040)


def test_bad_sizes_bands_and_patterns_are_refused(tmp_path):
    with pytest.raises(ValueError, match="multiple of 6"):
        band_size("B02", 1000)
    with pytest.raises(ValueError, match="unknown band"):
        band_size("B13")
    with pytest.raises(ValueError, match="2-D"):
        write_band(tmp_path / "x.tif", np.arange(3), band="B02", epsg=32614, size_10m=60)


def test_a_small_pattern_is_tiled_and_scl_is_uint8_with_nearest_overviews(tmp_path):
    pattern = np.array([[4, 5], [8, 4]], np.uint8)
    path = write_band(tmp_path / "SCL.tif", pattern, band="SCL", epsg=32615, size_10m=2052)
    with rasterio.open(path) as ds:
        assert (ds.width, ds.dtypes[0], ds.block_shapes[0]) == (1026, "uint8", (REAL_BLOCK, REAL_BLOCK))
        data = ds.read(1)
        rows, cols = np.mgrid[0:1026, 0:1026]
        np.testing.assert_array_equal(data, pattern[rows % 2, cols % 2])
        overview = ds.read(1, out_shape=(513, 513))  # nearest: classes stay classes
        assert set(np.unique(overview)) <= {4, 5, 8}


def test_a_scene_gets_an_earth_search_item_the_project_parses(tmp_path):
    scene = write_scene(
        tmp_path,
        scene_values({"B02": 1200, "B04": 900, "B08": 3000}, scl=4),
        date=dt.date(2024, 6, 3),
        epsg=32614,
        bands=("B02", "B04", "B08", "SCL"),
        size_10m=1098 + 6,
        href_base="http://127.0.0.1:9/cogs",
    )
    item = json.loads(json.dumps(scene.item))  # JSON-ready
    assert item["id"] == "S2A_14SKB_20240603_0_L2A" == scene.scene_id
    assert set(item["assets"]) == {"blue", "red", "nir", "scl"}
    assert item["assets"]["scl"]["proj:shape"] == [552, 552]
    assert item["assets"]["red"]["raster:bands"][0]["offset"] == -0.1
    assert item["properties"]["proj:epsg"] == 32614
    west, south, east, north = item["bbox"]
    assert -99 < west < east < -97 and 37 < south < north < 38  # 600 km E, 4 200 km N of zone 14
    assert band_hrefs(item) == {
        "B02": "http://127.0.0.1:9/cogs/S2A_14SKB_20240603_0_L2A/B02.tif",
        "B04": "http://127.0.0.1:9/cogs/S2A_14SKB_20240603_0_L2A/B04.tif",
        "B08": "http://127.0.0.1:9/cogs/S2A_14SKB_20240603_0_L2A/B08.tif",
        "SCL": "http://127.0.0.1:9/cogs/S2A_14SKB_20240603_0_L2A/SCL.tif",
    }
    assert scene.hrefs == band_hrefs(item)
    row = scene_record(item).row(None)
    assert (row["epsg"], row["date"], row["scene_id"]) == (32614, dt.date(2024, 6, 3), scene.scene_id)
    for band, value in (("B02", 1200), ("B04", 900), ("B08", 3000), ("SCL", 4)):
        with rasterio.open(scene.paths[band]) as ds:
            assert np.unique(ds.read(1)).tolist() == [value]
    assert ASSET_KEYS["B08"] == "nir"
