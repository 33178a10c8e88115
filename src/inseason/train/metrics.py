"""Classification metrics in numpy, for the figures a run reports and its bundle records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_counts(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """The [K, K] int64 confusion matrix of class indices (rows: truth, columns: prediction)."""
    k = n_classes
    flat = np.asarray(truth, np.int64) * k + np.asarray(predicted, np.int64)
    return np.bincount(flat, minlength=k * k).reshape(k, k)


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Overall accuracy, macro-F1 (over classes present in truth or predictions), kappa and per-class F1."""
    k = len(class_names)
    confusion = confusion_counts(truth, predicted, k).astype(np.float64)
    total = confusion.sum()
    tp = np.diag(confusion)
    support, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    denominator = support + predicted_count
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    present = denominator > 0
    oa = float(tp.sum() / total) if total else 0.0
    expected = float((support * predicted_count).sum() / total**2) if total else 0.0
    kappa = (oa - expected) / (1 - expected) if expected < 1 else 0.0
    return {
        "overall_accuracy": oa,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "kappa": float(kappa),
        "per_class": {name: {"f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(class_names)},
    }
