"""Recorded real STAC items (tests/sources/recorded/stac, see its PROVENANCE.md) → scene rows, offsets, duplicates.

Earth Search's both collections (baselines 00.01 to 05.11, reprocessed ``_1_L2A`` copies, a split datatake, the
04.00 item whose offset flag says false), its older ``sentinel-s2-l2a`` collection and a Planetary Computer
item; served by the loopback STAC API, and a recorded Earth Search search answer replayed page by page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import shapely
from shapely.geometry import box, shape

from inseason.sources.stac import (
    C1_COLLECTION,
    MANIFEST_BANDS,
    SceneRecord,
    SearchQuery,
    boa_offset,
    datatake_key,
    deduplicate,
    offset_decision,
    scene_record,
    search_items,
)
from inseason.tables import SCENE_MANIFEST
from inseason.testing import StacApiServer
from inseason.testing.http_files import LoopbackServer, Reply, error_reply, json_reply

RECORDED = Path(__file__).parent / "recorded" / "stac"
ITEMS = {p.stem: json.loads(p.read_text()) for p in sorted((RECORDED / "items").glob("*.json"))}
PC_ID = "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531"
V0_ID = "S2A_OPER_MSI_L2A_TL_2APS_20230602T025701_A041483_T01WCR"
FLAG = "earthsearch:boa_offset_applied"
RASTER, BASELINE = "raster:bands", "processing baseline"
OLD, C1, V0 = "sentinel-2-l2a", C1_COLLECTION, "sentinel-s2-l2a"

#: id → (collection, tile, epsg, baseline, platform, boa_offset, offset source): what each item's metadata says.
EXPECTED: dict[str, tuple[str, str, int, str, str, int, str]] = {
    "S2A_33TWN_20161202_0_L2A": (OLD, "33TWN", 32633, "00.01", "sentinel-2a", 0, RASTER),
    "S2B_33TWN_20180521_0_L2A": (OLD, "33TWN", 32633, "02.06", "sentinel-2b", 0, RASTER),
    "S2B_33TWN_20180521_1_L2A": (OLD, "33TWN", 32633, "02.07", "sentinel-2b", 0, RASTER),
    "S2B_33TWN_20181005_0_L2A": (OLD, "33TWN", 32633, "02.08", "sentinel-2b", 0, RASTER),
    "S2A_33TWN_20181119_0_L2A": (OLD, "33TWN", 32633, "02.10", "sentinel-2a", 0, RASTER),
    "S2B_33TWN_20190503_0_L2A": (OLD, "33TWN", 32633, "02.11", "sentinel-2b", 0, RASTER),
    "S2A_33TWN_20190707_0_L2A": (OLD, "33TWN", 32633, "02.11", "sentinel-2a", 0, RASTER),
    "S2A_33TWN_20190707_1_L2A": (OLD, "33TWN", 32633, "02.12", "sentinel-2a", 0, RASTER),
    "S2A_33TWN_20200202_0_L2A": (OLD, "33TWN", 32633, "02.13", "sentinel-2a", 0, RASTER),
    "S2A_33TWN_20210328_0_L2A": (OLD, "33TWN", 32633, "02.14", "sentinel-2a", 0, RASTER),
    "S2A_33TWN_20210629_0_L2A": (OLD, "33TWN", 32633, "03.00", "sentinel-2a", 0, RASTER),
    "S2A_33TWN_20220122_0_L2A": (OLD, "33TWN", 32633, "03.01", "sentinel-2a", 0, RASTER),
    "S2B_33TWN_20220130_0_L2A": (OLD, "33TWN", 32633, "04.00", "sentinel-2b", 0, FLAG),
    "S2B_33TWN_20220226_0_L2A": (OLD, "33TWN", 32633, "04.00", "sentinel-2b", -1000, RASTER),
    "S2A_32TMS_20221207_0_L2A": (OLD, "32TMS", 32632, "05.09", "sentinel-2a", 0, FLAG),
    "S2A_33TWL_20230815_0_L2A": (OLD, "33TWL", 32633, "05.09", "sentinel-2a", 0, FLAG),
    "S2A_33TWL_20230815_1_L2A": (OLD, "33TWL", 32633, "05.09", "sentinel-2a", 0, FLAG),
    "S2A_12RWT_20240106_0_L2A": (OLD, "12RWT", 32612, "05.10", "sentinel-2a", 0, FLAG),
    "S2B_24MUV_20250731_0_L2A": (OLD, "24MUV", 32724, "05.11", "sentinel-2b", 0, FLAG),
    "S2B_T24MUV_20250731T130245_L2A": (C1, "24MUV", 32724, "05.11", "sentinel-2b", -1000, RASTER),
    "S2B_T38XNF_20250422T091553_L2A": (C1, "38XNF", 32638, "05.11", "sentinel-2b", -1000, RASTER),
    "S2B_T01WCR_20250427T000611_L2A": (C1, "01WCR", 32601, "05.11", "sentinel-2b", -1000, RASTER),
    V0_ID: (V0, "01WCR", 32601, "05.09", "sentinel-2a", -1000, RASTER),
    PC_ID: (OLD, "06VVN", 32606, "02.12", "sentinel-2b", 0, BASELINE),
}
#: The resolution (m) each band's file has where a layout names it (Planetary Computer, Earth Search v0).
NATIVE_M = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20}
NATIVE_M |= {"B09": 60, "B11": 20, "B12": 20, "SCL": 20}


def _expected_href(item_id: str, band: str) -> str:
    """Where each flavour keeps a band's file, written out per layout (not read back from the item)."""
    if item_id == PC_ID:
        granule = (
            "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/06/V/VN/2019/06/29/"
            "S2B_MSIL2A_20190629T212529_N0212_R043_T06VVN_20201006T080531.SAFE/GRANULE/"
            "L2A_T06VVN_A012081_20190629T212530/IMG_DATA"
        )
        return f"{granule}/R{NATIVE_M[band]}m/T06VVN_20190629T212529_{band}_{NATIVE_M[band]}m.tif"
    if item_id == V0_ID:
        return f"s3://sentinel-s2-l2a/tiles/1/W/CR/2023/6/2/0/R{NATIVE_M[band]}m/{band}.jp2"
    collection, tile, *_ = EXPECTED[item_id]
    zone, lat, square = tile[:2].lstrip("0"), tile[2], tile[3:]
    date = item_id.split("_")[2][:8]
    month = int(date[4:6])
    if collection == C1:
        host = "https://e84-earth-search-sentinel-data.s3.us-west-2.amazonaws.com/sentinel-2-c1-l2a"
    else:
        host = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs"
    return f"{host}/{zone}/{lat}/{square}/{date[:4]}/{month}/{item_id}/{band}.tif"


