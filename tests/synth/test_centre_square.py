"""`centre_square`: the part of a world the demo and the scaling benchmark map."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Transformer

from inseason.synth import centre_square

INFO = {"tiles": [{"bounds": [600_000.0, 4_000_000.0, 602_400.0, 4_002_400.0]}], "scene_epsg": 32615}


def _in_utm(geometry: shapely.Geometry) -> tuple[float, float, float, float]:
    to_utm = Transformer.from_crs(4326, INFO["scene_epsg"], always_xy=True)
    xs, ys = to_utm.transform(*shapely.get_coordinates(geometry).T)
    return min(xs), min(ys), max(xs), max(ys)


def test_a_square_of_the_side_asked_centred_on_the_tiles() -> None:
    left, bottom, right, top = _in_utm(centre_square(INFO, side_m=1000.0))
    assert (left, bottom, right, top) == pytest.approx((600_700, 4_000_700, 601_700, 4_001_700), abs=0.01)


def test_a_side_larger_than_the_world_gives_the_whole_world() -> None:
    bounds = _in_utm(centre_square(INFO, side_m=10_000.0))
    assert bounds == pytest.approx(tuple(INFO["tiles"][0]["bounds"]), abs=0.01)
