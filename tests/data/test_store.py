"""The series store: days of season and offsets decoded from a series table, int16 values kept, dates checked."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.data import decode_series, synthetic_series
from inseason.errors import InputError
from tests.data.helpers import series_table


def test_store_decodes_days_of_season_and_offsets():
    store = decode_series(
        series_table([([10, 20, 35], [[1, 2], [3, 4], [5, 6]]), ([], []), ([0, 364], [[7, 8], [9, 10]])])
    )
    assert store.offsets.tolist() == [0, 3, 3, 5]
    assert store.doy.tolist() == [10, 20, 35, 0, 364]
    assert store.values.dtype == np.float32 and store.values[4].tolist() == [9, 10]
    assert store.end_positions(np.array([0, 1, 2]), np.array([20, 400, 100])).tolist() == [2, 3, 4]
    assert len(store.fingerprint) == 16


def test_store_keeps_int16_and_season_start():
    table = synthetic_series(6, seed=1)
    assert decode_series(table).values.dtype == np.int16
    with pytest.raises(InputError, match="outside its season"):
        decode_series(table, season="06-01")


def test_store_refuses_unordered_dates():
    with pytest.raises(InputError, match="strictly increasing"):
        decode_series(series_table([([20, 10], [[1, 2], [3, 4]])]))
