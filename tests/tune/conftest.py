"""Fixtures of the tuning tests: a small split series table and the cheap starting configs of a search."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inseason.data import synthetic_series
from inseason.train import TrainConfig, train_config

#: A tiny TempCNN of one epoch over the season's first 240 days (a few seconds a trial).
TEMPCNN = {
    "model.params": {"filters": 8, "hidden": 16},
    "adapter.window_days": 240,
    "epochs": 1,
    "batch_size": 32,
    "augment.min_as_of": 180,
    "histograms": False,
}
#: A random forest of few trees (about a second a trial).
FOREST = {"model.name": "random_forest", "adapter.kind": "bucketed", "model.params": {"n_estimators": 10}}
#: The forest's search space with few trees.
FOREST_SPACE = {"model.params.n_estimators": {"low": 5, "high": 20}}


@pytest.fixture(scope="session")
def table() -> pa.Table:
    """120 labelled rows (6 classes, splits train/validation/test 60/20/20)."""
    return synthetic_series(120, seed=3)


@pytest.fixture(scope="session")
def split_parquet(table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The table as a parquet file (read-only)."""
    path = tmp_path_factory.mktemp("series") / "split.parquet"
    pq.write_table(table, path)
    return path


@pytest.fixture
def tempcnn_config() -> TrainConfig:
    """The tempcnn preset, made tiny (`TEMPCNN`)."""
    return train_config(preset="tempcnn", overrides=TEMPCNN)


@pytest.fixture
def forest_config() -> TrainConfig:
    """A random forest of 10 trees (`FOREST`)."""
    return train_config(overrides=FOREST)
