"""Metrics equal scikit-learn's on the same predictions; undefined values are reported, not hidden."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from inseason.errors import InputError
from inseason.evaluate.metrics import (
    MIN_SAMPLES_PER_CLASS,
    MIN_TEST_SAMPLES,
    classification_metrics,
    confusion_matrix,
    normalise_confusion,
    sample_size_check,
)

CLASSES = ["Corn", "Soybeans", "Rice", "Cotton"]


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 4, 500))
    return y_true, y_pred


def test_summary_and_per_class_equal_scikit_learn(predictions: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_pred = predictions
    m = classification_metrics(y_true, y_pred, classes=CLASSES)
    assert m["overall_accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="weighted"))
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=range(4))
    assert [c["precision"] for c in m["per_class"]] == pytest.approx(precision)
    assert [c["recall"] for c in m["per_class"]] == pytest.approx(recall)
    assert [c["f1"] for c in m["per_class"]] == pytest.approx(f1)
    assert [c["support"] for c in m["per_class"]] == support.tolist()
    assert m["n"] == 500


def test_confusion_matrices_equal_scikit_learn(predictions: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_pred = predictions
    counts = confusion_matrix(y_true, y_pred, n_classes=4)
    assert counts.tolist() == skm.confusion_matrix(y_true, y_pred, labels=range(4)).tolist()
    for by, sk in (("truth", "true"), ("prediction", "pred")):
        expected = skm.confusion_matrix(y_true, y_pred, labels=range(4), normalize=sk)
        assert normalise_confusion(counts, by=by) == pytest.approx(expected)
    m = classification_metrics(y_true, y_pred, classes=CLASSES)
    assert np.array(m["confusion"]["by_truth"]).sum(axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    assert np.array(m["confusion"]["by_prediction"]).sum(axis=0) == pytest.approx(np.ones(4), abs=1e-5)


def test_class_without_support_is_reported_and_left_out_of_macro_f1() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([0, 2, 1, 1, 0, 0])  # class 2 predicted once but never true; class 3 absent
    m = classification_metrics(y_true, y_pred, classes=CLASSES)
    assert m["classes_without_support"] == ["Rice", "Cotton"]
    rice, cotton = m["per_class"][2], m["per_class"][3]
    assert rice == {"name": "Rice", "precision": 0.0, "recall": None, "f1": None, "support": 0, "predicted": 1}
    assert cotton["precision"] is None and cotton["f1"] is None
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, labels=[0, 1], average="macro"))


def test_no_samples_and_bad_indices_are_clear_errors() -> None:
    with pytest.raises(InputError, match="no test samples"):
        classification_metrics(np.array([], dtype=int), np.array([], dtype=int), classes=CLASSES)
    with pytest.raises(InputError, match=r"\[0, 4\)"):
        confusion_matrix(np.array([0, 5]), np.array([0, 1]), n_classes=4)
    with pytest.raises(InputError, match="'truth' or 'prediction'"):
        normalise_confusion(np.eye(2), by="rows")


def test_sample_size_check_thresholds_and_sentences() -> None:
    classes = ["Corn", "Soybeans", "Rice"]
    assert MIN_TEST_SAMPLES == 30 and MIN_SAMPLES_PER_CLASS == 5
    ok = sample_size_check([10, 15, 5], classes=classes)
    assert ok == {"n": 30, "min_per_class": 5, "classes_below": [], "too_small": False, "warning": None}
    tiny = sample_size_check([1, 3, 0], classes=classes)
    assert tiny["n"] == 4 and tiny["min_per_class"] == 1 and tiny["too_small"] is True
    assert tiny["classes_below"] == ["Corn", "Soybeans"]  # Rice has no test sample: not scored, not "below"
    assert tiny["warning"] == (
        "Only 4 test samples (fewer than 30) and classes Corn (1), Soybeans (3) have fewer "
        "than 5 each: accuracy figures are not meaningful; evaluate on a larger test split."
    )
    few = sample_size_check([29, 0, 0], classes=classes)
    assert few["classes_below"] == [] and few["warning"] == (
        "Only 29 test samples (fewer than 30): accuracy figures are not meaningful; evaluate on a larger test split."
    )
    one = sample_size_check([1, 0, 0], classes=classes)
    assert one["warning"] == (
        "Only 1 test sample (fewer than 30) and class Corn has only 1 (fewer than 5): "
        "accuracy figures are not meaningful; evaluate on a larger test split."
    )
    rare = sample_size_check([100, 4, 50], classes=classes)
    assert rare["too_small"] is True and rare["min_per_class"] == 4 and rare["classes_below"] == ["Soybeans"]
    assert rare["warning"] == (
        "Class Soybeans has only 4 test samples (fewer than 5): its F1 and the macro-F1 "
        "are not meaningful; evaluate on a larger test split."
    )
    two = sample_size_check([100, 4, 2], classes=classes)
    assert two["warning"] == (
        "Classes Soybeans (4), Rice (2) have fewer than 5 test samples each: their F1 and "
        "the macro-F1 are not meaningful; evaluate on a larger test split."
    )
    assert sample_size_check([0, 0, 0], classes=classes)["min_per_class"] == 0
    with pytest.raises(InputError, match="one per class"):
        sample_size_check([1, 2], classes=classes)
