"""The scenes stage: STAC (static catalog and loopback API) → scene manifest, checked against the world's truth."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pystac
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError, RemoteError
from inseason.extract.quality import DEFAULT_SCL_MASK
from inseason.extract.scenes import OVERLAP_NOTE, ScenesRequest, find_scenes, manifest_info, run_scenes
from inseason.tables import SCENE_MANIFEST, read_table

OFFSET_DATE = dt.date(2022, 1, 25)
START, END = dt.date(2021, 6, 1), dt.date(2022, 8, 31)


# ------------------------------------------------------------------------------------------- helpers


def world_aoi(world: Path) -> BaseGeometry:
    return shape(json.loads((world / "aoi.geojson").read_text())["features"][0]["geometry"])


def truth(world: Path, start: dt.date = START, end: dt.date = END) -> list[dict[str, Any]]:
    rows = pq.read_table(world / "truth" / "scenes.parquet").to_pylist()
    return [r for r in rows if start <= r["date"] <= end]


def scl_path(world: Path, row: dict[str, Any]) -> Path:
    return world / "scenes" / row["tile"] / str(row["date"].year) / row["scene_id"] / "SCL.tif"


def direct_fraction(path: Path, aoi: BaseGeometry) -> float:
    with rasterio.open(path) as ds:
        scl = ds.read(1)
        inside = geometry_mask(
            [transform_geom("EPSG:4326", ds.crs, mapping(aoi))],
            out_shape=scl.shape,
            transform=ds.transform,
            invert=True,
        )
    return float((inside & ~np.isin(scl, DEFAULT_SCL_MASK)).sum() / inside.sum())


def expected_candidates(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Truth rows minus the older copies of reprocessed scenes (same tile and date as a reprocessed one)."""
    newer = {(r["tile"], r["date"]) for r in rows if r["reprocessed"]}
    return {r["scene_id"]: r for r in rows if r["reprocessed"] or (r["tile"], r["date"]) not in newer}


