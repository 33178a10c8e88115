"""In-season accuracy: every metric as a function of the calendar as-of date.

Also the earliest date each class reaches a target F1, and the ARSET course's own protocol (windows after
each pixel's first observation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.evaluate.bootstrap import (
    bootstrap_confusions,
    group_indices,
    intervals_from_confusions,
    replicate_weights,
)
from inseason.evaluate.metrics import confusion_matrix, metrics_from_confusion
from inseason.evaluate.predictor import (
    PredictFn,
    StorePredictFn,
    StoreTargets,
    Targets,
    checked_probabilities,
    class_indices,
    days_of_season,
)
from inseason.evaluate.schedule import check_schedule, resolve_as_of, season_as_of_schedule
from inseason.evaluate.series_arrays import flatten_series, observation_window
from inseason.progress import progress_bar
from inseason.season import DEFAULT_START, date_of_day, days_since_epoch

#: The ARSET course's own result under its window protocol (REFERENCE, "The ARSET course recipe"), carried
#: in ``course_windows["published"]`` so the report and the demo print it beside ours from data.
COURSE_PUBLISHED: dict[str, Any] = {
    "overall_accuracy": 0.756,
    "macro_f1": 0.602,
    "n_pixels": 14_904,
    "n_windows": 15,
    "window_accuracy_range": [0.59, 0.86],
    "source": (
        'NASA ARSET course "Training & Testing ML Models for Irregularly-Spaced Time Series of '
        'Imagery": overall accuracy 0.756, macro-F1 0.602 over 14 904 test pixels × 15 windows'
    ),
}


@dataclass(frozen=True)
class InSeasonCurve:
    """Metrics by as-of date, and the probabilities they were scored from.

    ``as_of``: month-days in season order; ``probabilities``: ``[dates, rows, classes]``;
    ``by_as_of_date``: one JSON-ready metrics dict per date, with bootstrap ``intervals``;
    ``earliest_date``: class name → first month-day its F1 reaches ``target_f1``, None if never.
    """

    as_of: list[str]
    probabilities: np.ndarray
    by_as_of_date: list[dict[str, Any]]
    earliest_date: dict[str, str | None]
    target_f1: float


def _rows_by_day(end_day: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Each distinct day of ``end_day`` (ascending) with its rows (ascending), from one sort.

    The course's windows give nearly every row its own end day: one pass over a sort, not one scan of every
    row per distinct day.
    """
    end_day = np.asarray(end_day)
    if end_day.size == 0:
        return
    order = np.argsort(end_day, kind="stable")
    days, first = np.unique(end_day[order], return_index=True)
    for day, rows in zip(days.tolist(), np.split(order, first[1:]), strict=True):
        yield int(day), rows


def predict_at(
    predict: PredictFn,
    table: pa.Table,
    *,
    end_day: np.ndarray,
    start_day: np.ndarray | None = None,
    n_classes: int,
    store: SeriesStore | None = None,
) -> np.ndarray:
    """Probabilities of each row with its series cut to its own window of days.

    With ``store`` (``table`` decoded by a `StorePredictFn`) and no ``start_day``, one call predicts every row
    from the store as of its own day; otherwise the predictor is called once per distinct end date, with that
    date as ``as_of``, on the table cut to the window.

    Args:
        predict: the predictor.
        table: series rows.
        end_day: last day (days since `inseason.season.EPOCH`) each row is seen, per row.
        start_day: first day each row is seen, per row; None for the whole series up to ``end_day``.
        n_classes: number of classes the predictor returns.
        store: ``table`` as ``predict.decode`` decoded it (values may be permuted), when ``predict`` is a
            `StorePredictFn`; None to call it on tables.

    Returns:
        ``[rows, classes]`` float64 probabilities.

    Raises:
        InputError: the predictor returned another shape or non-finite values.
    """
    if store is not None and start_day is None and isinstance(predict, StorePredictFn):
        probabilities = predict.predict_store(store, as_of_day=days_of_season(store, end_day))
        return checked_probabilities(probabilities, n_rows=table.num_rows, n_classes=n_classes)
    probabilities = np.empty((table.num_rows, n_classes))
    for end, rows in _rows_by_day(end_day):
        subset = table.take(pa.array(rows))
        subset = observation_window(
            subset, end_day=end_day[rows], start_day=None if start_day is None else start_day[rows]
        )
        as_of = date_of_day(int(end))
        probabilities[rows] = checked_probabilities(predict(subset, as_of=as_of), n_rows=len(rows), n_classes=n_classes)
    return probabilities


