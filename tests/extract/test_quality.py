"""SCL quality over the AOI: windowed reads give the same numbers as the full array, and only the window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from pyproj import Transformer
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from inseason.extract.quality import DEFAULT_SCL_MASK, UnreadableScene, scl_valid_fraction
from inseason.testing.s3 import LoopbackS3


def world_aoi(world: Path) -> BaseGeometry:
    return shape(json.loads((world / "aoi.geojson").read_text())["features"][0]["geometry"])


def utm_box_lonlat(world: Path, fx0: float, fy0: float, fx1: float, fy1: float) -> BaseGeometry:
    """A lon/lat box over the part [fx0, fx1] × [fy0, fy1] (fractions from the west/north) of the tile."""
    tile = json.loads((world / "world.json").read_text())["tiles"][0]
    left, bottom, right, top = tile["bounds"]
    to_ll = Transformer.from_crs(tile["epsg"], 4326, always_xy=True)
    x0, x1 = left + fx0 * (right - left), left + fx1 * (right - left)
    y0, y1 = top - fy1 * (top - bottom), top - fy0 * (top - bottom)
    (w, e), (s, n) = to_ll.transform([x0, x1], [y0, y1])
    return box(min(w, e), min(s, n), max(w, e), max(s, n))


def direct_fraction(path: Path | str, aoi: BaseGeometry, mask: tuple[int, ...] = DEFAULT_SCL_MASK) -> float:
    """The valid share computed the plain way: the whole SCL array and the AOI rasterised on the whole grid."""
    with rasterio.open(path) as ds:
        scl = ds.read(1)
        geom = transform_geom("EPSG:4326", ds.crs, mapping(aoi))
        inside = geometry_mask([geom], out_shape=scl.shape, transform=ds.transform, invert=True)
    return float((inside & ~np.isin(scl, mask)).sum() / inside.sum())


def scl_paths(world: Path) -> list[Path]:
    truth = pq.read_table(world / "truth" / "scenes.parquet").to_pylist()
    return [world / "scenes" / r["tile"] / str(r["date"].year) / r["scene_id"] / "SCL.tif" for r in truth]


def test_fraction_equals_full_array_over_the_world_aoi(tiny_world: Path) -> None:
    aoi = world_aoi(tiny_world)
    paths = scl_paths(tiny_world)[:40]
    got = [scl_valid_fraction(str(p), aoi).valid_fraction for p in paths]
    want = [direct_fraction(p, aoi) for p in paths]
    assert got == want
    assert len(set(got)) > 10  # the scenes differ: this compares real numbers, not a constant


def test_small_aoi_reads_only_its_window_and_matches_full_array(tiny_world: Path) -> None:
    small = utm_box_lonlat(tiny_world, 0.55, 0.2, 0.75, 0.4)
    for path in scl_paths(tiny_world)[:20]:
        quality = scl_valid_fraction(str(path), small)
        assert quality.valid_fraction == direct_fraction(path, small)
        assert quality.window is not None
        assert quality.window.width <= 30 and quality.window.height <= 30  # of 120 × 120
        assert quality.window.col_off >= 60 and quality.window.row_off >= 20
        assert 0 < quality.aoi_pixels <= quality.window.width * quality.window.height


def test_small_aoi_differs_from_tile_cloud_cover(tiny_world: Path) -> None:
    truth = pq.read_table(tiny_world / "truth" / "scenes.parquet").to_pylist()
    small = utm_box_lonlat(tiny_world, 0.1, 0.1, 0.3, 0.3)
    gaps = []
    for r, path in zip(truth, scl_paths(tiny_world)):
        fraction = scl_valid_fraction(str(path), small).valid_fraction
        gaps.append(abs((1 - fraction) - r["cloud_cover"] / 100))
    assert max(gaps) > 0.3  # the AOI's sky is not the tile's


def test_nodata_beyond_the_swath_is_invalid(tiny_world: Path) -> None:
    """Relative orbit 126 misses the eastern part of the tile: an AOI there gets 0 whatever the clouds."""
    truth = pq.read_table(tiny_world / "truth" / "scenes.parquet").to_pylist()
    east = utm_box_lonlat(tiny_world, 0.85, 0.3, 0.95, 0.6)
    west = utm_box_lonlat(tiny_world, 0.05, 0.3, 0.15, 0.6)
    partial = [(r, p) for r, p in zip(truth, scl_paths(tiny_world)) if r["relative_orbit"] == 126][:10]
    assert partial
    for _, path in partial:
        assert scl_valid_fraction(str(path), east).valid_fraction == 0.0
    assert max(scl_valid_fraction(str(p), west).valid_fraction for _, p in partial) > 0.5


def test_mask_is_configurable(tiny_world: Path) -> None:
    aoi = world_aoi(tiny_world)
    path = scl_paths(tiny_world)[0]
    everything = scl_valid_fraction(str(path), aoi, scl_mask=())
    only_nodata = scl_valid_fraction(str(path), aoi, scl_mask=(0,))
    default = scl_valid_fraction(str(path), aoi)
    assert everything.valid_fraction == 1.0
    assert only_nodata.valid_fraction == direct_fraction(path, aoi, (0,))
    assert default.valid_fraction <= only_nodata.valid_fraction


def test_aoi_outside_the_tile_gives_zero(tiny_world: Path) -> None:
    far = box(-80.0, 40.0, -79.9, 40.1)
    quality = scl_valid_fraction(str(scl_paths(tiny_world)[0]), far)
    assert (quality.valid_fraction, quality.aoi_pixels, quality.window) == (0.0, 0, None)


def test_aoi_smaller_than_a_pixel_counts_the_pixel_it_touches(tiny_world: Path) -> None:
    speck = utm_box_lonlat(tiny_world, 0.5001, 0.5001, 0.5002, 0.5002)
    quality = scl_valid_fraction(str(scl_paths(tiny_world)[0]), speck)
    assert quality.aoi_pixels >= 1
    assert quality.valid_fraction in (0.0, 1.0)


@pytest.mark.parametrize("damage", ["missing", "truncated", "junk"])
def test_unreadable_scl_raises_with_reason(tiny_world: Path, tmp_path: Path, damage: str) -> None:
    source = scl_paths(tiny_world)[0]
    bad = tmp_path / "SCL.tif"
    if damage == "truncated":
        data = source.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "junk":
        bad.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    with pytest.raises(UnreadableScene) as info:
        scl_valid_fraction(str(bad), world_aoi(tiny_world))
    assert str(info.value)
    if damage == "missing":
        assert "No such file" in str(info.value)


def test_scene_quality_of_an_s3_href_equals_the_local_file(tiny_world: Path, s3: LoopbackS3) -> None:
    local = next(tiny_world.glob("scenes/*/2022/*/SCL.tif"))
    uri = s3.upload(local.parent, "quality", prefix=local.parent.name) + "/SCL.tif"
    aoi = shape(json.loads((tiny_world / "aoi.geojson").read_text())["features"][0]["geometry"])
    expected = scl_valid_fraction(str(local), aoi)
    assert expected.aoi_pixels > 0
    assert scl_valid_fraction(uri, aoi) == expected
