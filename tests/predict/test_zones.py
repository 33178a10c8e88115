"""A map across a UTM zone boundary: scenes of the other zone are warped onto the map grid, no nodata seam.

The AOI straddles 96°W, the boundary of zones 14 and 15. Each zone's scenes are COGs with the real layout
(1 024-px blocks, deflate with predictor 2, overviews; smaller tiles) that hold data only on their side of the
boundary plus a few hundred metres past it (real tiles overlap the neighbouring zone), so every AOI pixel is
covered by one zone or the other, and a reader that skipped the minority zone would leave a seam of nodata.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rasterio
from pyproj import Transformer
from rasterio.features import geometry_mask
from shapely.geometry import box, mapping

from inseason.predict.read import BlockCache, map_grid, plan_blocks, read_block, scene_refs
from inseason.sources.aoi import aoi_to_crs
from inseason.sources.stac import scene_record
from inseason.tables import S2_BANDS, SCENE_MANIFEST
from inseason.testing.real_layout import BAND_RESOLUTION, RealScene, write_scene

BOUNDARY = -96.0  # zones 14 | 15
MARGIN = 0.004  # degrees of longitude a tile reaches past the boundary (~350 m at 38°N)
AOI = box(-96.02, 38.0, -95.98, 38.015)  # ~3.5 km x 1.7 km across the boundary
SIZE_10M = 1200  # a 12 km tile: 2 x 2 blocks of 1 024 px at 10 m
B02_OF_ZONE = {14: 1400, 15: 1500}


def pattern(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """B04 (and the other bands): a value that tells the source pixel apart from its neighbours."""
    return 100 + (rows * 7 + cols * 13) % 3000


def tile_origin(epsg: int) -> tuple[float, float]:
    """A tile origin (60 m multiples, like real tiles) that puts the AOI near the tile's centre."""
    centre = aoi_to_crs(AOI, epsg).centroid
    half = SIZE_10M * 10 / 2
    return math.floor((centre.x - half) / 60) * 60.0, math.ceil((centre.y + half) / 60) * 60.0


