"""STAC items → scene rows for each flavour (Earth Search v0 and v1, Planetary Computer), and duplicates."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import shapely
from shapely.geometry import box, mapping

from inseason.sources.stac import (
    SceneRecord,
    band_hrefs,
    boa_offset,
    deduplicate,
    mgrs_tile,
    processing_baseline,
    scene_record,
)


def _v1_item() -> dict[str, Any]:
    assets = {}
    for key, band in (("red", "B04"), ("nir08", "B8A"), ("blue", "B02")):
        asset = {
            "href": f"https://example.com/S2B_15SYS_20220726_0_L2A/{band}.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "eo:bands": [{"name": band}],
            "raster:bands": [{"scale": 0.0001, "offset": -0.1}],
        }
        assets[key] = asset
        assets[f"{key}-jp2"] = {**asset, "href": asset["href"].replace(".tif", ".jp2"), "type": "image/jp2"}
    assets["scl"] = {"href": "https://example.com/S2B_15SYS_20220726_0_L2A/SCL.tif", "type": "image/tiff"}
    assets["scl-jp2"] = {"href": "https://example.com/S2B_15SYS_20220726_0_L2A/SCL.jp2", "type": "image/jp2"}
    assets["visual"] = {"href": "https://example.com/TCI.tif", "eo:bands": [{"name": n} for n in ("B04", "B03", "B02")]}
    return {
        "type": "Feature",
        "id": "S2B_15SYS_20220726_0_L2A",
        "bbox": [-91, 33, -90, 34],
        "geometry": mapping(box(-91, 33, -90, 34)),
        "assets": assets,
        "properties": {
            "datetime": "2022-07-26T16:53:22.123Z",
            "platform": "sentinel-2b",
            "mgrs:utm_zone": 15,
            "mgrs:latitude_band": "S",
            "mgrs:grid_square": "YS",
            "s2:processing_baseline": "04.00",
            "eo:cloud_cover": 12.5,
            "s2:datatake_id": "GS2B_20220726T165322_028",
        },
    }


def test_earth_search_v1_keys_map_through_eo_bands_and_prefer_cogs() -> None:
    item = _v1_item()
    hrefs = band_hrefs(item)
    assert hrefs == {
        "B02": "https://example.com/S2B_15SYS_20220726_0_L2A/B02.tif",
        "B04": "https://example.com/S2B_15SYS_20220726_0_L2A/B04.tif",
        "B8A": "https://example.com/S2B_15SYS_20220726_0_L2A/B8A.tif",
        "SCL": "https://example.com/S2B_15SYS_20220726_0_L2A/SCL.tif",
    }
    record = scene_record(item)
    assert (record.tile, record.epsg, record.boa_offset, record.processing_baseline) == ("15SYS", 32615, -1000, "04.00")
    assert record.datetime == dt.datetime(2022, 7, 26, 16, 53, 22, 123000, tzinfo=dt.UTC)
    assert record.cloud_cover_tile == 12.5 and record.platform == "sentinel-2b"


def test_planetary_computer_keys_and_baseline_from_product_id() -> None:
    assets = {
        b: {"href": f"https://pc.example/{b}.tif", "type": "image/tiff; application=geotiff", "eo:bands": [{"name": b}]}
        for b in ("B01", "B04", "B8A", "B12")
    }
    assets["SCL"] = {"href": "https://pc.example/SCL.tif", "type": "image/tiff; application=geotiff"}
    assets["visual"] = {"href": "https://pc.example/TCI.tif"}
    item = {
        "type": "Feature",
        "id": "S2A_MSIL2A_20220301T165021_R026_T15SYS_20220302T000000",
        "bbox": [-91, 33, -90, 34],
        "geometry": mapping(box(-91, 33, -90, 34)),
        "assets": assets,
        "properties": {
            "datetime": "2022-03-01T16:50:21Z",
            "platform": "Sentinel-2A",
            "s2:mgrs_tile": "15SYS",
            "proj:code": "EPSG:32615",
            "s2:product_uri": "S2A_MSIL2A_20220301T165021_N0400_R026_T15SYS_20220302T000000.SAFE",
        },
    }
    assert band_hrefs(item) == {b: f"https://pc.example/{b}.tif" for b in ("B01", "B04", "B8A", "B12", "SCL")}
    assert processing_baseline(item) == "04.00"
    assert boa_offset(item) == -1000  # no raster:bands: from the baseline
    record = scene_record(item)
    assert (record.tile, record.epsg, record.platform) == ("15SYS", 32615, "sentinel-2a")
    item["properties"]["s2:product_uri"] = "S2A_MSIL2A_20210301T165021_N0300_R026_T15SYS_20210302T000000.SAFE"
    assert (processing_baseline(item), boa_offset(item)) == ("03.00", 0)


def test_earth_search_v0_keys_and_properties() -> None:
    assets = {
        b: {"href": f"https://sentinel-cogs.example/{b}.tif", "type": "image/tiff; application=geotiff"}
        for b in ("B02", "B03", "B04", "B08", "SCL")
    }
    assets["thumbnail"] = {"href": "https://sentinel-cogs.example/preview.jpg", "type": "image/jpeg"}
    item = {
        "type": "Feature",
        "id": "S2B_15SYS_20210715_0_L2A",
        "bbox": [-91, 33, -90, 34],
        "geometry": None,
        "assets": assets,
        "properties": {
            "datetime": "2021-07-15T16:53:22Z",
            "platform": "sentinel-2b",
            "sentinel:utm_zone": 15,
            "sentinel:latitude_band": "S",
            "sentinel:grid_square": "YS",
            "sentinel:processing_baseline": "03.01",
            "eo:cloud_cover": 3.0,
        },
    }
    assert set(band_hrefs(item)) == {"B02", "B03", "B04", "B08", "SCL"}
    record = scene_record(item)
    assert (record.tile, record.epsg, record.boa_offset, record.processing_baseline) == ("15SYS", 32615, 0, "03.01")
    assert shapely.from_wkb(record.footprint).equals(box(-91, 33, -90, 34))
    item["properties"]["sentinel:boa_offset_applied"] = True
    item["properties"]["sentinel:processing_baseline"] = "04.00"
    assert boa_offset(item) == 0  # the offset was removed from the data already
    del item["properties"]["sentinel:utm_zone"]
    assert mgrs_tile(item) == "15SYS"  # from the id


def test_item_without_scl_is_refused() -> None:
    item = _v1_item()
    del item["assets"]["scl"], item["assets"]["scl-jp2"]
    with pytest.raises(ValueError, match="no SCL asset"):
        scene_record(item)


def test_deduplicate_prefers_baseline_then_created() -> None:
    base = scene_record(_v1_item())

    def variant(scene_id: str, baseline: str, created: str, datatake: str = base.datatake) -> SceneRecord:
        return SceneRecord(
            **{
                **base.__dict__,
                "scene_id": scene_id,
                "processing_baseline": baseline,
                "created": created,
                "datatake": datatake,
            }
        )

    records = [
        variant("a_0", "04.00", "2022-07-27"),
        variant("a_1", "05.09", "2023-01-01"),
        variant("a_2", "05.09", "2023-06-01"),
        variant("b_0", "04.00", "2022-07-27", datatake="other"),
    ]
    kept, dropped = deduplicate(records)
    assert [r.scene_id for r in kept] == ["a_2", "b_0"]
    assert dropped == [{"scene_id": "a_0", "kept": "a_2"}, {"scene_id": "a_1", "kept": "a_2"}]
    no_take = [SceneRecord(**{**r.__dict__, "datatake": ""}) for r in records[:2]]
    assert [r.scene_id for r in deduplicate(no_take)[0]] == ["a_1"]  # same tile and second


def test_v1_item_copy_is_not_mutated() -> None:
    item = _v1_item()
    before = copy.deepcopy(item)
    scene_record(item)
    assert item == before
