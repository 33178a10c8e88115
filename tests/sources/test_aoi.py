"""AOI: lon/lat bboxes and vector files in any CRS become one lon/lat geometry; reprojection bends edges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from inseason.errors import InputError
from inseason.sources.aoi import aoi_to_crs, parse_bbox, read_aoi


def test_bbox_string_is_lon_lat_box() -> None:
    geom = read_aoi("-90.81, 33.39,-90.79,33.41")
    assert geom.equals(box(-90.81, 33.39, -90.79, 33.41))
    assert parse_bbox("1e-1,2,3,4").bounds == (0.1, 2.0, 3.0, 4.0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-90.79,33.39,-90.81,33.41", "inverted"),
        ("478980,1159770,481470,1162290", "not in degrees"),
        ("-90.8,33.4,-90.7", "neither an existing vector file nor a bbox"),
        ("a,b,c,d", "neither an existing vector file nor a bbox"),
    ],
)
def test_bad_bbox_is_one_clear_line(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as info:
        read_aoi(text)
    assert "\n" not in str(info.value)


def test_geojson_aoi_is_read_as_is(tiny_world: Path, world_aoi: Any) -> None:
    geom = read_aoi(tiny_world / "aoi.geojson")
    assert geom.geom_type == "Polygon"
    assert shapely.equals_exact(geom, world_aoi, tolerance=1e-12)


@pytest.mark.parametrize(("name", "crs"), [("aoi.gpkg", "EPSG:5070"), ("aoi.shp", "EPSG:32615")])
def test_projected_vector_aoi_comes_back_in_lon_lat(
    tmp_path: Path, world_aoi: Any, write_vector: Any, name: str, crs: str
) -> None:
    dense = shapely.segmentize(world_aoi, 0.0002)
    path = write_vector(
        tmp_path / name, np.array([dense]), {"name": np.array(["aoi"], dtype=object)}, crs, src_crs="EPSG:4326"
    )
    geom = read_aoi(path)
    assert geom.symmetric_difference(world_aoi).area / world_aoi.area < 1e-4
    assert np.allclose(geom.bounds, world_aoi.bounds, atol=1e-6)


def test_several_features_are_unioned(tmp_path: Path, write_vector: Any) -> None:
    parts = np.array([box(-90.81, 33.39, -90.80, 33.40), box(-90.80, 33.39, -90.79, 33.40)])
    path = write_vector(tmp_path / "two.geojson", parts, {"k": np.array([1, 2])}, "EPSG:4326", src_crs="EPSG:4326")
    geom = read_aoi(path)
    assert geom.area == pytest.approx(box(-90.81, 33.39, -90.79, 33.40).area, rel=1e-9)


def test_aoi_to_crs_bends_lon_lat_edges(world_aoi: Any) -> None:
    albers = aoi_to_crs(world_aoi, "EPSG:5070")
    to_albers = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
    # points along the lon/lat edges land on the projected outline (within a metre)
    coords = shapely.get_coordinates(shapely.segmentize(world_aoi.exterior, 0.0007))
    x, y = to_albers.transform(coords[:, 0], coords[:, 1])
    distances = shapely.distance(albers.exterior, shapely.points(x, y))
    assert distances.max() < 1.0
    # and the transform round-trips
    back = aoi_to_crs(world_aoi, 4326)
    assert back.equals(world_aoi)


def test_point_line_missing_and_unreadable_aois_are_input_errors(tmp_path: Path, write_vector: Any) -> None:
    with pytest.raises(InputError, match="no area"):
        read_aoi(Point(-90.8, 33.4))
    lines = write_vector(
        tmp_path / "line.geojson",
        np.array([LineString([(-90.8, 33.4), (-90.7, 33.5)])]),
        {"k": np.array([1])},
        "EPSG:4326",
        src_crs="EPSG:4326",
        geometry_type="LineString",
    )
    with pytest.raises(InputError, match="no area"):
        read_aoi(lines)
    with pytest.raises(InputError, match="neither an existing vector file"):
        read_aoi(tmp_path / "missing.geojson")
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("{ this is not json")
    with pytest.raises(InputError, match="cannot be read"):
        read_aoi(garbage)
    with pytest.raises(InputError, match="is a folder"):
        read_aoi(tmp_path)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_prj_is_refused(tmp_path: Path, write_vector: Any) -> None:
    path = write_vector(tmp_path / "noprj.shp", np.array([box(0, 0, 1000, 1000)]), {"k": np.array([1])}, None)
    (tmp_path / "noprj.prj").unlink(missing_ok=True)
    with pytest.raises(InputError, match="no CRS"):
        read_aoi(path)
