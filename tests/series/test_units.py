"""How samples are grouped into units of work: a fixed, balanced hash of the sample id, and the units' folder."""

from __future__ import annotations

import numpy as np

from inseason.series.units import parts_uri, sample_units


def test_sample_units_are_a_fixed_balanced_hash() -> None:
    ids = np.arange(10_000, dtype=np.int64)
    units = sample_units(ids, 8)
    assert units.min() == 0 and units.max() == 7
    assert np.bincount(units).min() > 1_100  # about 1 250 each, though the ids are consecutive
    # Pinned values: the hash must not change between versions, or resumed runs would regroup samples.
    assert sample_units(np.array([0, 1, 2, 123_456_789, -5]), 8).tolist() == [0, 7, 7, 0, 6]
    assert sample_units(np.array([42]), 1).tolist() == [0]
    assert parts_uri("s3://b/x/series.parquet") == "s3://b/x/.series.parquet.parts"
