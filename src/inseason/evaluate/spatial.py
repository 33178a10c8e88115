"""Accuracy across space: one row per field or per square block, with its centre for a map.

Blocks are the split's grid (`inseason.series.geometry.block_ids`), named ``"column_row"`` by
`inseason.series.geometry.block_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inseason.errors import InputError


def accuracy_by_group(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    groups: Sequence[Any] | np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
) -> list[dict[str, Any]]:
    """Accuracy of each group of samples (a field or a block), with its centre for a map.

    Args:
        y_true: true class index of each sample.
        y_pred: predicted class index of each sample.
        groups: group id of each sample (field id or block name); None or NaN: in no group, left out.
        x: x coordinate of each sample.
        y: y coordinate of each sample.
        classes: class names.

    Returns:
        One ``{"group", "n", "correct", "accuracy", "x", "y", "majority_label"}`` per group, sorted by
        group id: sample and correct counts, the centre (mean x, y) and the most frequent true class.

    Raises:
        InputError: the arrays differ in length.
    """
    group = np.asarray(groups, dtype=object)
    n = len(y_true)
    if not (len(y_pred) == len(group) == len(x) == len(y) == n):
        raise InputError("truth, predictions, group ids and coordinates differ in length")
    known = np.array([g is not None and not (isinstance(g, float) and np.isnan(g)) for g in group], dtype=bool)
    keys = np.array([str(g) for g in group[known]], dtype=object)
    ids, index = np.unique(keys, return_inverse=True)
    truth, pred = np.asarray(y_true)[known], np.asarray(y_pred)[known]
    xs, ys = np.asarray(x, dtype=np.float64)[known], np.asarray(y, dtype=np.float64)[known]
    count = np.bincount(index, minlength=ids.size)
    correct = np.bincount(index, weights=(truth == pred).astype(np.float64), minlength=ids.size)
    cx = np.bincount(index, weights=xs, minlength=ids.size) / np.maximum(count, 1)
    cy = np.bincount(index, weights=ys, minlength=ids.size) / np.maximum(count, 1)
    by_class = np.zeros((ids.size, len(classes)))
    np.add.at(by_class, (index, truth), 1)
    return [
        {
            "group": str(ids[g]),
            "n": int(count[g]),
            "correct": int(correct[g]),
            "accuracy": float(correct[g] / count[g]),
            "x": float(cx[g]),
            "y": float(cy[g]),
            "majority_label": classes[int(by_class[g].argmax())],
        }
        for g in range(ids.size)
    ]
