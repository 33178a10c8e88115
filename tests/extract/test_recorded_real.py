"""scenes → extract end to end on recorded real Earth Search items served by the loopback STAC API.

The items are the recorded ones of tests/sources/recorded/stac (see its PROVENANCE.md); their asset hrefs are
rewritten to loopback COGs written with the real L2A layout (`inseason.testing.real_layout`: 10 980 px at 10 m,
5 490 at 20 m, 1 830 at 60 m, 1 024-px blocks, deflate + predictor 2, overviews) on each item's own grid
(``proj:transform``). Constant content compresses to little, and scenes of one tile share the files whose
values do not matter to a check, so the whole world takes a few 10 m files.

Checked: the manifest's rows and offsets (the 04.00 item flagged ``boa_offset_applied: false`` whose pixels
were already corrected comes out with offset 0, recorded and warned; the item flagged true keeps 0; the old
baselines keep 0), the reprocessed copy replaced by its ``_1_L2A`` (its files never read), both parts of a
split datatake kept and each point observed once, from the part that covers it, and the reflectances at the
points after the offsets.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pyproj import Transformer
from shapely.geometry import box

from inseason.extract.scenes import ScenesRequest, manifest_info, run_scenes
from inseason.extract.stage import ExtractRequest, run_extract
from inseason.observations import read_observations
from inseason.tables import LABEL_POINTS, S2_BANDS, write_table
from inseason.testing import RangeFileServer, StacApiServer
from inseason.testing.real_layout import ASSET_KEYS, BAND_RESOLUTION, REAL_SIZE_10M, Values, write_band

RECORDED = Path(__file__).parents[1] / "sources" / "recorded" / "stac" / "items"

# ------------------------------------------------------------------------------- helpers (shared)


def recorded_item(item_id: str) -> dict[str, Any]:
    """A recorded item as Earth Search answered it (trimmed, see PROVENANCE.md)."""
    doc: dict[str, Any] = json.loads((RECORDED / f"{item_id}.json").read_text())
    return doc


def item_grid(item: Mapping[str, Any]) -> tuple[int, tuple[float, float]]:
    """The item's EPSG code and the upper-left corner of its tile grid, from its ``blue`` asset."""
    transform = item["assets"]["blue"]["proj:transform"]
    return int(item["properties"]["proj:epsg"]), (float(transform[2]), float(transform[5]))


def constant(value: int, dtype: type = np.uint16) -> Values:
    """Every pixel ``value``."""
    return lambda rows, cols: np.full((rows.shape[0], cols.shape[1]), value, dtype)


def write_files(
    folder: Path,
    values: Mapping[str, Values],
    *,
    epsg: int,
    origin: tuple[float, float],
    size_10m: int = REAL_SIZE_10M,
) -> dict[str, Path]:
    """One COG per key (a band name, or ``"10m"``/``"20m"``/``"60m"`` for a file several bands share)."""
    by_res = {"10m": "B02", "20m": "B05", "60m": "B01"}
    return {
        key: write_band(
            folder / f"{key}.tif", v, band=by_res.get(key, key), epsg=epsg, origin=origin, size_10m=size_10m
        )
        for key, v in values.items()
    }


def band_files(files: Mapping[str, Path], **own: Path) -> dict[str, Path]:
    """Every band's file: the band's own where given, else the shared file of its resolution."""
    shared = {band: files[f"{BAND_RESOLUTION[band]}m"] for band in S2_BANDS if f"{BAND_RESOLUTION[band]}m" in files}
    return {**shared, **{k: v for k, v in files.items() if k in (*S2_BANDS, "SCL")}, **own}


