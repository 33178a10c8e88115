"""The world's acquisition calendar follows the real Sentinel-2 constellation.

Sentinel-2A and Sentinel-2B alternate on each relative orbit (a 5-day revisit, 10 days per satellite) through
2021 and 2022 alike: it is Sentinel-1B, not Sentinel-2B, that failed on 2021-12-23. Sentinel-2C took over
Sentinel-2A's orbital position on 2025-01-21 (Earth Search items name it ``sentinel-2c``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict

import numpy as np

from inseason.config import synth_config
from inseason.synth.acquisitions import S2C_START, Datatake, plan_datatakes


def _takes(*years: int) -> list[Datatake]:
    config = synth_config("tiny", years=years, season=("01-01", "12-31"))
    return plan_datatakes(config, np.random.default_rng(0))


def _per_orbit(takes: list[Datatake]) -> dict[int, list[Datatake]]:
    orbits: dict[int, list[Datatake]] = defaultdict(list)
    for take in takes:
        orbits[take.relative_orbit].append(take)
    return orbits


def test_each_orbit_is_revisited_every_5_days_by_two_satellites_in_turn() -> None:
    takes = _takes(2021, 2022, 2024, 2025)
    for orbit, seen in _per_orbit(takes).items():
        for a, b in itertools.pairwise(seen):
            gap = (b.date - a.date).days
            if a.date.year != b.date.year:
                continue
            assert gap in (5, 10), (orbit, a.date, b.date)  # 10: one datatake of the pair is missing
            if gap == 5:
                assert a.platform != b.platform, (orbit, a.date, b.date)
            else:
                assert a.platform == b.platform, (orbit, a.date, b.date)
        # about 73 revisits of each orbit a year, 2 % missing
        for year in (2021, 2022, 2024, 2025):
            assert 68 <= sum(t.date.year == year for t in seen) <= 73


def test_sentinel_2b_acquires_across_2021_12_23_and_sentinel_2c_replaces_2a_from_2025_01_21() -> None:
    takes = _takes(2021, 2022, 2024, 2025)
    platforms = {year: {t.platform for t in takes if t.date.year == year} for year in (2021, 2022, 2024, 2025)}
    assert platforms[2021] == platforms[2022] == platforms[2024] == {"sentinel-2a", "sentinel-2b"}
    assert platforms[2025] == {"sentinel-2a", "sentinel-2b", "sentinel-2c"}
    late_2021 = [t for t in takes if dt.date(2021, 12, 1) <= t.date <= dt.date(2021, 12, 31)]
    early_2022 = [t for t in takes if dt.date(2022, 1, 1) <= t.date <= dt.date(2022, 1, 31)]
    for month in (late_2021, early_2022):
        counts = {p: sum(t.platform == p for t in month) for p in ("sentinel-2a", "sentinel-2b")}
        assert min(counts.values()) >= 5, counts  # both satellites, each about every 10 days on each of 2 orbits
    in_2025 = [t for t in takes if t.date.year == 2025]
    assert {t.platform for t in in_2025 if t.date < S2C_START} == {"sentinel-2a", "sentinel-2b"}
    assert {t.platform for t in in_2025 if t.date >= S2C_START} == {"sentinel-2b", "sentinel-2c"}
    # Sentinel-2C flies where Sentinel-2A flew: the same dates of the 10-day cycle, 10 days apart
    last_a = max(t.date for t in in_2025 if t.platform == "sentinel-2a" and t.relative_orbit == 83)
    first_c = min(t.date for t in in_2025 if t.platform == "sentinel-2c" and t.relative_orbit == 83)
    assert (first_c - last_a).days % 10 == 0 and last_a < S2C_START <= first_c


def test_both_years_of_a_two_satellite_period_have_as_many_scenes() -> None:
    takes = _takes(2021, 2022)
    per_year = {y: sum(t.date.year == y for t in takes) for y in (2021, 2022)}
    assert abs(per_year[2021] - per_year[2022]) <= 6 and per_year[2022] >= 136
