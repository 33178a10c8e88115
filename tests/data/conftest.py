"""Fixtures of the data tests: a decoded store of a synthetic series table (read-only)."""

from __future__ import annotations

import pytest

from inseason.data import decode_series, synthetic_series


@pytest.fixture(scope="module")
def store():
    return decode_series(synthetic_series(40, seed=3, years=(2021, 2022)))
