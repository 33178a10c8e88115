"""Flattening and rebuilding series tables keeps schema, metadata and row order; windows cut per row."""

from __future__ import annotations

import datetime as dt

import numpy as np

from inseason.evaluate.fake import fake_series
from inseason.evaluate.series_arrays import flatten_series, observation_window, rebuild_series
from inseason.season import days_since_epoch


def test_round_trip_is_identity() -> None:
    table = fake_series(n_fields=1, pixels_per_field=2)
    rebuilt = rebuild_series(table, flatten_series(table))
    assert rebuilt.equals(table)
    assert rebuilt.schema.metadata == table.schema.metadata


def test_window_keeps_only_dates_inside_each_rows_bounds() -> None:
    table = fake_series(n_fields=1, pixels_per_field=2)
    end = np.full(table.num_rows, days_since_epoch(dt.date(2021, 5, 1)))
    end[0] = days_since_epoch(dt.date(2021, 3, 1))
    start = np.full(table.num_rows, days_since_epoch(dt.date(2021, 4, 1)))
    cut = observation_window(table, start_day=start, end_day=end)
    dates = cut.column("dates").to_pylist()
    assert dates[0] == []
    for row in dates[1:]:
        assert row and all(dt.date(2021, 4, 1) <= d <= dt.date(2021, 5, 1) for d in row)
    values, scl = cut.column("values").to_pylist(), cut.column("scl").to_pylist()
    assert [len(v) for v in values] == [len(d) for d in dates] == [len(s) for s in scl]
    assert cut.schema.equals(table.schema, check_metadata=True)
