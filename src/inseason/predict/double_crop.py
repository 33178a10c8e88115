"""Double crops: the crop sequence and the transition date, estimated from a pixel's own series.

CDL labels a double crop (e.g. 26 "Dbl Crop WinWht/Soybeans") by its two crops but says nothing about
when one ends and the next begins. Here the NDVI of each pixel's observations is smoothed onto a daily
grid by Gaussian kernel regression (irregular, cloud-gapped dates need no interpolation first); the two
growth cycles are the highest NDVI before and after a candidate day, and the deepest valley between two
cycles (largest ``min(peak before, peak after) − NDVI``) locates the fallow gap. The *transition date*
is the day the first cycle ends: the first day after the first peak on which the smoothed NDVI has come
down to within ``edge`` of the valley's depth above its floor. Pixels whose valley is shallower than
``min_depth`` (one cycle, or a second cycle not yet visible at the as-of date) get no transition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.labels import cdl_class
from inseason.season import date_of_day, season_start_day

__all__ = [
    "CropSequence",
    "crop_sequence",
    "score_transitions",
    "smoothed_ndvi",
    "transition_dates",
    "transition_days",
    "transition_table",
]

#: Days of season on which NDVI is smoothed (a daily grid over one season).
SEASON_DAYS = np.arange(0, 366, dtype=np.int64)


@dataclass(frozen=True)
class CropSequence:
    """First and second crop of a double-crop class, as CDL codes and names."""

    first_code: int
    first_name: str
    second_code: int
    second_name: str


def crop_sequence(code: int) -> CropSequence | None:
    """The crop sequence of CDL code ``code`` when it is a double crop, else None.

    Args:
        code: a CDL code.

    Returns:
        The first and second crop, or None for a code that is no double crop.

    Raises:
        InputError: ``code`` is not a CDL code.
    """
    cls = cdl_class(code)
    if cls.kind != "double_crop" or cls.first_crop is None or cls.second_crop is None:
        return None
    return CropSequence(
        first_code=cls.first_crop,
        first_name=cdl_class(cls.first_crop).name,
        second_code=cls.second_crop,
        second_name=cdl_class(cls.second_crop).name,
    )


def smoothed_ndvi(
    store: SeriesStore, rows: np.ndarray, *, as_of: int = 399, sigma: float = 10.0, chunk: int = 2048
) -> np.ndarray:
    """NDVI of ``rows`` smoothed onto `SEASON_DAYS` (float32 [R, 366]; NaN far from any observation).

    A Gaussian-weighted mean of the observations around each grid day. Observations fall on whole days of
    season, so each row's NDVI sums and observation counts are first gathered by day and the Gaussian is
    applied as one product with a days × grid-days kernel matrix: the cost grows with rows × days, not with
    rows × observations × days. A grid day with less than a quarter of one observation's full weight is NaN.

    Args:
        store: the series (with bands B04 and B08).
        rows: the series rows to smooth.
        as_of: the last day of season whose observations count.
        sigma: the Gaussian kernel's standard deviation, days.
        chunk: rows smoothed at once (memory grows with it: 2 × 400 float64 a row).

    Returns:
        float32 [R, 366]: the smoothed NDVI of each row on each day of season.

    Raises:
        InputError: the series lack B04 or B08.
    """
    missing = [b for b in ("B04", "B08") if b not in store.bands]
    if missing:
        raise InputError(f"double-crop timing needs bands {missing} (NDVI) that the series lack: read B04 and B08")
    red, nir = store.bands.index("B04"), store.bands.index("B08")
    rows = np.asarray(rows, np.int64)
    out = np.full((rows.size, SEASON_DAYS.size), np.nan, np.float32)
    n_days = int(store.doy.max(initial=0)) + 1
    kernel = np.exp(-0.5 * ((SEASON_DAYS[None, :] - np.arange(n_days)[:, None]) / sigma) ** 2)  # [days, grid]
    for start in range(0, rows.size, chunk):
        part = rows[start : start + chunk]
        positions = store.positions_of(part)
        local = np.repeat(np.arange(part.size), store.counts[part])
        doy = store.doy[positions].astype(np.int64)
        seen = doy <= as_of
        positions, local, doy = positions[seen], local[seen], doy[seen]
        nir_v = store.values[positions, nir].astype(np.float32)
        red_v = store.values[positions, red].astype(np.float32)
        total = nir_v + red_v
        ndvi = np.divide(nir_v - red_v, total, out=np.zeros_like(total), where=total > 0)
        cell = local * n_days + doy
        size = part.size * n_days
        sums = np.bincount(cell, weights=ndvi, minlength=size).reshape(part.size, n_days)
        counts = np.bincount(cell, minlength=size).reshape(part.size, n_days).astype(np.float64)
        mass = counts @ kernel
        smooth = (sums @ kernel) / np.maximum(mass, 1e-9)
        out[start : start + part.size] = np.where(mass >= 0.25, smooth, np.nan)
    return out


def transition_days(ndvi: np.ndarray, *, min_depth: float = 0.15, min_gap: int = 30, edge: float = 0.1) -> np.ndarray:
    """Day of season of the end of the first growth cycle in each smoothed NDVI row (−1 where none).

    Args:
        ndvi: smoothed NDVI [R, days] (`smoothed_ndvi`).
        min_depth: the least NDVI drop between the two cycles' peaks and the valley floor.
        min_gap: the least distance, days, of each peak from the valley floor.
        edge: how close to the valley floor (share of the valley's depth) the first cycle ends.

    Returns:
        int64 [R]: the transition's day of season, −1 where the row shows no two cycles.
    """
    filled = np.where(np.isnan(ndvi), -np.inf, ndvi)
    before = np.maximum.accumulate(filled, axis=1)
    after = np.maximum.accumulate(filled[:, ::-1], axis=1)[:, ::-1]
    n = ndvi.shape[1]
    shifted_before = np.full_like(before, -np.inf)
    shifted_after = np.full_like(after, -np.inf)
    shifted_before[:, min_gap:] = before[:, : n - min_gap]
    shifted_after[:, : n - min_gap] = after[:, min_gap:]
    depth = np.minimum(shifted_before, shifted_after) - np.where(np.isnan(ndvi), np.inf, ndvi)
    floor_day = np.argmax(depth, axis=1)
    rows = np.arange(ndvi.shape[0])
    best = depth[rows, floor_day]
    floor = ndvi[rows, floor_day]
    first_peak = np.argmax(np.where(np.arange(n)[None, :] <= floor_day[:, None], filled, -np.inf), axis=1)
    level = floor + edge * best
    days = np.arange(n)[None, :]
    down = (days > first_peak[:, None]) & (days <= floor_day[:, None]) & (filled <= level[:, None])
    end = np.where(down.any(axis=1), np.argmax(down, axis=1), floor_day)
    return np.where(np.isfinite(best) & (best >= min_depth), end, -1).astype(np.int64)


def score_transitions(estimated: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Mean and median absolute error in days of estimated transition days against true ones.

    Pixels without an estimate (−1) count as missed, not as errors: ``detected`` is their complement share.

    Args:
        estimated: estimated transition days (−1 where none).
        truth: the true transition days, same length.

    Returns:
        ``pixels``, ``detected`` (share with an estimate), ``mae_days`` and ``median_days`` (NaN when none
        was detected).
    """
    estimated, truth = np.asarray(estimated), np.asarray(truth)
    found = estimated >= 0
    errors = np.abs(estimated[found] - truth[found])
    return {
        "pixels": int(estimated.size),
        "detected": float(found.mean()) if estimated.size else 0.0,
        "mae_days": float(errors.mean()) if errors.size else float("nan"),
        "median_days": float(np.median(errors)) if errors.size else float("nan"),
    }


def transition_dates(store: SeriesStore, rows: np.ndarray, *, as_of: int = 399) -> np.ndarray:
    """Transition date of each of ``rows`` as days since 1970-01-01.

    Args:
        store: the series (with bands B04 and B08).
        rows: the series rows.
        as_of: the last day of season whose observations count.

    Returns:
        int64 [R]: the day number of each transition, −1 where the series up to ``as_of`` do not show two
        growth cycles.

    Raises:
        InputError: the series lack B04 or B08.
    """
    days = transition_days(smoothed_ndvi(store, rows, as_of=as_of))
    start = np.array([season_start_day(int(year), store.season) for year in store.years[rows]], np.int64)
    return np.where(days >= 0, start + days, -1)


def transition_table(*, x: np.ndarray, y: np.ndarray, codes: np.ndarray, dates: np.ndarray) -> pa.Table:
    """One row per double-crop pixel: map coordinates, class code, crop sequence and transition date.

    Args:
        x: the pixels' x coordinates (map CRS).
        y: their y coordinates.
        codes: the CDL codes of the pixels' predicted (or labelled) double-crop class.
        dates: transition dates from `transition_dates` (−1 becomes a null date).

    Returns:
        The table (``x``, ``y``, ``class_code``, ``first_crop``, ``second_crop``, ``transition_date``).

    Raises:
        InputError: a code is not a CDL code.
    """
    sequences = [crop_sequence(int(c)) for c in codes]
    return pa.table(
        {
            "x": pa.array(np.asarray(x, np.float64), pa.float64()),
            "y": pa.array(np.asarray(y, np.float64), pa.float64()),
            "class_code": pa.array(np.asarray(codes, np.int32), pa.int32()),
            "first_crop": pa.array([s.first_name if s else None for s in sequences], pa.string()),
            "second_crop": pa.array([s.second_name if s else None for s in sequences], pa.string()),
            "transition_date": pa.array([None if d < 0 else date_of_day(int(d)) for d in dates], pa.date32()),
        }
    )