def _catalog(tmp_path: Path) -> Path:
    """A static catalog over the recorded items (linked where they lie), one collection per item collection."""
    root = {"type": "Catalog", "id": "recorded", "stac_version": "1.0.0", "description": "recorded items", "links": []}
    for cid in sorted({doc["collection"] for doc in ITEMS.values()}):
        folder = tmp_path / cid
        folder.mkdir()
        links = [
            {"rel": "item", "href": (RECORDED / "items" / f"{key}.json").resolve().as_uri()}
            for key, doc in ITEMS.items()
            if doc["collection"] == cid
        ]
        collection = {
            "type": "Collection",
            "id": cid,
            "stac_version": "1.0.0",
            "description": cid,
            "license": "proprietary",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2015-06-27T00:00:00Z", None]]},
            },
            "links": links,
        }
        (folder / "collection.json").write_text(json.dumps(collection))
        root["links"].append({"rel": "child", "href": f"{cid}/collection.json"})
    (tmp_path / "catalog.json").write_text(json.dumps(root))
    return tmp_path / "catalog.json"


@pytest.fixture(scope="module")
def served_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SceneRecord]:
    """Every recorded item as the loopback STAC API serves it and search_items finds it, as a record."""
    catalog = _catalog(tmp_path_factory.mktemp("recorded-catalog"))
    found: list[dict[str, Any]] = []
    with StacApiServer(catalog) as api:
        for cid in (OLD, C1, V0):
            query = SearchQuery(cid, box(-180, -90, 180, 90), dt.date(2016, 1, 1), dt.date(2025, 12, 31))
            found += search_items(api.url, query, retries=0)
    assert sorted(it["id"] for it in found) == sorted(ITEMS)  # every recorded item is found, each once
    return {it["id"]: scene_record(it) for it in found}


