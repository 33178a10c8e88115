"""Normalisation statistics come from the training rows only."""

from __future__ import annotations

import numpy as np

from inseason.data import FeatureConfig, fit_normalization


def test_normalisation_uses_training_rows_only(store):
    train = store.rows_of("train")
    norm = fit_normalization(store, train, features=FeatureConfig())
    values = store.values[store.positions_of(train)] * 1e-4
    np.testing.assert_allclose(norm.mean, values.mean(axis=0), rtol=1e-4)
    assert not np.allclose(norm.mean, fit_normalization(store, store.rows_of("test"), features=FeatureConfig()).mean)
