"""Raster sampling strategies: exact stride positions, per-class caps, fields and their edge buffer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from inseason.sources.cdl import read_label_window
from inseason.sources.sampling import (
    cap_per_group,
    field_components,
    interior_distance,
    sample_per_field,
    sample_stratified,
    sample_stride,
)


def test_cap_per_group_caps_each_group_and_is_deterministic() -> None:
    groups = np.repeat([7, 3, 9, 1], [50, 5, 12, 1])
    chosen = cap_per_group(groups, 10, np.random.default_rng(4))
    values, counts = np.unique(groups[chosen], return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {1: 1, 3: 5, 7: 10, 9: 10}
    assert np.all(np.diff(chosen) > 0)
    assert np.array_equal(chosen, cap_per_group(groups, 10, np.random.default_rng(4)))
    assert not np.array_equal(chosen, cap_per_group(groups, 10, np.random.default_rng(5)))
    assert len(cap_per_group(np.array([], dtype=np.int64), 3, np.random.default_rng(0))) == 0
    text = np.array(["b", "a", "b", "b"], dtype=object)
    assert sorted(text[cap_per_group(text, 2, np.random.default_rng(0))]) == ["a", "b", "b"]


def test_stride_takes_every_kth_row_and_column_from_the_grid_origin() -> None:
    valid = np.ones((40, 50), dtype=bool)
    valid[0, 0] = False
    s = sample_stride(valid, 15)
    pairs = set(zip(s.rows.tolist(), s.cols.tolist()))
    expected = {(r, c) for r in (0, 15, 30) for c in (0, 15, 30, 45)} - {(0, 0)}
    assert pairs == expected
    shifted = sample_stride(valid, 15, origin=(-38743, 15966))  # the tiny world's CDL window
    assert set(shifted.rows.tolist()) == {r for r in range(40) if (r - 38743) % 15 == 0}
    assert set(shifted.cols.tolist()) == {c for c in range(50) if (c + 15966) % 15 == 0}
    with pytest.raises(ValueError, match="stride must be >= 1"):
        sample_stride(valid, 0)


def test_stratified_respects_caps_and_drops_rare_classes() -> None:
    rng = np.random.default_rng(0)
    codes = rng.choice([1, 5, 24, 61], size=(60, 60), p=[0.5, 0.3, 0.195, 0.005]).astype(np.int32)
    valid = np.ones(codes.shape, dtype=bool)
    valid[:, :5] = False
    available = {int(v): int(c) for v, c in zip(*np.unique(codes[valid], return_counts=True))}
    s = sample_stratified(codes, valid, per_class=100, min_per_class=40, rng=np.random.default_rng(1))
    got = dict(zip(*[a.tolist() for a in np.unique(codes[s.rows, s.cols], return_counts=True)]))
    assert got == {c: min(100, n) for c, n in available.items() if n >= 40}
    assert s.dropped == {c: n for c, n in available.items() if n < 40} and 61 in s.dropped
    assert valid[s.rows, s.cols].all()
    again = sample_stratified(codes, valid, per_class=100, min_per_class=40, rng=np.random.default_rng(1))
    assert np.array_equal(s.rows, again.rows) and np.array_equal(s.cols, again.cols)


def test_field_components_are_8_connected_equal_codes_numbered_in_raster_order() -> None:
    codes = np.array(
        [
            [5, 5, 0, 1, 1],
            [5, 0, 1, 0, 1],
            [0, 5, 0, 0, 0],
            [3, 3, 0, 5, 5],
        ],
        dtype=np.int32,
    )
    fields = field_components(codes)
    assert fields[0, 0] == 1 and fields[2, 1] == 1  # diagonal neighbours join
    assert fields[0, 3] == 2 and fields[1, 2] == 2 and fields[1, 4] == 2
    assert fields[3, 0] == 3 and fields[3, 1] == 3
    assert fields[3, 3] == 4 and fields[3, 4] == 4  # same class, not connected: another field
    assert (fields[codes == 0] == 0).all()


def test_interior_distance_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    codes = ndimage.zoom(rng.integers(1, 4, size=(6, 6)), 4, order=0).astype(np.int32)
    codes[rng.random(codes.shape) < 0.03] = 0
    res = (30.0, 20.0)
    dist = interior_distance(codes, res)
    h, w = codes.shape
    rows, cols = np.indices((h + 2, w + 2)) - 1
    padded = np.pad(codes, 1)
    for r in range(h):
        for c in range(w):
            if codes[r, c] == 0:
                assert dist[r, c] == 0
                continue
            other = padded != codes[r, c]
            d = np.hypot((rows[other] - r) * res[1], (cols[other] - c) * res[0]).min()
            assert dist[r, c] == pytest.approx(d)


def test_per_field_points_keep_the_buffer_from_every_other_field(tiny_world: Path, world_aoi: Any) -> None:
    window = read_label_window(tiny_world / "labels" / "CDL_2021.tif", world_aoi)
    fields = field_components(window.codes)
    buffer_m = 30.0
    s = sample_per_field(
        window.codes,
        window.inside,
        n=3,
        buffer_m=buffer_m,
        res_m=window.res_m,
        rng=np.random.default_rng(0),
        fields=fields,
    )
    assert len(s.rows) > 20
    ids = fields[s.rows, s.cols]
    assert np.unique(ids, return_counts=True)[1].max() <= 3
    assert window.inside[s.rows, s.cols].all()
    # brute force: every pixel (square of 30 m) of another field, no data, or beyond the window lies
    # at least buffer_m from the sampled pixel centre
    h, w = window.shape
    rows, cols = np.indices((h + 2, w + 2)) - 1
    padded = np.pad(fields, 1)
    rx, ry = window.res_m
    for r, c, f in zip(s.rows, s.cols, ids):
        other = padded != f
        dx = np.maximum(np.abs(cols[other] - c) * rx - rx / 2, 0)
        dy = np.maximum(np.abs(rows[other] - r) * ry - ry / 2, 0)
        assert np.hypot(dx, dy).min() >= buffer_m - 1e-9
    # a zero buffer admits every valid pixel of every field
    all_fields = sample_per_field(
        window.codes,
        window.inside,
        n=10**6,
        buffer_m=0.0,
        res_m=window.res_m,
        rng=np.random.default_rng(0),
        fields=fields,
    )
    assert len(all_fields.rows) == int(window.inside.sum())
    # small fields cannot hold a point 30 m inside: they are counted
    assert s.fields_without_points > 0
    with_points = len(np.unique(ids))
    assert with_points + s.fields_without_points == len(np.unique(fields[window.inside]))


def test_buffer_rule_on_a_square_field() -> None:
    # a 7x7 field inside another class; with a 45 m buffer only its central 3x3 pixels qualify: their centres
    # are >= 90 m from the other class's pixel centres (90 - 30*sqrt(2)/2 >= 45), the next ring's only 60 m
    codes = np.full((11, 11), 2, dtype=np.int32)
    codes[2:9, 2:9] = 1
    s = sample_per_field(codes, codes == 1, n=100, buffer_m=45.0, res_m=(30.0, 30.0), rng=np.random.default_rng(0))
    assert set(zip(s.rows.tolist(), s.cols.tolist())) == {(r, c) for r in (4, 5, 6) for c in (4, 5, 6)}
    assert s.fields_without_points == 0