def targets_at(
    targets: Targets | None,
    table: pa.Table,
    *,
    end_day: np.ndarray,
    default: np.ndarray,
    store: SeriesStore | None = None,
) -> np.ndarray:
    """Class indices to score each row against as of its ``end_day``.

    Args:
        targets: a label rule that depends on the observations up to a day (such as the ARSET No Crop
            Growing rule), asked once per distinct date (or once, on ``store``, when it is a `StoreTargets`);
            None to keep ``default``.
        table: series rows.
        end_day: as-of day of each row (days since `inseason.season.EPOCH`).
        default: class index of each row's label.
        store: ``table`` as the evaluation's `StorePredictFn` decoded it; None to ask on tables.

    Returns:
        The int64 class index of each row.
    """
    if targets is None:
        return default
    if store is not None and isinstance(targets, StoreTargets):
        return np.asarray(targets.targets_store(store, as_of_day=days_of_season(store, end_day)), np.int64)
    y_true = np.empty(table.num_rows, np.int64)
    for end, rows in _rows_by_day(end_day):
        as_of = date_of_day(int(end))
        y_true[rows] = np.asarray(targets(table.take(pa.array(rows)), as_of=as_of), np.int64)
    return y_true


def _metrics_with_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    classes: Sequence[str],
    group_index: np.ndarray,
    weights: np.ndarray,
    level: float,
) -> dict[str, Any]:
    n_classes = len(classes)
    metrics = metrics_from_confusion(confusion_matrix(y_true, y_pred, n_classes=n_classes), classes=classes)
    confusions = bootstrap_confusions(y_true, y_pred, n_classes=n_classes, group_index=group_index, weights=weights)
    metrics["intervals"] = intervals_from_confusions(confusions, level=level)
    return metrics


def earliest_dates(
    by_as_of_date: Sequence[dict[str, Any]], *, classes: Sequence[str], target_f1: float
) -> dict[str, str | None]:
    """For each class, the first as-of date whose F1 is at least ``target_f1``.

    Args:
        by_as_of_date: metrics dicts in season order, each with ``as_of`` and ``per_class``.
        classes: class names.
        target_f1: the F1 to reach.

    Returns:
        Class name → month-day, None if never reached or the class has no support.
    """
    earliest: dict[str, str | None] = dict.fromkeys(classes)
    for row in by_as_of_date:
        for entry in row["per_class"]:
            if earliest[entry["name"]] is None and entry["f1"] is not None and entry["f1"] >= target_f1:
                earliest[entry["name"]] = row["as_of"]
    return earliest


def check_target_f1(target_f1: float) -> None:
    """Refuse a target F1 (whose earliest date is reported) outside (0, 1].

    Args:
        target_f1: the F1 a class must reach.

    Raises:
        InputError: ``target_f1`` is not in (0, 1].
    """
    if not 0 < target_f1 <= 1:
        raise InputError(f"target F1 {target_f1} must lie in (0, 1]")


def in_season_curve(
    predict: PredictFn,
    table: pa.Table,
    *,
    classes: Sequence[str],
    as_of: Sequence[str] | None = None,
    season_start: str = DEFAULT_START,
    target_f1: float = 0.8,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    targets: Targets | None = None,
    store: SeriesStore | None = None,
    quiet: bool = True,
) -> InSeasonCurve:
    """Evaluate ``predict`` at calendar as-of dates resolved in each row's season.

    Gives all metrics with bootstrap intervals at each date and the earliest date each class reaches
    ``target_f1``. The same bootstrap draws serve every date so the bands are comparable along the curve.

    Args:
        predict: the predictor.
        table: series rows to score.
        classes: class names, in the predictor's output order.
        as_of: month-days; default `season_as_of_schedule` of ``season_start`` (1 April–31 October when
            seasons start 1 January).
        season_start: month-day the seasons start.
        target_f1: the F1 whose earliest date is reported, in (0, 1].
        groups: clusters to resample whole (those of `inseason.evaluate.bootstrap.resampling_clusters`, so
            a place's seasons are drawn together); None for single samples.
        n_boot: bootstrap replicates.
        level: confidence level.
        seed: seed of the bootstrap draws.
        targets: the class each row is scored against as of each date (see `targets_at`); None for labels.
        store: ``table`` decoded by ``predict`` when it is a `StorePredictFn` (see `predict_at`).
        quiet: hide the progress bar.

    Returns:
        The curve.

    Raises:
        InputError: a bad target F1, as-of date, label or predictor output.
    """
    check_target_f1(target_f1)
    y_true = class_indices(table, classes=classes)
    years = np.asarray(table.column("year").to_numpy(zero_copy_only=False), dtype=np.int64)
    dates = check_schedule(
        list(as_of) if as_of is not None else season_as_of_schedule(season_start),
        sorted(set(years.tolist())),
        start=season_start,
    )
    group_index = group_indices(groups, n=table.num_rows)
    weights = replicate_weights(int(group_index.max()) + 1, n_boot=n_boot, seed=seed)
    probabilities = np.empty((len(dates), table.num_rows, len(classes)))
    rows: list[dict[str, Any]] = []
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("as-of", total=len(dates))
        for d, month_day in enumerate(dates):
            end_day = np.array([days_since_epoch(resolve_as_of(month_day, int(y), start=season_start)) for y in years])
            probabilities[d] = predict_at(predict, table, end_day=end_day, n_classes=len(classes), store=store)
            truth = targets_at(targets, table, end_day=end_day, default=y_true, store=store)
            metrics = _metrics_with_intervals(
                truth,
                probabilities[d].argmax(axis=1),
                classes=classes,
                group_index=group_index,
                weights=weights,
                level=level,
            )
            rows.append({"as_of": month_day, **metrics})
            bar.advance(task)
    return InSeasonCurve(
        as_of=dates,
        probabilities=probabilities,
        by_as_of_date=rows,
        earliest_date=earliest_dates(rows, classes=classes, target_f1=target_f1),
        target_f1=target_f1,
    )


