"""Classification metrics computed from confusion matrices, so one code path serves point estimates and
bootstrap replicates (a stack of matrices).

Conventions: rows of a confusion matrix are the truth (reference), columns the prediction. A class with no
support (no true samples) has recall and F1 ``None`` and is left out of macro-F1 and listed in
``classes_without_support``; a class never predicted has precision ``None``. Nothing undefined is hidden as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inseason.errors import InputError
from inseason.progress import plural

#: Summary metrics every metrics dict carries (and that bootstrap intervals are computed for).
SUMMARY_METRICS: tuple[str, ...] = ("overall_accuracy", "macro_f1", "weighted_f1", "kappa")


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Counts of (truth, prediction) pairs as an ``[n_classes, n_classes]`` float array (rows: truth).

    Class indices must lie in ``[0, n_classes)``; ``weights`` (one per sample) turns counts into sums.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise InputError(f"truth ({y_true.shape}) and predictions ({y_pred.shape}) differ in length")
    for name, y in (("truth", y_true), ("prediction", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise InputError(f"{name} class indices must lie in [0, {n_classes}): got {y.min()}..{y.max()}")
    flat = np.bincount(y_true * n_classes + y_pred, weights=weights, minlength=n_classes * n_classes)
    return flat.astype(np.float64).reshape(n_classes, n_classes)


def summary_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """OA, macro-F1 (over classes with support), support-weighted F1 and Cohen's kappa of one confusion
    matrix ``[K, K]`` or a stack ``[..., K, K]``; undefined values are NaN.
    """
    c = np.asarray(confusion, dtype=np.float64)
    total = c.sum(axis=(-2, -1))
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    support = c.sum(axis=-1)
    predicted = c.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        oa = tp.sum(axis=-1) / total
        f1 = 2 * tp / (support + predicted)
        has_support = support > 0
        macro = np.where(has_support, f1, 0.0).sum(axis=-1) / has_support.sum(axis=-1)
        weighted = np.where(has_support, f1 * support, 0.0).sum(axis=-1) / total
        expected = (support * predicted).sum(axis=-1) / total**2
        kappa = np.where(expected < 1, (oa - expected) / (1 - expected), np.nan)
    return {"overall_accuracy": oa, "macro_f1": macro, "weighted_f1": weighted, "kappa": kappa}


def _optional(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def normalise_confusion(confusion: np.ndarray, *, by: str) -> np.ndarray:
    """The confusion matrix as fractions of each true class (``by="truth"``: rows sum to 1, the recall
    view) or of each predicted class (``by="prediction"``: columns sum to 1, the precision view); an empty
    row or column stays 0.
    """
    axis = {"truth": 1, "prediction": 0}.get(by)
    if axis is None:
        raise InputError(f"normalise by {by!r}: choose 'truth' or 'prediction'")
    sums = confusion.sum(axis=axis, keepdims=True)
    return np.divide(confusion, sums, out=np.zeros_like(confusion, dtype=np.float64), where=sums > 0)


def metrics_from_confusion(confusion: np.ndarray, *, classes: Sequence[str]) -> dict[str, Any]:
    """The JSON-ready metrics of one confusion matrix (rows: truth): summary metrics, a per-class table
    (precision, recall, F1, support; ``None`` where undefined) and the three confusion matrices.
    """
    c = np.asarray(confusion, dtype=np.float64)
    if c.shape != (len(classes), len(classes)):
        raise InputError(f"confusion matrix of shape {c.shape} does not match {len(classes)} classes")
    summary = summary_from_confusion(c)
    tp, support, predicted = np.diag(c), c.sum(axis=1), c.sum(axis=0)
    per_class = []
    for k, name in enumerate(classes):
        precision = tp[k] / predicted[k] if predicted[k] > 0 else None
        recall = tp[k] / support[k] if support[k] > 0 else None
        f1 = 2 * tp[k] / (support[k] + predicted[k]) if support[k] > 0 else None
        per_class.append(
            {
                "name": name,
                "precision": _optional(precision),
                "recall": _optional(recall),
                "f1": _optional(f1),
                "support": int(support[k]),
                "predicted": int(predicted[k]),
            }
        )
    return {
        **{key: _optional(float(value)) for key, value in summary.items()},
        "n": int(c.sum()),
        "per_class": per_class,
        "classes_without_support": [name for name, s in zip(classes, support) if s == 0],
        "confusion": {
            "counts": c.astype(np.int64).tolist(),
            "by_truth": normalise_confusion(c, by="truth").round(6).tolist(),
            "by_prediction": normalise_confusion(c, by="prediction").round(6).tolist(),
        },
    }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, *, classes: Sequence[str]) -> dict[str, Any]:
    """Metrics of class-index predictions against truth (see `metrics_from_confusion`); an empty sample
    is refused because no metric is defined on it.
    """
    if len(y_true) == 0:
        raise InputError("no samples to evaluate: the split has no test samples (check --split and the split table)")
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, n_classes=len(classes)), classes=classes)


#: Fewest test samples whose accuracy figures mean something (fewer: ``sample_size["too_small"]``).
MIN_TEST_SAMPLES = 30
#: Fewest test samples a class present in the test split needs for its F1 (and the macro-F1) to mean something.
MIN_SAMPLES_PER_CLASS = 5


def sample_size_check(support: Sequence[int], *, classes: Sequence[str]) -> dict[str, Any]:
    """Whether a test set is large enough for its accuracy figures to mean something.

    A test set is too small when it has fewer than `MIN_TEST_SAMPLES` samples or when a class present in
    it has fewer than `MIN_SAMPLES_PER_CLASS`. Classes of the label map with no test sample at all are
    not counted here: they have no F1, are left out of macro-F1 and are listed in
    ``classes_without_support`` instead.

    Args:
        support: test samples of each class (the confusion matrix's row sums), in ``classes`` order.
        classes: class names.

    Returns:
        ``{"n", "min_per_class" (fewest samples of a class present, 0 when none is), "classes_below"
        (names of present classes under the per-class minimum), "too_small", "warning" (one sentence for
        a person, None when not too small)}``.

    Raises:
        InputError: ``support`` and ``classes`` differ in length.
    """
    counts = np.asarray(support, dtype=np.int64)
    if counts.shape != (len(classes),):
        raise InputError(f"{counts.size} class supports given for {len(classes)} classes: give one per class")
    n = int(counts.sum())
    present = counts[counts > 0]
    below = [(name, int(c)) for name, c in zip(classes, counts) if 0 < c < MIN_SAMPLES_PER_CLASS]
    too_few = n < MIN_TEST_SAMPLES
    parts = []
    if too_few:
        parts.append(f"only {plural(n, 'test sample')} (fewer than {MIN_TEST_SAMPLES})")
    if len(below) == 1:
        name, count = below[0]
        parts.append(
            f"class {name} has only {count} (fewer than {MIN_SAMPLES_PER_CLASS})"
            if too_few
            else f"class {name} has only {plural(count, 'test sample')} (fewer than {MIN_SAMPLES_PER_CLASS})"
        )
    elif below:
        listed = ", ".join(f"{name} ({count})" for name, count in below)
        parts.append(
            f"classes {listed} have fewer than {MIN_SAMPLES_PER_CLASS}{' each' if too_few else ' test samples each'}"
        )
    warning = None
    if parts:
        if too_few:
            what = "accuracy figures are"
        else:
            what = "its F1 and the macro-F1 are" if len(below) == 1 else "their F1 and the macro-F1 are"
        text = " and ".join(parts)
        warning = f"{text[0].upper()}{text[1:]}: {what} not meaningful; evaluate on a larger test split."
    return {
        "n": n,
        "min_per_class": int(present.min()) if present.size else 0,
        "classes_below": [name for name, _ in below],
        "too_small": bool(parts),
        "warning": warning,
    }
