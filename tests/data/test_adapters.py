"""Model inputs gathered from the store: bucketed windows (the ARSET recipe, against a per-sample reference) and
the last observations of a sequence as of a day."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from inseason.data import ADAPTER_PRESETS, AdapterConfig, build_batch, decode_series, gather_bucketed
from tests.data.helpers import input_spec, series_table


def test_bucketed_arset_recipe_first_observation_per_bucket():
    # days 100, 101 share bucket 0 of a window ending at day 220 (start 100); 104 too; 105 starts bucket 1
    store = decode_series(series_table([([90, 100, 101, 105, 219, 230], [[i, i] for i in range(6)])]))
    arset = ADAPTER_PRESETS["arset"]
    assert arset.n_steps == 25
    positions, mask, doy = gather_bucketed(store, np.array([0]), window_end=np.array([220]), config=arset)
    assert mask[0].nonzero()[0].tolist() == [0, 1, 23]
    assert positions[0, mask[0]].tolist() == [1, 3, 4]
    assert doy[0, mask[0]].tolist() == [102, 107, 217]
    assert (doy[~mask] == 0).all() and (positions[~mask] == -1).all()


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.integers(0, 365), min_size=1, max_size=60, unique=True),
    end=st.integers(0, 399),
    window=st.integers(5, 200),
    bucket=st.integers(1, 30),
)
def test_bucketed_matches_a_per_sample_reference(days, end, window, bucket):
    days = sorted(days)
    store = decode_series(series_table([(days, [[d, d] for d in days])]))
    config = AdapterConfig(kind="bucketed", window_days=window, bucket_days=bucket)
    positions, mask, _ = gather_bucketed(store, np.array([0]), window_end=np.array([end]), config=config)
    expected: dict[int, int] = {}
    for i, d in enumerate(days):
        if end - window <= d <= end:
            expected.setdefault((d - (end - window)) // bucket, i)
    assert {int(k): int(positions[0, k]) for k in np.flatnonzero(mask[0])} == expected


def test_sequence_keeps_last_observations_as_of(store):
    config = AdapterConfig(kind="sequence", max_obs=5)
    batch = build_batch(store, np.array([0, 1]), input_spec(store, config), as_of=np.array([150, 150]))
    for b, row in enumerate([0, 1]):
        days = store.doy[store.offsets[row] : store.offsets[row + 1]]
        expected = days[days <= 150][-5:]
        assert batch.doy[b, batch.mask[b]].tolist() == expected.tolist()
    assert batch.values.shape == (2, 5, 12) and batch.values.dtype == np.float32


def test_rows_with_nothing_observed_give_empty_masks_not_an_index_error():
    """A batch whose rows hold no observation at all (an early as-of date cut every series) is all masked."""
    empty = decode_series(series_table([([], []), ([], [])]))
    assert empty.values.shape[0] == 0
    rows = np.array([0, 1])
    for config in (
        ADAPTER_PRESETS["arset"],
        AdapterConfig(kind="bucketed", anchor="season", window_days=365, bucket_days=5),
        AdapterConfig(kind="sequence", max_obs=8),
    ):
        spec = input_spec(decode_series(series_table([([10, 20], [[1, 2], [3, 4]])])), config)
        batch = build_batch(empty, rows, spec, as_of=np.array([30, 30]))
        assert not batch.mask.any() and batch.values.shape[:2] == (2, config.n_steps)
        assert (batch.doy == 0).all()
