"""The loopback STAC API, exercised with pystac-client: search, paging, filters, assets, faults."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pystac
import pytest
import rasterio
import requests
from affine import Affine
from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from shapely.geometry import Point, box, mapping
from urllib3 import Retry

from inseason.testing import RangeFileServer, StacApiServer, serve_world

RangeFactory = Callable[..., RangeFileServer]
StacFactory = Callable[..., StacApiServer]
COLLECTION = "sentinel-2-l2a"
#: Two tiles; the first one's footprint is the lower-left half of its bbox (a triangle).
TILES = {"15SXR": (-94.0, 37.0, -93.0, 38.0), "15SYR": (-93.1, 37.0, -92.1, 38.0)}
#: 13 scenes of 15SXR from 2 April and 12 of 15SYR from 4 April, weekly: 25 over April to June 2021.
SCENES: list[tuple[str, str, dt.datetime]] = sorted(
    [
        (f"S2B_{tile}_{when:%Y%m%d}_0_L2A", tile, when)
        for tile, first, n in (("15SXR", 2, 13), ("15SYR", 4, 12))
        for when in (dt.datetime(2021, 4, first, 16, 50, tzinfo=dt.UTC) + dt.timedelta(days=7 * k) for k in range(n))
    ],
    key=lambda s: (s[2], s[0]),
)


def footprint(tile: str) -> Any:
    w, s, e, n = TILES[tile]
    if tile == "15SXR":
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [w, n], [w, s]]]}
    return mapping(box(w, s, e, n))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A world folder: ``scenes/`` with a 64×64 COG per scene and ``stac/catalog.json`` (self-contained)."""
    root = tmp_path_factory.mktemp("stac-world")
    collection = pystac.Collection(
        id=COLLECTION,
        description="test scenes",
        license="CC-BY-4.0",
        extent=pystac.Extent(
            pystac.SpatialExtent([[-94.0, 37.0, -92.1, 38.0]]), pystac.TemporalExtent([[SCENES[0][2], SCENES[-1][2]]])
        ),
    )
    for i, (scene_id, tile, when) in enumerate(SCENES):
        scene_dir = f"scenes/{tile}/2021/{scene_id}"
        (root / scene_dir).mkdir(parents=True)
        with rasterio.open(
            root / scene_dir / "B04.tif",
            "w",
            driver="COG",
            width=64,
            height=64,
            count=1,
            dtype="uint16",
            crs="EPSG:32615",
            transform=Affine(10, 0, 500_000, 0, -10, 4_100_000),
            blocksize=32,
        ) as dst:
            dst.write(np.full((64, 64), 100 + i, dtype=np.uint16) + np.arange(64, dtype=np.uint16), 1)
        item = pystac.Item(scene_id, footprint(tile), list(TILES[tile]), when, {"s2:mgrs_tile": tile})
        item.add_asset(
            "red", pystac.Asset(f"../../../{scene_dir}/B04.tif", media_type=pystac.MediaType.COG, roles=["data"])
        )
        collection.add_item(item)
    catalog = pystac.Catalog(id="test-world", description="a test world")
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(root / "stac"))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root