def zone_scene(folder: Path, epsg: int, date: dt.date, bands: tuple[str, ...]) -> RealScene:
    zone = epsg % 100
    origin = tile_origin(epsg)
    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)

    def values(band: str):
        res = BAND_RESOLUTION[band]

        def make(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            x = origin[0] + (cols + 0.5) * res + 0 * rows
            y = origin[1] - (rows + 0.5) * res + 0 * cols
            lon, _ = to_lonlat.transform(x, y)
            covered = lon < BOUNDARY + MARGIN if zone == 14 else lon > BOUNDARY - MARGIN
            value = {"SCL": 4, "B02": B02_OF_ZONE[zone]}.get(band)
            data = pattern(rows, cols) if value is None else np.full(covered.shape, value)
            return np.where(covered, data, 0)

        return make

    return write_scene(folder, values, date=date, epsg=epsg, bands=(*bands, "SCL"), origin=origin, size_10m=SIZE_10M)


def manifest(scenes: list[RealScene]) -> pa.Table:
    return pa.Table.from_pylist([scene_record(s.item).row(1.0) for s in scenes], schema=SCENE_MANIFEST)


@pytest.fixture(scope="module")
def two_zones(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """Two zone-15 scenes (the majority: the map grid's zone) and one zone-14 scene, all twelve bands."""
    folder = tmp_path_factory.mktemp("two-zones")
    return manifest(
        [
            zone_scene(folder, 32615, dt.date(2024, 6, 1), S2_BANDS),
            zone_scene(folder, 32614, dt.date(2024, 6, 3), S2_BANDS),
            zone_scene(folder, 32615, dt.date(2024, 6, 6), S2_BANDS),
        ]
    )


def expected_b04(ref, x: np.ndarray, y: np.ndarray, grid_epsg: int, res: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The value of the scene pixel (of ``res`` metres) holding each map pixel centre (x, y in the grid's
    CRS), and whether that pixel holds data."""
    tx, ty = Transformer.from_crs(grid_epsg, ref.epsg, always_xy=True).transform(x, y)
    origin = tile_origin(ref.epsg)
    cols, rows = np.floor((tx - origin[0]) / res).astype(int), np.floor((origin[1] - ty) / res).astype(int)
    centre_lon, _ = Transformer.from_crs(ref.epsg, 4326, always_xy=True).transform(
        origin[0] + (cols + 0.5) * res, origin[1] - (rows + 0.5) * res
    )
    zone = ref.epsg % 100
    covered = centre_lon < BOUNDARY + MARGIN if zone == 14 else centre_lon > BOUNDARY - MARGIN
    return pattern(rows, cols), covered


def test_other_zone_scenes_are_warped_onto_the_grid_without_a_seam(two_zones: pa.Table) -> None:
    refs = scene_refs(two_zones, since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    grid = map_grid(AOI, refs)
    assert grid.epsg == 32615  # the majority zone
    by_day = {(r.date - dt.date(1970, 1, 1)).days: r for r in refs}
    to_lonlat = Transformer.from_crs(grid.epsg, 4326, always_xy=True)
    cache = BlockCache()
    mapped = seen_west = seen_east = 0
    for block in plan_blocks(grid, AOI, block_size=128):
        series = read_block(block, grid=grid, scenes=refs, aoi=AOI, bands=("B02", "B04"), cache=cache)
        assert series.skipped == ()
        assert series.counts.min() >= 1, f"block {block.index}: AOI pixels without any observation (a seam)"
        mapped += series.pixels.size
        x, y = block.pixel_centres(grid, series.pixels)
        lon, _ = to_lonlat.transform(x, y)
        pixel_of_obs = np.repeat(np.arange(series.pixels.size), series.counts)
        for day, ref in by_day.items():
            here = series.days == day
            b02, b04 = series.values[here, 0] - ref.boa_offset, series.values[here, 1] - ref.boa_offset
            want, covered = expected_b04(ref, x[pixel_of_obs[here]], y[pixel_of_obs[here]], grid.epsg)
            assert covered.all()  # an observation only where the scene has data
            np.testing.assert_array_equal(b02, B02_OF_ZONE[ref.epsg % 100])
            np.testing.assert_array_equal(b04, want)  # the scene pixel holding the centre: nearest
            # and every pixel the scene covers (its 10 m bands and its 20 m SCL) has the observation
            covered_all = expected_b04(ref, x, y, grid.epsg)[1] & expected_b04(ref, x, y, grid.epsg, 20)[1]
            assert np.array_equal(np.isin(np.arange(series.pixels.size), pixel_of_obs[here]), covered_all)
        far_west, far_east = lon < BOUNDARY - 1.5 * MARGIN, lon > BOUNDARY + 1.5 * MARGIN
        west_days = {int(d) for d in series.days[np.isin(pixel_of_obs, np.flatnonzero(far_west))]}
        east_days = {int(d) for d in series.days[np.isin(pixel_of_obs, np.flatnonzero(far_east))]}
        assert {by_day[d].epsg for d in west_days} <= {32614} and {by_day[d].epsg for d in east_days} <= {32615}
        seen_west += int(far_west.sum())
        seen_east += int(far_east.sum())
    assert seen_west > 10_000 and seen_east > 10_000 and mapped > 50_000


def test_a_map_across_the_boundary_has_no_nodata_seam(two_zones: pa.Table, tmp_path: Path) -> None:
    from inseason.bench.predict import untrained_bundle
    from inseason.predict.maps import predict_map

    bundle = untrained_bundle("arset", tmp_path / "bundle", seed=1)
    run = predict_map(
        bundle,
        scenes=two_zones,
        aoi=AOI,
        as_of=[dt.date(2024, 6, 30)],
        out=tmp_path / "maps",
        block_size=128,
        workers=1,
        quiet=True,
    )
    [cog] = sorted((tmp_path / "maps").rglob("*.tif"))
    with rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 32615
        classes = ds.read(1)
        inside = geometry_mask(
            [mapping(aoi_to_crs(AOI, 32615))], out_shape=classes.shape, transform=ds.transform, invert=True
        )
    assert inside.sum() > 50_000
    assert (classes[inside] > 0).all(), "AOI pixels left nodata: a seam along the zone boundary"
    assert run.mapped_pixels["2024-06-30"] == int(inside.sum())
