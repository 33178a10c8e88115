"""Temperature scaling (issue 19): the fit recovers a known temperature, the bundle records it (older bundles
load with T = 1), `Predictor` applies it without changing any class, and evaluate reports ECE before and after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from inseason.data import decode_series, synthetic_series
from inseason.errors import InputError
from inseason.evaluate.run import evaluate_run
from inseason.metrics import expected_calibration_error
from inseason.train import Predictor, TrainResult, load_bundle, train
from inseason.train.calibration import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    PROBABILITY_FLOOR,
    Calibration,
    calibrate,
    calibration_days,
    fit_temperature,
    nll,
    softmax,
    tempered,
    untempered,
)


def _sampled(temperature: float, *, n: int = 20_000, k: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from ``softmax(logits / temperature)``: T fits them exactly (in the limit)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (n, k))
    probabilities = softmax(logits, temperature)
    labels = (rng.random(n)[:, None] > probabilities.cumsum(axis=1)).sum(axis=1)
    return logits, labels


@pytest.mark.parametrize("temperature", [2.5, 0.5, 1.0])
def test_the_fit_recovers_a_known_temperature(temperature: float) -> None:
    logits, labels = _sampled(temperature)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(temperature, rel=0.05)
    # it is the NLL's minimum: a step either side is worse
    assert nll(logits, labels, fitted) < min(nll(logits, labels, fitted * 1.05), nll(logits, labels, fitted / 1.05))
    assert fit_temperature(logits, labels) == fitted  # deterministic


def test_over_confident_logits_are_softened_and_their_ece_falls() -> None:
    logits, labels = _sampled(3.0)  # a model three times too sure of itself
    result = calibrate(logits, labels, as_of_days=(399,))
    assert result.temperature == pytest.approx(3.0, rel=0.05)
    assert result.method == "temperature" and result.fitted_on == "validation" and result.n == labels.size
    assert result.nll_after is not None and result.nll_before is not None and result.nll_after < result.nll_before
    assert result.ece_before is not None and result.ece_after is not None
    assert result.ece_before > 0.2 and result.ece_after < 0.02
    assert result.ece_before == pytest.approx(expected_calibration_error(softmax(logits), labels))
    assert Calibration.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_the_search_stays_within_its_bounds() -> None:
    logits = np.array([[5.0, 0.0], [5.0, 0.0]])
    assert fit_temperature(logits, np.array([0, 0])) == pytest.approx(MIN_TEMPERATURE, rel=1e-3)  # always right
    assert fit_temperature(logits, np.array([0, 1])) == pytest.approx(MAX_TEMPERATURE, rel=1e-3)  # a coin flip


def test_tempering_keeps_the_class_and_untempering_undoes_it() -> None:
    logits, _ = _sampled(1.0, n=500)
    raw = softmax(logits)
    for temperature in (0.4, 2.0):
        calibrated = softmax(logits, temperature)
        assert (calibrated.argmax(axis=1) == raw.argmax(axis=1)).all()
        assert np.allclose(untempered(calibrated, temperature), raw, atol=1e-9)
    # a classical baseline's probabilities: zeros are floored before the log is taken, T = 1 changes nothing
    trees = np.array([[0.7, 0.3, 0.0], [0.0, 0.0, 1.0]], np.float32)
    assert tempered(trees, 1.0) is trees
    softened = tempered(trees, 2.0)
    assert softened.dtype == np.float32 and (softened.argmax(axis=1) == [0, 2]).all()
    assert softened[0, 0] < 0.7 and softened[0, 2] > 0 and softened.sum(axis=1) == pytest.approx([1.0, 1.0])
    floored = np.maximum(trees, PROBABILITY_FLOOR) / np.maximum(trees, PROBABILITY_FLOOR).sum(axis=1, keepdims=True)
    assert np.allclose(untempered(softened, 2.0), floored, atol=1e-6)


def test_calibration_days_end_with_the_validation_day() -> None:
    assert calibration_days(None) == (399,)  # the whole season, as the run validates
    assert calibration_days(160) == (160,)
    assert calibration_days(None, in_season=True) == (90, 120, 150, 180, 210, 240, 270, 300, 399)
    assert calibration_days(160, in_season=True) == (90, 120, 150, 160)


def test_bad_fit_inputs_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="temperature scaling needs"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, np.int64))
    with pytest.raises(InputError, match=r"labels must lie in \[0, 3\)"):
        fit_temperature(np.zeros((2, 3)), np.array([0, 3]))


def test_the_bundle_records_and_applies_its_temperature(
    trained_run: tuple[Path, TrainResult], series_table: pa.Table
) -> None:
    out, result = trained_run
    split = series_table.column("split")
    manifest = json.loads((out / "model.json").read_text())
    recorded = manifest["calibration"]
    assert recorded["method"] == "temperature" and recorded["fitted_on"] == "validation"
    assert recorded["as_of_days"] == [399] and recorded["n"] == len(series_table.filter(pc.equal(split, "validation")))
    assert result.calibration == recorded  # summary.json and TrainResult carry the same record
    assert json.loads((out / "summary.json").read_text())["calibration"] == recorded
    temperature = recorded["temperature"]
    assert MIN_TEMPERATURE < temperature < MAX_TEMPERATURE and temperature != pytest.approx(1.0, abs=0.01)
    assert recorded["nll_after"] <= recorded["nll_before"]
    # T minimises the NLL, not the ECE: on 48 validation rows the ECE may move either way (see the next tests)
    assert 0 <= recorded["ece_after"] <= 1 and 0 <= recorded["ece_before"] <= 1

    bundle = load_bundle(out)
    assert bundle.temperature == temperature
    store = decode_series(series_table, season=bundle.season_start)
    rows = store.rows_of("test")
    calibrated = Predictor(bundle).predict_proba(store, rows=rows, as_of=200)
    raw = Predictor(bundle, calibrated=False).predict_proba(store, rows=rows, as_of=200)
    scores, observed = Predictor(bundle).log_probabilities(store, rows=rows, as_of=200)
    assert observed.all()
    assert (calibrated.argmax(axis=1) == raw.argmax(axis=1)).all()
    assert not np.allclose(calibrated, raw, atol=1e-3)
    assert np.allclose(calibrated, softmax(scores, temperature), atol=1e-5)
    assert np.allclose(raw, softmax(scores), atol=1e-5)
    assert np.allclose(untempered(calibrated, temperature), raw, atol=1e-4)


def test_a_bundle_without_calibration_loads_with_temperature_one(
    trained_run: tuple[Path, TrainResult], series_table: pa.Table, tmp_path: Path
) -> None:
    old = shutil.copytree(trained_run[0], tmp_path / "old")
    manifest = json.loads((old / "model.json").read_text())
    del manifest["calibration"]  # as written before calibration existed
    (old / "model.json").write_text(json.dumps(manifest))
    bundle = load_bundle(old)
    assert bundle.temperature == 1.0 and bundle.calibration == Calibration()
    store = decode_series(series_table, season=bundle.season_start)
    raw = Predictor(load_bundle(trained_run[0]), calibrated=False).predict_proba(store, as_of=250)
    assert np.array_equal(Predictor(bundle).predict_proba(store, as_of=250), raw)


@pytest.mark.parametrize("bad", [{"temperature": -1.0}, {"temperature": "2"}, {"method": "temperature"}, [1.5]])
def test_an_edited_calibration_is_refused_naming_the_field(
    bad: object, trained_run: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    edited = shutil.copytree(trained_run[0], tmp_path / "edited")
    manifest = json.loads((edited / "model.json").read_text())
    manifest["calibration"] = bad
    (edited / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"model.json: field 'calibration' has no positive temperature"):
        load_bundle(edited)


def test_a_classical_baseline_is_calibrated_and_calibrate_false_turns_it_off(
    series_table: pa.Table, tmp_path: Path
) -> None:
    overrides = {"model.name": "random_forest", "adapter.kind": "bucketed", "features.indices": ["NDVI"]}
    on = train(series_table, out=tmp_path / "on", overrides=overrides, quiet=True)
    off = train(series_table, out=tmp_path / "off", overrides={**overrides, "calibrate": False}, quiet=True)
    assert off.calibration is None and json.loads(off.model_json.read_text())["calibration"] is None
    assert load_bundle(off.out).temperature == 1.0
    assert on.calibration is not None and on.metrics == off.metrics  # the classes do not depend on T
    assert on.calibration["ece_after"] <= on.calibration["ece_before"]
    bundle = load_bundle(on.out)
    store = decode_series(series_table, season=bundle.season_start)
    calibrated = Predictor(bundle).predict_proba(store)
    raw = Predictor(load_bundle(off.out)).predict_proba(store)
    assert np.array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))
    assert np.allclose(calibrated, tempered(raw, bundle.temperature), atol=1e-6)


def test_evaluate_reports_ece_before_and_after(run_overrides: dict, tmp_path: Path) -> None:
    # noisy labels in every split make the network over-confident, as real labels do
    table = synthetic_series(300, seed=7, label_noise=0.25, noisy_splits=("train", "validation", "test"))
    run = train(
        table,
        out=tmp_path / "run",
        overrides={**run_overrides, "epochs": 12, "checkpoint_every_n_steps": 1000, "augment.min_as_of": 90},
        quiet=True,
    )
    assert run.calibration is not None and run.calibration["temperature"] > 1.5  # softened
    series = tmp_path / "series.parquet"
    pq.write_table(table, series)
    evaluation = evaluate_run(
        run.out, series, split="validation", n_boot=20, out=tmp_path / "evaluation.json"
    ).evaluation
    calibration = evaluation["calibration"]
    assert calibration["temperature"] == run.calibration["temperature"] and calibration["n_bins"] == 15
    assert [d["as_of"] for d in calibration["by_as_of_date"]] == [d["as_of"] for d in evaluation["by_as_of_date"]]
    # the end of the season on the validation split is what T was fitted on: the ECE before is the model's own
    assert calibration["ece_before"] == pytest.approx(run.calibration["ece_before"], abs=1e-6)
    assert calibration["ece_after"] == pytest.approx(run.calibration["ece_after"], abs=1e-6)
    assert calibration["ece_after"] < calibration["ece_before"] - 0.1
    # the map points' confidence is the calibrated top-class probability
    confidence = np.array(evaluation["map"]["confidence"])
    truth, prediction = np.array(evaluation["map"]["truth"]), np.array(evaluation["map"]["prediction"])
    assert confidence.mean() < 0.9 and abs(confidence.mean() - (truth == prediction).mean()) < 0.15
    assert json.loads((tmp_path / "evaluation.json").read_text())["calibration"] == calibration
