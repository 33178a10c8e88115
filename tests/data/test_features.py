"""Feature channels: NDVI and the one-hot SCL classes after the bands, and the bands NDVI needs."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.data import ADAPTER_PRESETS, FeatureConfig, InputSpec, Normalization, build_batch, feature_names
from inseason.errors import InputError


def test_features_ndvi_and_scl_channels(store):
    features = FeatureConfig(indices=("NDVI",), scl=True)
    names = feature_names(store.bands, features, has_scl=True)
    assert names[12] == "NDVI" and names[-1] == "SCL11" and len(names) == 25
    spec = InputSpec(
        adapter=ADAPTER_PRESETS["sequence"],
        features=features,
        normalization=Normalization(mean=np.zeros(25, np.float32), std=np.ones(25, np.float32)),
    )
    batch = build_batch(store, np.array([0]), spec)
    pos = store.offsets[0]
    red, nir = store.values[pos, 3] * 1e-4, store.values[pos, 7] * 1e-4
    assert batch.values[0, 0, 12] == pytest.approx((nir - red) / (nir + red), rel=1e-5)
    assert batch.values[0, 0, 13:].sum() == 1.0
    with pytest.raises(InputError, match="NDVI needs bands"):
        feature_names(("B02",), features, has_scl=True)
