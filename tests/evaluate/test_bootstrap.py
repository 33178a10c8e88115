"""Bootstrap intervals: resample groups when given, deterministic from a seed, bracketing the estimate."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.evaluate.bootstrap import bootstrap_intervals, group_indices
from inseason.evaluate.metrics import classification_metrics


def _fields(n_fields: int = 40, per_field: int = 25, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Pixels of a field share their truth and are all right or all wrong: strongly correlated errors."""
    rng = np.random.default_rng(seed)
    field_truth = rng.integers(0, 3, n_fields)
    field_right = rng.random(n_fields) < 0.7
    field_pred = np.where(field_right, field_truth, (field_truth + 1) % 3)
    groups = np.repeat(np.arange(n_fields), per_field)
    return field_truth[groups], field_pred[groups], groups


def test_intervals_bracket_estimate_and_are_deterministic() -> None:
    y_true, y_pred, groups = _fields()
    a = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=groups, n_boot=300, seed=5)
    b = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=groups, n_boot=300, seed=5)
    assert a == b
    point = classification_metrics(y_true, y_pred, classes=["a", "b", "c"])
    for name in ("overall_accuracy", "macro_f1", "weighted_f1", "kappa"):
        low, high = a[name]
        assert low <= point[name] <= high
    assert len(a["per_class_f1"]) == 3 and a["level"] == 0.95


def test_grouped_intervals_are_wider_than_pixel_intervals() -> None:
    y_true, y_pred, groups = _fields()
    by_field = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=groups, n_boot=400, seed=1)
    by_pixel = bootstrap_intervals(y_true, y_pred, n_classes=3, n_boot=400, seed=1)
    width = lambda iv: iv["overall_accuracy"][1] - iv["overall_accuracy"][0]  # noqa: E731
    assert width(by_field) > 3 * width(by_pixel)


def test_group_indices_dense_and_missing_ids_alone() -> None:
    assert group_indices(["a", "b", "a", None, None], n=5).tolist() == [0, 1, 0, 2, 3]
    assert group_indices(None, n=3).tolist() == [0, 1, 2]
    with pytest.raises(InputError, match="group ids"):
        group_indices([1, 2], n=3)
    with pytest.raises(InputError, match="no test samples"):
        bootstrap_intervals(np.array([], dtype=int), np.array([], dtype=int), n_classes=2)
