"""The labels stage end to end: label points from local CDL, CropScape and vector labels."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import shapely
from pyproj import Transformer

from inseason.errors import InputError, OutputError
from inseason.labels import cdl_class
from inseason.sources.points import FIELD_ID_YEAR, LabelsRequest, make_label_points, run_labels
from inseason.tables import LABEL_POINTS, read_table

YEARS = [2021, 2022]


def cdl_points(world: Path, out: Path, **options: Any) -> pa.Table:
    options.setdefault("years", YEARS)
    return make_label_points(cdl=str(world / "labels"), aoi=str(world / "aoi.geojson"), out=out, **options)


def meta(table: pa.Table, key: str) -> str:
    return table.schema.metadata[f"inseason:{key}".encode()].decode()


@pytest.fixture(scope="module")
def stride_run(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, Path]:
    out = tmp_path_factory.mktemp("points") / "points.parquet"
    return cdl_points(tiny_world, out), out


def test_table_matches_the_contract_and_the_file(stride_run: tuple[pa.Table, Path]) -> None:
    table, out = stride_run
    assert table.schema.equals(LABEL_POINTS)
    written = read_table(out, LABEL_POINTS, what="label points")
    assert written.equals(table)
    assert meta(written, "crs") == "EPSG:5070" and meta(written, "schema_version") == "1"
    assert table.column("point_id").to_pylist() == list(range(table.num_rows))
    assert set(table.column("year").to_pylist()) == set(YEARS)
    assert set(table.column("source").to_pylist()) == {"cdl:CDL_2021.tif", "cdl:CDL_2022.tif"}
    sampling = json.loads(meta(written, "sampling"))
    assert sampling["strategy"] == "stride" and sampling["stride"] == 15 and sampling["years"] == YEARS


def test_labels_equal_the_raster_at_each_point(
    tiny_world: Path, stride_run: tuple[pa.Table, Path], values_at: Any
) -> None:
    table, _ = stride_run
    for year in YEARS:
        rows = table.filter(pa.compute.equal(table.column("year"), year)).to_pydict()
        x, y = np.array(rows["x"]), np.array(rows["y"])
        raster = tiny_world / "labels" / f"CDL_{year}.tif"
        assert np.array_equal(values_at(raster, x, y), rows["label_code"])
        with rasterio.open(raster) as ds:  # rasterio's own sampling agrees
            assert [v[0] for v in ds.sample(zip(x, y))] == rows["label_code"]
        assert rows["label"] == [cdl_class(c).name for c in rows["label_code"]]
        assert 0 not in rows["label_code"]


def test_stride_spacing_is_15_pixels_of_30_m(stride_run: tuple[pa.Table, Path]) -> None:
    table, _ = stride_run
    x = np.array(table.column("x").to_pylist())
    y = np.array(table.column("y").to_pylist())
    for values in (x, y):
        steps = np.diff(np.unique(values))
        assert len(steps) > 2 and set(steps.tolist()) == {450.0}
    # pixel centres on the CRS-wide 15-pixel grid (columns counted east from x = 0, rows south from y = 0)
    assert np.all(((x - 15) / 30) % 15 == 0) and np.all(((y + 15) / 30) % 15 == 0)


def test_points_are_inside_the_aoi_and_lon_lat_round_trip(stride_run: tuple[pa.Table, Path], world_aoi: Any) -> None:
    table, _ = stride_run
    d = table.to_pydict()
    lon, lat = np.array(d["lon"]), np.array(d["lat"])
    assert shapely.contains_xy(world_aoi, lon, lat).all()
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True).transform(lon, lat)
    assert np.allclose(x, d["x"], atol=1e-6) and np.allclose(y, d["y"], atol=1e-6)


def test_sorted_by_year_then_north_to_south_then_west_to_east(stride_run: tuple[pa.Table, Path]) -> None:
    d = stride_run[0].to_pydict()
    keys = list(zip(d["year"], [-v for v in d["y"]], d["x"]))
    assert keys == sorted(keys)


def test_field_ids_are_components_unique_across_years(stride_run: tuple[pa.Table, Path]) -> None:
    d = stride_run[0].to_pydict()
    for year, fid in zip(d["year"], d["field_id"]):
        assert fid // FIELD_ID_YEAR == year and fid % FIELD_ID_YEAR > 0
    by_field: dict[int, set[int]] = {}
    for fid, code in zip(d["field_id"], d["label_code"]):
        by_field.setdefault(fid, set()).add(code)
    assert all(len(codes) == 1 for codes in by_field.values())


def test_same_seed_same_bytes(tiny_world: Path, tmp_path: Path) -> None:
    for strategy, options in (("stratified", {"per_class": 15}), ("per_field", {"per_field": 2})):
        a = cdl_points(tiny_world, tmp_path / "a.parquet", strategy=strategy, seed=3, **options)
        b = cdl_points(tiny_world, tmp_path / "b.parquet", strategy=strategy, seed=3, **options)
        c = cdl_points(tiny_world, tmp_path / "c.parquet", strategy=strategy, seed=4, **options)
        assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
        assert a.equals(b) and not a.equals(c)


def test_stratified_caps_and_drops_rare_classes(tiny_world: Path, tmp_path: Path) -> None:
    table = cdl_points(tiny_world, tmp_path / "s.parquet", strategy="stratified", per_class=25, min_per_class=40)
    d = table.to_pydict()
    counts: dict[tuple[int, int], int] = {}
    for year, code in zip(d["year"], d["label_code"]):
        counts[(year, code)] = counts.get((year, code), 0) + 1
    assert max(counts.values()) == 25
    dropped = json.loads(meta(table, "sampling"))["dropped"]
    assert set(dropped) == {"2021", "2022"}
    for year, classes in dropped.items():
        assert all(n < 40 for n in classes.values())
        assert not any((int(year), int(code)) in counts for code in classes)
    assert "37" in dropped["2021"]  # Other Hay/Non Alfalfa is rare in the tiny world


def test_per_field_caps_points_per_field(tiny_world: Path, tmp_path: Path) -> None:
    table = cdl_points(tiny_world, tmp_path / "f.parquet", strategy="per_field", per_field=3, edge_buffer_m=30)
    fields = np.array(table.column("field_id").to_pylist())
    assert np.unique(fields, return_counts=True)[1].max() == 3
    assert json.loads(meta(table, "sampling"))["fields_without_points"]["2021"] > 0


def test_classes_filter_by_name_or_code(tiny_world: Path, tmp_path: Path) -> None:
    table = cdl_points(tiny_world, tmp_path / "c.parquet", stride=3, classes=["corn", "5"])
    assert set(table.column("label").to_pylist()) == {"Corn", "Soybeans"}
    with pytest.raises(InputError, match="did you mean 'Soybeans'"):
        cdl_points(tiny_world, tmp_path / "c.parquet", classes=["Soybean"])
    with pytest.raises(InputError, match="no pixel of the classes asked for"):
        cdl_points(tiny_world, tmp_path / "c.parquet", classes=["Oats"])


def test_cropscape_gives_the_same_points_as_the_local_folder(
    tiny_world: Path, cropscape: Any, stride_run: tuple[pa.Table, Path], tmp_path: Path
) -> None:
    table = make_label_points(
        cdl="cropscape",
        cropscape_url=cropscape.url,
        aoi=str(tiny_world / "aoi.geojson"),
        years=YEARS,
        cache_dir=tmp_path / "cache",
        out=tmp_path / "cs.parquet",
        retries=1,
        backoff=0,
        quiet=True,
    )
    local = stride_run[0]
    assert table.drop(["source"]).equals(local.drop(["source"]))
    assert set(table.column("source").to_pylist()) == {"cropscape"}
    assert cropscape.count("GetCDLFile") == 2
    assert json.loads(meta(table, "sampling"))["cropscape_bbox"][0] % 30 == 0
    # a second run is served from the cache
    make_label_points(
        cropscape_url=cropscape.url,
        aoi=str(tiny_world / "aoi.geojson"),
        years=YEARS,
        cache_dir=tmp_path / "cache",
        out=tmp_path / "cs2.parquet",
    )
    assert cropscape.count("GetCDLFile") == 2


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32615"])
def test_single_reprojected_geotiff(
    tiny_world: Path, world_aoi: Any, tmp_path: Path, reproject_raster: Any, values_at: Any, crs: str
) -> None:
    warped = reproject_raster(tiny_world / "labels" / "CDL_2022.tif", tmp_path / "CDL_2022_warped.tif", crs)
    table = make_label_points(
        cdl=str(warped), aoi=str(tiny_world / "aoi.geojson"), years=[2022], stride=4, out=tmp_path / "w.parquet"
    )
    d = table.to_pydict()
    assert meta(table, "crs") == crs
    assert len(d["x"]) > 50
    original = values_at(tiny_world / "labels" / "CDL_2022.tif", np.array(d["x"]), np.array(d["y"]), crs=crs)
    assert np.array_equal(original, d["label_code"])
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(d["x"], d["y"])
    assert np.allclose(lon, d["lon"]) and np.allclose(lat, d["lat"])
    assert shapely.contains_xy(world_aoi, lon, lat).all()


def test_vector_labels_end_to_end(
    vector_files: dict[str, Path], fields_2021: dict[str, Any], tiny_world: Path, tmp_path: Path
) -> None:
    table = make_label_points(
        vector=str(vector_files["gpkg"]),
        class_column="crop",
        field_column="parcel",
        aoi=str(tiny_world / "aoi.geojson"),
        years=[2021],
        strategy="per_field",
        per_field=2,
        edge_buffer_m=30,
        out=tmp_path / "v.parquet",
    )
    d = table.to_pydict()
    assert meta(table, "crs") == "EPSG:5070"
    assert set(d["source"]) == {"vector:fields.gpkg"}
    polygon_of = dict(zip((fields_2021["field_id"] + 1000).tolist(), fields_2021["geometry"]))
    crop_of = dict(zip((fields_2021["field_id"] + 1000).tolist(), fields_2021["crop"]))
    for x, y, fid, label in zip(d["x"], d["y"], d["field_id"], d["label"]):
        polygon = polygon_of[fid]
        assert polygon.contains(shapely.Point(x, y)) and polygon.boundary.distance(shapely.Point(x, y)) >= 30
        assert label == crop_of[fid]
    codes = json.loads(meta(table, "sampling"))["label_codes"]
    assert [codes[lab] for lab in d["label"]] == d["label_code"]
    assert np.unique(d["field_id"], return_counts=True)[1].max() == 2


def test_vector_stride_grid_and_stratified(vector_files: dict[str, Path], tiny_world: Path, tmp_path: Path) -> None:
    aoi = str(tiny_world / "aoi.geojson")
    grid = make_label_points(
        vector=str(vector_files["geojson"]),
        class_column="cdl",
        aoi=aoi,
        years=[2021],
        stride=4,
        edge_buffer_m=0,
        out=tmp_path / "g.parquet",
    )
    assert meta(grid, "crs") == "EPSG:32615"
    x = np.array(grid.column("x").to_pylist())
    assert np.all(x % 120 == 0)
    assert grid.column("label").to_pylist() == [str(c) for c in grid.column("label_code").to_pylist()]
    strat = make_label_points(
        vector=str(vector_files["geojson"]),
        class_column="cdl",
        aoi=str(tiny_world / "aoi.geojson"),
        years=[2021],
        strategy="stratified",
        stride=2,
        per_class=10,
        min_per_class=30,
        classes=["1", "5", "3"],
        out=tmp_path / "s.parquet",
    )
    labels, counts = np.unique(strat.column("label").to_pylist(), return_counts=True)
    assert set(labels) <= {"1", "5", "3"} and counts.max() == 10


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"years": []}, InputError, "no years given"),
        ({"strategy": "random"}, InputError, "unknown sampling strategy"),
        ({"strategy": "stratified"}, InputError, "needs --per-class"),
        ({"stride": 0}, InputError, "at least 1"),
        ({"years": [2021, 2023]}, InputError, r"no GeoTIFF for 2023 \(years found: 2021, 2022\)"),
        ({"aoi": "-100,40,-99.9,40.1"}, InputError, "does not overlap"),
        ({"vector": "x.gpkg"}, InputError, "exactly one label source"),
        ({"class_column": "crop"}, InputError, "apply to --vector labels only"),
        ({"stride": 500}, InputError, "no label points were sampled"),
    ],
)
def test_bad_options_are_one_line_errors(
    tiny_world: Path, tmp_path: Path, options: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    kwargs: dict[str, Any] = {
        "cdl": str(tiny_world / "labels"),
        "aoi": str(tiny_world / "aoi.geojson"),
        "years": YEARS,
        "out": tmp_path / "p.parquet",
        **options,
    }
    with pytest.raises(error, match=fragment) as info:
        make_label_points(**kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "p.parquet").exists()


def test_aoi_with_no_label_pixels(tiny_world: Path, tmp_path: Path) -> None:
    with rasterio.open(tiny_world / "labels" / "CDL_2021.tif") as ds:
        profile, data = ds.profile, ds.read(1)
    folder = tmp_path / "labels"
    folder.mkdir()
    with rasterio.open(folder / "CDL_2021.tif", "w", **profile) as dst:
        dst.write(np.zeros_like(data), 1)
    with pytest.raises(InputError, match=r"AOI has no label pixels .* for 2021"):
        make_label_points(
            cdl=str(folder), aoi=str(tiny_world / "aoi.geojson"), years=[2021], out=tmp_path / "p.parquet"
        )


def test_vector_bad_inputs(vector_files: dict[str, Path], tiny_world: Path, tmp_path: Path) -> None:
    aoi = str(tiny_world / "aoi.geojson")
    with pytest.raises(InputError, match="need --class-column"):
        make_label_points(vector=str(vector_files["gpkg"]), aoi=aoi, years=[2021], out=tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"no class column 'type' \(columns: 'crop', 'cdl', 'parcel'\)"):
        make_label_points(
            vector=str(vector_files["gpkg"]), class_column="type", aoi=aoi, years=[2021], out=tmp_path / "p.parquet"
        )
    with pytest.raises(InputError, match="do not occur in vector labels"):
        make_label_points(
            vector=str(vector_files["gpkg"]),
            class_column="crop",
            classes=["Oats"],
            aoi=aoi,
            years=[2021],
            out=tmp_path / "p.parquet",
        )
    with pytest.raises(InputError, match="AOI does not overlap vector labels"):
        make_label_points(
            vector=str(vector_files["gpkg"]),
            class_column="crop",
            aoi="-100,40,-99.9,40.1",
            years=[2021],
            out=tmp_path / "p.parquet",
        )


def test_output_folder_is_refused(tiny_world: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a folder"):
        cdl_points(tiny_world, tmp_path)


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--stride", "0"], {"stride": 0}),
        (["--strategy", "bogus"], {"strategy": "bogus"}),
        (["--strategy", "stratified"], {"strategy": "stratified"}),
        (["--edge-buffer", "-1"], {"edge_buffer_m": -1.0}),
        (["--class-column", "crop"], {"class_column": "crop"}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tiny_world: Path, tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    out = tmp_path / "p.parquet"
    with pytest.raises(InputError) as info:
        make_label_points(cdl=str(tiny_world / "labels"), aoi="0,0,1,1", years=[2021], out=out, **options)
    args = ["labels", "--cdl", str(tiny_world / "labels"), "--aoi", "0,0,1,1", "--years", "2021", "--out", str(out)]
    result = CliRunner().invoke(app, ["--quiet", *args, *flags])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        LabelsRequest.of(cdl=str(tiny_world / "labels"), aoi="0,0,1,1", years=(2021,), out=out, **options)
    assert not out.exists()


def test_a_labels_request_round_trips(tmp_path: Path) -> None:
    request = LabelsRequest.of(
        cdl="cropscape",
        aoi=shapely.box(-90.8, 33.38, -90.78, 33.41),
        years=[2022, 2021, 2022],
        strategy="stratified",
        per_class=5,
        classes=["Corn", 5],
        edge_buffer_m=0,
        cache_dir=tmp_path / "cache",
        out=tmp_path / "p.parquet",
    )
    assert request.years == (2021, 2022) and request.classes == ("Corn", 5) and request.cdl_source == "cropscape"
    assert LabelsRequest.of(**request.model_dump()) == request
    with pytest.raises(InputError, match="invalid LabelsRequest option strides: Extra inputs are not permitted"):
        LabelsRequest.of(**request.model_dump(), strides=3)


def test_the_labels_result_holds_what_was_written(tiny_world: Path, tmp_path: Path) -> None:
    request = LabelsRequest.of(
        cdl=str(tiny_world / "labels"),
        aoi=str(tiny_world / "aoi.geojson"),
        years=[2022],
        strategy="per_field",
        per_field=2,
        out=tmp_path / "p.parquet",
        quiet=True,
    )
    result = run_labels(request)
    written = read_table(result.path, LABEL_POINTS, what="label points")
    assert result.path == tmp_path / "p.parquet" and result.points == written.num_rows > 0
    assert result.crs == meta(written, "crs") and result.sampling == json.loads(meta(written, "sampling"))
    assert result.sampling["per_field"] == 2 and result.sampling["years"] == [2022]
    assert result.table.equals(written, check_metadata=True)
