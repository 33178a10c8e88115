"""In-season inputs: a prediction as of day D never depends on observations after D."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from inseason.data import (
    ADAPTER_PRESETS,
    AdapterConfig,
    AugmentConfig,
    FeatureConfig,
    InputSpec,
    build_batch,
    decode_series,
    fit_normalization,
    synthetic_series,
)
from inseason.models import create_model

AS_OF = (100, 150, 183, 240)


def _cut(table: pa.Table, day: int) -> pa.Table:
    """The same series table with every observation after day of season ``day`` (season from 1 January) removed."""
    dates = table.column("dates").to_pylist()
    keep = [[(d - d.replace(month=1, day=1)).days <= day for d in row] for row in dates]
    columns = {name: table.column(name).to_pylist() for name in ("dates", "values", "scl")}
    cut = {
        name: [[v for v, k in zip(row, flags) if k] for row, flags in zip(values, keep)]
        for name, values in columns.items()
    }
    for name, values in cut.items():
        table = table.set_column(
            table.schema.get_field_index(name),
            table.schema.field(name),
            pa.array(values, type=table.schema.field(name).type),
        )
    return table


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return synthetic_series(24, seed=11)


@pytest.mark.parametrize(
    ("model", "adapter"),
    [
        ("tempcnn", ADAPTER_PRESETS["arset"]),
        ("tempcnn", AdapterConfig(kind="bucketed", window_days=240, bucket_days=5)),
        ("tempcnn", AdapterConfig(kind="bucketed", anchor="season", window_days=365, bucket_days=5)),
        ("ltae", ADAPTER_PRESETS["sequence"]),
    ],
)
def test_inputs_and_predictions_as_of_ignore_later_scenes(table, model, adapter):
    full = decode_series(table)
    features = FeatureConfig(indices=("NDVI",))
    spec = InputSpec(
        adapter=adapter,
        features=features,
        normalization=fit_normalization(full, full.rows_of("train"), features=features),
    )
    network = create_model(model, n_bands=13, n_steps=adapter.n_steps, n_classes=6, seed=0).eval()
    rows = np.arange(len(full))
    changed_any = False
    for day in AS_OF:
        cut = decode_series(_cut(table, day))
        changed_any |= not np.array_equal(cut.offsets, full.offsets)
        as_of = np.full(rows.size, day, np.int64)
        one = build_batch(full, rows, spec, as_of=as_of)
        two = build_batch(cut, rows, spec, as_of=as_of)
        np.testing.assert_array_equal(one.mask, two.mask)
        np.testing.assert_array_equal(one.doy, two.doy)
        np.testing.assert_array_equal(one.values, two.values)
        with torch.no_grad():
            logits = [
                network(torch.from_numpy(b.values), torch.from_numpy(b.mask), torch.from_numpy(b.doy))
                for b in (one, two)
            ]
        torch.testing.assert_close(logits[0], logits[1], rtol=0, atol=0)
    assert changed_any


def test_augmented_inputs_as_of_ignore_later_scenes(table):
    full = decode_series(table)
    adapter = ADAPTER_PRESETS["arset"]
    spec = InputSpec(
        adapter=adapter,
        features=FeatureConfig(),
        normalization=fit_normalization(full, full.rows_of("train"), features=FeatureConfig()),
    )
    rows = np.arange(len(full))
    for day in AS_OF:
        cut = decode_series(_cut(table, day))
        as_of = np.full(rows.size, day, np.int64)
        one, two = (
            build_batch(store, rows, spec, as_of=as_of, augment=AugmentConfig(), rng=np.random.default_rng(3))
            for store in (full, cut)
        )
        np.testing.assert_array_equal(one.mask, two.mask)
        np.testing.assert_array_equal(one.doy, two.doy)
        np.testing.assert_array_equal(one.values, two.values)
        assert (one.doy[one.mask] <= day).all()
