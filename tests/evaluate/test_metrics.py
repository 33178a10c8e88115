"""Metrics equal scikit-learn's on the same predictions; undefined values are reported, not hidden."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from inseason.errors import InputError
from inseason.evaluate.metrics import classification_metrics, confusion_matrix, normalise_confusion

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
