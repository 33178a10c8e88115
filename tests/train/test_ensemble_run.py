"""An ensemble end to end: train → one bundle → load without unpickling → predict and evaluate, unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file

from inseason.data import decode_series
from inseason.evaluate.run import evaluate_run
from inseason.metrics import validation_metrics
from inseason.models import create_model, model_spec, parameter_count
from inseason.models.ensemble import Ensemble
from inseason.train import TrainResult, load_bundle, predict_series, train, train_config
from inseason.train.bundle import MANIFEST, WEIGHTS, read_manifest

MEMBER = {"filters": 16, "hidden": 32}
#: The shared short run's recipe (tests/train/conftest.py) with three small TempCNNs averaged.
OVERRIDES = {
    "model.name": "ensemble",
    "model.params": {"members": ["tempcnn", "tempcnn", "tempcnn"], "member_params": MEMBER},
    "adapter.kind": "bucketed",
    "adapter.window_days": 240,
    "features.indices": ["NDVI"],
    "epochs": 5,
    "batch_size": 24,
    "optimizer.lr": 0.01,
    "augment.min_as_of": 180,
}


@pytest.fixture(scope="module")
def ensemble_run(series_table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """One finished ensemble run folder (read-only)."""
    out = tmp_path_factory.mktemp("ensemble") / "run"
    return out, train(series_table, out=out, overrides=OVERRIDES, quiet=True)


def test_an_ensemble_trains_into_one_bundle_of_all_members(ensemble_run: tuple[Path, TrainResult]) -> None:
    out, summary = ensemble_run
    assert summary.model == "ensemble" and summary.epochs_run == 5
    assert sorted(path.name for path in out.iterdir() if path.suffix in (".json", ".safetensors")) == sorted(
        [MANIFEST, WEIGHTS, "summary.json"]
    )
    spec = read_manifest(out)["model"]
    assert spec["name"] == "ensemble" and spec["members"] == ["tempcnn"] * 3 and spec["member_params"] == MEMBER
    weights = load_file(out / WEIGHTS)
    assert {key.split(".")[1] for key in weights} == {"0", "1", "2"}  # members.<i>.… , every member's in one file
    member = create_model("tempcnn", **{key: spec[key] for key in ("n_bands", "n_steps", "n_classes")}, **MEMBER)
    stored = sum(tensor.numel() for key, tensor in weights.items() if "running" not in key and "tracked" not in key)
    assert stored == 3 * parameter_count(member)
    # trained members stay apart: each learnt on its own loss from its own start
    first, second = weights["members.0.head.5.weight"], weights["members.1.head.5.weight"]
    assert not np.allclose(first.numpy(), second.numpy(), atol=1e-3)


def test_the_bundle_loads_and_predicts_as_any_other(
    ensemble_run: tuple[Path, TrainResult], series_table: pa.Table, no_unpickling: None
) -> None:
    out, summary = ensemble_run
    bundle = load_bundle(out)
    assert isinstance(bundle.network, Ensemble) and not bundle.network.training
    assert model_spec(bundle.network) == read_manifest(out)["model"]
    probabilities = predict_series(bundle, series_table)
    assert probabilities.shape == (series_table.num_rows, 6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    store = decode_series(series_table)
    val = store.rows_of("validation")
    metrics = validation_metrics(
        bundle.class_index(store.labels[val]), probabilities[val].argmax(1), bundle.class_names
    )
    assert metrics["macro_f1"] == pytest.approx(summary.metrics["macro_f1"])
    names = sorted(set(store.labels[val]))
    majority = validation_metrics(
        np.array([names.index(v) for v in store.labels[val]]), np.zeros(val.size, np.int64), names
    )
    assert summary.metrics["macro_f1"] > majority["macro_f1"] + 0.2


def test_evaluate_scores_the_ensemble_bundle(
    ensemble_run: tuple[Path, TrainResult], series_table: pa.Table, tmp_path: Path
) -> None:
    out, _ = ensemble_run
    pq.write_table(series_table, tmp_path / "split.parquet")
    result = evaluate_run(out, tmp_path / "split.parquet", as_of=["06-01", "09-01"], n_boot=20, out=tmp_path / "e.json")
    assert result.n == int((np.asarray(series_table["split"]) == "test").sum())
    assert 0 < result.macro_f1 <= 1 and (tmp_path / "e.json").is_file()


def test_the_ensemble_preset_is_three_tempcnns_on_the_season_grid() -> None:
    config = train_config(preset="ensemble")
    assert config.model.name == "ensemble" and config.adapter.kind == "bucketed" and config.adapter.anchor == "season"
    network = create_model("ensemble", n_bands=13, n_steps=config.adapter.n_steps, n_classes=6, **config.model.params)
    assert isinstance(network, Ensemble)
    assert [model_spec(member)["name"] for member in network.members] == ["tempcnn"] * 3
