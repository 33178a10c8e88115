"""Which bands and which weeks separate the classes: permutation importance and attention profiles.

Permutation importance works on series tables; the attention profile of attention models is by day of
season. Permuting destroys one kind of information while keeping the rest of the data realistic: observations are
shuffled across samples only within the same date bin (default 5 days, one revisit), so every series keeps
its acquisition dates and the seasonal course of the other bands. The importance is the drop of a metric
(macro-F1 by default) from the unpermuted score, averaged over repeats.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.evaluate.curves import predict_at
from inseason.evaluate.metrics import SUMMARY_METRICS, confusion_matrix, summary_from_confusion
from inseason.evaluate.predictor import PredictFn, StorePredictFn, class_indices, days_of_season
from inseason.evaluate.schedule import resolve_as_of
from inseason.evaluate.series_arrays import FlatSeries, flatten_series, observation_window, rebuild_series
from inseason.progress import progress_bar
from inseason.season import DEFAULT_START, days_since_epoch, season_start_day
from inseason.season import season_start as start_of_season
from inseason.tables import series_bands


def _score(
    predict: PredictFn,
    table: pa.Table,
    y_true: np.ndarray,
    *,
    as_of: np.ndarray,
    n_classes: int,
    metric: str,
    store: SeriesStore | None = None,
) -> float:
    """``metric`` of ``predict`` on ``table`` (or its ``store``) as of each row's ``as_of`` day (0 where undefined)."""
    y_pred = predict_at(predict, table, end_day=as_of, n_classes=n_classes, store=store).argmax(axis=1)
    value = summary_from_confusion(confusion_matrix(y_true, y_pred, n_classes=n_classes))[metric]
    return float(np.nan_to_num(value))


def _seen_observations(store: SeriesStore, end_day: np.ndarray) -> tuple[FlatSeries, np.ndarray]:
    """The store's observations dated up to each row's ``end_day``, as flat arrays, and their store positions.

    The same observations, in the same order, as `flatten_series` of the table cut by `observation_window`.
    """
    counts = store.counts
    row = np.repeat(np.arange(len(store), dtype=np.int64), counts)
    first = -days_of_season(store, np.zeros(len(store), np.int64))  # each row's season start day
    day = store.doy.astype(np.int64) + first[row]
    seen = np.flatnonzero(day <= np.asarray(end_day, np.int64)[row])
    flat = FlatSeries(
        row=row[seen],
        day=day[seen],
        values=store.values[seen],
        scl=None if store.scl is None else store.scl[seen],
    )
    return flat, seen


def _with_observations(store: SeriesStore, seen: np.ndarray, flat: FlatSeries) -> SeriesStore:
    """A copy of ``store`` whose observations at positions ``seen`` take ``flat``'s values (and SCL)."""
    values = store.values.copy()
    values[seen] = flat.values
    scl = store.scl
    if scl is not None and flat.scl is not None:
        scl = scl.copy()
        scl[seen] = flat.scl
    return dataclasses.replace(store, values=values, scl=scl, fingerprint=f"{store.fingerprint}~permuted")


def permute_within_bins(
    flat: FlatSeries, *, selected: np.ndarray, bands: np.ndarray | None, bin_days: int, rng: np.random.Generator
) -> FlatSeries:
    """``flat`` with the ``selected`` observations' values shuffled among those of the same date bin.

    Args:
        flat: the observations.
        selected: which observations take part.
        bands: the band columns to shuffle; None shuffles whole observations with their SCL.
        bin_days: width of a date bin in days (bins aligned on `inseason.season.EPOCH`).
        rng: the random generator.

    Returns:
        The permuted observations (rows and days unchanged).
    """
    index = np.flatnonzero(selected)
    bins = flat.day[index] // bin_days
    in_order = index[np.lexsort((index, bins))]
    shuffled = index[np.lexsort((rng.random(index.size), bins))]
    values = flat.values.copy()
    scl = flat.scl
    if bands is None:
        values[in_order] = flat.values[shuffled]
        if flat.scl is not None:
            scl = flat.scl.copy()
            scl[in_order] = flat.scl[shuffled]
    else:
        values[np.ix_(in_order, bands)] = flat.values[np.ix_(shuffled, bands)]
    return FlatSeries(row=flat.row, day=flat.day, values=values, scl=scl)


