"""``inseason tune``: the verb's summary, --json, the round trip of best.yaml through ``train --config``, errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.helpers import run_in_process

#: A random forest of few trees, searched over 5 to 20 trees and its own options.
FOREST = ("--model", "random_forest", "--set", "model.params.n_estimators=10")


def test_tune_prints_its_trials_and_best_yaml_trains(split_parquet: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("model.params.n_estimators: {low: 5, high: 20}\nmodel.params.max_depth: {choices: [4, 8]}\n")
    out = tmp_path / "tune"
    ran = run_in_process("tune", str(split_parquet), *FOREST, "--space", str(space), "--trials", "2", "--out", str(out))
    assert ran.code == 0, ran.stderr
    assert "random_forest: 2 trials" in ran.stdout and "best: trial" in ran.stdout
    assert f"config: {out / 'best.yaml'}" in ran.stdout
    assert "[I " not in ran.stderr and "finished with value" not in ran.stderr  # optuna's INFO records stay off
    assert "tune" in ran.stderr and "2/2" in ran.stderr  # the progress bar
    ran = run_in_process(
        "tune", str(split_parquet), *FOREST, "--space", str(space), "--trials", "3", "--out", str(out), "--json"
    )
    assert ran.code == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["resumed"] is True and [row["number"] for row in summary["trials"]] == [0, 1, 2]
    assert summary["space"]["model.params.max_depth"] == "one of 4, 8"
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["model"]["params"]["max_depth"] == summary["best_params"]["model.params.max_depth"]
    # the round trip: train takes best.yaml as it is, and reaches the best trial's score
    run = tmp_path / "run"
    ran = run_in_process("train", str(split_parquet), "--config", str(out / "best.yaml"), "--out", str(run), "--json")
    assert ran.code == 0, ran.stderr
    assert yaml.safe_load((run / "config.yaml").read_text()) == best
    assert json.loads(ran.stdout)["metrics"]["macro_f1"] == summary["best_value"]


def test_tune_mistakes_are_one_line(split_parquet: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("model.params.heads: {choices: [2, 4]}\n")
    for args, message in (
        (["--space", str(space)], "search space key 'model.params.heads': model 'random_forest' has no option 'heads'"),
        (["--folds", "3"], "--folds and --by are options of --objective cv"),
        (["--set", "epochs"], "--set expects KEY=VALUE"),
    ):
        ran = run_in_process("tune", str(split_parquet), *FOREST, "--out", str(tmp_path / "t"), *args)
        assert ran.code == 2 and ran.stderr.count("\n") == 1 and message in ran.stderr, ran.stderr
