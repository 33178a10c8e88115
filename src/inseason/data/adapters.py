"""Input adapters (DESIGN §3): from ragged observations to fixed tensors, by vectorised gathers.

*bucketed*: ``bucket_days`` buckets (``slots`` of them), each holding its first observation; empty
buckets are masked out (not zero-padded as data). With ``anchor="as_of"`` the window is ``window_days`` + 1
days ending on the window-end day (the `arset` preset: the ARSET course's 120-day window of 5-day buckets,
25 slots), so a slot means "so many days before the as-of day". With ``anchor="season"`` the grid is fixed
to the calendar: bucket k always holds days [k·bucket_days, (k+1)·bucket_days) of the season, the window
covers days [0, window_days), and observations after the as-of day are masked out, so a network without
day inputs still knows the calendar date of every slot.
*sequence*: the last ``max_obs`` observations on or before the as-of day, with their day of season and a
key-padding mask.

Both return flat observation positions [B, T] (−1 where masked), the mask [B, T] and the day of season
[B, T] of each step (the bucket's centre day for bucketed inputs, 0 where masked).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from inseason.config import StrictModel
from inseason.data.store import SeriesStore


class AdapterConfig(StrictModel):
    """How a ragged series becomes a fixed [T, C] input."""

    kind: Literal["bucketed", "sequence"] = "sequence"
    anchor: Literal["as_of", "season"] = Field(
        "as_of",
        description="bucketed: the window ends on the as-of day (as_of) or is fixed to the season's "
        "calendar from its start, later observations masked out (season)",
    )
    window_days: int = Field(
        120,
        ge=1,
        le=400,
        description="bucketed: days covered before the window end "
        "(anchor=as_of) or from the season start (anchor=season)",
    )
    bucket_days: int = Field(5, ge=1, le=60, description="bucketed: days per bucket")
    max_obs: int = Field(64, ge=1, le=400, description="sequence: most recent observations kept")

    @property
    def n_steps(self) -> int:
        """T, the number of time steps the model sees."""
        if self.kind == "bucketed" and self.anchor == "season":
            return -(-self.window_days // self.bucket_days)
        if self.kind == "bucketed":
            return -(-(self.window_days + 1) // self.bucket_days)
        return self.max_obs


ADAPTER_PRESETS: dict[str, AdapterConfig] = {
    "arset": AdapterConfig(kind="bucketed", window_days=120, bucket_days=5),
    "sequence": AdapterConfig(kind="sequence", max_obs=64),
}


def _candidates(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions [B, M] of each row's observations in [start, end) and their validity (M = longest run)."""
    width = int((ends - starts).max(initial=0))
    positions = starts[:, None] + np.arange(max(width, 1))[None, :]
    valid = positions < ends[:, None]
    return np.where(valid, positions, 0), valid


def _days_at(store: SeriesStore, positions: np.ndarray) -> np.ndarray:
    """Day of season (int64) at flat ``positions``; zeros when the store holds no observation at all.

    Masked positions point at observation 0, which does not exist when every row is empty (an as-of date
    before any row's first observation).
    """
    if store.doy.size == 0:
        return np.zeros(positions.shape, np.int64)
    days: np.ndarray = store.doy[positions].astype(np.int64)
    return days


def gather_sequence(
    store: SeriesStore, rows: np.ndarray, *, as_of: np.ndarray, config: AdapterConfig, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last ``max_obs`` observations of each row on or before ``as_of`` (right-aligned mask order kept).

    Args:
        store: The decoded series.
        rows: Store rows [B].
        as_of: Day of season of each row's window end [B] (inclusive).
        config: The sequence adapter (its ``max_obs``).
        keep: Bool [B, max_obs]: False drops an observation (observation dropout) by masking it out.

    Returns:
        Flat observation positions [B, max_obs] (−1 where masked), the mask and the day of season (0 where
        masked).
    """
    ends = store.end_positions(rows, as_of)
    starts = np.maximum(store.offsets[rows], ends - config.max_obs)
    positions = starts[:, None] + np.arange(config.max_obs)[None, :]
    mask = positions < ends[:, None]
    if keep is not None:
        mask &= keep
    positions = np.where(mask, positions, -1)
    doy = np.where(mask, _days_at(store, np.maximum(positions, 0)), 0).astype(np.int64)
    return positions, mask, doy


def gather_bucketed(
    store: SeriesStore,
    rows: np.ndarray,
    *,
    window_end: np.ndarray,
    config: AdapterConfig,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First observation of each bucket of the window ending on day ``window_end`` (inclusive).

    With ``config.anchor == "season"`` the window starts on day 0 of the season whatever ``window_end``
    is, and observations after ``window_end`` (the as-of day) are left out rather than shifted.

    Args:
        store: The decoded series.
        rows: Store rows [B].
        window_end: Day of season each row's window ends on [B] (the as-of day with ``anchor="season"``).
        config: The bucketed adapter (window, bucket size, anchor).
        keep: Bool [B, window_days + 1], by day within the window: False drops an observation before
            bucketing, so its bucket goes to the next observation in it, if any.

    Returns:
        Flat observation positions [B, slots] (−1 for an empty bucket), the mask and each bucket's centre
        day of season (0 where masked).
    """
    window_end = np.asarray(window_end, np.int64)
    if config.anchor == "season":
        window_start = np.zeros_like(window_end)
        last_day = np.minimum(window_end, config.window_days - 1)
    else:
        window_start = window_end - config.window_days
        last_day = window_end
    starts = store.start_positions(rows, window_start)
    ends = store.end_positions(rows, last_day)
    positions, valid = _candidates(starts, ends)
    day = _days_at(store, positions) - window_start[:, None]
    if keep is not None:
        valid &= np.take_along_axis(keep, np.clip(day, 0, config.window_days), axis=1)
    slots = config.n_steps
    bucket = np.clip(day // config.bucket_days, 0, slots - 1)
    first = np.full((rows.size, slots), np.iinfo(np.int64).max, dtype=np.int64)
    batch_index = np.broadcast_to(np.arange(rows.size)[:, None], positions.shape)
    np.minimum.at(first, (batch_index[valid], bucket[valid]), positions[valid])
    mask = first != np.iinfo(np.int64).max
    centre = window_start[:, None] + np.arange(slots)[None, :] * config.bucket_days + config.bucket_days // 2
    centre = np.maximum(centre, 0)
    return np.where(mask, first, -1), mask, np.where(mask, centre, 0).astype(np.int64)
