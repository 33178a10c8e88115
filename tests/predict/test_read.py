"""Block reads: values against the COG pixels, BOA offset, SCL masking, nearest resampling, store layout."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import rasterio
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from inseason.data import AdapterConfig, FeatureConfig, InputSpec, Normalization, build_batch
from inseason.extract.sample import DEFAULT_SCL_MASK
from inseason.predict.read import map_grid, plan_blocks, read_block, scene_refs
from inseason.tables import S2_BANDS


def _pixel_value(href: str, x: float, y: float) -> int:
    with rasterio.open(href) as ds:
        row, col = ds.index(x, y)
        return int(ds.read(1)[row, col])


def test_block_series_match_cog_pixels(tiny_scenes: pa.Table, tiny_aoi: BaseGeometry) -> None:
    refs = scene_refs(tiny_scenes, since=dt.date(2022, 1, 1), until=dt.date(2022, 6, 30))
    grid = map_grid(tiny_aoi, refs)
    assert grid.epsg == 32615 and grid.transform.a == 10.0 and grid.transform.c % 10 == 0
    block = plan_blocks(grid, tiny_aoi, block_size=64)[5]
    series = read_block(block, grid=grid, scenes=refs, aoi=tiny_aoi)
    assert series.values.dtype == np.int16 and series.values.shape[1] == len(S2_BANDS)
    assert series.offsets[-1] == len(series.days) and series.skipped == ()
    # one pixel with observations: every observation equals the COG pixel + offset, SCL not masked
    i = int(np.argmax(series.counts))
    row, col = divmod(int(series.pixels[i]), block.width)
    x, y = block.transform(grid) @ (col + 0.5, row + 0.5)
    by_date = {r.date: r for r in refs}
    obs = slice(series.offsets[i], series.offsets[i + 1])
    days = series.days[obs]
    assert np.all(np.diff(days) > 0)
    for day, values, scl in zip(days, series.values[obs], series.scl[obs]):
        ref = by_date[dt.date(1970, 1, 1) + dt.timedelta(days=int(day))]
        assert scl not in DEFAULT_SCL_MASK and scl == _pixel_value(ref.hrefs["SCL"], x, y)
        expected = [_pixel_value(ref.hrefs[b], x, y) + ref.boa_offset for b in S2_BANDS]
        assert values.tolist() == expected
    # 2022 scenes carry the +1000 DN offset of processing baseline 04.00: harmonised by adding -1000
    assert {by_date[dt.date(1970, 1, 1) + dt.timedelta(days=int(d))].boa_offset for d in days} == {-1000}
    # scenes with masked SCL at this pixel are absent
    seen = {int(d) for d in days}
    for ref in refs:
        if (ref.date - dt.date(1970, 1, 1)).days not in seen:
            assert _pixel_value(ref.hrefs["SCL"], x, y) in DEFAULT_SCL_MASK or any(
                _pixel_value(ref.hrefs[b], x, y) == 0 for b in S2_BANDS
            )


def test_coarse_bands_are_nearest_resampled(tiny_scenes: pa.Table, tiny_aoi: BaseGeometry) -> None:
    refs = scene_refs(tiny_scenes, since=dt.date(2021, 7, 1), until=dt.date(2021, 7, 31))
    grid = map_grid(tiny_aoi, refs)
    block = plan_blocks(grid, tiny_aoi, block_size=64)[5]
    series = read_block(block, grid=grid, scenes=refs[:1], aoi=tiny_aoi, bands=("B05", "B01"))
    assert series.bands == ("B05", "B01")
    with rasterio.open(refs[0].hrefs["B05"]) as b05, rasterio.open(refs[0].hrefs["B01"]) as b01:
        a05, a01 = b05.read(1), b01.read(1)
        for k in np.flatnonzero(series.counts)[::97]:
            row, col = divmod(int(series.pixels[k]), block.width)
            x, y = block.transform(grid) @ (col + 0.5, row + 0.5)
            obs = series.values[series.offsets[k]]
            assert obs[0] == a05[b05.index(x, y)] and obs[1] == a01[b01.index(x, y)]


def test_only_aoi_and_kept_pixels_are_mapped(tiny_scenes: pa.Table, tiny_aoi: BaseGeometry) -> None:
    refs = scene_refs(tiny_scenes, since=dt.date(2021, 5, 1), until=dt.date(2021, 5, 20))
    grid = map_grid(tiny_aoi, refs)
    blocks = plan_blocks(grid, tiny_aoi, block_size=128)
    assert [b.index for b in blocks] == list(range(len(blocks)))
    assert sum(b.height * b.width for b in blocks) == grid.height * grid.width
    block = blocks[0]
    keep = np.zeros((block.height, block.width), bool)
    keep[10:20, 30:35] = True
    series = read_block(block, grid=grid, scenes=refs, aoi=tiny_aoi, keep=keep)
    assert series.pixels.size == 50
    assert set(series.pixels.tolist()) <= set(np.flatnonzero(keep).tolist())


def test_store_feeds_the_batch_builder(tiny_scenes: pa.Table, tiny_aoi: BaseGeometry) -> None:
    refs = scene_refs(tiny_scenes, since=dt.date(2021, 1, 1), until=dt.date(2021, 12, 31))
    grid = map_grid(tiny_aoi, refs)
    block = plan_blocks(grid, tiny_aoi, block_size=32)[0]
    store = read_block(block, grid=grid, scenes=refs, aoi=tiny_aoi).store(season="01-01", year=2021)
    # One row per block pixel whose centre lies inside the AOI (this block reaches past the AOI's edge).
    rows, cols = np.divmod(np.arange(block.height * block.width), block.width)
    x, y = block.transform(grid) @ (cols + 0.5, rows + 0.5)
    lon, lat = Transformer.from_crs(grid.epsg, 4326, always_xy=True).transform(x, y)
    inside = int(shapely.contains_xy(tiny_aoi, lon, lat).sum())
    assert 0 < inside < block.height * block.width and len(store) == inside
    assert store.doy.min() >= 0 and store.doy.max() < 366
    first = refs[0].date - dt.date(2021, 1, 1)
    assert store.doy.min() >= first.days
    spec = InputSpec(
        adapter=AdapterConfig(kind="sequence", max_obs=8),
        features=FeatureConfig(),
        normalization=Normalization(mean=np.zeros(12, np.float32), std=np.ones(12, np.float32)),
    )
    batch = build_batch(store, np.arange(len(store)), spec, as_of=np.full(len(store), 150))
    assert batch.values.shape == (len(store), 8, 12)
    assert (batch.doy[batch.mask] <= 150).all()
