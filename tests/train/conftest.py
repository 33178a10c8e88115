"""Fixtures of the training tests: synthetic series tables (in memory, and from the `small` world through the
real pipeline) and one short training run."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from inseason.data import synthetic_series
from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.series.build import make_series
from inseason.series.split import split_series
from inseason.sources.points import make_label_points
from inseason.synth import synth
from inseason.train import RunSummary, train

#: A short tempcnn run: 4 epochs of 6 steps on 240 synthetic samples, step checkpoints every 4 steps.
RUN_OVERRIDES = {"model.name": "tempcnn", "model.params": {"filters": 16, "hidden": 32},
                 "adapter.kind": "bucketed", "adapter.window_days": 240, "features.indices": ["NDVI"],
                 "epochs": 4, "batch_size": 24, "checkpoint_every_n_steps": 4, "optimizer.lr": 0.01,
                 "augment.min_as_of": 180}


@pytest.fixture(scope="session")
def run_overrides() -> dict:
    """The overrides of the shared short run (a fresh copy)."""
    return dict(RUN_OVERRIDES)


@pytest.fixture(scope="session")
def series_table() -> pa.Table:
    """240 labelled rows (6 classes, splits train/val/test 60/20/20), 12 int16 Sentinel-2 bands."""
    return synthetic_series(240, seed=7)


@pytest.fixture(scope="session")
def trained_run(series_table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """One finished run folder, shared read-only by the tests."""
    out = tmp_path_factory.mktemp("runs") / "tempcnn"
    return out, train(series_table, out=out, overrides=RUN_OVERRIDES, quiet=True)


@pytest.fixture(scope="session")
def small_world_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `small` world (seed 1) through labels → scenes → extract → series → split, once per session.

    Every 10th label pixel of 2021 and 2022, the six largest CDL classes plus ``Other``
    (``cdl-major:6``), split by field (70/15/15). Returns the split series table; treat it as read-only.
    """
    root = tmp_path_factory.mktemp("small")
    world = synth(root / "world", size="small", seed=1, quiet=True).path
    make_label_points(cdl=world / "labels", aoi=world / "aoi.geojson", years=[2021, 2022], stride=10,
                      out=root / "points.parquet", quiet=True)
    find_scenes(stac=world / "stac" / "catalog.json", aoi=world / "aoi.geojson", start="2021-01-01",
                end="2022-12-31", out=root / "scenes.parquet", quiet=True)
    extract(root / "points.parquet", root / "scenes.parquet", out=root / "obs", quiet=True)
    make_series(root / "obs", points=root / "points.parquet", label_map="cdl-major:6", out=root / "series.parquet",
                quiet=True)
    split_series(root / "series.parquet", by="field", out=root / "split.parquet", seed=0, quiet=True)
    return root / "split.parquet"
