"""Defaults that follow the data: a preset's inputs fit to the series table's cadence, season and bands.

A preset names in its ``adapt`` list the options to set from the table (`TrainConfig.adapt`); `run_train`
resolves them with `adapt_to_data` once the table is decoded, and config.yaml and the bundle record the values
set, so a run repeats exactly from its config.yaml. What each default is and the measurements behind it:
docs/defaults.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from inseason.data.features import available_indices
from inseason.data.store import SeriesStore
from inseason.errors import InputError
from inseason.train.config import TrainConfig

log = logging.getLogger(__name__)

#: Bounds of ``bucket_days`` set from the data: finer than 5 days (two satellites' overlapping orbits give 2-3
#: day gaps) measured worse on the demo world (docs/defaults.md); 60 is the adapter's own limit.
MIN_BUCKET_DAYS, MAX_BUCKET_DAYS = 5, 60
MAX_WINDOW_DAYS = 400
MIN_OBS, MAX_OBS = 8, 128
#: Share of samples whose whole season the sequence adapter keeps (``max_obs`` from this quantile of counts).
OBS_QUANTILE = 0.99


@dataclass(frozen=True)
class Cadence:
    """How a series table's samples are observed in time.

    Attributes:
        typical_gap: Days between a sample's consecutive observations: the median over samples of each one's
            median gap (same-day repeats left out); 0 when no sample has two dates.
        last_day: The latest day of season observed (−1 when there is no observation).
        obs_per_season: Observations of a sample, at the `OBS_QUANTILE` quantile over samples.
        samples: Samples measured (those with at least one observation).
    """

    typical_gap: int
    last_day: int
    obs_per_season: int
    samples: int


def measure_cadence(store: SeriesStore, rows: np.ndarray | None = None) -> Cadence:
    """Measure the cadence of ``rows`` of a decoded series table (all rows by default).

    Args:
        store: The decoded series table.
        rows: The rows to measure, or None for all.

    Returns:
        The typical gap, the last day of season observed and the observations a season holds.
    """
    rows = np.arange(len(store), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    counts = store.counts[rows]
    rows, counts = rows[counts > 0], counts[counts > 0]
    if rows.size == 0:
        return Cadence(typical_gap=0, last_day=-1, obs_per_season=0, samples=0)
    positions = store.positions_of(rows)
    days = store.doy[positions].astype(np.int64)
    owner = np.repeat(np.arange(rows.size), counts)
    gaps = np.diff(days)
    same_row = owner[1:] == owner[:-1]
    gaps, gap_owner = gaps[same_row], owner[1:][same_row]
    keep = gaps > 0
    gaps, gap_owner = gaps[keep], gap_owner[keep]
    typical = 0
    if gaps.size:
        order = np.lexsort((gaps, gap_owner))
        gaps, gap_owner = gaps[order], gap_owner[order]
        _, first, per_owner = np.unique(gap_owner, return_index=True, return_counts=True)
        lower = gaps[first + (per_owner - 1) // 2]
        upper = gaps[first + per_owner // 2]
        typical = round(float(np.median((lower + upper) / 2)))
    return Cadence(
        typical_gap=typical,
        last_day=int(days.max()),
        obs_per_season=int(np.ceil(np.quantile(counts, OBS_QUANTILE))),
        samples=int(rows.size),
    )


def adapt_to_data(config: TrainConfig, store: SeriesStore) -> TrainConfig:
    """Set the options the config's ``adapt`` list names from the series table; the others stay as they are.

    - ``adapter.bucket_days``: the typical gap between a sample's observations (5 on Sentinel-2, 8 on 8-day
      composites, 16 on MODIS 16-day composites), so a bucket holds about one observation; at least 5 days.
    - ``adapter.window_days`` (season-anchored buckets only): the days from the season start to the last
      observation, rounded up to whole buckets.
    - ``adapter.max_obs``: the observations a season holds (99 % of samples whole), rounded up to a multiple
      of 8, between 8 and 128.
    - ``features.indices``: those the bands allow; an index the table lacks the bands for, or stores as a band,
      is left out with a warning.

    Args:
        config: The run's config.
        store: The decoded series table.

    Returns:
        The config with those options set and an empty ``adapt`` list (as config.yaml records it).

    Raises:
        InputError: The series table has no observation to measure.
    """
    if not config.adapt:
        return config
    cadence = measure_cadence(store)
    if cadence.samples == 0:
        raise InputError("the series table has no observation: nothing to train on")
    adapter: dict[str, Any] = {}
    features: dict[str, Any] = {}
    bucket_days = config.adapter.bucket_days
    if "adapter.bucket_days" in config.adapt and cadence.typical_gap > 0:
        bucket_days = int(np.clip(cadence.typical_gap, MIN_BUCKET_DAYS, MAX_BUCKET_DAYS))
        adapter["bucket_days"] = bucket_days
    if "adapter.window_days" in config.adapt and config.adapter.anchor == "season":
        whole = -(-(cadence.last_day + 1) // bucket_days) * bucket_days
        adapter["window_days"] = int(min(max(whole, bucket_days), MAX_WINDOW_DAYS))
    if "adapter.max_obs" in config.adapt:
        adapter["max_obs"] = int(np.clip(-(-cadence.obs_per_season // 8) * 8, MIN_OBS, MAX_OBS))
    if "features.indices" in config.adapt:
        indices, notes = available_indices(store.bands, config.features.indices)
        features["indices"] = indices
        for note in notes:
            log.warning("%s (a preset's index: left out)", note)
    adapted = config.model_copy(
        update={
            "adapter": config.adapter.model_copy(update=adapter),
            "features": config.features.model_copy(update=features),
            "adapt": (),
        }
    )
    log.info(
        "inputs fit to the data (typical gap %d days, last day %d, %d observations a season): %s %s",
        cadence.typical_gap,
        cadence.last_day,
        cadence.obs_per_season,
        adapter,
        features,
    )
    return TrainConfig.model_validate(adapted.model_dump())
