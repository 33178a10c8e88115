"""The synthetic world keeps its promises (DESIGN §5), checked with numbers on the tiny world."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pystac
import pytest
import rasterio
from pystac.validation import validate_dict
from rio_cogeo.cogeo import cog_validate

from inseason.config import synth_config
from inseason.labels import cdl_class, cdl_colormap
from inseason.synth import SynthRequest, WorldSummary, load_world, run_synth, synth
from inseason.synth.acquisitions import OFFSET_DATE
from inseason.synth.grid import BAND_RES
from inseason.synth.render import scl_cloud_fraction
from inseason.synth.scenes import tile_arrays


def _scenes(world: Path, *, originals: bool = True) -> list[dict]:
    rows = pq.read_table(world / "truth" / "scenes.parquet").to_pylist()
    return [r for r in rows if not (originals and r["reprocessed"])]


def _scene_dir(world: Path, scene: dict) -> Path:
    return world / "scenes" / scene["tile"] / str(scene["date"].year) / scene["scene_id"]


def test_world_summary_matches_files(tiny_world: Path) -> None:
    info = json.loads((tiny_world / "world.json").read_text())
    scenes = _scenes(tiny_world, originals=False)
    assert info["scenes"] == len(scenes) == len(list((tiny_world / "scenes").glob("*/*/*")))
    assert info["years"] == [2021, 2022]
    assert info["bytes"] == sum(p.stat().st_size for p in tiny_world.rglob("*.tif"))
    dates = sorted(s["date"] for s in scenes)
    assert dates[0] < OFFSET_DATE < dates[-1]  # both sides of the processing-baseline change
    # 5-day revisit per orbit from two orbits with S2A and S2B in both years (March to October: 49 revisits
    # of each orbit a year, 2 % of datatakes missing)
    originals = _scenes(tiny_world)
    per_year = {y: sum(s["date"].year == y for s in originals) for y in (2021, 2022)}
    assert 90 <= per_year[2021] <= 98 and 90 <= per_year[2022] <= 98
    for year in (2021, 2022):
        assert {s["platform"] for s in originals if s["date"].year == year} == {"sentinel-2a", "sentinel-2b"}
    assert {s["relative_orbit"] for s in scenes} == {83, 126}
    for name in (
        "Corn",
        "Soybeans",
        "Rice",
        "Cotton",
        "Winter Wheat",
        "Dbl Crop WinWht/Soybeans",
        "Fallow/Idle Cropland",
        "Grassland/Pasture",
        "Open Water",
        "Deciduous Forest",
        "Developed/Open Space",
    ):
        assert name in {c["name"] for c in info["classes"].values()}


def test_scene_cogs_are_valid_cogs_on_their_own_grids(tiny_world: Path) -> None:
    info = json.loads((tiny_world / "world.json").read_text())
    left, _, _, top = info["tiles"][0]["bounds"]
    scene = _scenes(tiny_world)[3]
    for band, res in BAND_RES.items():
        path = _scene_dir(tiny_world, scene) / f"{band}.tif"
        valid, errors, _ = cog_validate(path, quiet=True)
        assert valid, (band, errors)
        with rasterio.open(path) as ds:
            assert ds.crs.to_epsg() == 32615
            assert ds.transform.a == res and ds.transform.e == -res
            assert (ds.transform.c, ds.transform.f) == (left, top)
            assert ds.shape == (2400 // res, 2400 // res)
            assert ds.profile["tiled"] and ds.compression.name == "deflate"
            assert ds.dtypes[0] == ("uint8" if band == "SCL" else "uint16") and ds.nodata == 0
            if ds.width > ds.block_shapes[0][1]:  # rasters that fit one block need no overview
                assert ds.overviews(1) == [2]
            else:
                assert band in ("B01", "B09", "SCL") or res == 20


def test_scl_cloud_fraction_matches_requested_cloudiness(tiny_world: Path) -> None:
    errors = []
    for scene in _scenes(tiny_world):
        with rasterio.open(_scene_dir(tiny_world, scene) / "SCL.tif") as ds:
            errors.append(scl_cloud_fraction(ds.read(1)) - scene["requested_cloud"])
    errors = np.abs(errors)
    assert errors.max() < 0.06  # SCL misses some thin cloud and flags some bright soil
    assert errors.mean() < 0.015
    assert errors.max() > 0.002  # imperfect, as real SCL is


def test_cogs_hold_the_generator_truth(tiny_world: Path) -> None:
    info, state = load_world(tiny_world)
    from inseason.synth.acquisitions import plan_datatakes
    from inseason.synth.world import SynthConfig

    takes = plan_datatakes(
        SynthConfig(**info["config"]), np.random.default_rng(np.random.SeedSequence([info["seed"], 2]))
    )
    scene = _scenes(tiny_world)[10]
    truth = tile_arrays(state, takes[scene["datatake"]], state.grid.tiles[0])
    for band in ("B04", "B8A", "B09", "SCL"):
        with rasterio.open(_scene_dir(tiny_world, scene) / f"{band}.tif") as ds:
            np.testing.assert_array_equal(ds.read(1), truth[band])


def test_partial_orbit_has_a_nodata_edge(tiny_world: Path) -> None:
    for scene in _scenes(tiny_world)[:12]:
        with rasterio.open(_scene_dir(tiny_world, scene) / "B02.tif") as ds:
            nodata = (ds.read(1) == 0).mean()
        if scene["relative_orbit"] == 126:
            assert 0.2 < nodata < 0.6
            assert scene["nodata_percentage"] == pytest.approx(nodata * 100, abs=3)
        else:
            assert nodata == 0


def test_offset_exactly_on_scenes_after_baseline_04(tiny_world: Path) -> None:
    """Water is dark in SWIR: ~60 DN without the offset, ~1060 with it."""
    checked = 0
    for scene in _scenes(tiny_world, originals=False):
        assert (scene["boa_offset"] == -1000) == (scene["date"] >= OFFSET_DATE)
        assert (scene["processing_baseline"] >= "04.00") == (scene["date"] >= OFFSET_DATE)
        folder = _scene_dir(tiny_world, scene)
        with rasterio.open(folder / "B12.tif") as b12, rasterio.open(folder / "SCL.tif") as scl:
            water = scl.read(1) == 6  # open water, ponds and flooded rice
            if water.sum() < 50:
                continue
            level = np.percentile(b12.read(1)[water], 2)
        checked += 1
        if scene["boa_offset"] == -1000:
            assert 900 < level < 1300  # noise makes some water reflectance negative
        else:
            assert level < 300
    assert checked > 40


def _field_ndvi(world: Path, field_id: int, year: int) -> list[tuple[dt.date, float]]:
    """Median NDVI of a field's clear 10 m pixels on each scene of ``year`` (offset removed)."""
    _, state = load_world(world)
    mask = state.calendar.landscape.units == field_id
    out = []
    for scene in _scenes(world):
        if scene["date"].year != year:
            continue
        folder = _scene_dir(world, scene)
        with (
            rasterio.open(folder / "B04.tif") as r,
            rasterio.open(folder / "B08.tif") as n,
            rasterio.open(folder / "SCL.tif") as s,
        ):
            red, nir = r.read(1).astype(float), n.read(1).astype(float)
            scl = s.read(1).repeat(2, 0).repeat(2, 1)
        clear = mask & np.isin(scl, (4, 5)) & (red > 0)
        if clear.sum() < 0.6 * mask.sum():
            continue
        red, nir = red[clear] + scene["boa_offset"], nir[clear] + scene["boa_offset"]
        out.append((scene["date"], float(np.median((nir - red) / (nir + red)))))
    return out


