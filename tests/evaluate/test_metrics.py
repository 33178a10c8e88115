"""The sample-size check of an evaluation (the metrics themselves are tested in tests/test_metrics.py)."""

from __future__ import annotations

import pytest

from inseason.errors import InputError
from inseason.evaluate.metrics import MIN_SAMPLES_PER_CLASS, MIN_TEST_SAMPLES, sample_size_check


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