def expected(
    tiles: tuple[str, ...] = tuple(TILES), start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[str]:
    """Scene ids of the given tiles within [start, end], in the API's order (datetime, id)."""
    return [
        sid
        for sid, tile, when in SCENES
        if tile in tiles and (start is None or when >= start) and (end is None or when <= end)
    ]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def search_requests(srv: StacApiServer) -> list[Any]:
    return [r for r in srv.stats().log if r.path == "/search"]


# ---------------------------------------------------------------------------------- landing, collections


def test_landing_page_and_collections(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    client = Client.open(srv.url)
    for name in ("CORE", "ITEM_SEARCH", "FEATURES", "COLLECTIONS"):
        assert client.conforms_to(ConformanceClasses.get_by_name(name)), name
    assert client.id == "test-world"
    landing = requests.get(srv.url, timeout=10).json()
    assert {lk["method"] for lk in landing["links"] if lk["rel"] == "search"} == {"GET", "POST"}
    assert {lk["rel"] for lk in landing["links"]} >= {"self", "root", "data", "conformance", "search"}
    conformance = requests.get(srv.url + "conformance", timeout=10).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    assert [c.id for c in client.get_collections()] == [COLLECTION]
    collection = client.get_collection(COLLECTION)
    assert collection is not None and collection.id == COLLECTION
    assert collection.get_self_href() == f"{srv.url}collections/{COLLECTION}"
    assert [it.id for it in collection.get_items()] == expected()
    assert srv.item_ids() == expected() and srv.collection_ids == [COLLECTION]


def test_features_endpoints(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac")  # the folder holding catalog.json
    url: str | None = f"{srv.url}collections/{COLLECTION}/items?limit=10"
    ids: list[str] = []
    while url:
        page = requests.get(url, timeout=10).json()
        assert page["numberMatched"] == 25 and page["numberReturned"] == len(page["features"])
        ids += [f["id"] for f in page["features"]]
        url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    assert ids == expected()
    assert [parse_qs(r.query).get("token") for r in srv.stats().log] == [None, ["10"], ["20"]]
    first = SCENES[0][0]
    item = requests.get(f"{srv.url}collections/{COLLECTION}/items/{first}", timeout=10)
    assert item.status_code == 200 and item.headers["Content-Type"] == "application/geo+json"
    links = {lk["rel"]: lk["href"] for lk in item.json()["links"]}
    assert links == {
        "self": f"{srv.url}collections/{COLLECTION}/items/{first}",
        "root": srv.url,
        "parent": f"{srv.url}collections/{COLLECTION}",
        "collection": f"{srv.url}collections/{COLLECTION}",
    }
    assert item.json()["collection"] == COLLECTION
    for path in (f"collections/{COLLECTION}/items/nope", "collections/nope", "collections/nope/items", "nope"):
        resp = requests.get(srv.url + path, timeout=10)
        assert resp.status_code == 404 and resp.json()["code"] == "NotFound", path
    assert requests.post(srv.url + "collections", json={}, timeout=10).status_code == 405


# ----------------------------------------------------------------------------------------------- search


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paged_search(stac_api_factory: StacFactory, world: Path, method: str) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    client = Client.open(srv.url)
    srv.reset_stats()
    search = client.search(
        collections=[COLLECTION],
        bbox=[-93.95, 37.05, -92.2, 37.2],
        limit=7,
        method=method,
        datetime="2021-04-10T00:00:00Z/2021-06-10T00:00:00Z",
    )
    ids = [it.id for it in search.items()]
    want = expected(start=utc(2021, 4, 10), end=utc(2021, 6, 10))
    assert len(want) == 17 and ids == want
    pages = search_requests(srv)
    assert len(pages) == 3 and {r.method for r in pages} == {method}  # 7 + 7 + 3
    if method == "GET":
        assert [parse_qs(r.query).get("token") for r in pages] == [None, ["7"], ["14"]]
        assert all(parse_qs(r.query)["limit"] == ["7"] for r in pages)
    assert search.matched() == 17


def test_get_and_post_agree(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    client = Client.open(srv.url)
    queries: list[dict[str, Any]] = [
        dict(bbox=[-94, 37, -93.5, 37.5]),
        dict(datetime="2021-05"),
        dict(ids=[SCENES[3][0], SCENES[9][0], "nope"]),
        dict(intersects=mapping(Point(-93.05, 37.5))),
        dict(datetime="../2021-04-20T00:00:00Z", limit=2),
    ]
    for query in queries:
        get = [it.to_dict() for it in client.search(method="GET", **query).items()]
        post = [it.to_dict() for it in client.search(method="POST", **query).items()]
        assert get == post and get, query
    by_ids = client.search(ids=[SCENES[3][0], SCENES[9][0], "nope"]).item_collection()
    assert [it.id for it in by_ids] == [SCENES[3][0], SCENES[9][0]]
    may = client.search(datetime="2021-05", collections=[COLLECTION], limit=100).item_collection()
    assert [it.id for it in may] == expected(start=utc(2021, 5, 1), end=utc(2021, 5, 31, 23, 59, 59))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_intersects_uses_the_footprint(stac_api_factory: StacFactory, world: Path, method: str) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    client = Client.open(srv.url)

    def ids(**query: Any) -> list[str]:
        return [it.id for it in client.search(method=method, limit=5, **query).items()]

    corner = box(-93.3, 37.7, -93.2, 37.9)  # in 15SXR's bbox, outside its triangular footprint
    assert ids(intersects=mapping(corner)) == []
    assert ids(bbox=list(corner.bounds)) == expected(("15SXR",))  # bbox is matched against the item's bbox
    assert ids(intersects=mapping(box(-93.05, 37.5, -93.02, 37.6))) == expected(("15SYR",))
    assert ids(intersects=mapping(Point(-93.9, 37.1).buffer(0.01))) == expected(("15SXR",))
    assert ids(intersects=mapping(box(-93.5, 37.1, -92.5, 37.2))) == expected()
    assert ids(intersects={"type": "Feature", "properties": {}, "geometry": mapping(Point(-92.5, 37.5))}) == expected(
        ("15SYR",)
    )


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2021-04-02T16:50:00Z", utc(2021, 4, 2, 16, 50), utc(2021, 4, 2, 16, 50)),
        ("2021-04-02T18:50:00+02:00", utc(2021, 4, 2, 16, 50), utc(2021, 4, 2, 16, 50)),
        ("2021-04-02T16:50:00.000001Z", None, utc(2000, 1, 1)),  # nothing at that instant
        ("../2021-04-10T00:00:00Z", None, utc(2021, 4, 10)),
        ("/2021-04-10T00:00:00Z", None, utc(2021, 4, 10)),
        ("2021-06-15T00:00:00Z/..", utc(2021, 6, 15), None),
        ("2021-04-09T16:50:00Z/2021-04-11T16:50:00Z", utc(2021, 4, 9, 16, 50), utc(2021, 4, 11, 16, 50)),
    ],
)
def test_datetime_forms(
    stac_api_factory: StacFactory, world: Path, value: str, start: dt.datetime | None, end: dt.datetime | None
) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    want = expected(start=start, end=end)
    got = requests.get(srv.url + "search", params={"datetime": value, "limit": "100"}, timeout=10).json()
    assert [f["id"] for f in got["features"]] == want
    posted = requests.post(srv.url + "search", json={"datetime": value, "limit": 100}, timeout=10).json()
    assert [f["id"] for f in posted["features"]] == want
    assert got["context"] == {"matched": len(want), "returned": len(want), "limit": 100}


def test_limits(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    default = requests.get(srv.url + "search", timeout=10).json()
    assert default["numberReturned"] == 10 and default["numberMatched"] == 25
    huge = requests.get(srv.url + "search", params={"limit": 5000}, timeout=10).json()
    assert huge["numberReturned"] == 25 and huge["context"]["limit"] == 1000
    assert not [lk for lk in huge["links"] if lk["rel"] == "next"]
    page = requests.post(srv.url + "search", json={"limit": 20, "collections": [COLLECTION]}, timeout=10).json()
    (nxt,) = [lk for lk in page["links"] if lk["rel"] == "next"]
    assert nxt["method"] == "POST" and nxt["merge"] is False and nxt["href"] == srv.url + "search"
    assert nxt["body"] == {"limit": 20, "collections": [COLLECTION], "token": "20"}
    rest = requests.post(nxt["href"], json=nxt["body"], timeout=10).json()
    assert [f["id"] for f in page["features"] + rest["features"]] == expected()
    assert not [lk for lk in rest["links"] if lk["rel"] == "next"]


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "a,b,c,d"},
        {"bbox": "10,0,5,1"},
        {"datetime": "yesterday"},
        {"datetime": "2021-05-01T00:00:00Z/2021-04-01T00:00:00Z"},
        {"datetime": "../.."},
        {"datetime": "a/b/c"},
        {"limit": "0"},
        {"limit": "many"},
        {"token": "-1"},
        {"intersects": "not json"},
        {"intersects": '{"type": "Polygon", "coordinates": []}'},
        {"bbox": "0,0,1,1", "intersects": '{"type": "Point", "coordinates": [0, 0]}'},
    ],
)
def test_bad_requests(stac_api_factory: StacFactory, world: Path, params: dict[str, str]) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    resp = requests.get(srv.url + "search", params=params, timeout=10)
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/json"
    assert resp.json()["code"] == "BadRequest" and resp.json()["description"]
    body = {k: (json.loads(v) if k == "intersects" and v.startswith("{") else v) for k, v in params.items()}
    if "bbox" in body:
        body["bbox"] = body["bbox"].split(",")
    assert requests.post(srv.url + "search", json=body, timeout=10).status_code == 400


