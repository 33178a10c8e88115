"""The one block grid: square blocks of the split, its audit and the evaluation, with readable names."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.series.geometry import NO_BLOCK, block_ids, block_labels


def test_points_fall_in_square_blocks_aligned_on_the_origin() -> None:
    xy = np.array([[100.0, 100.0], [1900.0, 100.0], [2100.0, 100.0], [2500.0, 100.0], [-10.0, 50.0]])
    ids = block_ids(xy, 2000)
    assert ids[0] == ids[1] and ids[2] == ids[3] and len(set(ids.tolist())) == 3
    assert block_labels(ids).tolist() == ["0_0", "0_0", "1_0", "1_0", "-1_0"]


def test_labels_read_column_and_row_back_from_the_id() -> None:
    xy = np.array([[-1.0, -1.0], [0.0, -2e9], [2e9, 7.0], [-2e9, -2e9], [0.5, 2e9]])  # 1 m blocks: ±2 million km
    assert block_labels(block_ids(xy, 1.0)).tolist() == [
        "-1_-1",
        "0_-2000000000",
        "2000000000_7",
        "-2000000000_-2000000000",
        "0_2000000000",
    ]


def test_points_without_coordinates_are_in_no_block() -> None:
    ids = block_ids(np.array([[10.0, 10.0], [np.nan, 5.0], [10.0, np.nan], [np.inf, 0.0]]), 100)
    assert ids[1:].tolist() == [NO_BLOCK] * 3 and ids[0] != NO_BLOCK
    assert block_labels(ids).tolist() == ["0_0", None, None, None]
    assert block_ids(np.empty((0, 2)), 100).shape == (0,)


def test_a_block_needs_a_positive_size() -> None:
    with pytest.raises(InputError, match="positive size"):
        block_ids(np.zeros((1, 2)), 0)
    with pytest.raises(InputError, match="positive size"):
        block_ids(np.zeros((1, 2)), float("nan"))
