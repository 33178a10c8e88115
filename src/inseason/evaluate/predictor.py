"""What evaluation needs from a model (`PredictFn`), and the checks around calling it.

`PredictFn` is a callable that gives class probabilities for the rows of a series table as of a date. Any
callable ``predict(table, *, as_of)`` returning a float array ``[rows, classes]`` is one: the training
package's ``predict_series`` bound to a bundle, a classical baseline, or a test double. (The bundle-backed
class users load is `inseason.train.Predictor`; this module only names the call evaluation makes.)
Evaluation truncates the series to ``as_of`` itself before calling, so no predictor can see the future.

A predictor that also works on a decoded `inseason.data.SeriesStore` (`StorePredictFn`: the bundle-backed one
of ``inseason evaluate``) lets an evaluation decode the table once: the in-season curve, the end-of-season
scores and every permutation of the importance are predicted from that one store (a permutation is a copy of
its values), not from a table decoded again for each as-of date and each permutation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.season import season_start_day


class PredictFn(Protocol):
    """A predictor callable: class probabilities ``[rows, classes]`` of a series table's rows, as of a date.

    Implementations use only observations dated up to ``as_of``.
    """

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> np.ndarray:
        """Class probabilities of ``table``'s rows from their observations up to ``as_of``.

        Args:
            table: series rows (already cut to ``as_of`` by evaluation).
            as_of: the as-of date.

        Returns:
            ``[rows, classes]`` probabilities.
        """
        ...


@runtime_checkable
class StorePredictFn(PredictFn, Protocol):
    """A `PredictFn` that can also decode a table once and predict from the decoded store.

    Both ways give the same probabilities: ``predict_store(decode(table), as_of_day=d)`` equals calling the
    predictor on the table cut to each row's day ``d``.
    """

    def decode(self, table: pa.Table) -> SeriesStore:
        """The series table decoded as the predictor reads it (its season start).

        Args:
            table: series rows.

        Returns:
            The store, rows in table order.
        """
        ...

    def predict_store(self, store: SeriesStore, *, as_of_day: np.ndarray) -> np.ndarray:
        """Class probabilities of every store row from its observations up to its own day of season.

        Args:
            store: a store from `decode` (or a copy of it with permuted values).
            as_of_day: ``[rows]`` the last day of season each row is seen.

        Returns:
            ``[rows, classes]`` probabilities.
        """
        ...


def days_of_season(store: SeriesStore, end_day: np.ndarray) -> np.ndarray:
    """Each store row's day of season of the day ``end_day`` (days since `inseason.season.EPOCH`).

    Args:
        store: the decoded series (its rows' season years and season start).
        end_day: ``[rows]`` a day per row.

    Returns:
        ``[rows]`` int64 days of season (negative before the season starts).
    """
    years = store.years.astype(np.int64)
    distinct, index = np.unique(years, return_inverse=True)
    first = np.array([season_start_day(int(y), store.season) for y in distinct.tolist()], np.int64)
    return np.asarray(end_day, np.int64) - first[index]


class Targets(Protocol):
    """A label rule: the class to score each row against as of a date.

    For labels that depend on the observations up to that day (the ARSET No Crop Growing rule).
    """

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> np.ndarray:
        """Class indices of ``table``'s rows as of ``as_of``.

        Args:
            table: series rows.
            as_of: the as-of date.

        Returns:
            ``[rows]`` class indices.
        """
        ...


@runtime_checkable
class StoreTargets(Targets, Protocol):
    """A `Targets` rule that can also label the rows of a decoded store (decoded as the predictor does)."""

    def targets_store(self, store: SeriesStore, *, as_of_day: np.ndarray) -> np.ndarray:
        """Class indices of every store row as of its own day of season.

        Args:
            store: the table decoded by the evaluation's `StorePredictFn`.
            as_of_day: ``[rows]`` the day of season each row is scored as of.

        Returns:
            ``[rows]`` class indices.
        """
        ...


def class_indices(table: pa.Table, *, classes: Sequence[str]) -> np.ndarray:
    """Index into ``classes`` of each row's ``label``.

    Args:
        table: series rows with ``label``.
        classes: the model's class names, in output order.

    Returns:
        The int64 class index of each row.

    Raises:
        InputError: the table has no rows, or labels the model does not know.
    """
    if table.num_rows == 0:
        raise InputError(
            "the series table has no rows to evaluate: the split has no test samples "
            "(check --split and the split column)"
        )
    labels = table.column("label").to_pylist()
    lookup = {name: k for k, name in enumerate(classes)}
    unknown = sorted({str(label) for label in labels if label not in lookup})
    if unknown:
        raise InputError(
            f"series labels {unknown} are not among the model's classes {list(classes)}: "
            "evaluate with a table built with the model's label map"
        )
    return np.array([lookup[label] for label in labels], dtype=np.int64)


def checked_probabilities(probabilities: np.ndarray, *, n_rows: int, n_classes: int) -> np.ndarray:
    """The predictor's output as float64 ``[n_rows, n_classes]``, checked.

    A bundle whose label map differs from the evaluation classes shows up here.

    Args:
        probabilities: what the predictor returned.
        n_rows: rows it was given.
        n_classes: classes of the evaluation.

    Returns:
        The probabilities as float64.

    Raises:
        InputError: another shape, or non-finite values.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (n_rows, n_classes):
        raise InputError(
            f"the model returned probabilities of shape {p.shape}, expected ({n_rows}, {n_classes}): "
            "its label map does not match the evaluation classes"
        )
    if not np.isfinite(p).all():
        raise InputError("the model returned non-finite probabilities: check the bundle's normalisation statistics")
    return p