def _first_field(world: Path, code: int) -> dict:
    rows = pq.read_table(world / "truth" / "crops.parquet").to_pylist()
    return next(r for r in rows if r["cdl_code"] == code)


def test_corn_ndvi_peaks_in_early_summer(tiny_world: Path) -> None:
    row = _first_field(tiny_world, 1)
    series = _field_ndvi(tiny_world, row["field_id"], row["year"])
    peak_date, peak = max(series, key=lambda s: s[1])
    assert peak > 0.7
    assert dt.date(row["year"], 5, 10) <= peak_date <= dt.date(row["year"], 7, 20)
    assert row["planting_date"] < peak_date < row["harvest_date"]
    assert all(v < 0.35 for d, v in series if d.month == 3 or d.month >= 9)


def test_double_crop_shows_two_growth_cycles(tiny_world: Path) -> None:
    row = _first_field(tiny_world, 26)
    assert (row["first_crop"], row["second_crop"]) == (24, 5)
    assert row["planting_date"] < row["harvest_date"] < row["second_planting_date"] < row["second_harvest_date"]
    series = _field_ndvi(tiny_world, row["field_id"], row["year"])
    wheat = max(v for d, v in series if d < row["harvest_date"])
    gap = min(v for d, v in series if row["harvest_date"] <= d <= row["second_planting_date"] + dt.timedelta(20))
    soy = max(v for d, v in series if d > row["second_planting_date"])
    assert wheat > 0.6 and soy > 0.6 and gap < 0.35


