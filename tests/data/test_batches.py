"""Batches with augmentations: seeded, and truncating within the season."""

from __future__ import annotations

import numpy as np

from inseason.data import ADAPTER_PRESETS, AugmentConfig, build_batch
from tests.data.helpers import input_spec


def test_augmentations_are_seeded_and_truncate_in_season(store):
    spec = input_spec(store, ADAPTER_PRESETS["sequence"])
    rows = np.arange(20)
    one = build_batch(store, rows, spec, augment=AugmentConfig(), rng=np.random.default_rng(5))
    two = build_batch(store, rows, spec, augment=AugmentConfig(), rng=np.random.default_rng(5))
    assert np.array_equal(one.values, two.values) and np.array_equal(one.mask, two.mask)
    full = build_batch(store, rows, spec)
    assert (one.mask.sum(1) <= full.mask.sum(1)).all() and (one.mask.sum(1) < full.mask.sum(1)).any()
    assert one.mask.any(axis=1).all()
