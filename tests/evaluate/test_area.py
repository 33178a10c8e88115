"""Olofsson et al. (2014) area-weighted accuracy, pinned to the paper's worked example (its Tables 8-9:
a 30 m change map of 10 million pixels with strata deforestation, forest gain, stable forest and stable
non-forest)."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.evaluate.area import area_weighted_accuracy

SAMPLE_COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
MAPPED_HA = np.array([200_000, 150_000, 3_200_000, 6_450_000]) * 0.09  # pixels × 0.09 ha
CLASSES = ["deforestation", "forest gain", "stable forest", "stable non-forest"]


def test_paper_example() -> None:
    result = area_weighted_accuracy(SAMPLE_COUNTS, MAPPED_HA, classes=CLASSES)
    # Published: overall accuracy 0.95 ± 0.02; areas 21 158 ± 6 158 ha, 11 686 ± 3 756 ha, 285 770 ± 15 510 ha.
    assert result["overall_accuracy"] == pytest.approx(0.946512, abs=1e-6)
    assert result["overall_ci"] == pytest.approx(0.018483, abs=1e-6)
    areas = [c["area"] for c in result["per_class"]]
    cis = [c["area_ci"] for c in result["per_class"]]
    assert [round(a) for a in areas] == [21_158, 11_686, 285_770, 581_386]
    assert [round(c) for c in cis[:3]] == [6_158, 3_756, 15_510]
    assert sum(areas) == pytest.approx(MAPPED_HA.sum())
    # Published user's accuracies 0.88, 0.73, 0.93, 0.96 and producer's 0.75, 0.85, 0.93, 0.96.
    assert [round(c["users_accuracy"], 2) for c in result["per_class"]] == [0.88, 0.73, 0.93, 0.96]
    assert [round(c["producers_accuracy"], 2) for c in result["per_class"]] == [0.75, 0.85, 0.93, 0.96]
    assert result["per_class"][0]["users_se"] == pytest.approx(0.037776, abs=1e-6)
    assert result["per_class"][0]["producers_se"] == pytest.approx(0.108832, abs=1e-6)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="4x4"):
        area_weighted_accuracy(SAMPLE_COUNTS, MAPPED_HA[:3], classes=CLASSES)
    counts = np.array(SAMPLE_COUNTS)
    counts[1] = [0, 1, 0, 0]
    with pytest.raises(InputError, match="forest gain"):
        area_weighted_accuracy(counts, MAPPED_HA, classes=CLASSES)
