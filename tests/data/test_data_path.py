"""The data path: store decoding, adapters, features, augmentations and the resumable loader."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inseason.data import (
    ADAPTER_PRESETS,
    AdapterConfig,
    AugmentConfig,
    BatchLoader,
    FeatureConfig,
    InputSpec,
    Normalization,
    build_batch,
    decode_series,
    feature_names,
    fit_normalization,
    gather_bucketed,
    synthetic_series,
)
from inseason.errors import InputError
from inseason.tables import series_schema


def _table(rows: list[tuple[list[int], list[list[float]]]], *, bands=("B04", "B08"), year: int = 2021) -> pa.Table:
    """A float32 series table from (days of season, values) per row."""
    schema = series_schema(list(bands), values=pa.float32())
    start = dt.date(year, 1, 1)
    data = {f.name: [None] * len(rows) for f in schema}
    data["sample_id"] = list(range(len(rows)))
    data["year"] = [year] * len(rows)
    data["label"] = ["Corn"] * len(rows)
    data["label_code"] = [1] * len(rows)
    data["split"] = ["train"] * len(rows)
    data["dates"] = [[start + dt.timedelta(days=d) for d in days] for days, _ in rows]
    data["values"] = [values for _, values in rows]
    return pa.Table.from_pydict(data, schema=schema)


@pytest.fixture(scope="module")
def store():
    return decode_series(synthetic_series(40, seed=3, years=(2021, 2022)))


def _spec(store, adapter: AdapterConfig, features: FeatureConfig | None = None) -> InputSpec:
    features = features or FeatureConfig()
    return InputSpec(
        adapter=adapter,
        features=features,
        normalization=fit_normalization(store, store.rows_of("train"), features=features),
    )


def test_store_decodes_days_of_season_and_offsets():
    store = decode_series(_table([([10, 20, 35], [[1, 2], [3, 4], [5, 6]]), ([], []), ([0, 364], [[7, 8], [9, 10]])]))
    assert store.offsets.tolist() == [0, 3, 3, 5]
    assert store.doy.tolist() == [10, 20, 35, 0, 364]
    assert store.values.dtype == np.float32 and store.values[4].tolist() == [9, 10]
    assert store.end_positions(np.array([0, 1, 2]), np.array([20, 400, 100])).tolist() == [2, 3, 4]
    assert len(store.fingerprint) == 16


def test_store_keeps_int16_and_season_start():
    table = synthetic_series(6, seed=1)
    assert decode_series(table).values.dtype == np.int16
    with pytest.raises(InputError, match="outside its season"):
        decode_series(table, season="06-01")


def test_store_refuses_unordered_dates():
    with pytest.raises(InputError, match="strictly increasing"):
        decode_series(_table([([20, 10], [[1, 2], [3, 4]])]))


def test_bucketed_arset_recipe_first_observation_per_bucket():
    # days 100, 101 share bucket 0 of a window ending at day 220 (start 100); 104 too; 105 starts bucket 1
    store = decode_series(_table([([90, 100, 101, 105, 219, 230], [[i, i] for i in range(6)])]))
    arset = ADAPTER_PRESETS["arset"]
    assert arset.n_steps == 25
    positions, mask, doy = gather_bucketed(store, np.array([0]), window_end=np.array([220]), config=arset)
    assert mask[0].nonzero()[0].tolist() == [0, 1, 23]
    assert positions[0, mask[0]].tolist() == [1, 3, 4]
    assert doy[0, mask[0]].tolist() == [102, 107, 217]
    assert (doy[~mask] == 0).all() and (positions[~mask] == -1).all()


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.integers(0, 365), min_size=1, max_size=60, unique=True),
    end=st.integers(0, 399),
    window=st.integers(5, 200),
    bucket=st.integers(1, 30),
)
def test_bucketed_matches_a_per_sample_reference(days, end, window, bucket):
    days = sorted(days)
    store = decode_series(_table([(days, [[d, d] for d in days])]))
    config = AdapterConfig(kind="bucketed", window_days=window, bucket_days=bucket)
    positions, mask, _ = gather_bucketed(store, np.array([0]), window_end=np.array([end]), config=config)
    expected: dict[int, int] = {}
    for i, d in enumerate(days):
        if end - window <= d <= end:
            expected.setdefault((d - (end - window)) // bucket, i)
    assert {int(k): int(positions[0, k]) for k in np.flatnonzero(mask[0])} == expected


def test_sequence_keeps_last_observations_as_of(store):
    config = AdapterConfig(kind="sequence", max_obs=5)
    batch = build_batch(store, np.array([0, 1]), _spec(store, config), as_of=np.array([150, 150]))
    for b, row in enumerate([0, 1]):
        days = store.doy[store.offsets[row] : store.offsets[row + 1]]
        expected = days[days <= 150][-5:]
        assert batch.doy[b, batch.mask[b]].tolist() == expected.tolist()
    assert batch.values.shape == (2, 5, 12) and batch.values.dtype == np.float32


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


def test_normalisation_uses_training_rows_only(store):
    train = store.rows_of("train")
    norm = fit_normalization(store, train, features=FeatureConfig())
    values = store.values[store.positions_of(train)] * 1e-4
    np.testing.assert_allclose(norm.mean, values.mean(axis=0), rtol=1e-4)
    assert not np.allclose(norm.mean, fit_normalization(store, store.rows_of("test"), features=FeatureConfig()).mean)


def test_augmentations_are_seeded_and_truncate_in_season(store):
    spec = _spec(store, ADAPTER_PRESETS["sequence"])
    rows = np.arange(20)
    one = build_batch(store, rows, spec, augment=AugmentConfig(), rng=np.random.default_rng(5))
    two = build_batch(store, rows, spec, augment=AugmentConfig(), rng=np.random.default_rng(5))
    assert np.array_equal(one.values, two.values) and np.array_equal(one.mask, two.mask)
    full = build_batch(store, rows, spec)
    assert (one.mask.sum(1) <= full.mask.sum(1)).all() and (one.mask.sum(1) < full.mask.sum(1)).any()
    assert one.mask.any(axis=1).all()


def test_loader_is_deterministic_resumable_and_sharded(store):
    rows = store.rows_of("train")
    targets = np.arange(rows.size) % 3
    spec = _spec(store, ADAPTER_PRESETS["arset"])

    def make(**kw):
        return BatchLoader(
            store, rows, targets, spec, batch_size=8, sampling="shuffle", seed=2, augment=AugmentConfig(), **kw
        )

    loader = make()
    first_epoch = [b[0] for b in loader]
    second_epoch = [b[0] for b in loader]
    assert len(first_epoch) == len(loader) == -(-rows.size // 8)
    assert not np.array_equal(first_epoch[0].numpy(), second_epoch[0].numpy())
    resumed = make()
    resumed.load_state_dict({"epoch": 1, "consumed": 2})
    again = [b[0] for b in resumed]
    assert len(again) == len(loader) - 2
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(again, second_epoch[2:]))
    shards = [
        BatchLoader(store, rows, targets, spec, batch_size=100, sampling="shuffle", seed=2, rank=r, world_size=2)
        for r in (0, 1)
    ]
    seen = np.concatenate([s._order(0) for s in shards])
    assert sorted(set(seen.tolist())) == list(range(rows.size))


def test_balanced_sampling_evens_out_classes(store):
    rows = store.rows_of("train")
    targets = np.where(np.arange(rows.size) < rows.size * 0.8, 0, 1)
    loader = BatchLoader(
        store, rows, targets, _spec(store, ADAPTER_PRESETS["sequence"]), batch_size=16, sampling="balanced", seed=0
    )
    drawn = np.concatenate([targets[loader._order(e)] for e in range(20)])
    assert abs(drawn.mean() - 0.5) < 0.05
