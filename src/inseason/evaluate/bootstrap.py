"""Bootstrap confidence intervals that resample whole groups (fields or blocks) when the samples are
grouped, because pixels of one field are not independent; single samples otherwise.

Each group's confusion matrix is computed once; a replicate is a multinomial draw of group counts and its
confusion matrix the weighted sum, so thousands of replicates cost a matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inseason.errors import InputError
from inseason.evaluate.metrics import SUMMARY_METRICS, summary_from_confusion


def group_indices(groups: Sequence[Any] | np.ndarray | None, *, n: int) -> np.ndarray:
    """Dense group index (0..G-1) of each of ``n`` samples; each sample is its own group when ``groups``
    is None. Missing ids (None/NaN) each form their own group."""
    if groups is None:
        return np.arange(n)
    values = np.asarray(groups, dtype=object)
    if values.shape != (n,):
        raise InputError(f"group ids have {values.shape[0] if values.ndim else 0} entries for {n} samples")
    keys = [("sample", i) if v is None or (isinstance(v, float) and np.isnan(v)) else ("group", v)
            for i, v in enumerate(values.tolist())]
    index: dict[Any, int] = {}
    return np.array([index.setdefault(key, len(index)) for key in keys], dtype=np.int64)


def replicate_weights(n_groups: int, *, n_boot: int, seed: int) -> np.ndarray:
    """How many times each group is drawn in each of ``n_boot`` bootstrap replicates, ``[n_boot, G]``
    (deterministic from ``seed``; reuse the same draws across as-of dates for comparable bands)."""
    if n_boot < 1:
        raise InputError(f"n_boot={n_boot}: the bootstrap needs at least one replicate")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)


def bootstrap_confusions(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int, group_index: np.ndarray,
                         weights: np.ndarray) -> np.ndarray:
    """Confusion matrices ``[n_boot, K, K]`` of the replicates described by ``weights`` ``[n_boot, G]``."""
    n_groups = weights.shape[1]
    cell = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    per_group = np.zeros((n_groups, n_classes * n_classes))
    np.add.at(per_group, (group_index, cell), 1.0)
    return (weights @ per_group).reshape(-1, n_classes, n_classes)


def intervals_from_confusions(confusions: np.ndarray, *, level: float = 0.95) -> dict[str, Any]:
    """Percentile intervals ``[low, high]`` of the summary metrics and of each class's F1 over a stack of
    replicate confusion matrices; ``None`` where a metric is undefined in too many replicates."""
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must lie strictly between 0 and 1")
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    summary = summary_from_confusion(confusions)
    tp = np.diagonal(confusions, axis1=-2, axis2=-1)
    support = confusions.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support > 0, 2 * tp / (support + confusions.sum(axis=-2)), np.nan)
    out: dict[str, Any] = {name: _interval(summary[name], tails) for name in SUMMARY_METRICS}
    out["per_class_f1"] = [_interval(f1[:, k], tails) for k in range(f1.shape[1])]
    out["level"] = level
    return out


def _interval(values: np.ndarray, tails: list[float]) -> list[float] | None:
    finite = values[np.isfinite(values)]
    if finite.size < 0.5 * values.size or finite.size == 0:
        return None
    low, high = np.percentile(finite, tails)
    return [float(low), float(high)]


def bootstrap_intervals(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int,
                        groups: Sequence[Any] | np.ndarray | None = None, n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> dict[str, Any]:
    """Bootstrap percentile intervals of OA, macro-F1, weighted F1, kappa and per-class F1, resampling
    ``groups`` (field or block ids, one per sample) when given and samples otherwise."""
    index = group_indices(groups, n=len(y_true))
    if index.size == 0:
        raise InputError("no samples to bootstrap: the split has no test samples")
    weights = replicate_weights(int(index.max()) + 1, n_boot=n_boot, seed=seed)
    confusions = bootstrap_confusions(y_true, y_pred, n_classes=n_classes, group_index=index, weights=weights)
    return intervals_from_confusions(confusions, level=level)
