"""The train stage's typed request and result: one validation for the CLI and the Python API, and a result
that holds what the run folder's files say."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inseason.cli import app
from inseason.errors import InputError
from inseason.train import TrainRequest, TrainResult, train, train_config

runner = CliRunner()


@pytest.mark.parametrize(
    ("flags", "preset", "overrides"),
    [
        (["--preset", "tempcnn", "--model", "ltae"], "tempcnn", {"model.name": "ltae"}),
        (["--preset", "ltae", "--set", "epochs=0"], "ltae", {"epochs": 0}),
        (["--preset", "ltae", "--set", "optimizer.lrr=1"], "ltae", {"optimizer.lrr": 1}),
    ],
)
def test_a_bad_option_is_refused_alike_by_the_api_and_the_cli(
    flags: list[str], preset: str, overrides: dict[str, Any], tmp_path: Path
) -> None:
    """The request refuses the options before the table is read (it does not even exist) or out is made."""
    series, out = str(tmp_path / "missing.parquet"), tmp_path / "run"
    with pytest.raises(InputError) as api:
        train(series, out=out, config=train_config(preset=preset), overrides=overrides)
    result = runner.invoke(app, ["--quiet", "train", series, *flags, "--out", str(out)])
    assert isinstance(result.exception, InputError), result.output
    assert str(result.exception) == str(api.value)
    assert not out.exists()


def test_a_bad_type_names_the_option() -> None:
    with pytest.raises(InputError, match="invalid TrainRequest option resume"):
        TrainRequest.of(series="s.parquet", out="run", config=train_config(preset="ltae"), resume="maybe")


def test_a_request_round_trips_through_its_dump() -> None:
    request = TrainRequest.of(
        series="s3://bucket/split.parquet",
        out="runs/a",
        config=train_config(preset="arset"),
        overrides={"optimizer.lr": 0.01, "model.params": {"dropout": 0.2}},
        resume=True,
        quiet=False,
    )
    again = TrainRequest.of(**request.model_dump())
    assert again == request
    assert again.resolved_config() == train_config(
        preset="arset", overrides={"optimizer.lr": 0.01, "model.params": {"dropout": 0.2}}
    )


def test_the_result_holds_what_the_run_folder_says(trained_run: tuple[Path, TrainResult]) -> None:
    out, result = trained_run
    assert result.run_dir == out and result.model == "tempcnn" and not result.resumed
    assert json.loads(result.summary_json.read_text()) == asdict(result)  # summary.json is the result
    manifest = json.loads(result.model_json.read_text())
    assert manifest["metrics"] == {"split": "validation", "best_epoch": result.best_epoch, **result.metrics}
    assert result.config_yaml.read_text().count("epochs: 5") == 1
    assert result.tensorboard == out / "tensorboard" and result.tensorboard.is_dir()
