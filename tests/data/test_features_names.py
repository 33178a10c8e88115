"""Bands found by Sentinel-2 or STAC common names (any case); an index the table stores is not derived again."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.data import FeatureConfig, compute_features, feature_names
from inseason.data.features import available_indices, common_name, derived_indices
from inseason.errors import InputError


@pytest.mark.parametrize(
    ("band", "common"),
    [
        ("B04", "red"),
        ("b08", "nir"),
        ("B8A", "nir08"),
        ("Red", "red"),
        ("NIR", "nir"),
        ("swir1", "swir16"),
        ("SWIR2", "swir22"),
        ("sur_refl_b01", "sur_refl_b01"),
        ("B4", "b4"),
    ],
)
def test_common_names(band, common):
    assert common_name(band) == common


def test_ndvi_from_common_names_in_any_case_and_order():
    bands = ("Blue", "NIR", "Red")
    assert derived_indices(bands, ("NDVI",)) == [("NDVI", 1, 2)]
    raw = np.array([[100, 5000, 1000]], np.int16)
    channels = compute_features(
        raw, None, bands=bands, scales=np.full(3, 1e-4, np.float32), config=FeatureConfig(indices=("NDVI",))
    )
    assert channels[0, 3] == pytest.approx((0.5 - 0.1) / (0.5 + 0.1))
    assert feature_names(bands, FeatureConfig(indices=("NDVI",)), has_scl=False) == ["Blue", "NIR", "Red", "NDVI"]


def test_a_stored_ndvi_band_is_the_channel_even_when_asked_for():
    for bands in (("ndvi",), ("NDVI", "B04", "B08")):
        config = FeatureConfig(indices=("NDVI",))
        assert feature_names(bands, config, has_scl=False) == list(bands)
        raw = np.ones((2, len(bands)), np.float32)
        out = compute_features(raw, None, bands=bands, scales=np.ones(len(bands), np.float32), config=config)
        assert out.shape == (2, len(bands))


def test_an_index_asked_for_without_its_bands_is_refused_naming_both_spellings():
    with pytest.raises(InputError, match=r"feature NDMI needs bands \['B11'\] \(common names \['swir16'\]\)"):
        feature_names(("red", "nir"), FeatureConfig(indices=("NDVI", "NDMI")), has_scl=False)


def test_available_indices_keeps_what_the_bands_allow_and_says_why_not_the_others():
    kept, notes = available_indices(("red", "nir", "green", "NDMI"), ("NDVI", "NDWI", "NDMI", "NDRE"))
    assert kept == ("NDVI", "NDWI")
    assert notes == [
        "NDMI is not derived: the series table has an NDMI band",
        "NDRE is not derived: the series table has no nir08 or rededge1 band (B8A, B05)",
    ]
