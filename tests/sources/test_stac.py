"""STAC items → scene rows for each flavour (Earth Search v0 and v1, Planetary Computer), and duplicates."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import box, mapping

from inseason.errors import RemoteError
from inseason.sources.http import RetryCounter
from inseason.sources.stac import (
    SceneRecord,
    SearchQuery,
    band_hrefs,
    boa_offset,
    deduplicate,
    mgrs_tile,
    processing_baseline,
    scene_record,
    search_items,
)
from inseason.testing import FaultProxy, StacApiServer


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
    assert dropped == [
        {"scene_id": "a_0", "kept": "a_2", "reason": "reprocessed"},
        {"scene_id": "a_1", "kept": "a_2", "reason": "reprocessed"},
    ]
    no_take = [SceneRecord(**{**r.__dict__, "datatake": ""}) for r in records[:2]]
    assert [r.scene_id for r in deduplicate(no_take)[0]] == ["a_1"]  # same tile and second


def test_v1_item_copy_is_not_mutated() -> None:
    item = _v1_item()
    before = copy.deepcopy(item)
    scene_record(item)
    assert item == before


# ------------------------------------------------------------------------------ search through faults

COLLECTION = "sentinel-2-l2a"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static catalog of 40 items over two tiles, two a week from April 2021, for the STAC API stand-in."""
    root = tmp_path_factory.mktemp("faults-catalog")
    items = []
    for k in range(40):
        tile, (w, s) = ("15SXR", (-94.0, 37.0)) if k % 2 == 0 else ("15SYR", (-93.1, 37.0))
        when = dt.datetime(2021, 4, 2, 16, 50, tzinfo=dt.UTC) + dt.timedelta(days=7 * (k // 2), minutes=k % 2)
        item_id = f"S2B_{tile}_{when:%Y%m%d}_0_L2A"
        doc = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": item_id,
            "collection": COLLECTION,
            "bbox": [w, s, w + 1.0, s + 1.0],
            "geometry": mapping(box(w, s, w + 1.0, s + 1.0)),
            "properties": {"datetime": when.isoformat().replace("+00:00", "Z"), "eo:cloud_cover": float(k)},
            "assets": {"scl": {"href": f"https://example.com/{item_id}/SCL.tif", "type": "image/tiff"}},
            "links": [],
        }
        (root / "items").mkdir(exist_ok=True)
        (root / "items" / f"{item_id}.json").write_text(json.dumps(doc))
        items.append({"rel": "item", "href": f"./items/{item_id}.json"})
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION,
        "description": "fault tests",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[-94.0, 37.0, -92.1, 38.0]]},
            "temporal": {"interval": [["2021-04-01T00:00:00Z", "2021-09-30T00:00:00Z"]]},
        },
        "links": items,
    }
    (root / "collection.json").write_text(json.dumps(collection))
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "faults",
        "description": "fault tests",
        "links": [{"rel": "child", "href": "./collection.json"}],
    }
    (root / "catalog.json").write_text(json.dumps(catalog))
    return root / "catalog.json"


def _query() -> SearchQuery:
    return SearchQuery(COLLECTION, box(-93.5, 37.2, -92.5, 37.8), dt.date(2021, 4, 1), dt.date(2021, 9, 30))


def _search(url: str, **kwargs: Any) -> list[dict[str, Any]]:
    return search_items(url, _query(), timeout=1.5, page_size=2, backoff=0.5, **kwargs)


@pytest.mark.parametrize(
    "faults",
    [
        {"every": 5, "fail": 1.0, "truncate": 1.0, "reset": 1.0, "stall": 1.0},
        {"fail": 0.05, "truncate": 0.05, "reset": 0.05, "stall": 0.05, "seed": 4},
    ],
    ids=["every-fifth", "a-fifth-drawn"],
)
def test_search_through_faults_equals_a_fault_free_search(
    stac_api_factory: Callable[..., StacApiServer], catalog: Path, faults: dict[str, Any]
) -> None:
    api = stac_api_factory(catalog)
    clean = _search(api.url)
    assert len(clean) == 40  # both tiles meet the AOI
    counter, waits = RetryCounter(), []
    with FaultProxy(api.url, stall_s=3.0, **faults) as proxy:
        faulted = _search(proxy.url, retries=6, counter=counter, sleep=waits.append)
        stats = proxy.stats
    assert json.dumps(faulted).replace(proxy.url, api.url) == json.dumps(clean)
    kinds_met = [kind for kind in ("fail", "truncate", "reset", "stall") if stats.faults[kind]]
    assert len(kinds_met) == (4 if "every" in faults else 3), stats.faults  # seed 4 draws 7 faults of 3 kinds
    assert counter.value == stats.faulted == len(waits) > 0
    assert stats.requests == 1 + 20 + stats.faulted  # the landing page, 20 pages of 2, one retry per fault


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("fail", "HTTP 503: {"),
        ("truncate", "body cut short"),
        ("reset", "connection failed"),
        ("stall", "timed out"),
    ],
)
def test_search_faulted_on_every_try_is_one_line_with_the_true_tries(
    stac_api_factory: Callable[..., StacApiServer], catalog: Path, kind: str, reason: str
) -> None:
    api = stac_api_factory(catalog)
    waits: list[float] = []
    with FaultProxy(api.url, stall_s=3.0, **{kind: 1.0}) as proxy:
        with pytest.raises(RemoteError) as info:
            _search(proxy.url, retries=3, sleep=waits.append)
        requests_made = proxy.stats.requests
    message = str(info.value)
    assert message.startswith(f"STAC API {proxy.url} failed after 4 tries: ") and "\n" not in message
    assert reason in message and requests_made == 4 and waits == [0.5, 1.0, 2.0]


def test_search_recovers_from_a_truncated_page(stac_api_factory: Callable[..., StacApiServer], catalog: Path) -> None:
    api = stac_api_factory(catalog)
    counter = RetryCounter()
    with FaultProxy(api.url, every=3, truncate=1.0) as proxy:  # the second page is cut short once
        items = _search(proxy.url, retries=1, counter=counter, sleep=lambda _: None)
        assert [r.fault for r in proxy.stats.log[:4]] == [None, None, "truncate", None]
    assert len(items) == 40 and counter.value == proxy.stats.faulted > 0