@pytest.fixture(scope="module")
def static_run(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("scenes") / "scenes.parquet"
    table = find_scenes(
        stac=str(tiny_world / "stac" / "catalog.json"),
        aoi=str(tiny_world / "aoi.geojson"),
        start=START,
        end=END,
        out=out,
        min_valid=0.0,
        quiet=True,
    )
    return table, out


# ------------------------------------------------------------------------------- static catalog: values


def test_static_counts_match_truth_minus_duplicates(tiny_world: Path, static_run: tuple[Any, Path]) -> None:
    table, out = static_run
    rows = truth(tiny_world)
    candidates = expected_candidates(rows)
    info = manifest_info(table)
    assert info["counts"]["found"] == len(rows)
    assert info["counts"]["duplicates"] == sum(r["reprocessed"] for r in rows) > 0
    assert info["counts"]["skipped"] == 0
    assert info["counts"]["kept"] + info["counts"]["below_min_valid"] == len(candidates)
    assert set(table.column("scene_id").to_pylist()) <= set(candidates)
    assert table.num_rows == info["counts"]["kept"] > 0
    written = read_table(out, SCENE_MANIFEST, what="scene manifest")
    assert written.equals(table)
    assert written.schema.metadata == table.schema.metadata
    assert table.schema.equals(SCENE_MANIFEST, check_metadata=False)


def test_kept_duplicate_is_the_newer_baseline(tiny_world: Path, static_run: tuple[Any, Path]) -> None:
    table, _ = static_run
    rows = truth(tiny_world)
    by_id = {r["scene_id"]: r for r in rows}
    ids = set(table.column("scene_id").to_pylist())
    duplicates = manifest_info(table)["duplicates"]
    assert {d["kept"] for d in duplicates} == {r["scene_id"] for r in rows if r["reprocessed"]}
    for d in duplicates:
        dropped, kept = by_id[d["scene_id"]], by_id[d["kept"]]
        assert d["scene_id"] not in ids
        assert (dropped["tile"], dropped["date"]) == (kept["tile"], kept["date"])
        assert kept["processing_baseline"] > dropped["processing_baseline"]
    manifest = {r["scene_id"]: r for r in table.to_pylist()}
    for d in duplicates:
        if d["kept"] in manifest:
            assert manifest[d["kept"]]["processing_baseline"] == by_id[d["kept"]]["processing_baseline"]


def test_boa_offset_follows_the_2022_baseline(static_run: tuple[Any, Path]) -> None:
    table, _ = static_run
    dates = table.column("date").to_pylist()
    offsets = table.column("boa_offset").to_pylist()
    assert any(d < OFFSET_DATE for d in dates) and any(d >= OFFSET_DATE for d in dates)
    for day, offset in zip(dates, offsets):
        assert offset == (-1000 if day >= OFFSET_DATE else 0)


def test_rows_are_sorted_typed_and_complete(tiny_world: Path, static_run: tuple[Any, Path]) -> None:
    table, _ = static_run
    rows = table.to_pylist()
    assert [(r["datetime"], r["tile"], r["scene_id"]) for r in rows] == sorted(
        (r["datetime"], r["tile"], r["scene_id"]) for r in rows
    )
    by_id = {r["scene_id"]: r for r in truth(tiny_world)}
    aoi = world_aoi(tiny_world)
    for r in rows:
        t = by_id[r["scene_id"]]
        assert r["datetime"].tzinfo is not None and r["date"] == r["datetime"].date() == t["date"]
        assert (r["tile"], r["platform"], r["epsg"]) == (t["tile"], t["platform"], 32615)
        assert r["cloud_cover_tile"] == t["cloud_cover"]
        assert r["processing_baseline"] == t["processing_baseline"]
        hrefs = dict(r["hrefs"])
        assert list(hrefs) == [
            "B01",
            "B02",
            "B03",
            "B04",
            "B05",
            "B06",
            "B07",
            "B08",
            "B8A",
            "B09",
            "B11",
            "B12",
            "SCL",
        ]
        assert all(Path(h).is_absolute() and Path(h).is_file() for h in hrefs.values())
        assert hrefs["B04"].endswith(f"{r['scene_id']}/B04.tif") and hrefs["SCL"].endswith("/SCL.tif")
        assert shapely.from_wkb(r["footprint"]).intersects(aoi)
    info = manifest_info(table)
    assert info["note"] == OVERLAP_NOTE
    assert info["query"]["start"] == START.isoformat() and info["query"]["min_valid"] == 0.0
    assert shapely.from_wkt(info["query"]["aoi"]).equals_exact(aoi, 1e-7)


def test_valid_fraction_equals_full_array_computation(tiny_world: Path, static_run: tuple[Any, Path]) -> None:
    table, _ = static_run
    aoi = world_aoi(tiny_world)
    by_id = {r["scene_id"]: r for r in truth(tiny_world)}
    got = dict(zip(table.column("scene_id").to_pylist(), table.column("valid_fraction_aoi").to_pylist()))
    want = {sid: direct_fraction(scl_path(tiny_world, by_id[sid]), aoi) for sid in got}
    assert got == want
    below = {sid for sid in expected_candidates(truth(tiny_world)) if sid not in got}
    assert all(direct_fraction(scl_path(tiny_world, by_id[sid]), aoi) == 0.0 for sid in below)


def test_min_valid_is_strict_and_filters(tiny_world: Path, static_run: tuple[Any, Path], tmp_path: Path) -> None:
    table, _ = static_run
    fractions = dict(zip(table.column("scene_id").to_pylist(), table.column("valid_fraction_aoi").to_pylist()))
    for threshold in (0.3, sorted(fractions.values())[len(fractions) // 2]):
        kept = find_scenes(
            stac=tiny_world / "stac",
            aoi=world_aoi(tiny_world),
            start=START,
            end=END,
            out=tmp_path / "m.parquet",
            min_valid=threshold,
            quiet=True,
            workers=2,
        )
        want = {sid for sid, f in fractions.items() if f > threshold}
        assert set(kept.column("scene_id").to_pylist()) == want
        assert 0 < len(want) < len(fractions)
        assert manifest_info(kept)["counts"]["below_min_valid"] == manifest_info(table)["counts"][
            "below_min_valid"
        ] + len(fractions) - len(want)
    assert any(f == threshold for f in fractions.values())  # the median itself was dropped: strictly greater


def test_small_aoi_fraction_differs_from_tile_cloud_cover(tiny_world: Path, tmp_path: Path) -> None:
    world = json.loads((tiny_world / "world.json").read_text())
    west, south, east, north = world["bbox"]
    small = box(
        west + 0.1 * (east - west),
        south + 0.6 * (north - south),
        west + 0.3 * (east - west),
        south + 0.8 * (north - south),
    )
    table = find_scenes(
        stac=tiny_world / "stac" / "catalog.json",
        aoi=",".join(map(str, small.bounds)),
        start=START,
        end=END,
        out=tmp_path / "small.parquet",
        min_valid=0.0,
        quiet=True,
    )
    by_id = {r["scene_id"]: r for r in truth(tiny_world)}
    gaps = []
    for r in table.to_pylist():
        assert r["valid_fraction_aoi"] == direct_fraction(scl_path(tiny_world, by_id[r["scene_id"]]), small)
        gaps.append(abs((1 - r["valid_fraction_aoi"]) - r["cloud_cover_tile"] / 100))
    assert max(gaps) > 0.3


def test_max_cloud_drops_by_tile_cloud_cover(tiny_world: Path, static_run: tuple[Any, Path], tmp_path: Path) -> None:
    table = find_scenes(
        stac=tiny_world / "stac" / "catalog.json",
        aoi=world_aoi(tiny_world),
        start=START,
        end=END,
        out=tmp_path / "m.parquet",
        min_valid=0.0,
        max_cloud=20.0,
        quiet=True,
    )
    assert table.num_rows > 0
    assert all(c <= 20.0 for c in table.column("cloud_cover_tile").to_pylist())
    full = static_run[0]
    assert table.num_rows < full.num_rows


def test_empty_date_range_is_an_input_error(tiny_world: Path, tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"no scenes matched collection 'sentinel-2-l2a' between 2023-01-01 "
        r"and 2023-02-01",
    ):
        find_scenes(
            stac=tiny_world / "stac" / "catalog.json",
            aoi=str(tiny_world / "aoi.geojson"),
            start=dt.date(2023, 1, 1),
            end=dt.date(2023, 2, 1),
            out=tmp_path / "m.parquet",
            quiet=True,
        )
    assert not (tmp_path / "m.parquet").exists()


def test_bad_inputs_are_input_errors(tiny_world: Path, tmp_path: Path) -> None:
    stac, aoi, out = tiny_world / "stac" / "catalog.json", str(tiny_world / "aoi.geojson"), tmp_path / "m.parquet"
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(start="2022-02-01", end="2022-01-01"), "after end date"),
        (dict(start="2022-13-01", end="2022-01-01"), "not a date"),
        (dict(min_valid=1.5), "min_valid"),
        (dict(aoi=str(tmp_path / "nowhere.geojson")), "nowhere.geojson"),
        (dict(aoi="600000,3600000,700000,3700000"), "degrees"),
        (dict(stac=tmp_path / "no-catalog"), "does not exist"),
        (dict(collection="landsat-c2-l2"), "no collection 'landsat-c2-l2'"),
    ]
    for override, message in cases:
        kwargs: dict[str, Any] = dict(stac=stac, aoi=aoi, start=START, end=END, out=out, quiet=True)
        kwargs.update(override)
        with pytest.raises(InputError, match=message):
            find_scenes(**kwargs)


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--start", "2022-02-01", "--end", "2022-01-01"], {"start": "2022-02-01", "end": "2022-01-01"}),
        (["--start", "2022-0201", "--end", "2022-03-01"], {"start": "2022-0201", "end": "2022-03-01"}),
        (["--start", "2022-01-01", "--end", "2022-03-01", "--min-valid", "1.5"], {"min_valid": 1.5}),
        (["--start", "2022-01-01", "--end", "2022-03-01", "--max-cloud", "101"], {"max_cloud": 101.0}),
        (["--start", "2022-01-01", "--end", "2022-03-01", "--scl-mask", "0,300"], {"scl_mask": [0, 300]}),
        (["--start", "2022-01-01", "--end", "2022-03-01", "--workers", "0"], {"workers": 0}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tiny_world: Path, tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    stac, out = str(tiny_world / "stac" / "catalog.json"), tmp_path / "m.parquet"
    kwargs: dict[str, Any] = {"stac": stac, "aoi": "0,0,1,1", "start": "2022-01-01", "end": "2022-03-01", **options}
    with pytest.raises(InputError) as info:
        find_scenes(out=out, **kwargs)
    result = CliRunner().invoke(
        app, ["--quiet", "scenes", "--stac", stac, "--aoi", "0,0,1,1", "--out", str(out), *flags]
    )
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        ScenesRequest.of(out=str(out), **kwargs)
    assert not out.exists()


def test_a_scenes_request_round_trips(tiny_world: Path) -> None:
    request = ScenesRequest.of(
        stac=str(tiny_world / "stac" / "catalog.json"),
        aoi=world_aoi(tiny_world),
        start=dt.datetime(2022, 1, 1, 12, 30),
        end="2022-03-01",
        out="s3://bucket/scenes.parquet",
        scl_mask=[9, 8, 3],
        max_cloud=20,
    )
    assert (request.start, request.end) == (dt.date(2022, 1, 1), dt.date(2022, 3, 1))
    assert request.scl_mask == (9, 8, 3) and request.max_cloud == 20.0
    assert ScenesRequest.of(**request.model_dump()) == request


def test_the_scenes_result_holds_what_was_written(tiny_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    result = run_scenes(
        ScenesRequest.of(
            stac=str(tiny_world / "stac" / "catalog.json"),
            aoi=str(tiny_world / "aoi.geojson"),
            start="2022-06-01",
            end="2022-07-31",
            out=str(out),
            quiet=True,
        )
    )
    written = read_table(out, SCENE_MANIFEST, what="scene manifest")
    assert result.path == str(out) and result.scenes == written.num_rows > 0
    assert result.info == manifest_info(written) and result.info["counts"] is not None
    assert result.info["counts"]["kept"] == result.scenes and result.info["note"] == OVERLAP_NOTE
    assert result.table.equals(written)


# ------------------------------------------------------------------------- unreadable scenes are recorded


def test_unreadable_scl_is_skipped_with_reason(
    tiny_world: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An item collection whose SCLs are missing, truncated and fine: the bad ones are skipped, on record."""
    catalog = pystac.read_file(str(tiny_world / "stac" / "catalog.json"))
    items = sorted(catalog.get_items(recursive=True), key=lambda it: it.id)[60:63]
    features = []
    for it in items:
        d = it.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in it.assets.items():
            d["assets"][key]["href"] = asset.get_absolute_href()
        features.append(d)
    features[0]["assets"]["scl"]["href"] = str(tmp_path / "missing" / "SCL.tif")
    data = Path(features[1]["assets"]["scl"]["href"]).read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    features[1]["assets"]["scl"]["href"] = str(tmp_path / "cut.tif")
    (tmp_path / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    day = lambda f: dt.date.fromisoformat(f["properties"]["datetime"][:10])  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="inseason"):
        table = find_scenes(
            stac=tmp_path / "items.json",
            aoi=world_aoi(tiny_world),
            start=day(features[0]),
            end=day(features[2]),
            out=tmp_path / "m.parquet",
            min_valid=0.0,
            quiet=True,
        )
    assert table.column("scene_id").to_pylist() == [features[2]["id"]]
    info = manifest_info(table)
    skipped = {s["scene_id"]: s["reason"] for s in info["skipped"]}
    assert set(skipped) == {features[0]["id"], features[1]["id"]}
    assert "No such file" in skipped[features[0]["id"]]
    assert "cut.tif" in skipped[features[1]["id"]]
    assert info["counts"] == {
        "found": 3,
        "duplicates": 0,
        "skipped": 2,
        "below_min_valid": 0,
        "kept": 1,
        "retried": 0,
        "offset_from_pixels": 0,
    }
    assert sum("skipped scene" in rec.message for rec in caplog.records) == 2
    written = pq.read_schema(tmp_path / "m.parquet").metadata
    assert json.loads(written[b"inseason:skipped"]) == info["skipped"]


# ------------------------------------------------------------------------------------------ STAC API


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_api_is_a_remote_error_naming_the_url(tiny_world: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/"
    with pytest.raises(RemoteError, match=url.replace(".", r"\.")):
        find_scenes(
            stac=url,
            aoi=str(tiny_world / "aoi.geojson"),
            start=START,
            end=END,
            out=tmp_path / "m.parquet",
            quiet=True,
            timeout=1.0,
            retries=1,
            backoff=0.01,
        )
    assert not (tmp_path / "m.parquet").exists()


@pytest.fixture(scope="module")
def served(tiny_world: Path) -> Any:
    from inseason.testing import serve_world

    with serve_world(tiny_world) as servers:
        yield servers


def _comparable(table: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "hrefs"} for row in table.to_pylist()]


def test_api_gives_the_same_manifest_as_the_static_catalog(
    tiny_world: Path, served: Any, static_run: tuple[Any, Path], tmp_path: Path
) -> None:
    table = find_scenes(
        stac=served.stac.url,
        aoi=str(tiny_world / "aoi.geojson"),
        start=START,
        end=END,
        out=tmp_path / "api.parquet",
        min_valid=0.0,
        quiet=True,
        timeout=5.0,
        retries=2,
        backoff=0.01,
    )
    static = static_run[0]
    assert _comparable(table) == _comparable(static)  # same scenes, fractions (read over HTTP), offsets
    info, static_info = manifest_info(table), manifest_info(static)
    assert info["counts"] == static_info["counts"] and info["duplicates"] == static_info["duplicates"]
    assert info["query"]["stac"] == served.stac.url
    for row in table.to_pylist():
        hrefs = dict(row["hrefs"])
        assert set(hrefs) == set(dict(static.to_pylist()[0]["hrefs"]))
        assert all(h.startswith(served.files.url) for h in hrefs.values())
    requested = served.files.stats().requests_by_path
    scl_requests = [p for p in requested if p.endswith("/SCL.tif")]
    # the blue band is read only to check the BOA offset of scenes of baseline 04.00 and later
    offset_era = {r["scene_id"] for r in table.to_pylist() if r["processing_baseline"] >= "04.00"}
    blue_requests = [p for p in requested if p.endswith("/B02.tif")]
    assert scl_requests and blue_requests and len(scl_requests) + len(blue_requests) == len(requested)
    assert {p.split("/")[-2] for p in blue_requests} == offset_era


def test_api_search_pages_through_every_item(tiny_world: Path, served: Any) -> None:
    from inseason.sources.stac import SearchQuery, search_items

    query = SearchQuery("sentinel-2-l2a", world_aoi(tiny_world), START, END)
    before = served.stac.stats().requests_by_path.get("/search", 0)
    items = search_items(served.stac.url, query, page_size=7, timeout=5.0, retries=1, backoff=0.01)
    pages = served.stac.stats().requests_by_path.get("/search", 0) - before
    assert [it["id"] for it in items] == sorted(r["scene_id"] for r in truth(tiny_world))
    assert pages == -(-len(items) // 7) > 1


def test_api_503_is_retried_then_succeeds(tiny_world: Path, served: Any, tmp_path: Path) -> None:
    before = served.stac.stats()
    served.stac.fail_next(3, 503)
    table = find_scenes(
        stac=served.stac.url,
        aoi=world_aoi(tiny_world),
        start=dt.date(2021, 7, 1),
        end=dt.date(2021, 7, 31),
        out=tmp_path / "m.parquet",
        min_valid=0.0,
        quiet=True,
        timeout=5.0,
        retries=4,
        backoff=0.01,
    )
    after = served.stac.stats()
    assert table.num_rows > 0
    assert manifest_info(table)["counts"]["found"] == len(truth(tiny_world, dt.date(2021, 7, 1), dt.date(2021, 7, 31)))
    failed = [r for r in after.log[len(before.log) :] if r.status == 503]
    assert len(failed) == 3


def test_api_failing_past_the_retries_is_a_remote_error(tiny_world: Path, served: Any, tmp_path: Path) -> None:
    served.stac.fail_next(2, 503)  # the first try and the one retry
    with pytest.raises(RemoteError, match=served.stac.url.replace(".", r"\.")):
        find_scenes(
            stac=served.stac.url,
            aoi=world_aoi(tiny_world),
            start=START,
            end=END,
            out=tmp_path / "m.parquet",
            quiet=True,
            timeout=5.0,
            retries=1,
            backoff=0.01,
        )
    assert not (tmp_path / "m.parquet").exists()


def test_api_empty_search_is_an_input_error(tiny_world: Path, served: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no scenes matched collection 'sentinel-2-l2a' between 2020-01-01"):
        find_scenes(
            stac=served.stac.url,
            aoi=world_aoi(tiny_world),
            start=dt.date(2020, 1, 1),
            end=dt.date(2020, 12, 31),
            out=tmp_path / "m.parquet",
            quiet=True,
            timeout=5.0,
            retries=1,
        )


# ------------------------------------------------------------ windowed SCL reads over HTTP move few bytes


@pytest.fixture(scope="module")
def wide_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 21.6 km tile (SCL 1080 × 1080 in 128-pixel blocks), two scenes: files big enough (130-230 KB) that
    GDAL's 16-32 KB header and read-ahead chunks do not swallow them whole."""
    from inseason.synth import synth

    return synth(
        tmp_path_factory.mktemp("worlds") / "wide",
        size="tiny",
        seed=1,
        quiet=True,
        tile_m=21600,
        years=(2022,),
        season=("06-01", "06-12"),
    ).path


def test_small_aoi_reads_fewer_scl_bytes_than_the_file(wide_world: Path, tmp_path: Path) -> None:
    from inseason.testing import serve_world

    tile = json.loads((wide_world / "world.json").read_text())["tiles"][0]
    left, _bottom, right, top = tile["bounds"]
    size = right - left
    to_ll = Transformer.from_crs(tile["epsg"], 4326, always_xy=True)
    (w, e), (s, n) = to_ll.transform([left + 0.4 * size, left + 0.5 * size], [top - 0.5 * size, top - 0.4 * size])
    small = box(w, s, e, n)  # a hundredth of the tile
    with serve_world(wide_world) as servers:
        table = find_scenes(
            stac=servers.stac.url,
            aoi=small,
            start=dt.date(2022, 1, 1),
            end=dt.date(2022, 12, 31),
            out=tmp_path / "m.parquet",
            min_valid=0.0,
            quiet=True,
            timeout=5.0,
            retries=1,
        )
        stats = servers.files.stats()
    rows = pq.read_table(wide_world / "truth" / "scenes.parquet").to_pylist()
    assert manifest_info(table)["counts"]["found"] == len(rows) >= 2
    by_id = {r["scene_id"]: r for r in rows}
    for row in table.to_pylist():
        assert row["valid_fraction_aoi"] == direct_fraction(scl_path(wide_world, by_id[row["scene_id"]]), small)
    # SCL for every scene, and the blue band (B02) of the kept ones whose BOA offset is checked (baseline 04.00+)
    checked = {r["scene_id"] for r in table.to_pylist() if r["processing_baseline"] >= "04.00"}
    assert checked
    read = [(r, "SCL") for r in rows] + [(r, "B02") for r in rows if r["scene_id"] in checked]
    assert set(stats.bytes_by_path) == {f"/scenes/{r['tile']}/2022/{r['scene_id']}/{band}.tif" for r, band in read}
    for r, band in read:
        served_bytes = stats.bytes_by_path[f"/scenes/{r['tile']}/2022/{r['scene_id']}/{band}.tif"]
        file_bytes = scl_path(wide_world, r).with_name(f"{band}.tif").stat().st_size
        assert 0 < served_bytes < 0.5 * file_bytes, (band, served_bytes, file_bytes)


def test_scl_over_http_survives_a_503_and_reports_a_404(tiny_world: Path, served: Any) -> None:
    from inseason.extract.quality import UnreadableScene, scl_valid_fraction

    row = truth(tiny_world, dt.date(2021, 3, 1), dt.date(2021, 3, 31))[0]  # a scene no other test reads
    path = scl_path(tiny_world, row)
    served.files.fail_next(1, 503)
    quality = scl_valid_fraction(served.files.url_for(path), world_aoi(tiny_world))
    assert quality.valid_fraction == direct_fraction(path, world_aoi(tiny_world))
    assert any(r.status == 503 for r in served.files.stats().log)
    with pytest.raises(UnreadableScene, match="404"):
        scl_valid_fraction(served.files.url + "scenes/nowhere/SCL.tif", world_aoi(tiny_world))


def test_same_inputs_give_byte_identical_manifests(tiny_world: Path, tmp_path: Path) -> None:
    for workers in (1, 4):
        find_scenes(
            stac=tiny_world / "stac",
            aoi=str(tiny_world / "aoi.geojson"),
            start=START,
            end=END,
            out=tmp_path / f"m{workers}.parquet",
            quiet=True,
            workers=workers,
        )
    assert (tmp_path / "m1.parquet").read_bytes() == (tmp_path / "m4.parquet").read_bytes()
