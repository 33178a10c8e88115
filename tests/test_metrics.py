"""The one metrics module: hand-computed figures, scikit-learn's on the same predictions, and both shapes.

`classification_metrics` is what evaluation.json records (undefined figures are ``None``, macro-F1 over the
classes with support); `validation_metrics` is what a training run records in model.json, summary.json and
TensorBoard (undefined figures are 0, macro-F1 over the classes present in truth or predictions).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from inseason.errors import InputError
from inseason.metrics import (
    SUMMARY_METRICS,
    classification_metrics,
    confusion_matrix,
    f1_scores,
    metrics_from_confusion,
    normalise_confusion,
    summary_from_confusion,
    validation_metrics,
)

CLASSES = ["Corn", "Soybeans", "Rice", "Cotton"]

# A hand-computed case: three classes, c predicted once but never true.
#   truth a a a b b b, prediction a a b b b c  ->  confusion [[2, 1, 0], [0, 2, 1], [0, 0, 0]]
#   support (3, 3, 0), predicted (2, 3, 1), OA 4/6; F1 a = 4/5, b = 4/6, c = 0/1
#   expected agreement (3*2 + 3*3 + 0*1) / 36 = 5/12, kappa (2/3 - 5/12) / (7/12) = 3/7
HAND_TRUTH = np.array([0, 0, 0, 1, 1, 1])
HAND_PRED = np.array([0, 0, 1, 1, 1, 2])
HAND_CLASSES = ["a", "b", "c"]


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 4, 500))
    return y_true, y_pred


def test_hand_computed_confusion_case() -> None:
    confusion = confusion_matrix(HAND_TRUTH, HAND_PRED, n_classes=3)
    assert confusion.dtype == np.float64
    assert confusion.tolist() == [[2, 1, 0], [0, 2, 1], [0, 0, 0]]
    assert f1_scores(confusion) == pytest.approx([4 / 5, 2 / 3, 0.0])
    assert np.isnan(f1_scores(np.zeros((2, 2)))).all()  # neither true nor predicted: 0 / 0

    m = classification_metrics(HAND_TRUTH, HAND_PRED, classes=HAND_CLASSES)
    assert m["overall_accuracy"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((4 / 5 + 2 / 3) / 2)  # c has no support: left out
    assert m["weighted_f1"] == pytest.approx((4 / 5 * 3 + 2 / 3 * 3) / 6)
    assert m["kappa"] == pytest.approx(3 / 7)
    assert m["n"] == 6
    assert m["per_class"][0] == {
        "name": "a",
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(4 / 5),
        "support": 3,
        "predicted": 2,
    }
    assert m["per_class"][2] == {
        "name": "c",
        "precision": 0.0,
        "recall": None,
        "f1": None,
        "support": 0,
        "predicted": 1,
    }
    assert m["classes_without_support"] == ["c"]
    assert m["confusion"]["counts"] == [[2, 1, 0], [0, 2, 1], [0, 0, 0]]
    assert m["confusion"]["by_truth"][2] == [0.0, 0.0, 0.0]  # an empty row stays 0

    v = validation_metrics(HAND_TRUTH, HAND_PRED, HAND_CLASSES)
    assert list(v) == ["overall_accuracy", "macro_f1", "kappa", "per_class"]
    assert v["overall_accuracy"] == pytest.approx(2 / 3)
    assert v["macro_f1"] == pytest.approx((4 / 5 + 2 / 3 + 0.0) / 3)  # c was predicted: it counts, with F1 0
    assert v["kappa"] == pytest.approx(3 / 7)
    assert v["per_class"] == {
        "a": {"f1": pytest.approx(4 / 5), "support": 3},
        "b": {"f1": pytest.approx(2 / 3), "support": 3},
        "c": {"f1": 0.0, "support": 0},
    }


def test_undefined_figures_are_none_for_evaluation_and_zero_for_training() -> None:
    one_class = np.zeros(4, np.int64)  # all true and predicted the same: kappa undefined (expected agreement 1)
    m = classification_metrics(one_class, one_class, classes=["a", "b"])
    assert m["overall_accuracy"] == 1.0 and m["kappa"] is None and m["per_class"][1]["f1"] is None
    v = validation_metrics(one_class, one_class, ["a", "b"])
    assert v == {
        "overall_accuracy": 1.0,
        "macro_f1": 1.0,  # b is neither true nor predicted: left out
        "kappa": 0.0,
        "per_class": {"a": {"f1": 1.0, "support": 4}, "b": {"f1": 0.0, "support": 0}},
    }
    empty = np.array([], np.int64)
    assert validation_metrics(empty, empty, ["a"]) == {
        "overall_accuracy": 0.0,
        "macro_f1": 0.0,
        "kappa": 0.0,
        "per_class": {"a": {"f1": 0.0, "support": 0}},
    }


def test_summary_of_a_stack_is_the_summary_of_each_matrix() -> None:
    first = confusion_matrix(HAND_TRUTH, HAND_PRED, n_classes=3)
    second = confusion_matrix(HAND_TRUTH, HAND_TRUTH, n_classes=3, weights=np.full(6, 2.0))
    assert second.tolist() == [[6, 0, 0], [0, 6, 0], [0, 0, 0]]
    stacked = summary_from_confusion(np.stack([first, second]))
    assert tuple(stacked) == SUMMARY_METRICS
    for i, confusion in enumerate((first, second)):
        alone = summary_from_confusion(confusion)
        for key in SUMMARY_METRICS:
            np.testing.assert_array_equal(stacked[key][i], alone[key])


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
    v = validation_metrics(y_true, y_pred, CLASSES)  # every class true and predicted: the same figures
    assert (v["overall_accuracy"], v["macro_f1"], v["kappa"]) == (m["overall_accuracy"], m["macro_f1"], m["kappa"])
    assert [v["per_class"][name]["f1"] for name in CLASSES] == [c["f1"] for c in m["per_class"]]


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
    with pytest.raises(InputError, match=r"\[0, 2\)"):
        validation_metrics(np.array([0, 1]), np.array([0, 2]), ["a", "b"])
    with pytest.raises(InputError, match="differ in length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), n_classes=2)
    with pytest.raises(InputError, match="does not match 3 classes"):
        metrics_from_confusion(np.eye(2), classes=CLASSES[:3])
    with pytest.raises(InputError, match="'truth' or 'prediction'"):
        normalise_confusion(np.eye(2), by="rows")