def with_hrefs(item: Mapping[str, Any], hrefs: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``item`` whose band assets point at ``hrefs`` (band → href); other assets dropped."""
    doc = copy.deepcopy(dict(item))
    doc["assets"] = {
        ASSET_KEYS[band]: {**doc["assets"][ASSET_KEYS[band]], "href": href} for band, href in hrefs.items()
    }
    return doc


def write_catalog(folder: Path, items: Mapping[str, list[dict[str, Any]]]) -> Path:
    """A static catalog of ``collection → items`` (what the loopback STAC API serves)."""
    root: dict[str, Any] = {"type": "Catalog", "id": "recorded", "stac_version": "1.0.0", "description": "x"}
    root["links"] = []
    for cid, docs in items.items():
        sub = folder / cid
        sub.mkdir(parents=True)
        links = []
        for doc in docs:
            (sub / f"{doc['id']}.json").write_text(json.dumps(doc))
            links.append({"rel": "item", "href": f"{doc['id']}.json"})
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
        (sub / "collection.json").write_text(json.dumps(collection))
        root["links"].append({"rel": "child", "href": f"{cid}/collection.json"})
    (folder / "catalog.json").write_text(json.dumps(root))
    return folder / "catalog.json"


def utm_box(epsg: int, lon: float, lat: float, half_m: float) -> tuple[float, float, float, float]:
    """The lon/lat bounds of a square of side ``2 × half_m`` metres in the zone, centred on (lon, lat)."""
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    back = Transformer.from_crs(epsg, 4326, always_xy=True)
    (w, e), (s, n) = back.transform([x - half_m, x + half_m], [y - half_m, y + half_m])
    return w, s, e, n


# ------------------------------------------------------------------------------- the world

#: Blue (B02) DNs of each scene's own file, chosen so every scene's reflectance at the points differs.
MISLABELLED = "S2B_33TWN_20220226_0_L2A"  # 04.00, flag false, raster:bands -0.1: pixels already corrected
FLAGGED_TRUE = "S2B_33TWN_20220130_0_L2A"  # 04.00, flag true: pixels corrected, metadata 0
OLD_BASELINE = "S2A_33TWN_20220122_0_L2A"  # 03.01: no offset anywhere
ORIGINAL, REPROCESSED = "S2A_33TWN_20190707_0_L2A", "S2A_33TWN_20190707_1_L2A"
NORTH, SOUTH = "S2A_33TWL_20230815_0_L2A", "S2A_33TWL_20230815_1_L2A"  # one pass in two partial products
BLUE = {MISLABELLED: 420, FLAGGED_TRUE: 460, NORTH: 700, SOUTH: 800}
SHARED = {"10m": 1500, "20m": 1600, "60m": 1700}
#: Point locations (lon, lat): two in 33TWN, one in each part of the 33TWL pass (away from the cut).
TWN_POINTS = [(16.00, 47.30), (16.05, 47.32)]
TWL_POINTS = {NORTH: (16.00, 45.90), SOUTH: (16.02, 45.35)}


def _split_row(item_north: Mapping[str, Any], item_south: Mapping[str, Any], epsg: int, y0: float) -> int:
    """The 10 m row where the southern part's data starts: the middle of the two footprints' overlap."""
    cut_lat = (item_north["bbox"][1] + item_south["bbox"][3]) / 2
    _, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(16.0, cut_lat)
    return int((y0 - y) // 10)


@pytest.fixture(scope="module")
def recorded_world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The recorded items' files (real layout) and a catalog over them; yields (files server, STAC server)."""
    root = tmp_path_factory.mktemp("recorded-world")
    files_dir = root / "files"
    twn = {i: recorded_item(i) for i in (MISLABELLED, FLAGGED_TRUE, OLD_BASELINE, ORIGINAL, REPROCESSED)}
    epsg, origin = item_grid(twn[MISLABELLED])
    assert all(item_grid(it) == (epsg, origin) for it in twn.values())
    shared = write_files(
        files_dir / "33TWN",
        {**{k: constant(v) for k, v in SHARED.items()}, "SCL": constant(4, np.uint8)},
        epsg=epsg,
        origin=origin,
    )
    own = {
        i: write_files(files_dir / i, {"B02": constant(v)}, epsg=epsg, origin=origin)
        for i, v in BLUE.items()
        if i in twn
    }
    twl = {i: recorded_item(i) for i in (NORTH, SOUTH)}
    twl_epsg, twl_origin = item_grid(twl[NORTH])
    cut = _split_row(twl[NORTH], twl[SOUTH], twl_epsg, twl_origin[1])

    def part(value: int, north: bool, res: int, dtype: type = np.uint16) -> Values:
        row = cut * 10 // res

        def values(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            inside = (rows < row) if north else (rows >= row)
            return np.broadcast_to(np.where(inside, value, 0).astype(dtype), (rows.shape[0], cols.shape[1]))

        return values

    for item_id, north in ((NORTH, True), (SOUTH, False)):
        own[item_id] = write_files(
            files_dir / item_id,
            {
                "10m": part(BLUE[item_id], north, 10),
                "20m": part(SHARED["20m"], north, 20),
                "60m": part(SHARED["60m"], north, 60),
                "SCL": part(4, north, 20, np.uint8),
            },
            epsg=twl_epsg,
            origin=twl_origin,
        )
    with RangeFileServer(files_dir) as files:

        def url(path: Path) -> str:
            return files.url_for(path)

        docs = []
        for item_id, item in twn.items():
            bands = band_files(shared, **({"B02": own[item_id]["B02"]} if item_id in own else {}))
            docs.append(with_hrefs(item, {b: url(p) for b, p in bands.items()}))
        for item_id, item in twl.items():
            docs.append(with_hrefs(item, {b: url(p) for b, p in band_files(own[item_id]).items()}))
        catalog = write_catalog(root / "stac", {"sentinel-2-l2a": docs})
        with StacApiServer(catalog) as api:
            yield files, api, root


def _points(path: Path) -> dict[int, tuple[str, int]]:
    """Label points at the locations, one per year of the scenes over it; returns id → (where, year)."""
    rows, where = [], {}
    places = [(f"TWN{i}", lon, lat, year) for i, (lon, lat) in enumerate(TWN_POINTS) for year in (2019, 2022)]
    places += [(name, lon, lat, 2023) for name, (lon, lat) in TWL_POINTS.items()]
    for pid, (name, lon, lat, year) in enumerate(places, start=1):
        rows.append(
            {"point_id": pid, "x": lon, "y": lat, "lon": lon, "lat": lat, "year": year, "label_code": 1}
            | {"label": "Maize", "field_id": pid, "source": "test"}
        )
        where[pid] = (name, year)
    write_table(pa.Table.from_pylist(rows, schema=LABEL_POINTS), path)
    return where


def test_scenes_then_extract_on_recorded_items(
    recorded_world: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files, api, _ = recorded_world
    aoi = box(15.995, 45.33, 16.055, 47.33)  # a strip over 33TWN (north) and the 33TWL pass (south)
    with caplog.at_level(logging.WARNING, logger="inseason"):
        found = run_scenes(
            ScenesRequest.of(
                stac=api.url,
                aoi=aoi,
                start="2019-01-01",
                end="2023-12-31",
                out=str(tmp_path / "scenes.parquet"),
                min_valid=0.0,
                quiet=True,
                timeout=10.0,
                retries=1,
            )
        )
    rows = {r["scene_id"]: r for r in found.table.to_pylist()}
    # the reprocessed copy replaces its original; both parts of the split pass are kept
    assert set(rows) == {MISLABELLED, FLAGGED_TRUE, OLD_BASELINE, REPROCESSED, NORTH, SOUTH}
    duplicates = manifest_info(found.table)["duplicates"]
    assert [(d["scene_id"], d["kept"]) for d in duplicates or []] == [(ORIGINAL, REPROCESSED)]
    requested = set(files.stats().requests_by_path)
    assert not any(ORIGINAL in p for p in requested)  # the replaced copy's files are never read
    # offsets: the mislabelled item corrected by its pixels, the rest as their metadata says
    assert {k: r["boa_offset"] for k, r in rows.items()} == dict.fromkeys(rows, 0)
    info = found.info
    assert info["offset_from_pixels"] == [
        {"scene_id": MISLABELLED, "metadata": -1000, "pixels": 0, "share": 1.0, "band": "B02"}
        | {"valid_pixels": info["offset_from_pixels"][0]["valid_pixels"]}
    ]
    assert info["offset_from_pixels"][0]["valid_pixels"] > 1000
    assert info["counts"]["offset_from_pixels"] == 1
    warnings = [r.getMessage() for r in caplog.records if "BOA offset" in r.getMessage()]
    assert len(warnings) == 1 and MISLABELLED in warnings[0] and FLAGGED_TRUE not in warnings[0]
    # blue read only for the scenes whose offset is in question (04.00 and later), at 20 m (its overview)
    blue_read = {p.split("/")[-2] for p in requested if p.endswith("/B02.tif")}
    assert blue_read == {MISLABELLED, FLAGGED_TRUE}
    assert all(rows[k]["valid_fraction_aoi"] == 1.0 for k in rows if k not in (NORTH, SOUTH))
    assert 0 < rows[NORTH]["valid_fraction_aoi"] < 1 and 0 < rows[SOUTH]["valid_fraction_aoi"] < 1
    assert rows[NORTH]["valid_fraction_aoi"] + rows[SOUTH]["valid_fraction_aoi"] == pytest.approx(1.0, abs=0.01)
    assert info["collection_months"] is not None and info["collection_months"]["sentinel-2-l2a"]["2022-02"] == 1

    points = tmp_path / "points.parquet"
    where = _points(points)
    result = run_extract(
        ExtractRequest.of(
            points=str(points), scenes=str(tmp_path / "scenes.parquet"), out=str(tmp_path / "obs"), quiet=True
        )
    )
    assert result.skipped == 0  # type: ignore[union-attr]
    obs = read_observations(tmp_path / "obs").to_pylist()
    got = {(where[o["point_id"]][0], o["scene_id"]): (o["B02"], o["B04"], o["B11"], o["B01"]) for o in obs}
    shared = (SHARED["10m"], SHARED["20m"], SHARED["60m"])
    expected = {}
    for i in range(len(TWN_POINTS)):
        expected[(f"TWN{i}", MISLABELLED)] = (BLUE[MISLABELLED], *shared[:1], *shared[1:])
        expected[(f"TWN{i}", FLAGGED_TRUE)] = (BLUE[FLAGGED_TRUE], *shared[:1], *shared[1:])
        expected[(f"TWN{i}", OLD_BASELINE)] = (SHARED["10m"], *shared)
        expected[(f"TWN{i}", REPROCESSED)] = (SHARED["10m"], *shared)
    for item_id in (NORTH, SOUTH):  # each point once, from the part that covers it
        expected[(item_id, item_id)] = (BLUE[item_id], BLUE[item_id], SHARED["20m"], SHARED["60m"])
    assert got == expected
    assert len(obs) == len(expected)
