"""Double-crop sequence and transition timing, scored against the tiny world's generator truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from shapely.geometry.base import BaseGeometry

from inseason.predict.double_crop import (
    crop_sequence,
    score_transitions,
    smoothed_ndvi,
    transition_dates,
    transition_days,
    transition_table,
)
from inseason.predict.read import map_grid, plan_blocks, read_block, scene_refs
from inseason.predict.truth import world_truth

#: Pinned bound on the transition MAE (days) on the tiny world; measured about 2.2 (2021) and 2.5 (2022).
MAE_BOUND_DAYS = 4.0


@pytest.fixture(scope="module", params=[2021, 2022])
def season_read(request: pytest.FixtureRequest, tiny_world: Path, tiny_scenes: pa.Table, tiny_aoi: BaseGeometry):
    year = request.param
    refs = scene_refs(tiny_scenes, since=dt.date(year, 1, 1), until=dt.date(year, 12, 31))
    grid = map_grid(tiny_aoi, refs)
    block = plan_blocks(grid, tiny_aoi, block_size=256)[0]
    series = read_block(block, grid=grid, scenes=refs, aoi=tiny_aoi, bands=("B04", "B08"))
    truth = world_truth(tiny_world, grid=grid, block=block, pixels=series.pixels, year=year)
    return year, series, truth


def test_transition_mae_on_the_tiny_world(season_read) -> None:
    year, series, truth = season_read
    store = series.store(season="01-01", year=year)
    double = np.flatnonzero(truth.codes == 26)
    assert double.size > 1000
    estimated = transition_days(smoothed_ndvi(store, double))
    score = score_transitions(estimated, truth.transition_day[double])
    print(f"double-crop transition {year}: {score}")
    assert score["detected"] > 0.95
    assert score["mae_days"] < MAE_BOUND_DAYS
    # single crops show one cycle: rarely a transition
    single = np.flatnonzero(np.isin(truth.codes, [1, 2, 5]))[::7]
    assert (transition_days(smoothed_ndvi(store, single)) >= 0).mean() < 0.1


def test_no_transition_before_the_second_cycle(season_read) -> None:
    year, series, truth = season_read
    store = series.store(season="01-01", year=year)
    double = np.flatnonzero(truth.codes == 26)[::5]
    june_1 = (dt.date(year, 6, 1) - dt.date(year, 1, 1)).days
    assert (transition_days(smoothed_ndvi(store, double, as_of=june_1)) < 0).mean() > 0.95


def test_transition_table_names_the_sequence(season_read) -> None:
    year, series, truth = season_read
    store = series.store(season="01-01", year=year)
    rows = np.flatnonzero(truth.codes == 26)[:20]
    table = transition_table(
        x=np.zeros(rows.size), y=np.zeros(rows.size), codes=np.full(rows.size, 26), dates=transition_dates(store, rows)
    )
    assert table.column("first_crop").to_pylist() == ["Winter Wheat"] * 20
    assert table.column("second_crop").to_pylist() == ["Soybeans"] * 20
    dates = table.column("transition_date").to_pylist()
    assert all(dt.date(year, 5, 15) < d < dt.date(year, 7, 31) for d in dates)


def test_crop_sequence_of_cdl_codes() -> None:
    sequence = crop_sequence(26)
    assert sequence is not None and (sequence.first_code, sequence.second_code) == (24, 5)
    assert crop_sequence(1) is None


def test_smoothing_ignores_far_days() -> None:
    from inseason.data import SeriesStore

    values = np.array([[1000, 3000], [1000, 3000]], np.int16)  # B04, B08: NDVI 0.5
    store = SeriesStore(
        bands=("B04", "B08"),
        scales=np.ones(2, np.float32),
        values=values,
        doy=np.array([100, 110], np.int16),
        scl=None,
        offsets=np.array([0, 2]),
        labels=np.array([""], object),
        label_codes=np.zeros(1, np.int32),
        years=np.array([2021], np.int16),
        splits=np.array([None], object),
        sample_ids=np.array([0]),
        season="01-01",
        fingerprint="",
    )
    ndvi = smoothed_ndvi(store, np.array([0]))
    assert ndvi[0, 105] == pytest.approx(0.5) and np.isnan(ndvi[0, 10]) and np.isnan(ndvi[0, 200])
