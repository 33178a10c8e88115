"""Training with the arset label map's No Crop Growing rule: window targets in training, validation and the bundle."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from inseason.data import WindowRule, decode_series, window_labels
from inseason.labels import NO_CROP_GROWING, cdl_class
from inseason.metrics import validation_metrics
from inseason.train import Predictor, load_bundle, train

CROPS = ("Corn", "Cotton", "Rice", "Soybeans")


@pytest.fixture(scope="module")
def ruled_table(series_table) -> pa.Table:
    """The shared synthetic table with an arset-like label map that carries the rule."""
    label_map = json.dumps({"name": "arset", "rules": ["no_crop_growing"], "classes": []}).encode()
    return series_table.replace_schema_metadata({**series_table.schema.metadata, b"inseason:label_map": label_map})


@pytest.fixture(scope="module")
def ruled_run(ruled_table, run_overrides, tmp_path_factory):
    out = tmp_path_factory.mktemp("ruled") / "tempcnn"
    summary = train(ruled_table, out=out, overrides={**run_overrides, "epochs": 2, "histograms": False}, quiet=True)
    return out, summary


def test_bundle_records_the_rule_and_its_class(ruled_run):
    out, _ = ruled_run
    manifest = json.loads((out / "model.json").read_text())
    classes = {c["name"]: c for c in manifest["classes"]}
    assert classes[NO_CROP_GROWING]["codes"] == [] and classes[NO_CROP_GROWING]["color"] == list(cdl_class(61).color)
    assert manifest["window_rule"] == {"rule": "no_crop_growing", "crops": list(CROPS), "target": NO_CROP_GROWING}
    assert load_bundle(out).spec.window_rule == WindowRule(crops=CROPS)
    assert len(manifest["prior"]) == 7 and manifest["prior"][load_bundle(out).class_names.index(NO_CROP_GROWING)] > 0


def test_validation_targets_follow_the_rule_as_of_the_date(ruled_run, ruled_table):
    out, summary = ruled_run
    bundle = load_bundle(out)
    store = decode_series(ruled_table)
    rows = store.rows_of("validation")
    predictor = Predictor(bundle)
    season_end = predictor.window_targets(store, rows=rows)
    mid_season = predictor.window_targets(store, rows=rows, as_of=200)
    ncg = bundle.class_names.index(NO_CROP_GROWING)
    crop_rows = np.isin(store.labels[rows], CROPS)
    # by 31 December every synthetic crop is harvested (bare soil); on 20 July every one is growing
    assert (season_end[crop_rows] == ncg).all() and (season_end[~crop_rows] != ncg).all()
    assert (mid_season != ncg).all()
    np.testing.assert_array_equal(mid_season, bundle.class_index(store.labels[rows]))
    labels = window_labels(store, rows, as_of=np.full(rows.size, 200), spec=bundle.spec)
    assert labels.tolist() == store.labels[rows].tolist()
    predicted = predictor.predict_proba(store, rows=rows).argmax(axis=1)
    expected = validation_metrics(season_end, predicted, bundle.class_names)
    assert summary.metrics["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert summary.metrics["per_class"][NO_CROP_GROWING]["support"] == int(crop_rows.sum())


def test_tree_baseline_learns_the_rule_class(ruled_table, tmp_path):
    out = tmp_path / "forest"
    summary = train(
        ruled_table,
        out=out,
        overrides={
            "model.name": "random_forest",
            "model.params": {"n_estimators": 20},
            "adapter.kind": "bucketed",
            "adapter.window_days": 240,
            "features.indices": ["NDVI"],
            "as_of_copies": 2,
            "batch_size": 50,
        },
    )
    bundle = load_bundle(out)
    assert NO_CROP_GROWING in bundle.class_names
    store = decode_series(ruled_table)
    rows = store.rows_of("validation")
    truth = Predictor(bundle).window_targets(store, rows=rows)
    assert (
        (truth == bundle.class_names.index(NO_CROP_GROWING)).sum()
        == summary.metrics["per_class"][NO_CROP_GROWING]["support"]
        > 0
    )
    assert summary.metrics["per_class"][NO_CROP_GROWING]["f1"] > 0.5


def test_evaluation_scores_the_rule_alike_from_one_decoded_store_and_from_tables(ruled_run, ruled_table):
    """The window targets of an evaluation decoded once equal those asked per date on tables."""
    import pyarrow.compute as pc

    from inseason.evaluate import EvaluatePredictorRequest, run_evaluate_predictor
    from inseason.evaluate.predictor import StoreTargets
    from inseason.evaluate.run import BundlePredictFn, _WindowTargets

    out, _ = ruled_run
    bundle = load_bundle(out)
    rows = ruled_table.filter(pc.equal(ruled_table.column("split"), "validation"))
    request = EvaluatePredictorRequest.of(
        classes=bundle.class_names, as_of=["06-01", "12-01"], n_boot=10, importance=False, quiet=True
    )
    targets = _WindowTargets(bundle)
    assert isinstance(targets, StoreTargets)
    stored = run_evaluate_predictor(BundlePredictFn(bundle), rows, request, targets=targets).evaluation
    tables = run_evaluate_predictor(
        lambda table, *, as_of: BundlePredictFn(bundle)(table, as_of=as_of),
        rows,
        request,
        targets=lambda table, *, as_of: targets(table, as_of=as_of),
    ).evaluation
    ncg = bundle.class_names.index(NO_CROP_GROWING)
    assert stored["by_as_of_date"][1]["per_class"][ncg]["support"] > 0  # the rule relabels crops by December
    for key in ("by_as_of_date", "overall_accuracy", "confusion", "calibration", "per_class"):
        assert stored[key] == tables[key], key
