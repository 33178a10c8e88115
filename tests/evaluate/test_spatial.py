"""Accuracy per field or block."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.evaluate.spatial import accuracy_by_group, block_ids


def test_blocks_and_group_accuracy() -> None:
    x = np.array([100.0, 1900.0, 2100.0, 2500.0, -10.0])
    y = np.array([100.0, 100.0, 100.0, 100.0, 50.0])
    blocks = block_ids(x, y, block_size=2000)
    assert blocks.tolist() == ["0_0", "0_0", "1_0", "1_0", "-1_0"]
    rows = accuracy_by_group(
        np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), groups=blocks, x=x, y=y, classes=["a", "b"]
    )
    assert [(r["group"], r["n"], r["correct"], r["accuracy"], r["majority_label"]) for r in rows] == [
        ("-1_0", 1, 0, 0.0, "b"),
        ("0_0", 2, 1, 0.5, "a"),
        ("1_0", 2, 2, 1.0, "b"),
    ]
    assert rows[1]["x"] == pytest.approx(1000.0)


def test_missing_field_ids_are_left_out_and_bad_input() -> None:
    rows = accuracy_by_group(
        np.array([0, 1]), np.array([0, 1]), groups=[7, None], x=np.zeros(2), y=np.zeros(2), classes=["a", "b"]
    )
    assert [r["group"] for r in rows] == ["7"]
    with pytest.raises(InputError, match="positive size"):
        block_ids(np.zeros(1), np.zeros(1), block_size=0)
    with pytest.raises(InputError, match="differ in length"):
        accuracy_by_group(np.array([0]), np.array([0, 1]), groups=[1], x=np.zeros(1), y=np.zeros(1), classes=["a"])


def test_points_without_coordinates_have_no_block() -> None:
    blocks = block_ids(np.array([10.0, np.nan, 10.0]), np.array([10.0, 5.0, np.nan]), block_size=100)
    assert blocks.tolist() == ["0_0", None, None]
    rows = accuracy_by_group(
        np.array([0, 1, 1]), np.array([0, 1, 0]), groups=blocks, x=np.zeros(3), y=np.zeros(3), classes=["a", "b"]
    )
    assert [(r["group"], r["n"]) for r in rows] == [("0_0", 1)]
