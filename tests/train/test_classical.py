"""Classical baselines through `train`: the same data path, metrics and bundle as a network, without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from inseason.data import InputSpec, decode_series, fit_normalization
from inseason.errors import InputError
from inseason.metrics import validation_metrics
from inseason.train import load_bundle, predict_series, read_manifest, train, train_config
from inseason.train.classical import balance_weights, tree_inputs

TREES = {
    "adapter.kind": "bucketed",
    "adapter.window_days": 240,
    "features.indices": ["NDVI"],
    "augment.min_as_of": 180,
    "as_of_copies": 3,
    "batch_size": 50,
}


@pytest.fixture(scope="module")
def forest_run(series_table, tmp_path_factory):
    out = tmp_path_factory.mktemp("trees") / "forest"
    summary = train(
        series_table, out=out, overrides={**TREES, "model.name": "random_forest", "model.params": {"n_estimators": 40}}
    )
    return out, summary


def test_tree_inputs_are_one_plain_and_augmented_passes(series_table):
    store = decode_series(series_table)
    config = train_config(overrides=TREES)
    rows = store.rows_of("train")
    targets = np.arange(rows.size) % 6
    spec = InputSpec(
        adapter=config.adapter,
        features=config.features,
        normalization=fit_normalization(store, rows, features=config.features),
    )
    values, mask, doy, y = tree_inputs(store, rows, targets, spec, config=config)
    assert values.shape == (3 * rows.size, 49, 13) and mask.shape == doy.shape == (3 * rows.size, 49)
    assert y.tolist() == np.tile(targets, 3).tolist()
    plain = slice(0, rows.size)
    # pass 0 ends every window on the row's last observation; augmented passes see fewer steps on average
    assert mask[plain].sum() > mask[rows.size : 2 * rows.size].sum()
    again = tree_inputs(store, rows, targets, spec, config=config)
    assert all(np.array_equal(a, b) for a, b in zip((values, mask, doy, y), again))


def test_balance_weights_equalise_classes():
    y = np.array([0, 0, 0, 1])
    weights = balance_weights(y, n_classes=2, balance="weighted")
    assert weights.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])
    assert weights[y == 0].sum() == pytest.approx(weights[y == 1].sum())
    assert balance_weights(y, n_classes=2, balance="sampler").tolist() == weights.tolist()
    assert balance_weights(y, n_classes=2, balance="none") is None


def test_forest_run_writes_a_bundle_like_a_network(forest_run, series_table, no_unpickling):
    out, summary = forest_run
    assert {p.name for p in out.iterdir()} >= {
        "config.yaml",
        "model.json",
        "weights.safetensors",
        "summary.json",
        "tensorboard",
    }
    assert not (out / "checkpoints").exists()
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["model"]["name"] == "random_forest" and manifest["model"]["n_estimators"] == 40
    assert (manifest["model"]["n_steps"], manifest["model"]["n_bands"]) == (49, 13)
    assert manifest["metrics"]["macro_f1"] == pytest.approx(summary.metrics["macro_f1"])
    assert manifest["config"]["as_of_copies"] == 3
    arrays = load_file(str(out / "weights.safetensors"))
    assert arrays["roots"].size == 40 and arrays["importances"].size == 49 * 13
    assert summary.metrics["macro_f1"] > 0.6  # six separable phenologies: far above chance (1/6)

    bundle = load_bundle(out)
    probabilities = predict_series(bundle, series_table)
    assert probabilities.shape == (series_table.num_rows, 6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    store = decode_series(series_table)
    val = store.rows_of("validation")
    again = validation_metrics(bundle.class_index(store.labels[val]), probabilities[val].argmax(1), bundle.class_names)
    assert again["macro_f1"] == pytest.approx(summary.metrics["macro_f1"])
    np.testing.assert_allclose(bundle.network.feature_importances.sum(), 1.0)


def test_forest_run_logs_like_a_network(forest_run):
    out, summary = forest_run
    events = EventAccumulator(
        str(out / "tensorboard" / "version_0"), size_guidance={"images": 0, "scalars": 0, "tensors": 0}
    )
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"val/oa", "val/macro_f1", "val_f1/Corn", "val_f1/Grassland-Pasture"} <= scalars
    assert all(tag.count("/") == 1 for tag in scalars), scalars
    assert events.Scalars("val/macro_f1")[0].value == pytest.approx(summary.metrics["macro_f1"])
    assert events.Scalars("val_f1/Grassland-Pasture")[0].value == pytest.approx(
        summary.metrics["per_class"]["Grassland/Pasture"]["f1"]
    )
    images = events.Images("val/confusion_matrix")
    assert [i.step for i in images] == [e.step for e in events.Scalars("val/oa")] == [0]
    assert images[0].width >= 600
    start = plugin_data_pb2.HParamsPluginData.FromString(
        events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["model.name"].string_value == "random_forest"
    assert start.hparams["model.params.n_estimators"].number_value == 40
    assert start.hparams["as_of_copies"].number_value == 3
    assert events.Scalars("final/val_macro_f1")[0].value == pytest.approx(summary.metrics["macro_f1"])
    assert events.Scalars("final/val_kappa")[0].value == pytest.approx(summary.metrics["kappa"])
    assert "final/val_loss" not in scalars  # a tree baseline has no loss


def test_gradient_boosting_is_deterministic(series_table, tmp_path):
    overrides = {
        **TREES,
        "model.name": "gradient_boosting",
        "model.params": {"max_iter": 6, "max_leaf_nodes": 8},
        "as_of_copies": 1,
    }
    first = train(series_table, out=tmp_path / "a", overrides=overrides)
    second = train(series_table, out=tmp_path / "b", overrides=overrides)
    assert first.metrics == second.metrics and first.metrics["macro_f1"] > 0.5
    assert (tmp_path / "a" / "weights.safetensors").read_bytes() == (
        tmp_path / "b" / "weights.safetensors"
    ).read_bytes()


def test_trees_refuse_the_sequence_adapter_and_corrupt_weights(series_table, forest_run, tmp_path):
    with pytest.raises(InputError, match="designed for the bucketed adapter"):
        train(
            series_table,
            out=tmp_path / "seq",
            overrides={**TREES, "model.name": "random_forest", "adapter.kind": "sequence"},
        )
    assert not (tmp_path / "seq").exists()
    out, _ = forest_run
    copy = tmp_path / "mixed"
    copy.mkdir()
    manifest = json.loads((out / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps(manifest))
    arrays = load_file(str(out / "weights.safetensors"))
    arrays.pop(sorted(arrays)[0])  # weights that lack an array of the trees
    save_file(arrays, str(copy / "weights.safetensors"))
    with pytest.raises(InputError, match="does not fit model 'random_forest'"):
        load_bundle(copy)
    assert read_manifest(copy) == manifest  # the manifest alone reads without the weights
    (copy / "model.json").write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        load_bundle(copy)
    with pytest.raises(InputError, match=r"holds no model bundle \(model.json\)"):
        read_manifest(tmp_path)
