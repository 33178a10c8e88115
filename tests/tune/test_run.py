"""``run_tune``: trials trained and scored, the SQLite study resumed, best.yaml, pruning, refused studies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pyarrow as pa
import pytest
import yaml
from optuna.trial import TrialState

from inseason.data import synthetic_series
from inseason.errors import InputError, OutputError
from inseason.train import TrainConfig, train_config
from inseason.tune import TuneRequest, TuneResult, run_tune, search_space, series_fingerprint, suggest, tune
from inseason.tune import run as tune_run
from tests.tune.conftest import FOREST_SPACE


def _study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="tune", storage=f"sqlite:///{out / 'study.db'}")


def test_a_search_trains_its_trials_and_writes_the_best_config(
    table: pa.Table, tempcnn_config: TrainConfig, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tune"
    result = tune(table, out=out, config=tempcnn_config, trials=3, seed=1)
    assert [row["number"] for row in result.trials] == [0, 1, 2]
    assert all(row["state"] == "complete" for row in result.trials)
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001", "0002"]
    for row in result.trials:  # each value is its run's validation macro-F1 (summary.json of the run)
        summary = json.loads((out / row["run"] / "summary.json").read_text())
        assert row["value"] == pytest.approx(summary["metrics"]["macro_f1"])
        assert row["overall_accuracy"] == pytest.approx(summary["metrics"]["overall_accuracy"])
        assert row["epochs_run"] == 1
    best = max(result.trials, key=lambda row: row["value"])
    assert (result.best_trial, result.best_value) == (best["number"], best["value"])
    assert result.best_params == best["params"] and result.resumed is False
    assert set(result.best_params) == set(search_space(tempcnn_config))
    # best.yaml is the best trial's resolved config: the drawn values over the starting config
    saved = yaml.safe_load((out / "best.yaml").read_text())
    assert saved == yaml.safe_load((out / best["run"] / "config.yaml").read_text())
    config = train_config(path=out / "best.yaml")
    assert config.optimizer.lr == pytest.approx(result.best_params["optimizer.lr"])
    assert config.model.params["filters"] == result.best_params["model.params.filters"]
    assert config.adapter.bucket_days == result.best_params["adapter.bucket_days"]
    assert (config.epochs, config.adapter.window_days) == (1, 240)  # kept from the starting config
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(_asdict(result), default=str))
    # the study's own records
    study = _study(out)
    assert study.user_attrs == {
        "fingerprint": series_fingerprint(table),
        "model": "tempcnn",
        "objective": "validation",
        "folds": None,
        "by": None,
    }
    assert [sorted(t.intermediate_values) for t in study.trials] == [[0], [0], [0]]  # one report per epoch
    assert "[I " not in capfd.readouterr().err  # optuna's own handler stays off


def _asdict(result: TuneResult) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(result)


def test_the_sampler_is_seeded(table: pa.Table, forest_config: TrainConfig, tmp_path: Path) -> None:
    runs = [
        tune(table, out=tmp_path / name, config=forest_config, space=FOREST_SPACE, trials=2, seed=seed)
        for name, seed in (("a", 5), ("b", 5), ("c", 6))
    ]
    params = [[row["params"] for row in result.trials] for result in runs]
    assert params[0] == params[1] and params[0] != params[2]
    assert [row["value"] for row in runs[0].trials] == [row["value"] for row in runs[1].trials]


def test_a_search_resumes_and_retries_the_trial_a_kill_left_running(
    table: pa.Table, forest_config: TrainConfig, tmp_path: Path
) -> None:
    out = tmp_path / "tune"
    first = tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=2, seed=0)
    assert len(first.trials) == 2
    # a search killed during its third trial: the trial stays RUNNING in the study with a half-written folder
    study = _study(out)
    killed = study.ask()
    drawn = suggest(killed, search_space(forest_config, FOREST_SPACE))
    (out / "trials" / "0002").mkdir()
    (out / "trials" / "0002" / "config.yaml").write_text("half")
    second = tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=4, seed=0)
    assert second.resumed
    states = [(row["number"], row["state"], row.get("killed", False)) for row in second.trials]
    assert states == [
        (0, "complete", False),
        (1, "complete", False),
        (2, "fail", True),
        (3, "complete", False),
        (4, "complete", False),
    ]
    assert second.trials[3]["params"] == drawn  # the killed trial's values are tried again first
    assert not (out / "trials" / "0002").exists()
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001", "0003", "0004"]
    assert second.trials[:2] == first.trials
    # a finished search run again with as many trials does nothing more
    third = tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=4, seed=0)
    assert len(third.trials) == 5 and third.best_trial == second.best_trial
    assert _study(out).user_attrs["retried"] == [2]


def test_an_interrupted_trial_is_tried_again_once(
    table: pa.Table, forest_config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, real = tmp_path / "tune", tune_run.run_train

    def interrupt_trial_1(request: Any, **kwargs: Any) -> Any:
        if request.out.name == "0001":
            request.out.mkdir(parents=True)
            raise KeyboardInterrupt
        return real(request, **kwargs)

    monkeypatch.setattr(tune_run, "run_train", interrupt_trial_1)
    with pytest.raises(KeyboardInterrupt):
        tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=3, seed=0)
    monkeypatch.setattr(tune_run, "run_train", real)
    resumed = tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=3, seed=0)
    rows = [(row["number"], row["state"], row.get("killed", False)) for row in resumed.trials]
    assert rows == [(0, "complete", False), (1, "fail", "interrupted"), (2, "complete", False), (3, "complete", False)]
    assert resumed.trials[2]["params"] == resumed.trials[1]["params"]
    assert not (out / "trials" / "0001").exists()
    again = tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=3, seed=0)
    assert len(again.trials) == 4  # retried once, not at every resume


def test_a_study_of_another_table_or_model_is_refused(
    table: pa.Table, forest_config: TrainConfig, tmp_path: Path
) -> None:
    out = tmp_path / "tune"
    tune(table, out=out, config=forest_config, space=FOREST_SPACE, trials=1)
    other = synthetic_series(120, seed=4)
    with pytest.raises(InputError, match=r"study.db was made on another series table .*choose another --out"):
        tune(other, out=out, config=forest_config, space=FOREST_SPACE, trials=2)
    boosting = train_config(
        overrides={
            **forest_config.model_dump(mode="json"),
            "model.name": "gradient_boosting",
            "model.params": {"max_iter": 20},
        }
    )
    with pytest.raises(InputError, match=r"is a study of model 'random_forest', not 'gradient_boosting'"):
        tune(table, out=out, config=boosting, trials=2)
    # the fingerprint does not depend on where the table is, nor on its chunks; a new split changes it
    assert series_fingerprint(pa.concat_tables([table.slice(0, 50), table.slice(50)])) == series_fingerprint(table)
    splits = table.column("split").to_pylist()
    resplit = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits[::-1]))
    assert series_fingerprint(resplit) != series_fingerprint(table)
    assert len(_study(out).trials) == 1


def test_a_folder_that_holds_something_else_is_refused(table: pa.Table, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="is not empty and holds no study"):
        tune(table, out=tmp_path, config=train_config(preset="tempcnn"), trials=1)


def test_poor_trials_are_pruned_after_an_epoch(
    table: pa.Table, tempcnn_config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pruner that prunes every value below 2 stops each trial after its first epoch."""
    monkeypatch.setattr(tune_run, "_pruner", lambda *args: optuna.pruners.ThresholdPruner(lower=2.0))
    config = train_config(overrides={**tempcnn_config.model_dump(mode="json"), "epochs": 3})
    result = tune(table, out=tmp_path / "tune", config=config, trials=2)
    assert [row["state"] for row in result.trials] == ["pruned", "pruned"]
    assert all(row["pruned_at_epoch"] == 0 and 0.0 <= row["value"] <= 1.0 for row in result.trials)
    assert result.best_trial is None and result.best_config is None
    assert not (tmp_path / "tune" / "best.yaml").exists()
    assert not (tmp_path / "tune" / "trials" / "0000" / "model.json").exists()  # stopped before its bundle


