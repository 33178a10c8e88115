"""Classification metrics from confusion matrices, the one home of OA, F1, macro-F1 and kappa.

Every figure comes from a confusion matrix, so one code path serves a point estimate and bootstrap
replicates (a stack of matrices). Training records its validation figures with `validation_metrics`
(model.json, summary.json, TensorBoard); evaluation reports `classification_metrics` (evaluation.json).

Conventions: rows of a confusion matrix are the truth (reference), columns the prediction. In the
evaluation's metrics a class with no support (no true samples) has recall and F1 ``None``, is left out of
macro-F1 and is listed in ``classes_without_support``; a class never predicted has precision ``None``.
Nothing undefined is hidden as 0 there. A training run's validation figures keep their own, older
conventions (see `validation_metrics`). How well the probabilities behind the predictions are calibrated
is `expected_calibration_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from inseason.errors import InputError

__all__ = [
    "ECE_BINS",
    "SUMMARY_METRICS",
    "Floats",
    "classification_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "f1_scores",
    "mcnemar_p",
    "metrics_from_confusion",
    "normalise_confusion",
    "summary_from_confusion",
    "validation_metrics",
]

#: A float64 array: a confusion matrix ``[K, K]``, a stack ``[..., K, K]`` or figures derived from them.
Floats = npt.NDArray[np.float64]

#: Summary metrics every evaluation metrics dict carries (and that bootstrap intervals are computed for).
SUMMARY_METRICS: tuple[str, ...] = ("overall_accuracy", "macro_f1", "weighted_f1", "kappa")


def confusion_matrix(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, n_classes: int, weights: npt.ArrayLike | None = None
) -> Floats:
    """Count the (truth, prediction) pairs of class-index predictions.

    Args:
        y_true: true class index of each sample, in ``[0, n_classes)``.
        y_pred: predicted class index of each sample, in ``[0, n_classes)``.
        n_classes: the number of classes K.
        weights: one weight per sample, turning counts into sums (None: each sample counts 1).

    Returns:
        The ``[K, K]`` float64 confusion matrix (rows: truth, columns: prediction).

    Raises:
        InputError: truth and predictions differ in length, or a class index lies outside ``[0, K)``.
    """
    truth = np.asarray(y_true, dtype=np.int64)
    predicted = np.asarray(y_pred, dtype=np.int64)
    if truth.shape != predicted.shape:
        raise InputError(f"truth ({truth.shape}) and predictions ({predicted.shape}) differ in length")
    for name, y in (("truth", truth), ("prediction", predicted)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise InputError(f"{name} class indices must lie in [0, {n_classes}): got {y.min()}..{y.max()}")
    flat = np.bincount(truth * n_classes + predicted, weights=weights, minlength=n_classes * n_classes)
    return flat.astype(np.float64).reshape(n_classes, n_classes)


def f1_scores(confusion: npt.ArrayLike) -> Floats:
    """Per-class F1 (``2 TP / (support + predicted)``) of a confusion matrix or a stack of them.

    Args:
        confusion: a confusion matrix ``[K, K]`` or a stack ``[..., K, K]`` (rows: truth).

    Returns:
        F1 of each class ``[..., K]``; NaN for a class neither true nor predicted (0 / 0).
    """
    c = np.asarray(confusion, dtype=np.float64)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1: Floats = 2 * tp / (c.sum(axis=-1) + c.sum(axis=-2))
    return f1


def summary_from_confusion(confusion: npt.ArrayLike) -> dict[str, Floats]:
    """Compute the summary metrics (`SUMMARY_METRICS`) of one confusion matrix or a stack of them.

    Macro-F1 averages the classes with support, support-weighted F1 weighs each class by its support.

    Args:
        confusion: a confusion matrix ``[K, K]`` or a stack ``[..., K, K]`` (rows: truth).

    Returns:
        ``overall_accuracy``, ``macro_f1``, ``weighted_f1`` and Cohen's ``kappa``, each of shape ``[...]``;
        undefined values are NaN.
    """
    c = np.asarray(confusion, dtype=np.float64)
    total = c.sum(axis=(-2, -1))
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    support = c.sum(axis=-1)
    predicted = c.sum(axis=-2)
    f1 = f1_scores(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        oa = tp.sum(axis=-1) / total
        has_support = support > 0
        macro = np.where(has_support, f1, 0.0).sum(axis=-1) / has_support.sum(axis=-1)
        weighted = np.where(has_support, f1 * support, 0.0).sum(axis=-1) / total
        expected = (support * predicted).sum(axis=-1) / total**2
        kappa = np.where(expected < 1, (oa - expected) / (1 - expected), np.nan)
    return {"overall_accuracy": oa, "macro_f1": macro, "weighted_f1": weighted, "kappa": kappa}


def _optional(value: float | None) -> float | None:
    """The value as a float, or None where it is undefined (None or not finite)."""
    return None if value is None or not np.isfinite(value) else float(value)


def _zero_if_undefined(value: Floats) -> float:
    """The (0-d) value as a float, or 0.0 where it is undefined (NaN)."""
    number = float(value)
    return number if np.isfinite(number) else 0.0


def normalise_confusion(confusion: npt.ArrayLike, *, by: str) -> Floats:
    """Turn a confusion matrix into fractions of each true or each predicted class.

    Args:
        confusion: a confusion matrix ``[K, K]`` (rows: truth).
        by: ``"truth"`` (rows sum to 1, the recall view) or ``"prediction"`` (columns sum to 1, the
            precision view).

    Returns:
        The normalised ``[K, K]`` matrix; an empty row or column stays 0.

    Raises:
        InputError: ``by`` is neither ``"truth"`` nor ``"prediction"``.
    """
    axis = {"truth": 1, "prediction": 0}.get(by)
    if axis is None:
        raise InputError(f"normalise by {by!r}: choose 'truth' or 'prediction'")
    c = np.asarray(confusion)
    sums = c.sum(axis=axis, keepdims=True)
    normalised: Floats = np.divide(c, sums, out=np.zeros_like(c, dtype=np.float64), where=sums > 0)
    return normalised


def metrics_from_confusion(confusion: npt.ArrayLike, *, classes: Sequence[str]) -> dict[str, Any]:
    """Compute the JSON-ready metrics of one confusion matrix, as evaluation.json records them.

    Args:
        confusion: a confusion matrix ``[K, K]`` (rows: truth).
        classes: the K class names, in index order.

    Returns:
        The summary metrics (`SUMMARY_METRICS`, ``None`` where undefined), ``n`` (samples), ``per_class``
        (one ``{"name", "precision", "recall", "f1", "support", "predicted"}`` per class, ``None`` where
        undefined), ``classes_without_support`` (names) and ``confusion`` (``counts``, ``by_truth``,
        ``by_prediction``).

    Raises:
        InputError: the matrix's shape does not match the number of classes.
    """
    c = np.asarray(confusion, dtype=np.float64)
    if c.shape != (len(classes), len(classes)):
        raise InputError(f"confusion matrix of shape {c.shape} does not match {len(classes)} classes")
    summary = summary_from_confusion(c)
    tp, support, predicted = np.diag(c), c.sum(axis=1), c.sum(axis=0)
    f1 = f1_scores(c)
    per_class = []
    for k, name in enumerate(classes):
        precision = tp[k] / predicted[k] if predicted[k] > 0 else None
        recall = tp[k] / support[k] if support[k] > 0 else None
        per_class.append(
            {
                "name": name,
                "precision": _optional(precision),
                "recall": _optional(recall),
                "f1": _optional(f1[k]) if support[k] > 0 else None,
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


def classification_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, classes: Sequence[str]) -> dict[str, Any]:
    """Score class-index predictions against the truth, as evaluation.json records it.

    Args:
        y_true: true class index of each sample.
        y_pred: predicted class index of each sample.
        classes: the class names, in index order.

    Returns:
        The metrics of `metrics_from_confusion`.

    Raises:
        InputError: there are no samples (no metric is defined on an empty sample), or the indices do not
            fit the classes (see `confusion_matrix`).
    """
    if np.asarray(y_true).size == 0:
        raise InputError("no samples to evaluate: the split has no test samples (check --split and the split table)")
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, n_classes=len(classes)), classes=classes)


def validation_metrics(truth: npt.ArrayLike, predicted: npt.ArrayLike, class_names: Sequence[str]) -> dict[str, Any]:
    """Score class-index predictions as a training run records its validation figures.

    The shape model.json's ``metrics``, summary.json and the TensorBoard records of a run have always had,
    an adapter over the same confusion matrix and F1 as `classification_metrics` with the run's older
    conventions kept: macro-F1 averages the classes present in truth *or* predictions (a class predicted
    but never true counts with F1 0), an undefined figure is 0 rather than ``None``, and an empty sample
    scores 0 instead of being refused.

    Args:
        truth: true class index of each sample.
        predicted: predicted class index of each sample.
        class_names: the class names, in index order.

    Returns:
        ``{"overall_accuracy", "macro_f1", "kappa", "per_class": {name: {"f1", "support"}}}``.

    Raises:
        InputError: the indices do not fit the classes (see `confusion_matrix`).
    """
    confusion = confusion_matrix(truth, predicted, n_classes=len(class_names))
    summary = summary_from_confusion(confusion)
    support = confusion.sum(axis=1)
    present = support + confusion.sum(axis=0) > 0  # true or predicted at least once
    f1 = np.where(present, f1_scores(confusion), 0.0)
    return {
        "overall_accuracy": _zero_if_undefined(summary["overall_accuracy"]),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "kappa": _zero_if_undefined(summary["kappa"]),
        "per_class": {name: {"f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(class_names)},
    }


#: Equal-width confidence bins of `expected_calibration_error` (Guo et al. 2017 use 15).
ECE_BINS = 15


def expected_calibration_error(probabilities: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error (ECE) of class probabilities, on equal-width bins of the top-class confidence.

    Each sample's confidence is its highest probability and its prediction that class (the first of equal
    ones). The samples fall into ``n_bins`` bins of equal width on (0, 1], bin ``b`` holding confidences in
    ``(b / n_bins, (b + 1) / n_bins]`` (a confidence of 0 goes to the first bin); ECE is the mean over bins of
    ``|accuracy(bin) - mean confidence(bin)|`` weighted by the share of samples in the bin (Guo et al. 2017,
    "On Calibration of Modern Neural Networks", eq. 3). 0 is perfect calibration; an over-confident model has
    mean confidence above its accuracy. Empty bins count nothing.

    Args:
        probabilities: ``[N, K]`` class probabilities (rows summing to 1).
        labels: ``[N]`` true class index of each sample.
        n_bins: the number of equal-width confidence bins (at least 1).

    Returns:
        The ECE, in [0, 1].

    Raises:
        InputError: no samples, probabilities that are not ``[N, K]`` with one label per row, or ``n_bins``
            below 1.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if n_bins < 1:
        raise InputError(f"ECE with {n_bins} bins: use at least 1 bin")
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise InputError(f"ECE needs [N, K] probabilities and N labels: got {p.shape} and {y.shape}")
    if p.shape[0] == 0:
        raise InputError("ECE of no samples is undefined: the split has no samples to score")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    # sum over bins of |B|/N * |acc - conf| = sum over bins of |sum(correct - confidence)| / N
    return float(np.abs(gap[count > 0]).sum() / p.shape[0])


def mcnemar_p(correct_a: npt.ArrayLike, correct_b: npt.ArrayLike) -> float:
    """Exact McNemar test: the two-sided p-value that two classifiers are equally accurate on the same samples.

    Only the discordant samples count: ``b`` where A is right and B wrong, ``c`` the reverse. Under the null
    hypothesis each discordant sample is a fair coin, so the p-value is the two-sided binomial test of
    ``min(b, c)`` in ``b + c`` trials at one half (McNemar 1947; the exact form Dietterich 1998 recommends for
    comparing classifiers on one test set). With no discordant samples the classifiers agree: 1.

    Args:
        correct_a: ``[N]`` booleans, whether classifier A got each test sample right.
        correct_b: ``[N]`` booleans for classifier B, on the same samples in the same order.

    Returns:
        The p-value in [0, 1].

    Raises:
        InputError: the two vectors differ in length.
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"McNemar's test needs two [N] vectors of the same samples: got {a.shape} and {b.shape}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
