"""The import gives the same series and report as the golden outputs, on messy tables with many samples.

The golden files (``tests/series/data/golden_*``) were written by the import before it was vectorised (#20);
``python -m tests.series.long_table_cases`` rewrites them, only after a change meant to alter the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from inseason.series.long_table import import_series
from tests.series.long_table_cases import CASES, DATA, messy_table, report_of, write_input


@pytest.mark.parametrize("case", list(CASES))
def test_the_import_matches_its_golden_output(case: str, tmp_path: Path) -> None:
    source = write_input(case, tmp_path)
    out = tmp_path / "series.parquet"
    result = import_series(source, out=out, quiet=True, **CASES[case][1])
    written, golden = pq.read_table(out), pq.read_table(DATA / f"golden_{case}.parquet")
    assert written.schema.metadata == golden.schema.metadata
    assert written.equals(golden)
    assert report_of(result) == json.loads((DATA / f"golden_{case}.json").read_text())


def test_the_cases_hold_what_the_import_must_handle() -> None:
    """The inputs are as messy as promised: each kind of bad row is there to be dropped or kept."""
    reports = {case: json.loads((DATA / f"golden_{case}.json").read_text()) for case in CASES}
    for case, report in reports.items():
        assert report["rows"] == messy_table(case).num_rows == 240 * 14
        assert {"missing date", "missing value", "infinite value", "duplicate date"} <= set(report["dropped"]), case
    assert reports["text_ids"]["dropped"]["missing sample_id"] > 0 and reports["text_ids"]["samples_across_seasons"] > 0
    assert reports["float_ids_year"]["dropped"]["missing sample_id"] > 0  # NaN ids are missing ids
    assert reports["float_ids_year"]["samples_across_seasons"] == 0  # a year column: no season split
    assert reports["cdl_codes"]["dropped"]["missing label"] > 0  # NaN codes are missing labels
    assert reports["cdl_codes"]["label_map"]["counts"]["Corn"] > 0


@pytest.mark.parametrize("day_span", [400, 2**40])  # packed into one integer; too wide for it (the lexsort)
def test_the_observation_order_is_the_lexsort_of_its_keys(day_span: int) -> None:
    from inseason.series.long_table import _observation_order

    rng = np.random.default_rng(3)
    n = 5_000
    key, year = rng.integers(0, 300, n), rng.integers(2019, 2022, n)
    days, rank = rng.integers(0, day_span, n), rng.integers(0, 3, n)
    days[::7] = days[0]  # many rows share every key: the values decide, then the table order
    values = rng.integers(0, 3, (n, 2)).astype(np.float64)
    expected = np.lexsort((values[:, 1], values[:, 0], rank, days, year, key))
    assert np.array_equal(_observation_order(key, year, days, rank, values), expected)
