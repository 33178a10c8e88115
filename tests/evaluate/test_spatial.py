"""Accuracy per field or block, on the split's one block grid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from inseason.errors import InputError
from inseason.evaluate.bootstrap import resampling_clusters
from inseason.evaluate.spatial import accuracy_by_group
from inseason.series.audit import audit_split
from inseason.series.geometry import block_ids, block_labels, planar_xy


def _labels(x: np.ndarray, y: np.ndarray, block_size: float) -> np.ndarray:
    """Block names as the evaluation writes them."""
    return block_labels(block_ids(np.column_stack([x, y]), block_size))


def test_blocks_and_group_accuracy() -> None:
    x = np.array([100.0, 1900.0, 2100.0, 2500.0, -10.0])
    y = np.array([100.0, 100.0, 100.0, 100.0, 50.0])
    blocks = _labels(x, y, 2000)
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
    with pytest.raises(InputError, match="differ in length"):
        accuracy_by_group(np.array([0]), np.array([0, 1]), groups=[1], x=np.zeros(1), y=np.zeros(1), classes=["a"])


def test_points_without_coordinates_have_no_block() -> None:
    blocks = _labels(np.array([10.0, np.nan, 10.0]), np.array([10.0, 5.0, np.nan]), 100)
    assert blocks.tolist() == ["0_0", None, None]
    rows = accuracy_by_group(
        np.array([0, 1, 1]), np.array([0, 1, 0]), groups=blocks, x=np.zeros(3), y=np.zeros(3), classes=["a", "b"]
    )
    assert [(r["group"], r["n"]) for r in rows] == [("0_0", 1)]


def _partition(keys: Sequence[Any] | np.ndarray) -> set[frozenset[int]]:
    """The samples grouped by key, whatever the keys are (ids, names or cluster numbers)."""
    groups: dict[Any, set[int]] = {}
    for i, key in enumerate(np.asarray(keys, dtype=object).tolist()):
        groups.setdefault(key, set()).add(i)
    return {frozenset(members) for members in groups.values()}


def test_the_split_audit_and_the_block_bootstrap_share_one_grid() -> None:
    """The split's leakage audit and the evaluation's by-block bootstrap put every sample in the same block."""
    rng = np.random.default_rng(0)
    n, block_size = 60, 2000.0
    xy = rng.uniform(-5000, 5000, size=(n, 2))
    xy[:4] = [[0.0, 0.0], [-0.5, 1999.9], [2000.0, -2000.0], [-4000.0, 4000.0]]  # on and beside block edges
    splits = rng.choice(["train", "validation", "test"], size=n)
    table = pa.table(
        {
            "sample_id": np.arange(n),
            "field_id": np.arange(n),
            "label": ["Corn"] * n,
            "x": xy[:, 0],
            "y": xy[:, 1],
            "crs": ["EPSG:5070"] * n,
            "split": splits,
        }
    ).replace_schema_metadata({b"inseason:split": json.dumps({"by": "block", "block_size": block_size}).encode()})
    audited = block_ids(planar_xy(table), block_size)  # the blocks audit_split counts
    clusters, unit = resampling_clusters(table, by="block", block_size=block_size)
    assert unit == "block" and len(_partition(clusters)) > 10
    assert _partition(clusters) == _partition(audited)
    assert _partition(_labels(xy[:, 0], xy[:, 1], block_size)) == _partition(audited)  # evaluation.json's names
    shared = [c for c in np.unique(clusters) if len(set(splits[clusters == c])) > 1]
    audit = audit_split(table)["blocks_in_several_splits"]
    assert audit["count"] == len(shared) > 0
    named = {block_labels([i])[0] for i in audit["examples"]}
    assert named <= set(_labels(xy[:, 0], xy[:, 1], block_size).tolist())
