"""Expected calibration error (`inseason.metrics.expected_calibration_error`) on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.metrics import ECE_BINS, expected_calibration_error

#: Four samples: top-class confidences 0.95 (right), 0.65 (wrong), 0.55 (right), 0.75 (right).
PROBABILITIES = np.array([[0.95, 0.05], [0.65, 0.35], [0.45, 0.55], [0.25, 0.75]])
LABELS = np.array([0, 1, 1, 1])


def test_each_sample_in_its_own_bin() -> None:
    # 10 bins: 0.95, 0.65, 0.55 and 0.75 fall in four different bins, each |accuracy - confidence| weighted 1/4
    expected = (abs(1 - 0.95) + abs(0 - 0.65) + abs(1 - 0.55) + abs(1 - 0.75)) / 4
    assert expected_calibration_error(PROBABILITIES, LABELS, n_bins=10) == pytest.approx(expected)
    assert expected == pytest.approx(0.35)


def test_samples_sharing_a_bin_are_averaged_first() -> None:
    # 2 bins: all four in (0.5, 1]: accuracy 3/4, mean confidence 2.9/4
    assert expected_calibration_error(PROBABILITIES, LABELS, n_bins=2) == pytest.approx(0.75 - 0.725)
    # 1 bin: the gap between accuracy and mean confidence over all samples
    assert expected_calibration_error(PROBABILITIES, LABELS, n_bins=1) == pytest.approx(0.025)


def test_a_calibrated_bin_scores_zero_and_an_over_confident_one_its_gap() -> None:
    probabilities = np.tile([0.75, 0.25], (4, 1))
    assert expected_calibration_error(probabilities, [0, 0, 0, 1]) == pytest.approx(0.0)  # 3 of 4 right at 0.75
    assert expected_calibration_error(probabilities, [0, 1, 1, 1]) == pytest.approx(0.5)  # 1 of 4 right at 0.75


def test_default_bins_are_fifteen_equal_width_bins() -> None:
    assert ECE_BINS == 15
    # 0.70 and 0.72 share the bin (0.6667, 0.7333] of 15 bins, not of 10 bins ((0.6, 0.7] and (0.7, 0.8])
    probabilities = np.array([[0.70, 0.30], [0.72, 0.28]])
    labels = np.array([0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(abs(0.5 - 0.71))
    assert expected_calibration_error(probabilities, labels, n_bins=10) == pytest.approx((0.30 + 0.72) / 2)


def test_ties_predict_the_first_class_and_confidence_zero_is_kept() -> None:
    probabilities = np.array([[0.5, 0.5], [0.0, 0.0]])
    # sample 0: confidence 0.5, predicts class 0 (right); sample 1: confidence 0 in the first bin, predicts 0 (wrong)
    assert expected_calibration_error(probabilities, [0, 1], n_bins=2) == pytest.approx((0.5 + 0.0) / 2)


@pytest.mark.parametrize(
    ("probabilities", "labels", "n_bins", "message"),
    [
        (np.zeros((0, 3)), np.zeros(0, np.int64), 15, "no samples"),
        (np.ones((3, 2)) / 2, np.zeros(2, np.int64), 15, r"\[N, K\] probabilities and N labels"),
        (np.ones(3), np.zeros(3, np.int64), 15, r"\[N, K\] probabilities"),
        (np.ones((3, 2)) / 2, np.zeros(3, np.int64), 0, "at least 1 bin"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        expected_calibration_error(probabilities, labels, n_bins=n_bins)