def test_every_recorded_case_is_known() -> None:
    assert sorted(EXPECTED) == sorted(ITEMS)


@pytest.mark.parametrize("item_id", sorted(EXPECTED))
def test_recorded_item_becomes_the_right_row(served_records: dict[str, SceneRecord], item_id: str) -> None:
    rec = served_records[item_id]
    collection, tile, epsg, baseline, platform, offset, source = EXPECTED[item_id]
    assert (rec.collection, rec.tile, rec.epsg, rec.processing_baseline, rec.platform) == (
        collection,
        tile,
        epsg,
        baseline,
        platform,
    )
    assert (rec.boa_offset, rec.offset_source) == (offset, source)
    assert rec.hrefs == {band: _expected_href(item_id, band) for band in MANIFEST_BANDS}  # all 13, COGs first
    row = rec.row(0.5)
    table = pa.Table.from_pylist([dict(row)], schema=SCENE_MANIFEST)
    assert table.column("collection").to_pylist() == [collection]
    assert table.column("boa_offset").to_pylist() == [offset]


def test_offsets_say_what_the_metadata_says() -> None:
    """The 04.00 pair: same baseline and the same raster:bands offset (-0.1), flags true and false."""
    true_item, false_item = ITEMS["S2B_33TWN_20220130_0_L2A"], ITEMS["S2B_33TWN_20220226_0_L2A"]
    for item in (true_item, false_item):
        offsets = {a["raster:bands"][0]["offset"] for k, a in item["assets"].items() if k in ("red", "nir", "blue")}
        assert offsets == {-0.1}
    assert true_item["properties"][FLAG] is True and false_item["properties"][FLAG] is False
    assert boa_offset(true_item) == 0  # the flag wins over raster:bands (Element84/earth-search#9)
    assert boa_offset(false_item) == -1000  # what the metadata says; the pixels may say otherwise
    decided = offset_decision(false_item)
    assert "flagged boa_offset_applied false" in decided.doubt and decided.source == RASTER
    doubtful = sorted(key for key, item in ITEMS.items() if offset_decision(item).doubt)
    assert doubtful == ["S2B_33TWN_20220226_0_L2A"]  # the only 04.00+ item flagged false


def test_proj_code_gives_the_epsg() -> None:
    """STAC 1.1's projection extension v2 writes ``proj:code``; a recorded c1 item with its EPSG moved there."""
    item = json.loads(json.dumps(ITEMS["S2B_T38XNF_20250422T091553_L2A"]))
    item["properties"]["proj:code"] = f"EPSG:{item['properties'].pop('proj:epsg')}"
    assert scene_record(item).epsg == 32638
    del item["properties"]["proj:code"]
    assert scene_record(item).epsg == 32638  # from the MGRS tile (38X: north, zone 38)


def test_datatake_key_drops_the_baseline_suffix() -> None:
    copy = ITEMS["S2B_33TWN_20180521_1_L2A"]["properties"]
    assert copy["s2:datatake_id"].endswith("_N02.06") and copy["s2:processing_baseline"] == "02.07"
    assert datatake_key(copy["s2:datatake_id"]) == "GS2B_20180521T100029_006297"
    assert datatake_key("GS2A_20190707T095031_021097_N0212") == "GS2A_20190707T095031_021097"


def _records(*ids: str) -> list[SceneRecord]:
    return [scene_record(ITEMS[i]) for i in ids]