def course_windows(
    predict: PredictFn,
    table: pa.Table,
    *,
    classes: Sequence[str],
    window_days: int = 120,
    step_days: int = 15,
    n_windows: int = 15,
    quiet: bool = True,
) -> dict[str, Any]:
    """The ARSET course's test protocol (REFERENCE): windows after each sample's first observation.

    Each sample is seen through windows of ``window_days`` starting every ``step_days`` after its first
    observation. Rows without observations are skipped.

    Args:
        predict: the predictor.
        table: series rows to score.
        classes: class names, in the predictor's output order.
        window_days: length of a window.
        step_days: days between window starts.
        n_windows: number of windows per sample.
        quiet: hide the progress bar.

    Returns:
        ``{"window_days", "step_days", "n_windows", "windows": [{"index", "start_offset_days", "n",
        "overall_accuracy", "macro_f1"}], ...metrics pooled over all (sample, window) pairs...,
        "published"}``, the last the course's own figures (`COURSE_PUBLISHED`: OA 0.756, macro-F1 0.602).

    Raises:
        InputError: a window setting below 1, or no row with an observation.
    """
    if window_days < 1 or step_days < 1 or n_windows < 1:
        raise InputError("course windows need window_days, step_days and n_windows of at least 1")
    y_true = class_indices(table, classes=classes)
    flat = flatten_series(table)
    first_day = np.full(table.num_rows, np.iinfo(np.int64).max)
    np.minimum.at(first_day, flat.row, flat.day)
    observed = np.flatnonzero(first_day < np.iinfo(np.int64).max)
    if observed.size == 0:
        raise InputError("no series row has an observation: nothing to evaluate with course windows")
    table, y_true, first_day = table.take(pa.array(observed)), y_true[observed], first_day[observed]
    windows, truths, predictions = [], [], []
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("windows", total=n_windows)
        for k in range(n_windows):
            start = first_day + k * step_days
            probabilities = predict_at(
                predict, table, start_day=start, end_day=start + window_days - 1, n_classes=len(classes)
            )
            y_pred = probabilities.argmax(axis=1)
            metrics = metrics_from_confusion(confusion_matrix(y_true, y_pred, n_classes=len(classes)), classes=classes)
            windows.append(
                {
                    "index": k,
                    "start_offset_days": k * step_days,
                    "n": metrics["n"],
                    "overall_accuracy": metrics["overall_accuracy"],
                    "macro_f1": metrics["macro_f1"],
                }
            )
            truths.append(y_true)
            predictions.append(y_pred)
            bar.advance(task)
    pooled = metrics_from_confusion(
        confusion_matrix(np.concatenate(truths), np.concatenate(predictions), n_classes=len(classes)), classes=classes
    )
    return {
        "window_days": window_days,
        "step_days": step_days,
        "n_windows": n_windows,
        "windows": windows,
        **pooled,
        "published": {**COURSE_PUBLISHED, "window_accuracy_range": list(COURSE_PUBLISHED["window_accuracy_range"])},
    }
