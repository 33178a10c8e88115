"""Bootstrap intervals: resample groups when given, deterministic from a seed, bracketing the estimate."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from inseason.errors import InputError
from inseason.evaluate.bootstrap import bootstrap_intervals, connected_keys, group_indices, resampling_clusters
from inseason.evaluate.fake import fake_series
from inseason.evaluate.metrics import classification_metrics


def _fields(n_fields: int = 40, per_field: int = 25, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Pixels of a field share their truth and are all right or all wrong: strongly correlated errors."""
    rng = np.random.default_rng(seed)
    field_truth = rng.integers(0, 3, n_fields)
    field_right = rng.random(n_fields) < 0.7
    field_pred = np.where(field_right, field_truth, (field_truth + 1) % 3)
    groups = np.repeat(np.arange(n_fields), per_field)
    return field_truth[groups], field_pred[groups], groups


def test_intervals_bracket_estimate_and_are_deterministic() -> None:
    y_true, y_pred, groups = _fields()
    a = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=groups, n_boot=300, seed=5)
    b = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=groups, n_boot=300, seed=5)
    assert a == b
    point = classification_metrics(y_true, y_pred, classes=["a", "b", "c"])
    for name in ("overall_accuracy", "macro_f1", "weighted_f1", "kappa"):
        low, high = a[name]
        assert low <= point[name] <= high
    assert len(a["per_class_f1"]) == 3 and a["level"] == 0.95


def test_grouped_intervals_are_wider_than_pixel_intervals() -> None:
    y_true, y_pred, groups = _fields()
    by_field = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=groups, n_boot=400, seed=1)
    by_pixel = bootstrap_intervals(y_true, y_pred, n_classes=3, n_boot=400, seed=1)
    width = lambda iv: iv["overall_accuracy"][1] - iv["overall_accuracy"][0]  # noqa: E731
    assert width(by_field) > 3 * width(by_pixel)


def test_group_indices_dense_and_missing_ids_alone() -> None:
    assert group_indices(["a", "b", "a", None, None], n=5).tolist() == [0, 1, 0, 2, 3]
    assert group_indices(None, n=3).tolist() == [0, 1, 2]
    with pytest.raises(InputError, match="group ids"):
        group_indices([1, 2], n=3)
    with pytest.raises(InputError, match="no test samples"):
        bootstrap_intervals(np.array([], dtype=int), np.array([], dtype=int), n_classes=2)


def _seasons_at_locations(n_locations: int = 40, n_seasons: int = 3, seed: int = 0) -> pa.Table:
    """``n_seasons`` rows at each of ``n_locations`` points: a new sample id and field id every season
    (as a yearly label raster gives), the same x/y; truth and prediction columns where a location is right
    or wrong in every season (a place hard to classify stays hard)."""
    rng = np.random.default_rng(seed)
    location = np.tile(np.arange(n_locations), n_seasons)
    season = np.repeat(np.arange(n_seasons), n_locations)
    truth = rng.integers(0, 3, n_locations)[location]
    right = (rng.random(n_locations) < 0.7)[location]
    return pa.table(
        {
            "sample_id": np.arange(location.size),
            "year": 2019 + season,
            "field_id": np.arange(location.size) + 1000,
            "x": 30.0 * location + 5.0,
            "y": np.full(location.size, 15.0),
            "truth": truth,
            "prediction": np.where(right, truth, (truth + 1) % 3),
        }
    )


def test_seasons_of_a_location_form_one_cluster() -> None:
    table = _seasons_at_locations(n_locations=40, n_seasons=3)
    clusters, unit = resampling_clusters(table, by="field")
    assert unit == "location+field" and clusters.max() + 1 == 40  # not 3 × 40 field-years
    assert clusters.tolist() == np.tile(np.arange(40), 3).tolist()  # numbered by first row
    blocks, unit = resampling_clusters(table, by="block", block_size=300)
    assert unit == "block" and blocks.max() + 1 == 4  # x from 5 to 1175 m: four 300 m blocks, all seasons
    assert len(set(blocks[[0, 40, 80]].tolist())) == 1