def permutation_importance(
    predict: PredictFn,
    table: pa.Table,
    *,
    classes: Sequence[str],
    by: str = "band",
    as_of: str = "10-31",
    season_start: str = DEFAULT_START,
    period_days: int = 30,
    bin_days: int = 5,
    n_repeats: int = 3,
    metric: str = "macro_f1",
    seed: int = 0,
    store: SeriesStore | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Permutation importance of each band, or of each period of the season, for a predictor as of a date.

    A feature's importance is the mean and standard deviation over ``n_repeats`` of the drop in ``metric``
    when that band's values (or that period's observations) are shuffled across samples within date bins.

    Args:
        predict: the predictor.
        table: series rows to score.
        classes: class names, in the predictor's output order.
        by: ``"band"`` or ``"period"`` (periods of ``period_days`` from the season start).
        as_of: month-day the predictor sees the series up to.
        season_start: month-day the seasons start.
        period_days: length of a period, for ``by="period"``.
        bin_days: width of the date bins observations are shuffled within.
        n_repeats: permutations per feature.
        metric: the summary metric whose drop is measured (``"macro_f1"``, ``"overall_accuracy"``...).
        seed: seed of the permutations.
        store: ``table`` decoded by ``predict`` when it is a `inseason.evaluate.predictor.StorePredictFn`:
            each permutation is then a copy of the store's values, predicted without decoding a table again
            (the same permutations and scores as on tables).
        quiet: hide the progress bar.

    Returns:
        ``{"by", "metric", "as_of", "baseline", "n_repeats", "features": [{"name", "importance", "std",
        "n_observations"}]}``.

    Raises:
        InputError: an unknown ``by`` or ``metric``, a setting below 1, or a bad as-of date or label.
    """
    if by not in ("band", "period"):
        raise InputError(f"importance by {by!r}: choose 'band' or 'period'")
    if metric not in SUMMARY_METRICS:
        raise InputError(f"importance metric {metric!r}: choose one of {', '.join(SUMMARY_METRICS)}")
    if n_repeats < 1 or period_days < 1 or bin_days < 1:
        raise InputError("n_repeats, period_days and bin_days must be at least 1")
    y_true = class_indices(table, classes=classes)
    years = table.column("year").to_numpy(zero_copy_only=False).astype(np.int64)
    end_day = np.array([days_since_epoch(resolve_as_of(as_of, int(y), start=season_start)) for y in years])
    if store is not None and not isinstance(predict, StorePredictFn):
        store = None
    seen: np.ndarray | None = None  # the store's observations up to each row's as-of day
    if store is None:
        table = observation_window(table, end_day=end_day)
        flat = flatten_series(table)
    else:
        flat, seen = _seen_observations(store, end_day)
    first_day = np.array([season_start_day(int(y), season_start) for y in years])
    day_of_season = flat.day - first_day[flat.row]
    features: list[tuple[str, np.ndarray, np.ndarray | None]]
    if by == "band":
        names, _ = series_bands(table.schema)
        features = [(name, np.ones(flat.day.size, dtype=bool), np.array([b])) for b, name in enumerate(names)]
    else:
        reference = start_of_season(int(years.min()), season_start)
        n_periods = int(day_of_season.max()) // period_days + 1 if flat.day.size else 0
        features = []
        for p in range(n_periods):
            first = reference + dt.timedelta(days=p * period_days)
            last = first + dt.timedelta(days=period_days - 1)
            label = f"{first:%m-%d} to {last:%m-%d}"
            features.append((label, day_of_season // period_days == p, None))
    baseline = _score(predict, table, y_true, as_of=end_day, n_classes=len(classes), metric=metric, store=store)
    rng = np.random.default_rng(seed)
    rows = []
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task(f"{by}s", total=len(features) * n_repeats)
        for name, selected, bands in features:
            drops = []
            for _ in range(n_repeats):
                permuted = permute_within_bins(flat, selected=selected, bands=bands, bin_days=bin_days, rng=rng)
                score = _score(
                    predict,
                    table if seen is not None else rebuild_series(table, permuted),
                    y_true,
                    as_of=end_day,
                    n_classes=len(classes),
                    metric=metric,
                    store=None if store is None or seen is None else _with_observations(store, seen, permuted),
                )
                drops.append(baseline - score)
                bar.advance(task)
            rows.append(
                {
                    "name": name,
                    "importance": float(np.mean(drops)),
                    "std": float(np.std(drops)),
                    "n_observations": int(selected.sum()),
                }
            )
    return {"by": by, "metric": metric, "as_of": as_of, "baseline": baseline, "n_repeats": n_repeats, "features": rows}


def attention_profile(
    day_of_season: np.ndarray, weights: np.ndarray, mask: np.ndarray, *, bin_days: int = 15
) -> dict[str, list[float]]:
    """Share of all attention weight falling in each ``bin_days`` period of the season: which dates a model looks at.

    Args:
        day_of_season: ``[B, T]`` day of season of each input step (the batch's ``doy``).
        weights: ``[B, T]`` an attention model's ``attention(values, mask, doy)`` output.
        mask: ``[B, T]`` which steps are observations.
        bin_days: length of a period.

    Returns:
        ``{"day_of_season": [first day of each period with observations], "weight": [its share]}``.

    Raises:
        InputError: the three arrays differ in shape.
    """
    doy, w, m = np.asarray(day_of_season), np.asarray(weights, dtype=np.float64), np.asarray(mask, dtype=bool)
    if not doy.shape == w.shape == m.shape:
        raise InputError(f"attention weights {w.shape}, days {doy.shape} and mask {m.shape} differ in shape")
    bins = doy[m] // bin_days
    if bins.size == 0:
        return {"day_of_season": [], "weight": []}
    sums = np.bincount(bins, weights=w[m])
    share = sums / sums.sum()
    present = np.flatnonzero(np.bincount(bins))
    return {"day_of_season": [int(b * bin_days) for b in present], "weight": [float(share[b]) for b in present]}