def test_a_trial_the_model_refuses_fails_alone_but_the_first_stops_the_search(
    table: pa.Table, forest_config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tune_run.run_train

    def refuse_trial_1(request: Any, **kwargs: Any) -> Any:
        if request.out.name == "0001":
            raise InputError("model 'random_forest' cannot be built with options {}: a test refusal")
        return real(request, **kwargs)

    monkeypatch.setattr(tune_run, "run_train", refuse_trial_1)
    result = tune(table, out=tmp_path / "a", config=forest_config, space=FOREST_SPACE, trials=3)
    assert [row["state"] for row in result.trials] == ["complete", "fail", "complete"]
    assert "a test refusal" in result.trials[1]["error"]

    def refuse_all(request: Any, **kwargs: Any) -> Any:
        raise InputError("the series table has no band B08")

    monkeypatch.setattr(tune_run, "run_train", refuse_all)
    with pytest.raises(InputError, match="no band B08"):
        tune(table, out=tmp_path / "b", config=forest_config, space=FOREST_SPACE, trials=3)
    assert [t.state for t in _study(tmp_path / "b").trials] == [TrialState.FAIL]


def test_the_cv_objective_is_the_mean_macro_f1_over_the_folds(
    split_parquet: Path, forest_config: TrainConfig, tmp_path: Path
) -> None:
    out = tmp_path / "tune"
    result = tune(
        split_parquet, out=out, config=forest_config, space=FOREST_SPACE, trials=1, objective="cv", folds=3, by="random"
    )
    assert [row["state"] for row in result.trials] == ["complete"]
    for row in result.trials:  # each trial is a cross-validation folder, its value the mean over the folds
        summary = json.loads((out / row["run"] / "summary.json").read_text())
        scores = summary["models"]["random_forest"]
        assert len(scores["folds"]) == 3 == row["folds"]
        assert row["value"] == pytest.approx(sum(f["macro_f1"] for f in scores["folds"]) / 3)
        assert row["macro_f1_std"] == pytest.approx(scores["std"]["macro_f1"])
        assert (out / row["run"] / "random_forest" / "fold-0" / "model.json").exists()
    # best.yaml: the starting config (the user's own splits) with the best trial's values
    config = train_config(path=out / "best.yaml")
    assert config.model.params["n_estimators"] == result.best_params["model.params.n_estimators"]
    assert (config.train_split, config.val_split) == ("train", "validation")
    with pytest.raises(InputError, match=r"is a study of folds 3, not 4"):
        tune(
            split_parquet,
            out=out,
            config=forest_config,
            space=FOREST_SPACE,
            trials=3,
            objective="cv",
            folds=4,
            by="random",
        )


def test_a_cross_validated_trial_is_pruned_fold_by_fold(
    split_parquet: Path, forest_config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pruner that prunes every value below 2 stops a cv trial after its first fold, which it keeps; the
    folds are the steps (the running mean reported), and the pruner of cv counts folds, not epochs."""
    pruners = []

    def threshold(name: str, config: TrainConfig, objective: str) -> optuna.pruners.BasePruner:
        pruners.append(objective)
        return optuna.pruners.ThresholdPruner(lower=2.0)

    monkeypatch.setattr(tune_run, "_pruner", threshold)
    out = tmp_path / "tune"
    result = tune(
        split_parquet, out=out, config=forest_config, space=FOREST_SPACE, trials=2, objective="cv", folds=3, by="random"
    )
    assert pruners == ["cv"]
    assert [row["state"] for row in result.trials] == ["pruned", "pruned"]
    for row in result.trials:
        assert row["pruned_at_fold"] == 0 and "pruned_at_epoch" not in row
        summary = json.loads((out / row["run"] / "summary.json").read_text())
        assert summary["complete"] is False
        (first,) = summary["models"]["random_forest"]["folds"]  # the one fold it finished
        assert row["value"] == pytest.approx(first["macro_f1"])
        assert not (out / row["run"] / "random_forest" / "fold-1").exists()
    assert result.best_trial is None and not (out / "best.yaml").exists()
    # the real pruners: folds are steps from the second fold on for the median, a resource for hyperband
    monkeypatch.undo()
    median = tune_run._pruner("median", forest_config, "cv")
    assert isinstance(median, optuna.pruners.MedianPruner) and median._n_warmup_steps == 1
    assert isinstance(tune_run._pruner("hyperband", forest_config, "cv"), optuna.pruners.HyperbandPruner)
    assert isinstance(tune_run._pruner("none", forest_config, "cv"), optuna.pruners.NopPruner)


def test_the_request_checks_the_model_and_the_objective(table: pa.Table, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="designed for the sequence adapter"):
        TuneRequest.of(series=table, out=tmp_path, overrides={"model.name": "ltae", "adapter.kind": "bucketed"})
    with pytest.raises(InputError, match="model 'tempcnn' has no option 'heads'"):
        TuneRequest.of(
            series=table,
            out=tmp_path,
            config=train_config(preset="tempcnn"),
            space={"model.params.heads": {"choices": [1, 2]}},
        )
    with pytest.raises(InputError, match="--folds and --by are options of --objective cv"):
        TuneRequest.of(series=table, out=tmp_path, config=train_config(preset="tempcnn"), folds=3)
    with pytest.raises(InputError, match="trials"):
        TuneRequest.of(series=table, out=tmp_path, trials=0)
    assert run_tune  # the API the CLI calls