def test_reprocessed_copies_replace_their_originals() -> None:
    kept, dropped = deduplicate(
        _records("S2B_33TWN_20180521_0_L2A", "S2A_33TWN_20190707_0_L2A", "S2B_33TWN_20180521_1_L2A")
        + _records("S2A_33TWN_20190707_1_L2A")
    )
    assert [r.scene_id for r in kept] == ["S2B_33TWN_20180521_1_L2A", "S2A_33TWN_20190707_1_L2A"]
    assert dropped == [
        {"scene_id": "S2A_33TWN_20190707_0_L2A", "kept": "S2A_33TWN_20190707_1_L2A", "reason": "reprocessed"},
        {"scene_id": "S2B_33TWN_20180521_0_L2A", "kept": "S2B_33TWN_20180521_1_L2A", "reason": "reprocessed"},
    ]


def test_same_baseline_newer_publication_wins() -> None:
    first, second = _records("S2B_33TWN_20180521_1_L2A", "S2B_33TWN_20180521_0_L2A")
    second = dataclasses.replace(second, processing_baseline=first.processing_baseline, created="2023-01-01T00:00:00Z")
    kept, dropped = deduplicate([first, second])
    assert [r.scene_id for r in kept] == [second.scene_id]
    assert dropped == [{"scene_id": first.scene_id, "kept": second.scene_id, "reason": "reprocessed"}]


def test_split_datatake_keeps_both_partial_products() -> None:
    north, south = _records("S2A_33TWL_20230815_0_L2A", "S2A_33TWL_20230815_1_L2A")
    assert north.datatake == south.datatake and north.processing_baseline == south.processing_baseline
    kept, dropped = deduplicate([north, south])
    assert [r.scene_id for r in kept] == [north.scene_id, south.scene_id] and dropped == []
    part_n, part_s = shapely.from_wkb(north.footprint), shapely.from_wkb(south.footprint)
    union = shapely.union(part_n, part_s)
    assert part_n.area < 0.7 * union.area and part_s.area < 0.7 * union.area  # two partial footprints
    # a reprocessed copy of the whole tile replaces both parts
    whole = dataclasses.replace(
        north,
        scene_id="S2A_33TWL_20230815_2_L2A",
        footprint=shapely.to_wkb(union),
        processing_baseline="05.10",
    )
    kept, dropped = deduplicate([north, south, whole])
    assert [r.scene_id for r in kept] == [whole.scene_id]
    assert {d["scene_id"]: (d["kept"], d["reason"]) for d in dropped} == {
        north.scene_id: (whole.scene_id, "reprocessed"),
        south.scene_id: (whole.scene_id, "reprocessed"),
    }


def test_both_collections_of_one_pass_merge_preferring_c1() -> None:
    old, c1 = _records("S2B_24MUV_20250731_0_L2A", "S2B_T24MUV_20250731T130245_L2A")
    assert old.scene_id != c1.scene_id and old.tile == c1.tile and old.datetime == c1.datetime
    kept, dropped = deduplicate([old, c1])
    assert [r.scene_id for r in kept] == [c1.scene_id]
    assert dropped == [{"scene_id": old.scene_id, "kept": c1.scene_id, "reason": "other collection"}]
    # without datatake ids, the same tile and sensing time (a few seconds apart) are the same pass too
    loose = [dataclasses.replace(old, datatake=""), dataclasses.replace(c1, datatake="")]
    loose[1] = dataclasses.replace(loose[1], datetime=loose[1].datetime.replace(second=loose[1].datetime.second + 2))
    assert [r.scene_id for r in deduplicate(loose)[0]] == [c1.scene_id]
    # the older collection wins where it holds the newer baseline
    newer = dataclasses.replace(old, processing_baseline="05.12")
    assert [r.scene_id for r in deduplicate([newer, c1])[0]] == [old.scene_id]


