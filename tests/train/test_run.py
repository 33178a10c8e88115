"""Training runs: run folder, TensorBoard event files, bundles, prediction, bad input."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from inseason.data import SEASON_END, decode_series, synthetic_series
from inseason.errors import InputError, OutputError
from inseason.metrics import validation_metrics
from inseason.tables import series_schema
from inseason.train import LabelClass, TrainingDiverged, as_of_days, load_bundle, predict_series, train, train_config
from inseason.train.bundle import write_bundle


def test_config_presets_yaml_and_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("optimizer:\n  name: sgd\n  lr: 0.1\nepochs: 5\n")
    config = train_config(preset="arset", path=tmp_path / "c.yaml", overrides={"optimizer.lr": 0.05})
    assert (config.model.name, config.adapter.n_steps, config.optimizer.name) == ("arset", 25, "sgd")
    assert (config.optimizer.lr, config.epochs, config.features.indices) == (0.05, 5, ("NDVI",))
    with pytest.raises(InputError, match=r"optimizer.lrr"):
        train_config(overrides={"optimizer.lrr": 1})
    with pytest.raises(InputError, match="epochs"):
        train_config(overrides={"epochs": "many"})
    with pytest.raises(InputError, match="unknown training preset"):
        train_config(preset="keras")


def test_run_folder_holds_config_checkpoints_bundle(trained_run):
    out, summary = trained_run
    assert {p.name for p in out.iterdir()} >= {
        "config.yaml",
        "checkpoints",
        "tensorboard",
        "model.json",
        "weights.safetensors",
        "summary.json",
    }
    assert yaml.safe_load((out / "config.yaml").read_text())["batch_size"] == 24
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"last.ckpt", "best.ckpt"}
    assert summary.epochs_run == 5 and 0 <= summary.best_epoch <= 4
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["model"]["name"] == "tempcnn" and manifest["model"]["n_steps"] == 49
    assert manifest["bands"][0] == "B01" and len(manifest["normalization"]["mean"]) == 13
    assert [c["name"] for c in manifest["classes"]][:2] == ["Corn", "Cotton"]
    assert manifest["classes"][0]["codes"] == [1] and manifest["classes"][0]["color"] == [255, 211, 0]
    assert manifest["metrics"]["macro_f1"] == pytest.approx(summary.metrics["macro_f1"])
    assert set(manifest["versions"]) >= {"torch", "inseason"} and len(manifest["training_data"]) == 16


def _events(out):
    events = EventAccumulator(
        str(out / "tensorboard" / "version_0"), size_guidance={"images": 0, "scalars": 0, "histograms": 0, "tensors": 0}
    )
    events.Reload()
    return events


def test_tensorboard_event_files(trained_run):
    out, _ = trained_run
    events = _events(out)
    tags = events.Tags()
    for tag in (
        "train/loss",
        "val/loss",
        "train/oa",
        "val/oa",
        "train/macro_f1",
        "val/macro_f1",
        "val_f1/Corn",
        "train_f1/Rice",
        "train/lr",
        "train/input_wait_fraction",
    ):
        assert tag in tags["scalars"], tag
        assert len(events.Scalars(tag)) == 5, tag
    assert all(0.0 <= e.value <= 1.0 for e in events.Scalars("train/input_wait_fraction"))
    lrs = [e.value for e in events.Scalars("train/lr")]
    assert lrs[0] == pytest.approx(0.01) and lrs[1] < lrs[0]  # the rate epoch 0 trained with, then cosine
    images = events.Images("val/confusion_matrix")
    assert len(images) == 5 and images[0].width >= 600 and images[0].height >= 600
    assert any(tag.startswith("weights/") for tag in tags["histograms"])


def test_tensorboard_uses_one_step_per_epoch(trained_run):
    out, _ = trained_run
    events = _events(out)
    tags = events.Tags()
    epochs = [0, 1, 2, 3, 4]
    assert [e.step for e in events.Images("val/confusion_matrix")] == [e.step for e in events.Scalars("val/oa")]
    for tag in tags["scalars"]:
        if not tag.startswith("final/"):
            assert [e.step for e in events.Scalars(tag)] == epochs, tag
    for tag in tags["histograms"]:
        assert [e.step for e in events.Histograms(tag)] == epochs, tag
    assert [e.step for e in events.Images("val/confusion_matrix")] == epochs


def test_class_names_with_a_slash_make_flat_tags(trained_run, series_table):
    out, _ = trained_run
    assert "Grassland/Pasture" in set(series_table.column("label").to_pylist())
    scalars = _events(out).Tags()["scalars"]
    assert {"val_f1/Grassland-Pasture", "train_f1/Grassland-Pasture", "val_f1/Deciduous_Forest"} <= set(scalars)
    assert all(tag.count("/") == 1 for tag in scalars), scalars


def test_hparams_hold_the_config_and_final_metrics(trained_run):
    out, summary = trained_run
    events = _events(out)
    content = events.PluginTagToContent("hparams")
    assert set(content) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    hparams = start.hparams
    assert hparams["model.name"].string_value == "tempcnn"
    assert hparams["model.params.filters"].number_value == 16 and hparams["batch_size"].number_value == 24
    assert hparams["optimizer.lr"].number_value == pytest.approx(0.01)
    assert hparams["features.indices"].string_value == "NDVI"
    assert hparams["histograms"].bool_value is True and hparams["adapter.kind"].string_value == "bucketed"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert metrics == {"final/val_oa", "final/val_macro_f1", "final/val_kappa", "final/best_epoch", "final/val_loss"}
    final = {tag: events.Scalars(tag) for tag in metrics}
    assert all([e.step for e in points] == [summary.best_epoch] for points in final.values())
    assert final["final/val_oa"][0].value == pytest.approx(summary.metrics["overall_accuracy"])
    assert final["final/val_macro_f1"][0].value == pytest.approx(summary.metrics["macro_f1"])
    assert final["final/val_kappa"][0].value == pytest.approx(summary.metrics["kappa"])
    assert final["final/best_epoch"][0].value == summary.best_epoch
    best_loss = [e.value for e in events.Scalars("val/loss") if e.step == summary.best_epoch]
    assert final["final/val_loss"][0].value == pytest.approx(best_loss[0])
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"]).session_end_info
    assert end.status == api_pb2.Status.Value("STATUS_SUCCESS")


def test_bundle_predicts_without_pickle(trained_run, series_table, no_unpickling):
    out, summary = trained_run

    bundle = load_bundle(out)
    probabilities = predict_series(bundle, series_table)
    assert probabilities.shape == (series_table.num_rows, 6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    store = decode_series(series_table)
    val = store.rows_of("validation")
    metrics = validation_metrics(
        bundle.class_index(store.labels[val]), probabilities[val].argmax(1), bundle.class_names
    )
    assert metrics["macro_f1"] == pytest.approx(summary.metrics["macro_f1"])
    early = predict_series(bundle, series_table, as_of="01-05")
    without_data = store.end_positions(np.arange(len(store)), as_of_days(store, "01-05")) == store.offsets[:-1]
    assert without_data.any()
    np.testing.assert_allclose(early[without_data], np.broadcast_to(bundle.prior, early[without_data].shape))


def test_bundle_keeps_the_crops_of_a_double_crop_class(trained_run, series_table, tmp_path):
    """Issue 15: model.json held only name, codes and colour, so a declared double crop was lost on load."""
    out, _ = trained_run
    bundle = load_bundle(out)
    manifest = bundle.manifest
    # the run's last class becomes a double crop (CDL 26 with a stray code) declaring its two crops
    double = replace(
        bundle.classes[-1],
        name="Dbl Crop WinWht/Soybeans",
        codes=(26, 24),
        first_crop="Winter Wheat",
        second_crop="Soybeans",
    )
    classes = [*bundle.classes[:-1], double]
    copy = write_bundle(
        tmp_path / "double",
        network=bundle.network,
        model_spec=manifest["model"],
        spec=bundle.spec,
        bands=bundle.bands,
        classes=classes,
        prior=bundle.prior,
        season_start=bundle.season_start,
        fingerprint=manifest["training_data"],
        metrics=manifest["metrics"],
        config=manifest["config"],
        calibration=bundle.calibration,
    )
    entries = json.loads((copy / "model.json").read_text())["classes"]
    assert entries[-1] == {
        "name": "Dbl Crop WinWht/Soybeans",
        "codes": [26, 24],
        "color": list(double.color),
        "first_crop": "Winter Wheat",
        "second_crop": "Soybeans",
    }
    assert all(set(e) == {"name", "codes", "color"} for e in entries[:-1])  # single crops: no crop names
    again = load_bundle(copy)
    assert again.classes == tuple(classes)
    assert (again.classes[-1].first_crop, again.classes[-1].second_crop) == ("Winter Wheat", "Soybeans")
    assert all(c.first_crop is None and c.second_crop is None for c in again.classes[:-1])
    older = LabelClass.from_json({"name": "Corn", "codes": [1], "color": [255, 211, 0]})  # a bundle before the crops
    assert older == LabelClass(name="Corn", codes=(1,), color=(255, 211, 0), first_crop=None, second_crop=None)
    np.testing.assert_allclose(
        predict_series(again, series_table.slice(0, 8)), predict_series(bundle, series_table.slice(0, 8)), rtol=1e-6
    )


def test_bundle_refuses_other_bands_labels_and_versions(trained_run, tmp_path):
    out, _ = trained_run
    bundle = load_bundle(out)
    other = synthetic_series(6, seed=1).replace_schema_metadata(
        series_schema([f"B{i:02d}" for i in range(12)]).metadata
    )
    with pytest.raises(InputError, match="bands"):
        predict_series(bundle, other)
    with pytest.raises(InputError, match="label map"):
        bundle.class_index(["Corn", "Sugarcane"])
    copy = tmp_path / "old"
    copy.mkdir()
    (copy / "weights.safetensors").write_bytes((out / "weights.safetensors").read_bytes())
    manifest = json.loads((out / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(InputError, match="version 99"):
        load_bundle(copy)
    with pytest.raises(InputError, match="no model bundle"):
        load_bundle(tmp_path / "nothing")


def test_as_of_days_month_day_date_and_int():
    store = decode_series(synthetic_series(2, seed=1, years=(2021, 2022)))
    assert as_of_days(store, "02-01").tolist() == [31] * 4
    assert as_of_days(store, dt.date(2022, 1, 11)).tolist() == [375, 375, 10, 10]
    assert as_of_days(store, 100).tolist() == [100] * 4
    assert as_of_days(store, np.array([5, 500, -9, 60])).tolist() == [5, SEASON_END, -1, 60]
    with pytest.raises(InputError, match="one integer day of season per row"):
        as_of_days(store, np.array([5, 6]))
    with pytest.raises(InputError, match="one integer day of season per row"):
        as_of_days(store, np.array([5.0, 6.0, 7.0, 8.0]))


def test_tempcnn_beats_majority_baseline(trained_run, series_table):
    _, summary = trained_run
    store = decode_series(series_table)
    val = store.labels[store.rows_of("validation")]
    names = sorted(set(val))
    majority = validation_metrics(np.array([names.index(v) for v in val]), np.zeros(val.size, np.int64), names)
    assert summary.metrics["macro_f1"] > majority["macro_f1"] + 0.25


def test_bad_inputs_leave_no_run(series_table, tmp_path, trained_run, run_overrides):
    no_split = series_table.set_column(
        series_table.schema.get_field_index("split"), "split", pa.nulls(series_table.num_rows, pa.string())
    )
    with pytest.raises(InputError, match="no split"):
        train(no_split, out=tmp_path / "a", overrides=run_overrides)
    splits = series_table.column("split").to_pylist()
    labels = series_table.column("label").to_pylist()
    only_test = [s if label != "Rice" or s == "test" else "test" for s, label in zip(splits, labels)]
    with pytest.raises(InputError, match=r"\['Rice'\] appear in split 'test'"):
        train(
            series_table.set_column(series_table.schema.get_field_index("split"), "split", pa.array(only_test)),
            out=tmp_path / "b",
            overrides=run_overrides,
        )
    with pytest.raises(InputError, match="designed for the bucketed adapter"):
        train(series_table, out=tmp_path / "c", overrides={**run_overrides, "adapter.kind": "sequence"})
    with pytest.raises(
        InputError, match=r"no option .nosuch."
    ):  # the model refuses a parameter before config.yaml is written
        train(series_table, out=tmp_path / "d", overrides={**run_overrides, "model.params.nosuch": 3})
    with pytest.raises(OutputError, match="finished run"):
        train(series_table, out=trained_run[0], overrides=run_overrides)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(series_table, tmp_path, run_overrides):
    values = series_table.column("values").to_pylist()
    splits = series_table.column("split").to_pylist()
    bad_row = [i for i, s in enumerate(splits) if s == "train"][-1]
    poisoned = [
        [[float("nan")] * 12 for _ in v] if i == bad_row else [[float(x) for x in o] for o in v]
        for i, (v, s) in enumerate(zip(values, splits))
    ]
    schema = series_schema(
        json.loads(series_table.schema.metadata[b"inseason:bands"]), values=pa.float32(), scales=[1e-4] * 12
    )
    table = pa.Table.from_pydict({**series_table.to_pydict(), "values": poisoned}, schema=schema)
    out = tmp_path / "nan"
    with pytest.raises(TrainingDiverged, match=r"lower optimizer.lr"):
        train(table, out=out, overrides={**run_overrides, "checkpoint_every_n_steps": 1, "augment.obs_dropout": 0.0})
    assert not (out / "model.json").exists()
    good = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in good["state_dict"].values() if t.is_floating_point())


def test_a_double_crop_class_of_the_label_map_keeps_its_crops_in_the_bundle(series_table) -> None:
    """The series' label map names a double crop's first and second crop; the trained model's classes carry
    them, so maps give that class (and only it) a crop sequence."""
    from inseason.train.run import _label_map

    name = sorted(set(series_table.column("label").to_pylist()))[0]
    label_map = {
        "name": "custom",
        "rules": [],
        "classes": [
            {"index": 0, "name": name, "color": [10, 20, 30], "first_crop": "Winter Wheat", "second_crop": "Soybeans"}
        ],
    }
    table = series_table.replace_schema_metadata(
        {**series_table.schema.metadata, b"inseason:label_map": json.dumps(label_map).encode()}
    )
    store = decode_series(table)
    assert store.label_crops == {name: ("Winter Wheat", "Soybeans")}
    classes = _label_map(store, np.flatnonzero(store.splits == "train"), rule=None)
    double = next(c for c in classes if c.name == name)
    assert (double.first_crop, double.second_crop, double.color) == ("Winter Wheat", "Soybeans", (10, 20, 30))
    assert all(c.first_crop is None and c.second_crop is None for c in classes if c.name != name)
