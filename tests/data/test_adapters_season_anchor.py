"""Calendar-true bucketed inputs: with anchor="season" bucket k is always days [5k, 5k+5) of the season."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from inseason.data import (
    AdapterConfig,
    AugmentConfig,
    FeatureConfig,
    InputSpec,
    Normalization,
    build_batch,
    decode_series,
    gather_bucketed,
)
from inseason.tables import series_schema

SEASON = AdapterConfig(kind="bucketed", anchor="season", window_days=365, bucket_days=5)


def _store(days: list[int]):
    schema = series_schema(["B04", "B08"], values=pa.float32())
    start = dt.date(2021, 1, 1)
    data = {f.name: [None] for f in schema}
    data.update(
        sample_id=[0],
        year=[2021],
        label=["Corn"],
        label_code=[1],
        split=["train"],
        dates=[[start + dt.timedelta(days=d) for d in days]],
        values=[[[d, d] for d in days]],
    )
    return decode_series(pa.Table.from_pydict(data, schema=schema))


def test_season_grid_has_73_slots_and_fixed_centres():
    assert SEASON.n_steps == 73
    store = _store([3, 4, 12, 200, 364])
    for as_of in (12, 150, 364, 399):
        positions, mask, doy = gather_bucketed(store, np.array([0]), window_end=np.array([as_of]), config=SEASON)
        assert positions.shape == (1, 73)
        seen = [d for d in (3, 12, 200, 364) if d <= as_of]
        assert np.flatnonzero(mask[0]).tolist() == [d // 5 for d in seen]
        assert doy[0, mask[0]].tolist() == [d // 5 * 5 + 2 for d in seen]
    positions, mask, _ = gather_bucketed(store, np.array([0]), window_end=np.array([2]), config=SEASON)
    assert not mask.any() and (positions == -1).all()


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.integers(0, 364), min_size=1, max_size=60, unique=True),
    as_of=st.integers(-1, 399),
    bucket=st.integers(1, 30),
)
def test_bucket_k_holds_days_of_the_season_whatever_the_as_of(days, as_of, bucket):
    days = sorted(days)
    config = AdapterConfig(kind="bucketed", anchor="season", window_days=365, bucket_days=bucket)
    store = _store(days)
    positions, mask, doy = gather_bucketed(store, np.array([0]), window_end=np.array([as_of]), config=config)
    expected: dict[int, int] = {}
    for i, d in enumerate(days):
        if d <= as_of:
            expected.setdefault(d // bucket, i)
    assert {int(k): int(positions[0, k]) for k in np.flatnonzero(mask[0])} == expected
    for k in np.flatnonzero(mask[0]):
        assert k * bucket <= days[positions[0, k]] < (k + 1) * bucket
        assert doy[0, k] == k * bucket + bucket // 2


def test_season_anchor_ignores_random_window_and_masks_later_days():
    store = _store(list(range(0, 365, 5)))
    spec = InputSpec(
        adapter=SEASON,
        features=FeatureConfig(),
        normalization=Normalization(mean=np.zeros(2, np.float32), std=np.ones(2, np.float32)),
    )
    augment = AugmentConfig(as_of=False, random_window=True, obs_dropout=0.0, band_noise=0.0)
    rows = np.zeros(16, np.int64)
    batch = build_batch(store, rows, spec, as_of=np.full(16, 182), augment=augment, rng=np.random.default_rng(0))
    assert (batch.mask.sum(axis=1) == 37).all()  # days 0, 5, …, 180, each in its own bucket
    np.testing.assert_allclose(batch.values[0, :37, 0], np.arange(0, 185, 5), rtol=1e-6)