def test_all_recorded_items_deduplicate_to_the_known_drops() -> None:
    records = [scene_record(item) for item in ITEMS.values()]
    kept, dropped = deduplicate(records)
    assert dropped == [
        {"scene_id": "S2A_33TWN_20190707_0_L2A", "kept": "S2A_33TWN_20190707_1_L2A", "reason": "reprocessed"},
        {
            "scene_id": "S2B_24MUV_20250731_0_L2A",
            "kept": "S2B_T24MUV_20250731T130245_L2A",
            "reason": "other collection",
        },
        {"scene_id": "S2B_33TWN_20180521_0_L2A", "kept": "S2B_33TWN_20180521_1_L2A", "reason": "reprocessed"},
    ]
    assert len(kept) == len(records) - 3


# ------------------------------------------------------------------------- the recorded search answer

EARTH_SEARCH_V1 = "https://earth-search.aws.element84.com/v1"


class _EarthSearchReplay(LoopbackServer):
    """Answers ``POST /search`` with the recorded pages, verbatim but for the host, checking each request body.

    The first request must carry the recorded request body; each next one the body of the recorded ``next``
    link of the page before (as pystac-client sends it). Anything else gets HTTP 400.
    """

    def __init__(self) -> None:
        super().__init__()
        self.request = json.loads((RECORDED / "search" / "request.json").read_text())
        self.pages = [json.loads(p.read_text()) for p in sorted((RECORDED / "search").glob("page*.json"))]
        self.bodies: list[dict[str, Any]] = []

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        base = self.url.rstrip("/")
        if method == "GET" and path in ("", "/"):
            return json_reply(200, self._landing(base))
        if method != "POST" or path != "/search":
            return error_reply(404, "NotFound", f"{method} {path}")
        sent = json.loads(body)
        self.bodies.append(sent)
        expected = [self.request] + [
            link["body"] for page in self.pages for link in page["links"] if link["rel"] == "next"
        ]
        if sent not in expected:
            return error_reply(400, "BadRequest", f"unexpected body {sent}")
        page = self.pages[expected.index(sent)]
        text = json.dumps(page).replace(EARTH_SEARCH_V1, base)
        return Reply(200, {"Content-Type": "application/geo+json"}, text.encode())

    @staticmethod
    def _landing(base: str) -> dict[str, Any]:
        return {
            "type": "Catalog",
            "id": "earth-search-aws",
            "stac_version": "1.0.0",
            "description": "A replay of recorded Earth Search answers",
            "conformsTo": [
                "https://api.stacspec.org/v1.0.0/core",
                "https://api.stacspec.org/v1.0.0/item-search",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            ],
            "links": [
                {"rel": "self", "type": "application/json", "href": base},
                {"rel": "root", "type": "application/json", "href": base},
                {"rel": "search", "type": "application/geo+json", "method": "GET", "href": f"{base}/search"},
                {"rel": "search", "type": "application/geo+json", "method": "POST", "href": f"{base}/search"},
            ],
        }


def test_recorded_search_pages_are_followed_to_the_end() -> None:
    with _EarthSearchReplay() as api:
        request = api.request
        aoi = shape(request["intersects"])
        query = SearchQuery(request["collections"][0], aoi, dt.date(2018, 1, 1), dt.date(2022, 12, 31))
        items = search_items(api.url, query, page_size=request["limit"], retries=0)
        bodies = api.bodies
        pages = api.pages
    tokens = [b.get("next") for b in bodies]
    recorded = [link["body"]["next"] for page in pages for link in page["links"] if link["rel"] == "next"]
    assert len(bodies) == len(pages) == 4 and tokens == [None, *recorded]  # through the empty last page
    assert [it["id"] for it in items] == sorted(it["id"] for page in pages for it in page["features"])
    assert len(items) == pages[0]["numberMatched"] == 13
    records = [scene_record(it) for it in items]
    kept, dropped = deduplicate(records)
    assert [d["scene_id"] for d in dropped] == ["S2A_33TWN_20190707_0_L2A", "S2B_33TWN_20180521_0_L2A"]
    assert {r.tile for r in kept} == {"33TWN"} and len(kept) == 11
    assert {r.scene_id: r.boa_offset for r in kept if r.boa_offset} == {"S2B_33TWN_20220226_0_L2A": -1000}
