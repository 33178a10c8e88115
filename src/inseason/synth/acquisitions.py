"""When Sentinel-2 looked at the world: datatakes from two relative orbits, their processing baselines.

A relative orbit is revisited every ``revisit_days`` by two satellites in turn, each on a cycle twice as
long, 180° apart: Sentinel-2A and Sentinel-2B, then, from 2025-01-21 (`S2C_START`), Sentinel-2C in
Sentinel-2A's place (it took over Sentinel-2A's orbital position; Sentinel-2B acquires throughout; it is
Sentinel-1B, a radar satellite, that failed on 2021-12-23). Sentinel-2A's later extended campaign is not
part of the nominal revisit, so the world leaves it out: the revisit stays 5 days with two satellites. The
second orbit sees only the western part of the world (the swath edge gives nodata). A few datatakes are
missing, as after real anomalies, and a few are published twice (reprocessed with a newer baseline).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from inseason.config import SynthConfig
from inseason.season import parse_month_day

#: (first day, processing baseline) in force; baseline 04.00 introduced BOA_ADD_OFFSET = -1000.
BASELINES: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2017, 1, 1), "02.07"),
    (dt.date(2018, 11, 6), "02.09"),
    (dt.date(2019, 7, 8), "02.12"),
    (dt.date(2020, 1, 30), "02.14"),
    (dt.date(2021, 3, 30), "03.00"),
    (dt.date(2021, 6, 30), "03.01"),
    (dt.date(2022, 1, 25), "04.00"),
    (dt.date(2022, 12, 6), "05.09"),
    (dt.date(2023, 12, 13), "05.10"),
    (dt.date(2024, 7, 23), "05.11"),
)
OFFSET_DATE = dt.date(2022, 1, 25)
#: Sentinel-2C's first day in operations, in Sentinel-2A's orbital position (Sentinel-2A leaves the revisit).
S2C_START = dt.date(2025, 1, 21)
#: relative orbit number → (days after `_ORBIT_PHASE` of its first S2A pass, covers the world fully)
ORBITS: dict[int, tuple[int, bool]] = {83: (0, True), 126: (3, False)}
#: A day with an S2A pass on orbit 83: the revisit cycle's phase (not the 1970 epoch of stored dates).
_ORBIT_PHASE = dt.date(2017, 1, 2)
_MISSING = 0.02
_REPROCESSED = 0.04


def baseline_on(date: dt.date) -> str:
    """Processing baseline that processed acquisitions of ``date`` first.

    Args:
        date: the acquisition date.

    Returns:
        The baseline, such as ``"04.00"``.
    """
    return [b for start, b in BASELINES if start <= date][-1]


def boa_offset(baseline: str) -> int:
    """The L2A ``BOA_ADD_OFFSET`` of a processing baseline: -1000 from 04.00 on, else 0.

    Args:
        baseline: the processing baseline, such as ``"04.00"``.

    Returns:
        The offset in digital numbers.
    """
    return -1000 if baseline >= "04.00" else 0


@dataclass(frozen=True)
class Datatake:
    """One overpass of the world: a date, a satellite, an orbit and its weather."""

    index: int
    datetime: dt.datetime
    platform: str  # sentinel-2a / -2b / -2c
    relative_orbit: int
    full_swath: bool
    cloud: float  # requested fraction of valid pixels under cloud
    cirrus: bool
    soil_moisture: float  # 0.55 (wet) … 1.0 (dry) multiplier of bare-soil brightness
    baseline: str
    reprocessed_baseline: str | None  # also published with this newer baseline when set

    @property
    def date(self) -> dt.date:
        """Acquisition date (UTC)."""
        return self.datetime.date()


def platform_on(date: dt.date, cycle: int) -> str:
    """The satellite of a relative orbit's ``cycle``-th revisit (counted from a Sentinel-2A pass) on ``date``.

    Even revisits are Sentinel-2A's, and Sentinel-2C's from `S2C_START`; odd ones are Sentinel-2B's.

    Args:
        date: the acquisition date.
        cycle: the revisit's number since a Sentinel-2A pass of the same orbit.

    Returns:
        The platform as Earth Search names it (``sentinel-2a``, ``sentinel-2b`` or ``sentinel-2c``).
    """
    if cycle % 2:
        return "sentinel-2b"
    return "sentinel-2c" if date >= S2C_START else "sentinel-2a"


def _sensing_time(date: dt.date, orbit: int, full: bool) -> dt.datetime:
    """The datatake's sensing time over the world (UTC, mid-morning local solar time)."""
    return dt.datetime.combine(date, dt.time(16, 53 if full else 43, 19 + orbit % 40), dt.UTC)


def _reprocessing(baseline: str) -> str | None:
    """A newer baseline in the same offset regime, as a reprocessing campaign would publish."""
    later = [b for _, b in BASELINES if b > baseline and boa_offset(b) == boa_offset(baseline)]
    return later[0] if later else None


def plan_datatakes(config: SynthConfig, rng: np.random.Generator) -> list[Datatake]:
    """All datatakes over the world within each year's season, in time order.

    Args:
        config: the world's settings (years, season, revisit, cloudiness).
        rng: the generator of the weather, the missing datatakes and the reprocessing.

    Returns:
        The datatakes, numbered in time order (missing ones left out).
    """
    takes: list[tuple[dt.datetime, str, int, bool]] = []
    for year in config.years:
        first = dt.date(year, *parse_month_day(config.season[0], what="season"))
        last = dt.date(year, *parse_month_day(config.season[1], what="season"))
        for orbit, (lag, full) in ORBITS.items():
            day = (first - _ORBIT_PHASE).days
            k = -(-(day - lag) // config.revisit_days)
            while (date := _ORBIT_PHASE + dt.timedelta(days=lag + k * config.revisit_days)) <= last:
                takes.append((_sensing_time(date, orbit, full), platform_on(date, k), orbit, full))
                k += 1
    takes.sort()
    out: list[Datatake] = []
    for when, platform, orbit, full in takes:
        doy = when.timetuple().tm_yday
        # cloudier in winter and spring; U-shaped: many clear days and many overcast ones
        mean = min(0.9, config.cloudiness * (1 + 0.35 * np.cos(2 * np.pi * (doy - 20) / 365.25)))
        cloud = float(np.clip(rng.beta(0.55, 0.55 * (1 - mean) / max(mean, 1e-3)), 0.0, 0.97)) if mean > 0 else 0.0
        cirrus = bool(rng.random() < 0.25)
        wet = 0.5 + 0.5 * np.cos(2 * np.pi * (doy - 60) / 365.25)
        moisture = float(np.clip(1.0 - 0.45 * wet * rng.uniform(0.3, 1.0), 0.55, 1.0))
        missing = rng.random() < _MISSING
        baseline = baseline_on(when.date())
        again = _reprocessing(baseline) if rng.random() < _REPROCESSED else None
        if not missing:
            out.append(Datatake(len(out), when, platform, orbit, full, cloud, cirrus, moisture, baseline, again))
    return out
