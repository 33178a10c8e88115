"""McNemar's exact test of two classifiers on the same samples (`inseason.metrics.mcnemar_p`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.metrics import mcnemar_p


def test_only_discordant_samples_count() -> None:
    # 10 samples only A gets right, 2 only B: p = P(X <= 2) * 2 for X ~ Binomial(12, 1/2)
    a = np.array([1] * 10 + [0] * 2 + [1] * 50 + [0] * 5, bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 50 + [0] * 5, bool)
    expected = 2 * sum(math.comb(12, k) for k in range(3)) / 2**12
    assert mcnemar_p(a, b) == pytest.approx(expected)  # 0.0386
    assert mcnemar_p(b, a) == pytest.approx(expected)  # symmetric
    assert mcnemar_p(a[10:], b[10:]) == pytest.approx(0.5)  # 0 vs 2 discordant: 2 * 1/4


def test_agreeing_classifiers_and_a_one_sample_gap_are_no_evidence() -> None:
    same = np.array([1, 0, 1, 1], bool)
    assert mcnemar_p(same, same) == 1.0
    assert mcnemar_p([1, 1, 1, 1], [1, 1, 1, 0]) == 1.0


def test_vectors_of_different_samples_are_refused() -> None:
    with pytest.raises(InputError, match="same samples"):
        mcnemar_p([1, 0, 1], [1, 0])
