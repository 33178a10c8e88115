"""The evaluation dict: JSON-valid, complete, and consistent with scikit-learn."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from inseason.errors import InputError
from inseason.evaluate import evaluate_predictor, fake_evaluation, read_evaluation, write_evaluation
from inseason.evaluate.evaluation import best_as_of, end_of_season_month_day
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
    bands = evaluation["importance"]["bands"]  # early, middle and last date of the curve (the fake: 2 repeats)
    assert [b["as_of"] for b in bands] == ["05-31", "08-14", "10-28"] and {b["n_repeats"] for b in bands} == {2}
    assert [p["as_of"] for p in evaluation["importance"]["periods"]] == ["05-31", "08-14", "10-28"]
    assert all({row["name"] for row in b["features"]} == {"B02", "B03", "B04", "B08"} for b in bands)
    # The template predictor greens up by June: NIR (B08) and red (B04) matter more by the season's end.
    assert bands[-1]["baseline"] > bands[0]["baseline"]
    assert evaluation["data"]["n_samples"] == 120 and evaluation["data"]["class_counts"]["Rice"] == 30
    assert evaluation["leakage_audit"]["passed"] is True
    sample = evaluation["samples"][0]
    assert len(sample["dates"]) == len(sample["bands"]["B04"]) == len(sample["ndvi"]) == len(sample["scl"])
    assert len(sample["as_of"]) == 15 and len(evaluation["samples"]) == 12
    assert sum(g["n"] for g in evaluation["spatial"]["groups"]) == 120


def test_end_of_season_metrics_match_scikit_learn(evaluation: dict[str, Any]) -> None:
    truth, prediction = evaluation["map"]["truth"], evaluation["map"]["prediction"]
    assert len(truth) == 120 and evaluation["map"]["year"] == [2021] * 120  # each point's season
    assert evaluation["overall_accuracy"] == pytest.approx(skm.accuracy_score(truth, prediction))
    assert evaluation["kappa"] == pytest.approx(skm.cohen_kappa_score(truth, prediction))
    assert evaluation["macro_f1"] == pytest.approx(skm.f1_score(truth, prediction, average="macro"))
    assert np.sum(evaluation["confusion"]["counts"]) == 120


def test_block_grouping_and_bad_options() -> None:
    table = fake_series(n_fields=2, pixels_per_field=2, seed=1)
    result = evaluate_predictor(
        TemplatePredictor(),
        table,
        classes=list(FAKE_CLASSES),
        spatial_by="block",
        block_size=5000,
        n_boot=20,
        importance=False,
        as_of=["06-01", "09-01"],
    ).evaluation
    assert result["spatial"]["by"] == "block" and result["importance"]["bands"] is None
    assert result["intervals"]["resampled"] == "block"
    assert result["intervals"]["n_clusters"] == len(result["spatial"]["groups"])  # one location per row here
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
    (tmp_path / "v1.json").write_text(json.dumps({**evaluation, "schema_version": 1}))
    with pytest.raises(InputError, match="run inseason evaluate again"):
        read_evaluation(tmp_path / "v1.json")
    assert not list((tmp_path / "run").glob(".*tmp*"))  # written atomically: no temporary file left


def test_honest_headline_keys(evaluation: dict[str, Any]) -> None:
    assert evaluation["end_of_season"] == "12-31"  # seasons start 1 January: scored as of 31 December
    best = evaluation["best_as_of"]
    curve = evaluation["by_as_of_date"]
    top = max(row["macro_f1"] for row in curve)
    first_best = next(row for row in curve if row["macro_f1"] == top)
    assert best == {key: first_best[key] for key in ("as_of", "overall_accuracy", "macro_f1", "kappa")}
    assert best["as_of"] not in ("04-01", "04-16")  # the template predictor needs the season to get going
    assert evaluation["sample_size"] == {
        "n": 120,
        "min_per_class": 30,
        "classes_below": [],
        "too_small": False,
        "warning": None,
    }
    assert evaluation["intervals"]["resampled"] == "location+field"
    assert evaluation["intervals"]["n_clusters"] == 24  # 4 classes × 6 fields, each at its own place
    published = evaluation["course_windows"]["published"]
    assert (published["overall_accuracy"], published["macro_f1"]) == (0.756, 0.602)


def test_best_as_of_ties_and_undefined() -> None:
    rows = [
        {"as_of": "05-01", "overall_accuracy": 0.5, "macro_f1": None, "kappa": None, "n": 3},
        {"as_of": "06-01", "overall_accuracy": 0.7, "macro_f1": 0.6, "kappa": 0.4, "n": 3},
        {"as_of": "07-01", "overall_accuracy": 0.8, "macro_f1": 0.6, "kappa": 0.5, "n": 3},
        {"as_of": "08-01", "overall_accuracy": 0.6, "macro_f1": 0.5, "kappa": 0.3, "n": 3},
    ]
    assert best_as_of(rows) == {"as_of": "06-01", "overall_accuracy": 0.7, "macro_f1": 0.6, "kappa": 0.4}
    assert best_as_of(rows[:1]) is None and best_as_of([]) is None


def test_end_of_season_month_day() -> None:
    assert end_of_season_month_day([2021, 2022]) == "12-31"
    assert end_of_season_month_day([2021], season_start="03-01") == "02-28"  # season 2021 ends 28 Feb 2022
    assert end_of_season_month_day([2023, 2024], season_start="03-01") == "02-29"  # the earliest season: 2024 leap
    assert end_of_season_month_day([2021], season_start="10-01") == "09-30"
    with pytest.raises(InputError, match="no test samples"):
        end_of_season_month_day([])


def test_season_start_moves_end_of_season() -> None:
    table = fake_series(n_fields=2, pixels_per_field=2, seed=4)
    result = evaluate_predictor(
        TemplatePredictor(),
        table,
        classes=list(FAKE_CLASSES),
        season_start="03-01",
        n_boot=20,
        importance=False,
        as_of=["07-01", "09-01"],
        n_viewer_samples=0,
    ).evaluation
    assert result["end_of_season"] == "02-28" and result["season_start"] == "03-01"


def test_several_seasons_at_one_place_are_one_cluster_along_the_curve() -> None:
    table = fake_series(n_fields=2, pixels_per_field=3, years=(2020, 2021, 2022), fixed_locations=True, seed=5)
    result = evaluate_predictor(
        TemplatePredictor(),
        table,
        classes=list(FAKE_CLASSES),
        n_boot=200,
        importance=False,
        as_of=["06-01", "12-31"],
        n_viewer_samples=0,
        seed=3,
    ).evaluation
    assert result["n"] == 72 and result["intervals"]["n_clusters"] == 8  # 8 places, not 24 field-seasons
    # the curve's last date is the end of the season: same draws of the same clusters, same intervals
    assert result["by_as_of_date"][-1]["as_of"] == result["end_of_season"] == "12-31"
    end = {k: v for k, v in result["intervals"].items() if k not in ("resampled", "n_clusters")}
    assert result["by_as_of_date"][-1]["intervals"] == end
    assert result["by_as_of_date"][-1]["overall_accuracy"] == result["overall_accuracy"]


def test_too_small_test_set_is_flagged_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="inseason.evaluate.evaluation"):
        tiny = fake_evaluation(n_boot=20, n_fields=1, pixels_per_field=1)
    size = tiny["sample_size"]
    assert size["n"] == 4 and size["min_per_class"] == 1 and size["too_small"] is True
    assert size["classes_below"] == list(FAKE_CLASSES)
    assert size["warning"] == (
        "Only 4 test samples (fewer than 30) and classes Corn (1), Soybeans (1), Rice (1), "
        "Cotton (1) have fewer than 5 each: accuracy figures are not meaningful; evaluate "
        "on a larger test split."
    )
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [size["warning"]]


def test_importance_dates_spread_over_the_curve() -> None:
    from inseason.evaluate.evaluation import importance_dates

    curve = ["04-01", "04-16", "05-01", "05-16", "05-31", "06-15", "06-30"]
    assert importance_dates(curve) == ["05-01", "05-31", "06-30"]
    assert importance_dates(["06-01", "09-01"]) == ["06-01", "09-01"]
    assert importance_dates(["09-01"]) == ["09-01"] and importance_dates([]) == []
