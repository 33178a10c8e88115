"""The evaluation dict: JSON-valid, complete, and consistent with scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from inseason.errors import InputError
from inseason.evaluate import evaluate_predictor, fake_evaluation, read_evaluation, write_evaluation
from inseason.evaluate.fake import FAKE_CLASSES, TemplatePredictor, fake_series


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    return fake_evaluation(n_boot=50)


def test_json_structure(evaluation: dict[str, Any]) -> None:
    text = json.dumps(evaluation, allow_nan=False)
    assert json.loads(text) == evaluation
    assert evaluation["schema_version"] == 2
    assert [c["name"] for c in evaluation["classes"]] == list(FAKE_CLASSES)
    assert evaluation["classes"][0] == {"name": "Corn", "code": 1, "color": "#ffd300"}  # CDL's corn yellow
    assert len(evaluation["by_as_of_date"]) == 15 and evaluation["by_as_of_date"][0]["as_of"] == "04-01"
    assert evaluation["intervals"]["resampled"] == "location+field"
    assert evaluation["course_windows"]["n_windows"] == 15
    assert {row["name"] for row in evaluation["importance"]["bands"]["features"]} == {"B02", "B03", "B04", "B08"}
    assert evaluation["data"]["n_samples"] == 120 and evaluation["data"]["class_counts"]["Rice"] == 30
    assert evaluation["leakage_audit"]["passed"] is True
    sample = evaluation["samples"][0]
    assert len(sample["dates"]) == len(sample["bands"]["B04"]) == len(sample["ndvi"]) == len(sample["scl"])
    assert len(sample["as_of"]) == 15 and len(evaluation["samples"]) == 12
    assert sum(g["n"] for g in evaluation["spatial"]["groups"]) == 120


def test_end_of_season_metrics_match_scikit_learn(evaluation: dict[str, Any]) -> None:
    truth, prediction = evaluation["map"]["truth"], evaluation["map"]["prediction"]
    assert len(truth) == 120
    assert evaluation["overall_accuracy"] == pytest.approx(skm.accuracy_score(truth, prediction))
    assert evaluation["kappa"] == pytest.approx(skm.cohen_kappa_score(truth, prediction))
    assert evaluation["macro_f1"] == pytest.approx(skm.f1_score(truth, prediction, average="macro"))
    assert np.sum(evaluation["confusion"]["counts"]) == 120


def test_block_grouping_and_bad_options() -> None:
    table = fake_series(n_fields=2, pixels_per_field=2, seed=1)
    result = evaluate_predictor(TemplatePredictor(), table, classes=list(FAKE_CLASSES), spatial_by="block",
                                block_size=5000, n_boot=20, importance=False, as_of=["06-01", "09-01"])
    assert result["spatial"]["by"] == "block" and result["importance"]["bands"] is None
    assert all("_" in g["group"] for g in result["spatial"]["groups"])
    with pytest.raises(InputError, match="'field' or 'block'"):
        evaluate_predictor(TemplatePredictor(), table, classes=list(FAKE_CLASSES), spatial_by="county")
    with pytest.raises(InputError, match="differ from the model's"):
        evaluate_predictor(TemplatePredictor(), table, classes=list(FAKE_CLASSES), bands=["B04", "B08"])
    with pytest.raises(InputError, match="one code"):
        evaluate_predictor(TemplatePredictor(), table, classes=list(FAKE_CLASSES), class_codes=[1])


def test_write_and_read_evaluation(evaluation: dict[str, Any], tmp_path: Path) -> None:
    path = write_evaluation(evaluation, tmp_path / "run" / "evaluation.json")
    assert read_evaluation(path) == evaluation
    with pytest.raises(InputError, match="does not exist"):
        read_evaluation(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="not JSON"):
        read_evaluation(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"schema_version": 7}')
    with pytest.raises(InputError, match="schema version 2"):
        read_evaluation(tmp_path / "other.json")