def test_bad_post_bodies(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    for data in (b"{not json", b"[1, 2]", json.dumps({"collections": 3}).encode(), json.dumps({"limit": 2.5}).encode()):
        resp = requests.post(srv.url + "search", data=data, headers={"Content-Type": "application/json"}, timeout=10)
        assert resp.status_code == 400 and resp.json()["code"] == "BadRequest", data
    with pytest.raises(APIError) as err:
        Client.open(srv.url).search(bbox=[10, 0, 5, 1], method="GET").item_collection()
    assert err.value.status_code == 400


# ------------------------------------------------------------------------------------------ faults


def test_faults_and_retries(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    srv.fail_next(1, 503)
    resp = requests.get(srv.url + "search", timeout=10)
    assert resp.status_code == 503 and resp.json()["code"] == "InjectedFault"
    client = Client.open(srv.url)
    srv.fail_next(1, 502)
    with pytest.raises(APIError) as err:
        client.search(collections=[COLLECTION], limit=7).item_collection()
    assert err.value.status_code == 502

    retry = Retry(total=4, backoff_factor=0, status_forcelist=[429, 502, 503], allowed_methods=None)
    client = Client.open(srv.url, stac_io=StacApiIO(max_retries=retry, timeout=10))
    srv.reset_stats()
    srv.fail_next(2, 503)
    srv.fail_next(1, 429, retry_after=0)
    ids = [it.id for it in client.search(collections=[COLLECTION], limit=7, method="POST").items()]
    assert ids == expected()
    assert [r.status for r in search_requests(srv)] == [503, 503, 429, 200, 200, 200, 200]
    assert srv.stats().requests == 7


def test_delay(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json", delay_s=0.2)
    with pytest.raises(requests.Timeout):
        requests.get(srv.url + "conformance", timeout=0.05)
    srv.delay_s = 0
    assert requests.get(srv.url + "conformance", timeout=5).status_code == 200


# ------------------------------------------------------------------------------------------ assets


def test_assets_point_at_the_file_server(
    range_server_factory: RangeFactory, stac_api_factory: StacFactory, world: Path
) -> None:
    files = range_server_factory(world)
    srv = stac_api_factory(world / "stac" / "catalog.json", asset_base_url=files.url, world_root=world)
    scene_id, tile, _ = SCENES[5]
    local = world / "scenes" / tile / "2021" / scene_id / "B04.tif"
    (item,) = Client.open(srv.url).search(ids=[scene_id]).items()
    href = item.assets["red"].href
    assert href == f"{files.url}scenes/{tile}/2021/{scene_id}/B04.tif"
    assert item.get_self_href() == f"{srv.url}collections/{COLLECTION}/items/{scene_id}"
    assert requests.get(href, timeout=10).content == local.read_bytes()
    with (
        rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"),
        rasterio.open(f"/vsicurl/{href}") as remote,
        rasterio.open(local) as ds,
    ):
        np.testing.assert_array_equal(remote.read(1), ds.read(1))
    assert files.stats().requests_by_path[f"/scenes/{tile}/2021/{scene_id}/B04.tif"] >= 2


def test_assets_without_a_file_server_are_local_paths(stac_api_factory: StacFactory, world: Path) -> None:
    srv = stac_api_factory(world / "stac" / "catalog.json")
    feature = requests.get(srv.url + "search", params={"limit": 1}, timeout=10).json()["features"][0]
    href = feature["assets"]["red"]["href"]
    assert Path(href).is_absolute() and Path(href).is_file()
    assert href == str(
        (world / "scenes" / feature["properties"]["s2:mgrs_tile"] / "2021" / feature["id"] / "B04.tif").resolve()
    )


def test_serve_world(world: Path) -> None:
    with serve_world(world) as servers:
        client = Client.open(servers.stac.url)
        items = list(client.search(collections=[COLLECTION], datetime="2021-06", limit=50).items())
        assert [it.id for it in items] == expected(start=utc(2021, 6, 1), end=utc(2021, 6, 30, 23, 59, 59))
        assert all(it.assets["red"].href.startswith(servers.files.url + "scenes/") for it in items)
        catalog = requests.get(servers.files.url + "stac/catalog.json", timeout=10)
        assert catalog.json()["id"] == "test-world"
        ports = (servers.files.port, servers.stac.port)
    for port in ports:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
