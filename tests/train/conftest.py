"""Fixtures of the training tests: synthetic series tables (in memory, and from the `small` world through the
real pipeline) and one short training run."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import torch

from inseason.data import synthetic_series
from inseason.train import TrainResult, train

#: A short tempcnn run: 5 epochs of 6 steps on 240 synthetic samples, step checkpoints every 4 steps.
RUN_OVERRIDES = {
    "model.name": "tempcnn",
    "model.params": {"filters": 16, "hidden": 32},
    "adapter.kind": "bucketed",
    "adapter.window_days": 240,
    "features.indices": ["NDVI"],
    "epochs": 5,
    "batch_size": 24,
    "checkpoint_every_n_steps": 4,
    "optimizer.lr": 0.01,
    "augment.min_as_of": 180,
}


@pytest.fixture(scope="session")
def run_overrides() -> dict:
    """The overrides of the shared short run (a fresh copy)."""
    return dict(RUN_OVERRIDES)


@pytest.fixture(scope="session")
def series_table() -> pa.Table:
    """240 labelled rows (6 classes, splits train/val/test 60/20/20), 12 int16 Sentinel-2 bands."""
    return synthetic_series(240, seed=7)


@pytest.fixture(scope="session")
def trained_run(series_table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """One finished run folder, shared read-only by the tests."""
    out = tmp_path_factory.mktemp("runs") / "tempcnn"
    return out, train(series_table, out=out, overrides=RUN_OVERRIDES, quiet=True)


@pytest.fixture(scope="session")
def small_world_series(small_pipeline: Any) -> Path:
    """The `small` world's split series table (see the top-level `small_pipeline`); read-only."""
    return small_pipeline.split


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every unpickling entry point fail: loading a bundle must never need one."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a bundle must not unpickle")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
