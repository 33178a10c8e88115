"""A table without a validation split: validation carved from train, grouped by field, stratified, seeded."""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from inseason.data import decode_series, synthetic_series
from inseason.errors import InputError
from inseason.train import train, train_config
from inseason.train.validation import carve_validation, group_keys, table_field_ids, validation_rows

FOREST = {
    "model.name": "random_forest",
    "model.params": {"n_estimators": 20},
    "adapter.kind": "bucketed",
    "adapter.window_days": 240,
    "features.indices": ["NDVI"],
    "as_of_copies": 1,
}


@pytest.fixture(scope="module")
def train_test_table() -> pa.Table:
    """360 rows in fields of 3 pixels (120 fields, 6 classes), split train/test only (80/20 by field)."""
    return synthetic_series(360, seed=5, pixels_per_field=3, splits=(("train", 0.8), ("test", 0.2)))


def test_carved_validation_keeps_fields_whole_and_every_class_on_both_sides(train_test_table):
    store = decode_series(train_test_table)
    field_ids = table_field_ids(train_test_table)
    rows = validation_rows(store, train_config(), field_ids=field_ids, source="t")
    train_rows = store.rows_of("train")
    assert rows.carved and rows.by == "field" and rows.share == 0.15
    # a partition of the training split
    assert np.array_equal(np.sort(np.concatenate([rows.train, rows.validation])), train_rows)
    assert not set(rows.train.tolist()) & set(rows.validation.tolist())
    # no field on both sides
    assert not set(field_ids[rows.train].tolist()) & set(field_ids[rows.validation].tolist())
    # about 15 % of the training rows (whole fields of 3: within one field per class of the target)
    assert abs(rows.validation.size - 0.15 * train_rows.size) <= 3 * 6
    # stratified: every class on both sides, each near its share
    for name in np.unique(store.labels[train_rows]):
        n_val = int((store.labels[rows.validation] == name).sum())
        n_all = int((store.labels[train_rows] == name).sum())
        assert n_val > 0 and (store.labels[rows.train] == name).any()
        assert abs(n_val - 0.15 * n_all) <= 3
    # seeded: the same rows again, other rows with another seed
    again = validation_rows(store, train_config(), field_ids=field_ids, source="t")
    other = validation_rows(store, train_config(overrides={"seed": 1}), field_ids=field_ids, source="t")
    assert np.array_equal(again.validation, rows.validation)
    assert not np.array_equal(other.validation, rows.validation)


def test_without_field_ids_the_samples_are_the_groups_across_seasons():
    table = synthetic_series(60, seed=2, years=(2020, 2021), splits=(("train", 0.8), ("test", 0.2)))
    table = table.set_column(table.schema.get_field_index("field_id"), "field_id", pa.nulls(table.num_rows, pa.int64()))
    # one sample id per place, the same in both seasons (as an imported table's)
    places = pc.remainder(table.column("sample_id"), 1_000_000)
    table = table.set_column(table.schema.get_field_index("sample_id"), "sample_id", places)
    store = decode_series(table)
    assert len(set(store.sample_ids[store.rows_of("train")].tolist())) < store.rows_of("train").size
    keys, by = group_keys(store, table_field_ids(table))
    assert by == "sample"
    train_rows, val_rows = carve_validation(store, store.rows_of("train"), groups=keys, share=0.3, seed=0)
    assert val_rows.size > 0
    # a sample observed in both seasons is on one side only
    assert not set(store.sample_ids[train_rows].tolist()) & set(store.sample_ids[val_rows].tolist())


def test_a_class_with_one_field_stays_in_train():
    table = synthetic_series(60, seed=3, pixels_per_field=3, splits=(("train", 1.0),))
    store = decode_series(table)
    rows = store.rows_of("train")
    # make the first field the only one of its own class
    labels = store.labels.copy()
    labels[rows[:3]] = "Lonely"
    store = type(store)(**{**store.__dict__, "labels": labels})
    keys, _ = group_keys(store, table_field_ids(table))
    train_rows, val_rows = carve_validation(store, rows, groups=keys, share=0.5, seed=0)
    assert set(rows[:3].tolist()) <= set(train_rows.tolist())
    assert "Lonely" not in set(store.labels[val_rows].tolist())


def test_a_run_on_a_train_test_table_records_the_carved_validation(train_test_table, tmp_path, caplog):
    out = tmp_path / "forest"
    with caplog.at_level(logging.WARNING, logger="inseason.train.validation"):
        result = train(train_test_table, out=out, overrides=FOREST)
    summary = json.loads((out / "summary.json").read_text())
    n_train = int((np.asarray(train_test_table.column("split").to_pylist()) == "train").sum())
    assert summary["validation"] == result.validation
    assert summary["validation"]["carved"] is True and summary["validation"]["by"] == "field"
    assert summary["validation"]["share"] == 0.15 and summary["validation"]["split"] == "validation"
    assert summary["validation"]["train_rows"] + summary["validation"]["validation_rows"] == n_train
    assert yaml.safe_load((out / "config.yaml").read_text())["validation_share"] == 0.15
    assert result.metrics["overall_accuracy"] > 0.5  # scored on the carved rows (six classes: chance ~0.17)
    assert "has no 'validation' split: validation is" in caplog.text


def test_a_table_with_a_validation_split_keeps_it(series_table):
    store = decode_series(series_table)
    rows = validation_rows(store, train_config(), field_ids=table_field_ids(series_table), source="t")
    assert not rows.carved and rows.by is None
    assert np.array_equal(rows.validation, store.rows_of("validation"))
    assert np.array_equal(rows.train, store.rows_of("train"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"val_split": "val"}, "no rows in split 'val': check train_split/val_split"),
        ({"validation_share": 0}, "set validation_share above 0 to carve one"),
    ],
)
def test_no_carving_of_a_split_named_on_purpose_or_with_share_zero(train_test_table, overrides, message):
    store = decode_series(train_test_table)
    with pytest.raises(InputError, match=message):
        validation_rows(store, train_config(overrides=overrides), field_ids=None, source="t")
