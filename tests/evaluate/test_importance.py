"""Permutation importance finds the bands and periods the predictor uses, and only those."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from inseason.errors import InputError
from inseason.evaluate.fake import FAKE_CLASSES, TemplatePredictor, fake_series
from inseason.evaluate.importance import attention_profile, permutation_importance, permute_within_bins
from inseason.evaluate.series_arrays import flatten_series

CLASSES = list(FAKE_CLASSES)


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return fake_series(n_fields=3, pixels_per_field=4, seed=4)


def test_band_importance_only_for_bands_the_predictor_reads(table: pa.Table) -> None:
    result = permutation_importance(TemplatePredictor(), table, classes=CLASSES, by="band", n_repeats=2)
    scores = {row["name"]: row["importance"] for row in result["features"]}
    assert scores["B02"] == 0.0 and scores["B03"] == 0.0  # the template predictor uses NDVI only
    assert scores["B04"] > 0.2 and scores["B08"] > 0.05  # the synthetic spectra: NDVI follows red more than NIR
    assert result["baseline"] > 0.85 and result["metric"] == "macro_f1"
    again = permutation_importance(TemplatePredictor(), table, classes=CLASSES, by="band", n_repeats=2)
    assert again == result


def test_period_importance_covers_the_season_and_peaks_in_summer(table: pa.Table) -> None:
    result = permutation_importance(
        TemplatePredictor(), table, classes=CLASSES, by="period", period_days=60, as_of="09-30", n_repeats=2
    )
    names = [row["name"] for row in result["features"]]
    assert names[:3] == ["01-01 to 03-01", "03-02 to 04-30", "05-01 to 06-29"]
    assert sum(row["n_observations"] for row in result["features"]) == sum(
        d <= dt.date(2021, 9, 30) for row in table.column("dates").to_pylist() for d in row
    )
    summer = max(result["features"], key=lambda row: row["importance"])
    assert summer["name"] in ("05-01 to 06-29", "06-30 to 08-28")


def test_permutation_stays_within_date_bins(table: pa.Table) -> None:
    flat = flatten_series(table)
    shuffled = permute_within_bins(
        flat, selected=np.ones(flat.day.size, bool), bands=None, bin_days=5, rng=np.random.default_rng(0)
    )
    assert not np.array_equal(shuffled.values, flat.values)
    assert np.array_equal(shuffled.day, flat.day) and np.array_equal(shuffled.row, flat.row)
    for date_bin in np.unique(flat.day // 5):
        in_bin = flat.day // 5 == date_bin
        assert sorted(map(tuple, shuffled.values[in_bin])) == sorted(map(tuple, flat.values[in_bin]))


def test_attention_profile_shares() -> None:
    doy = np.array([[10, 20, 40, 0]])
    weights = np.array([[0.2, 0.3, 0.5, 0.0]])
    mask = np.array([[True, True, True, False]])
    assert attention_profile(doy, weights, mask, bin_days=15) == {
        "day_of_season": [0, 15, 30],
        "weight": [0.2, 0.3, 0.5],
    }
    with pytest.raises(InputError, match="differ in shape"):
        attention_profile(doy, weights[:, :2], mask)


def test_bad_options(table: pa.Table) -> None:
    with pytest.raises(InputError, match="'band' or 'period'"):
        permutation_importance(TemplatePredictor(), table, classes=CLASSES, by="week")
    with pytest.raises(InputError, match="importance metric"):
        permutation_importance(TemplatePredictor(), table, classes=CLASSES, metric="auc")