def test_location_clusters_widen_intervals() -> None:
    table = _seasons_at_locations(n_locations=40, n_seasons=3, seed=3)
    y_true, y_pred = table.column("truth").to_numpy(), table.column("prediction").to_numpy()
    clusters, _ = resampling_clusters(table, by="field")
    width = lambda iv: iv["overall_accuracy"][1] - iv["overall_accuracy"][0]  # noqa: E731
    by_location = bootstrap_intervals(y_true, y_pred, n_classes=3, groups=clusters, n_boot=2000, seed=1)
    by_field_year = bootstrap_intervals(
        y_true, y_pred, n_classes=3, groups=table.column("field_id").to_numpy(), n_boot=2000, seed=1
    )
    # three perfectly correlated seasons per location: the honest interval is about sqrt(3) times wider
    assert 1.4 < width(by_location) / width(by_field_year) < 2.1


def test_field_and_location_union_on_a_hand_made_case() -> None:
    nan = float("nan")
    table = pa.table(
        {
            "sample_id": pa.array(["a", "b", "c", "d", "e", "f", "g", "a2"]),
            "x": [0.0, 0.0, 50.0, 90.0, 500.0, nan, nan, 700.0],
            "y": [0.0, 0.0, 0.0, 0.0, 500.0, nan, nan, 700.0],
            # a and b share a point, b and c a field: one cluster; c and d are 40 m apart but share nothing;
            # d and e share a field (across years); f has only its sample id; g (no coordinates) and a2 share
            # field 9
            "field_id": pa.array([1, 2, 2, 3, 3, None, 9, 9], type=pa.int64()),
        }
    )
    clusters, _unit = resampling_clusters(table, by="field")
    assert clusters.tolist() == [0, 0, 0, 1, 1, 2, 3, 3]
    # without coordinates, the sample id is the location: the same id in two seasons is one cluster
    imported = pa.table(
        {
            "sample_id": pa.array([7, 8, 7, 9]),
            "x": [nan] * 4,
            "y": [nan] * 4,
            "field_id": pa.array([None] * 4, type=pa.int64()),
        }
    )
    assert resampling_clusters(imported, by="field")[0].tolist() == [0, 1, 0, 2]
    assert resampling_clusters(imported, by="block")[0].tolist() == [0, 1, 0, 2]
    # the same pixel centre computed twice (float noise below a millimetre) is one location
    noisy = pa.table(
        {
            "sample_id": [1, 2, 3],
            "x": [0.1 + 0.2, 0.3, -0.0],
            "y": [5.0, 5.0, 0.0],
            "field_id": pa.array([None, None, None], type=pa.int64()),
        }
    )
    assert resampling_clusters(noisy, by="field")[0].tolist() == [0, 0, 1]


def test_connected_keys_chains_and_bad_input() -> None:
    # rows 0–1 share key A value 0; rows 1–2 key B value 5; row 3 alone; row 4 no key at all
    a = np.array([0, 0, 1, 2, -1])
    b = np.array([-1, 5, 5, -1, -1])
    assert connected_keys([a, b], n=5).tolist() == [0, 0, 0, 1, 2]
    assert connected_keys([], n=3).tolist() == [0, 1, 2]
    with pytest.raises(InputError, match="cluster keys"):
        connected_keys([np.array([0, 1])], n=3)
    with pytest.raises(InputError, match="'field' or 'block'"):
        resampling_clusters(_seasons_at_locations(n_locations=2), by="county")
    with pytest.raises(InputError, match="positive size"):
        resampling_clusters(_seasons_at_locations(n_locations=2), by="block", block_size=0)


def test_fake_world_with_fixed_locations_clusters_by_place() -> None:
    every_year = fake_series(n_fields=2, pixels_per_field=2, years=(2020, 2021, 2022), fixed_locations=True)
    anew = fake_series(n_fields=2, pixels_per_field=2, years=(2020, 2021, 2022))
    assert every_year.num_rows == anew.num_rows == 48
    assert resampling_clusters(every_year, by="field")[0].max() + 1 == 8  # 4 classes × 2 fields
    assert resampling_clusters(anew, by="field")[0].max() + 1 == 24  # 8 fields × 3 seasons
    assert (
        anew.column("x").to_pylist()
        == fake_series(n_fields=2, pixels_per_field=2, years=(2020, 2021, 2022)).column("x").to_pylist()
    )