def test_label_rasters_are_cdl_like(tiny_world: Path) -> None:
    crops = pq.read_table(tiny_world / "truth" / "crops.parquet").to_pylist()
    _, state = load_world(tiny_world)
    for year in (2021, 2022):
        with rasterio.open(tiny_world / "labels" / f"CDL_{year}.tif") as ds:
            assert ds.crs.to_epsg() == 5070 and ds.res == (30.0, 30.0) and ds.dtypes[0] == "uint8"
            assert ds.transform.c % 30 == 0 and ds.transform.f % 30 == 0
            labels = ds.read(1)
            colormap = ds.colormap(1)
            tags = ds.tags()
            for code in np.unique(labels[labels > 0]):
                assert colormap[int(code)][:3] == cdl_colormap()[int(code)][:3]
                assert tags[f"CLASS_{code}"] == cdl_class(int(code)).name
            # field centres carry the field's crop, apart from CDL-like noise
            code_of = {r["field_id"]: r["cdl_code"] for r in crops if r["year"] == year}
            from pyproj import Transformer

            to_albers = Transformer.from_crs(32615, 5070, always_xy=True)
            units = state.calendar.landscape.units
            agree = []
            for fid, code in code_of.items():
                rows, cols = np.nonzero(units == fid)
                r, c = int(np.median(rows)), int(np.median(cols))
                if units[r, c] != fid:
                    continue
                x, y = to_albers.transform(*(state.grid.transform @ (c + 0.5, r + 0.5)))
                agree.append(labels[ds.index(x, y)] == code)
            assert len(agree) >= 30 and 0.85 < np.mean(agree) < 1.0  # 49 fields a year; 3 % label noise


def test_truth_tables(tiny_world: Path) -> None:
    fields = pq.read_table(tiny_world / "truth" / "fields.parquet")
    geo = json.loads(fields.schema.metadata[b"geo"])
    assert geo["columns"]["geometry"]["encoding"] == "WKB"
    from shapely import from_wkb

    polygons = from_wkb(fields.column("geometry").to_numpy(zero_copy_only=False))
    areas = fields.column("area_ha").to_numpy()
    assert np.allclose([p.area / 1e4 for p in polygons], areas, atol=1e-3)
    assert all(p.is_valid for p in polygons)
    assert 1 < np.median(areas) < 40  # tiny worlds have half-size fields
    crops = pq.read_table(tiny_world / "truth" / "crops.parquet").to_pylist()
    assert {r["field_id"] for r in crops} == set(fields.column("field_id").to_pylist())
    for r in crops:
        if r["planting_date"] is not None:
            assert r["planting_date"] < r["harvest_date"]
            assert 90 < (r["harvest_date"] - r["planting_date"]).days < 260


def test_catalog_validates_and_points_at_the_files(tiny_world: Path) -> None:
    catalog = pystac.Catalog.from_file(str(tiny_world / "stac" / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    assert len(items) == len(_scenes(tiny_world, originals=False))
    for item in items[:20]:
        raw = json.loads(Path(item.get_self_href()).read_text())  # as written, before pystac migrates it
        validate_dict(raw, extensions=[])
        props, assets = raw["properties"], raw["assets"]
        assert props["proj:epsg"] == 32615 and props["s2:mgrs_tile"] == "15SYS"
        assert props["constellation"] == "sentinel-2" and 0 <= props["eo:cloud_cover"] <= 100
        offset = assets["red"]["raster:bands"][0]["offset"]
        assert offset == (-0.1 if props["s2:processing_baseline"] >= "04.00" else 0.0)
        assert assets["nir08"]["eo:bands"][0]["name"] == "B8A"
        assert assets["red"]["proj:shape"] == [240, 240] and assets["scl"]["proj:shape"] == [120, 120]
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_file()
    ids = [i.id for i in items]
    assert any(i.endswith("_1_L2A") for i in ids) and len(ids) == len(set(ids))


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    # one process or two writing the scenes (in whatever order they finish): the same files, byte for byte
    options = {"size": "tiny", "seed": 1, "years": (2022,), "season": ("05-01", "07-15"), "quiet": True}
    one = synth(tmp_path / "one", workers=1, **options)
    two = synth(tmp_path / "two", workers=2, **options)
    assert one.scenes > 10 and _digest(one.path) == _digest(two.path)


def test_other_seed_gives_another_world(tiny_world: Path, tmp_path: Path) -> None:
    # the session's world is seed 1; ten days of scenes are enough to make seed 2's labels
    other = synth(tmp_path / "b", size="tiny", seed=2, years=(2022,), season=("06-01", "06-10"), quiet=True).path
    cdl = "labels/CDL_2022.tif"
    assert (other / cdl).read_bytes() != (tiny_world / cdl).read_bytes()


def test_the_world_summary_holds_what_was_written(tmp_path: Path) -> None:
    request = SynthRequest.of(
        out=tmp_path / "w",
        config=synth_config("tiny", seed=5, years=(2022,), season=("06-01", "06-10")),
        workers=1,
        quiet=True,
    )
    summary = run_synth(request)
    assert isinstance(summary, WorldSummary) and summary.path == tmp_path / "w"
    assert summary.info == json.loads((summary.path / "world.json").read_text())
    assert summary.years == (2022,) and summary.info["seed"] == 5
    assert summary.scenes == len(list((summary.path / "scenes").glob("*/*/*"))) > 0
    assert summary.bytes == summary.info["bytes"] > 0
