"""Vector labels: GeoJSON/GeoPackage/Shapefile in any CRS, class and field columns, points inside polygons."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import LineString, Point, box

from inseason.errors import InputError
from inseason.sources.vector import feature_points, grid_points, random_points, read_vector_labels, utm_crs, working_crs


def test_missing_class_column_names_file_column_and_columns(vector_files: dict[str, Path]) -> None:
    for path in vector_files.values():
        with pytest.raises(InputError) as info:
            read_vector_labels(path, class_column="croptype")
        message = str(info.value)
        assert str(path) in message and "'croptype'" in message
        assert "'crop'" in message and "'cdl'" in message and "'parcel'" in message
        assert "\n" not in message
    with pytest.raises(InputError, match="no field column 'plot'"):
        read_vector_labels(vector_files["gpkg"], class_column="crop", field_column="plot")


def test_columns_codes_and_crs_of_each_format(vector_files: dict[str, Path], fields_2021: dict[str, Any]) -> None:
    gpkg = read_vector_labels(vector_files["gpkg"], class_column="crop", field_column="parcel")
    assert gpkg.crs.to_epsg() == 5070  # projected: sampled in its own CRS
    assert list(gpkg.labels) == list(fields_2021["crop"])
    names = sorted(set(fields_2021["crop"]))
    assert gpkg.code_map == {n: i for i, n in enumerate(names, start=1)}
    assert [gpkg.code_map[n] for n in gpkg.labels] == gpkg.codes.tolist()
    assert np.array_equal(gpkg.field_ids, fields_2021["field_id"] + 1000)

    geojson = read_vector_labels(vector_files["geojson"], class_column="CDL")  # column names match any case
    assert geojson.source_crs.to_epsg() == 4326
    assert geojson.crs.to_epsg() == 32615  # geographic: sampled in the UTM zone of the data
    assert geojson.codes.tolist() == fields_2021["cdl"].tolist()
    assert list(geojson.labels) == [str(c) for c in fields_2021["cdl"]] and geojson.code_map == {}
    assert np.array_equal(geojson.field_ids, np.arange(len(fields_2021["cdl"])))  # feature index

    shp = read_vector_labels(vector_files["shp"], class_column="crop")
    assert shp.crs.to_epsg() == 32615
    areas = shapely.area(shp.geometries)
    assert np.allclose(areas, shapely.area(geojson.geometries), rtol=1e-6)


def test_utm_zone_choice() -> None:
    assert utm_crs(-90.8, 33.4).to_epsg() == 32615
    assert utm_crs(2.35, 48.86).to_epsg() == 32631
    assert utm_crs(-47.9, -15.8).to_epsg() == 32723
    assert working_crs(CRS.from_epsg(4326), np.array([box(10, 50, 10.1, 50.1)])).to_epsg() == 32632


def test_random_points_stay_inside_by_the_buffer() -> None:
    polygon = shapely.Polygon([(0, 0), (400, 0), (400, 100), (100, 100), (100, 400), (0, 400)])  # an L
    pts = random_points(polygon, 500, np.random.default_rng(0), buffer_m=30.0)
    assert len(pts) == 500
    points = shapely.points(pts)
    assert shapely.contains(polygon, points).all()
    assert shapely.distance(polygon.boundary, points).min() >= 30.0
    again = random_points(polygon, 500, np.random.default_rng(0), buffer_m=30.0)
    assert np.array_equal(pts, again)
    assert len(random_points(box(0, 0, 50, 50), 3, np.random.default_rng(0), buffer_m=30.0)) == 0


def test_grid_points_sit_on_the_spacing_grid() -> None:
    polygon = box(10, 10, 1000, 460)
    pts = grid_points(polygon, 100.0, buffer_m=30.0)
    assert set(np.unique(pts[:, 0]).tolist()) == {100.0 * i for i in range(1, 10)}
    assert set(np.unique(pts[:, 1]).tolist()) == {100.0, 200.0, 300.0, 400.0}
    assert shapely.distance(polygon.boundary, shapely.points(pts)).min() >= 30.0


def test_per_field_points_are_inside_their_polygon(vector_files: dict[str, Path]) -> None:
    labels = read_vector_labels(vector_files["gpkg"], class_column="crop", field_column="parcel")
    xy, owner, empty = feature_points(
        labels, strategy="per_field", per_field=4, spacing_m=450, edge_buffer_m=30.0, seed=7
    )
    points = shapely.points(xy)
    polygons = labels.geometries[owner]
    assert shapely.contains(polygons, points).all()
    assert shapely.distance(shapely.boundary(polygons), points).min() >= 30.0
    counts = np.bincount(owner, minlength=len(labels.geometries))
    inner_area = shapely.area(shapely.buffer(labels.geometries, -30.0))
    assert (counts[inner_area > 5000] == 4).all()  # large enough polygons get exactly n points
    assert empty == int((counts == 0).sum()) and (inner_area[counts == 0] == 0).all()
    again = feature_points(labels, strategy="per_field", per_field=4, spacing_m=450, edge_buffer_m=30.0, seed=7)
    assert np.array_equal(xy, again[0])
    other = feature_points(labels, strategy="per_field", per_field=4, spacing_m=450, edge_buffer_m=30.0, seed=8)
    assert not np.array_equal(xy, other[0])


def test_grid_agrees_between_formats_in_the_same_working_crs(vector_files: dict[str, Path]) -> None:
    a = read_vector_labels(vector_files["geojson"], class_column="crop")
    b = read_vector_labels(vector_files["shp"], class_column="crop")
    xa, oa, _ = feature_points(a, strategy="grid", per_field=1, spacing_m=60, edge_buffer_m=15.0, seed=0)
    xb, ob, _ = feature_points(b, strategy="grid", per_field=1, spacing_m=60, edge_buffer_m=15.0, seed=0)
    sa = {(x, y, a.labels[o]) for (x, y), o in zip(xa.tolist(), oa)}
    sb = {(x, y, b.labels[o]) for (x, y), o in zip(xb.tolist(), ob)}
    assert len(sa) > 100
    assert len(sa & sb) >= 0.99 * max(len(sa), len(sb))


def test_point_features_are_used_as_given(tmp_path: Path, write_vector: Any) -> None:
    pts = np.array([Point(480000, 1160000), Point(480300, 1160600)])
    path = write_vector(
        tmp_path / "points.gpkg",
        pts,
        {"class": np.array(["Corn", "Rice"], dtype=object)},
        "EPSG:5070",
        geometry_type="Point",
    )
    labels = read_vector_labels(path, class_column="class")
    xy, owner, empty = feature_points(
        labels, strategy="per_field", per_field=3, spacing_m=450, edge_buffer_m=30, seed=0
    )
    assert xy.tolist() == [[480000.0, 1160000.0], [480300.0, 1160600.0]] and owner.tolist() == [0, 1]
    assert empty == 0


def test_year_column_nulls_and_lines(tmp_path: Path, write_vector: Any, caplog: pytest.LogCaptureFixture) -> None:
    polys = np.array(
        [
            box(480000, 1160000, 480300, 1160300),
            box(480400, 1160000, 480700, 1160300),
            box(480800, 1160000, 481100, 1160300),
        ]
    )
    path = write_vector(
        tmp_path / "years.gpkg",
        polys,
        {"class": np.array(["Corn", "Soybeans", None], dtype=object), "Year": np.array([2021, 2022, 2022])},
        "EPSG:5070",
    )
    with caplog.at_level(logging.WARNING):
        labels = read_vector_labels(path, class_column="class")
    assert "1 feature(s) without geometry or class dropped" in caplog.text
    assert labels.years.tolist() == [2021, 2022] and labels.index.tolist() == [0, 1]
    assert read_vector_labels(path, class_column="class", year_column=None).years is None

    lines = write_vector(
        tmp_path / "lines.geojson",
        np.array([LineString([(0, 0), (1, 1)])]),
        {"class": np.array(["Corn"], dtype=object)},
        "EPSG:4326",
        src_crs="EPSG:4326",
        geometry_type="LineString",
    )
    with pytest.raises(InputError, match="hold lines"):
        read_vector_labels(lines, class_column="class")
    empty = write_vector(tmp_path / "empty.gpkg", polys[:1], {"class": np.array([None], dtype=object)}, "EPSG:5070")
    with pytest.raises(InputError, match="no feature with a geometry and a 'class' value"):
        read_vector_labels(empty, class_column="class")
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="cannot be read"):
        read_vector_labels(garbage, class_column="class")
    with pytest.raises(InputError, match="do not exist"):
        read_vector_labels(tmp_path / "missing.shp", class_column="class")
