"""`inseason synth --across-zones`: a world astride the UTM zone 15/16 boundary (90° W).

Real Sentinel-2 tiles near a zone boundary reach past it: at 33.4° N zone 15's easternmost tiles run about
31 km east of 90° W and zone 16's westernmost about 21 km west of it. The world's tiles (2.4 km in the tiny
world) reach past it by the same shares of a tile, so the middle of the AOI is seen from both zones and each
side from one only; each tile's scenes are in its own zone's CRS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from inseason.config import SynthConfig
from inseason.synth import SynthRequest, WorldSummary, load_world
from inseason.synth import run_synth as real_run_synth
from inseason.synth.acquisitions import plan_datatakes
from inseason.synth.grid import BAND_RES, boundary_reach
from inseason.synth.render import render
from tests.cli.helpers import run_in_process

#: Four datatakes (two per relative orbit) of the tiny world in 2022.
SEASON = ("06-01", "06-10")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world across zones, made by the CLI (its request run on a ten-day season)."""
    out = tmp_path_factory.mktemp("zones") / "world"
    requests: list[SynthRequest] = []

    def short_season(request: SynthRequest) -> WorldSummary:
        requests.append(request)
        config = request.config.model_copy(update={"season": SEASON})
        return real_run_synth(request.model_copy(update={"config": config}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("inseason.synth.run_synth", short_season)
        ran = run_in_process(
            "synth", "--size", "tiny", "--years", "2022", "--across-zones", "--workers", "1", "--out", str(out)
        )
    assert ran.code == 0, ran.stderr
    assert [r.config.across_zones for r in requests] == [True]
    assert "15SYT, 16SBC (UTM EPSG:32615, EPSG:32616" in " ".join(ran.stdout.split())
    return out


def _items(world: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((world / "stac").rglob("S2*_L2A.json"))]


def _aoi(world: Path) -> shapely.Geometry:
    return shape(json.loads((world / "aoi.geojson").read_text())["features"][0]["geometry"])


def test_the_world_has_tiles_and_scenes_in_two_zones(world: Path) -> None:
    info = json.loads((world / "world.json").read_text())
    assert info["scene_epsgs"] == [32615, 32616] and info["config"]["across_zones"] is True
    assert [(t["name"], t["epsg"]) for t in info["tiles"]] == [("15SYT", 32615), ("16SBC", 32616)]
    items = _items(world)
    assert {i["properties"]["proj:epsg"] for i in items} == {32615, 32616}
    for item in items:
        zone = item["properties"]["proj:epsg"] - 32600
        assert item["properties"]["s2:mgrs_tile"].startswith(str(zone)) and item["properties"]["mgrs:utm_zone"] == zone
        with rasterio.open(
            world / "scenes" / item["properties"]["s2:mgrs_tile"] / "2022" / item["id"] / "B04.tif"
        ) as ds:
            assert ds.crs.to_epsg() == item["properties"]["proj:epsg"]
    # each zone's tile reaches past 90° W by the real tiles' share: 30.7 km and 21.0 km of 109.8 km
    assert boundary_reach(32615, 33.4) == pytest.approx(30_733, abs=5)
    assert boundary_reach(32616, 33.4) == pytest.approx(20_993, abs=5)
    to_15 = Transformer.from_crs(4326, 32615, always_xy=True)
    to_16 = Transformer.from_crs(4326, 32616, always_xy=True)
    west, east = info["tiles"]
    boundary_15 = to_15.transform(-90.0, 33.4)[0]
    boundary_16 = to_16.transform(-90.0, 33.4)[0]
    assert west["bounds"][2] - boundary_15 == pytest.approx(30_733 * 2400 / 109_800, abs=60)
    assert boundary_16 - east["bounds"][0] == pytest.approx(20_993 * 2400 / 109_800, abs=60)


def test_the_scenes_of_both_zones_cover_the_aoi_across_the_boundary(world: Path) -> None:
    aoi = _aoi(world)
    west, _, east, _ = aoi.bounds
    assert west < -90.0 < east
    by_datatake: dict[str, list[dict]] = {}
    for item in _items(world):
        if item["properties"]["sat:relative_orbit"] == 83:  # the orbit that images the whole world
            by_datatake.setdefault(item["properties"]["s2:datatake_id"], []).append(item)
    assert len(by_datatake) == 2
    for items in by_datatake.values():
        zones = {i["properties"]["proj:epsg"]: shape(i["geometry"]) for i in items}
        assert set(zones) == {32615, 32616}
        assert zones[32615].union(zones[32616]).buffer(1e-9).covers(aoi)
        # each side of the AOI is seen from one zone only: a one-zone map leaves about a third of it empty
        for only in (zones[32615].difference(zones[32616]), zones[32616].difference(zones[32615])):
            assert 0.25 < only.intersection(aoi).area / aoi.area < 0.45
        assert zones[32615].intersection(zones[32616]).intersection(aoi).area / aoi.area > 0.2


def _originals(world: Path) -> list[dict]:
    return [r for r in pq.read_table(world / "truth" / "scenes.parquet").to_pylist() if not r["reprocessed"]]


def test_each_scenes_pixels_are_the_truth_at_their_lon_lat(world: Path) -> None:
    info, state = load_world(world)
    takes = plan_datatakes(SynthConfig(**info["config"]), np.random.default_rng(np.random.SeedSequence([1, 2])))
    grid = state.grid
    to_grid = Transformer.from_crs(4326, grid.epsg, always_xy=True)
    scenes = _originals(world)
    assert {s["tile"] for s in scenes} == {"15SYT", "16SBC"}
    for scene in scenes:
        truth = render(state, takes[scene["datatake"]])
        for band in ("B04", "B8A", "B09", "SCL"):
            res = BAND_RES[band]
            path = world / "scenes" / scene["tile"] / "2022" / scene["scene_id"] / f"{band}.tif"
            with rasterio.open(path) as ds:
                values = ds.read(1)
                rows, cols = np.mgrid[0 : ds.height, 0 : ds.width]
                x, y = ds.xy(rows.ravel(), cols.ravel())
                lon, lat = Transformer.from_crs(ds.crs, 4326, always_xy=True).transform(x, y)
            gx, gy = to_grid.transform(lon, lat)
            r = np.floor((grid.top - np.asarray(gy)) / res).astype(int)
            c = np.floor((np.asarray(gx) - grid.left) / res).astype(int)
            expected = truth[band][r, c].reshape(values.shape)
            np.testing.assert_array_equal(values, expected, err_msg=f"{scene['scene_id']} {band}")
            if scene["relative_orbit"] == 83:
                assert (values > 0).all()


def test_both_zones_see_the_same_ground_where_they_overlap(world: Path) -> None:
    scenes = _originals(world)
    takes = {(s["datatake"], s["tile"]): s for s in scenes}
    pairs = [(takes[d, "15SYT"], takes[d, "16SBC"]) for d, t in takes if t == "15SYT" and (d, "16SBC") in takes]
    assert len(pairs) >= 2
    for west, east in pairs:
        for band in ("B04", "SCL"):
            with (
                rasterio.open(world / "scenes" / "15SYT" / "2022" / west["scene_id"] / f"{band}.tif") as w,
                rasterio.open(world / "scenes" / "16SBC" / "2022" / east["scene_id"] / f"{band}.tif") as e,
            ):
                ours, theirs = e.read(1), w.read(1)
                rows, cols = np.mgrid[0 : e.height, 0 : e.width]
                x, y = e.xy(rows.ravel(), cols.ravel())
                wx, wy = Transformer.from_crs(e.crs, w.crs, always_xy=True).transform(x, y)
                wr, wc = rasterio.transform.rowcol(w.transform, wx, wy)
                wr, wc = np.asarray(wr), np.asarray(wc)
            inside = (wr >= 0) & (wr < w.height) & (wc >= 0) & (wc < w.width)
            assert inside.sum() > 0.3 * inside.size  # the band both zones' tiles cover
            seen = ours.ravel()[inside]
            np.testing.assert_array_equal(seen, theirs[wr[inside], wc[inside]])
            assert (seen > 0).mean() > 0.3


def test_labels_cover_the_aoi_on_both_sides_of_the_boundary(world: Path) -> None:
    aoi = _aoi(world)
    with rasterio.open(world / "labels" / "CDL_2022.tif") as ds:
        labels = ds.read(1)
        to_albers = Transformer.from_crs(4326, 5070, always_xy=True)
        west, south, east, north = aoi.bounds
        for lon in np.linspace(west, east, 9):
            codes = []
            for lat in np.linspace(south, north, 9):
                r, c = ds.index(*to_albers.transform(lon, lat))
                assert 0 <= r < ds.height and 0 <= c < ds.width
                codes.append(labels[r, c])
            assert np.count_nonzero(codes) >= 8, lon  # labelled ground all across the AOI


def test_the_world_maps_across_the_boundary_without_a_seam(world: Path, tmp_path: Path) -> None:
    """scenes → predict on the two-zone world: other-zone scenes are warped onto the map grid, none skipped."""
    from rasterio.features import geometry_mask
    from shapely.geometry import mapping

    from inseason.bench.predict import untrained_bundle
    from inseason.extract.scenes import find_scenes
    from inseason.predict.maps import predict_map
    from inseason.sources.aoi import aoi_to_crs

    manifest = find_scenes(
        stac=str(world / "stac" / "catalog.json"),
        aoi=str(world / "aoi.geojson"),
        start="2022-06-01",
        end="2022-06-10",
        out=tmp_path / "scenes.parquet",
        min_valid=0.0,
        quiet=True,
    )
    epsgs = set(pq.read_table(tmp_path / "scenes.parquet").column("epsg").to_pylist())
    assert epsgs == {32615, 32616}, manifest
    run = predict_map(
        untrained_bundle("arset", tmp_path / "bundle", seed=1),
        scenes=tmp_path / "scenes.parquet",
        aoi=world / "aoi.geojson",
        as_of=["2022-06-10"],
        out=tmp_path / "maps",
        block_size=64,
        workers=1,
        quiet=True,
    )
    assert run.skipped_scenes == [], run.skipped_scenes
    [cog] = sorted((tmp_path / "maps").rglob("*.tif"))
    with rasterio.open(cog) as ds:
        classes = ds.read(1)
        inside = geometry_mask(
            [mapping(aoi_to_crs(_aoi(world), ds.crs.to_epsg()))],
            out_shape=classes.shape,
            transform=ds.transform,
            invert=True,
            all_touched=False,
        )
    assert inside.sum() > 10_000
    # Pixels that only zone 16's scenes cover: a reader that skipped the other zone would leave them all nodata.
    table = pq.read_table(tmp_path / "scenes.parquet")
    zone15 = shapely.union_all(
        [
            shapely.from_wkb(f)
            for f, e in zip(table.column("footprint").to_pylist(), table.column("epsg").to_pylist())
            if e == 32615
        ]
    )
    rows, cols = np.nonzero(inside)
    xs, ys = rasterio.transform.xy(ds.transform, rows, cols)
    lon, lat = Transformer.from_crs(ds.crs.to_epsg(), 4326, always_xy=True).transform(np.asarray(xs), np.asarray(ys))
    only16 = ~shapely.contains_xy(zone15, lon, lat)
    assert only16.sum() > 2_000
    mapped = classes[rows, cols] > 0
    # Cloud masks leave a few pixels without a valid observation on both sides alike; a seam would leave a side.
    assert mapped[only16].mean() > 0.9 and mapped[~only16].mean() > 0.9, (mapped[only16].mean(), mapped[~only16].mean())
    assert run.mapped_pixels["2022-06-10"] == int(mapped.sum())
