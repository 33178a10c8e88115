"""Search spaces: a default space for every registered model, YAML changes checked against the model."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from inseason.errors import InputError
from inseason.models import create_model, list_models, model_info
from inseason.train import TRAIN_PRESETS, TrainConfig, train_config
from inseason.tune import default_space, describe, load_space, search_space, suggest


def _config_of(name: str) -> TrainConfig:
    """The config ``train --model NAME`` starts from (its preset, else the adapter it is designed for)."""
    if name in TRAIN_PRESETS:
        return train_config(preset=name)
    return train_config(overrides={"model.name": name, "adapter.kind": model_info(name).adapter})


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_has_a_default_space_whose_every_value_it_takes(name: str) -> None:
    config = _config_of(name)
    info = model_info(name)
    space = search_space(config)
    assert space == default_space(config)
    params = {key.removeprefix("model.params.") for key in space if key.startswith("model.params.")}
    assert params <= set(info.defaults)
    if info.neural:
        assert isinstance(space["optimizer.lr"], FloatDistribution) and space["optimizer.lr"].log
        assert {"optimizer.weight_decay", "augment.obs_dropout", "augment.band_noise"} <= set(space)
    else:
        assert not any(key.startswith(("optimizer.", "schedule.")) for key in space) and params
    window = "adapter.bucket_days" if config.adapter.kind == "bucketed" else "adapter.max_obs"
    assert window in space
    # a draw of every key builds the model (each choice and each end was checked alone; here they come together)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = suggest(trial, space)
    drawn = train_config(overrides={**config.model_dump(mode="json"), **values})
    if any(key.startswith("model.params.") for key in values):
        create_model(name, n_bands=3, n_steps=drawn.adapter.n_steps, n_classes=4, **drawn.model.params)


def test_the_default_space_centres_widths_on_the_config_and_leaves_tied_widths_alone() -> None:
    config = train_config(preset="tempcnn", overrides={"model.params": {"filters": 8}})
    space = default_space(config)
    assert space["model.params.filters"] == CategoricalDistribution([4, 8, 16])
    assert space["model.params.hidden"] == CategoricalDistribution([128, 256, 512])  # the registry's default
    assert space["model.params.dropout"] == FloatDistribution(0.0, 0.5)
    assert "model.params.d_model" not in default_space(_config_of("ltae"))  # its mlp starts with d_model


def test_a_yaml_space_adds_and_replaces_keys_and_null_takes_one_out(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "optimizer.lr: {low: 0.001, high: 0.1, log: true}\n"
        "model.params.filters: {choices: [8, 16]}\n"
        "batch_size: {low: 16, high: 64, step: 16}\n"
        "model.params.dropout: null\n"
    )
    space = search_space(train_config(preset="tempcnn"), load_space(path))
    assert space["optimizer.lr"] == FloatDistribution(0.001, 0.1, log=True)
    assert space["model.params.filters"] == CategoricalDistribution([8, 16])
    assert space["batch_size"] == IntDistribution(16, 64, step=16)
    assert "model.params.dropout" not in space and "model.params.hidden" in space
    assert describe(space["batch_size"]) == "16 .. 64 step 16"
    assert describe(space["optimizer.lr"]) == "0.001 .. 0.1 (log)"


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ("tempcnn", "model.params.heads", "model 'tempcnn' has no option 'heads'"),
        ("tempcnn", "adapter.max_obs", "uses the bucketed adapter, which has no adapter.max_obs"),
        ("ltae", "adapter.bucket_days", "uses the sequence adapter, which has no adapter.bucket_days"),
        ("random_forest", "optimizer.lr", "is a classical model, which does not take optimizer.lr"),
        ("random_forest", "epochs", "is a classical model, which does not take epochs"),
        ("tempcnn", "optimizer.learning_rate", "is not a training option that can be tuned"),
        ("tempcnn", "model.name", "is not a training option that can be tuned"),
    ],
)
def test_a_key_the_model_does_not_take_is_named(config: str, key: str, message: str) -> None:
    with pytest.raises(InputError, match=f"search space key '{key}'.*{message}"):
        search_space(_config_of(config), {key: {"low": 1, "high": 2}})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (0.01, "give a distribution such as"),
        ({"low": 0.1}, "give both low and high, or choices"),
        ({"low": 0.1, "high": 0.01}, "low 0.1 is above high 0.01"),
        ({"low": 0.0, "high": 0.01, "log": True}, "a log range needs low above 0"),
        ({"choices": []}, "choices must be a non-empty list"),
        ({"choices": [[1, 2]]}, "each choice must be a number"),
        ({"low": 0.001, "high": 0.1, "scale": "log"}, "unknown field 'scale'"),
        ({"low": 1e-4, "high": 20.0}, "the value 20.0 is refused"),
        ({"low": 1, "high": 5, "type": "int", "step": 0.5}, "integer low, high and step"),
    ],
)
def test_a_malformed_distribution_is_named(spec: object, message: str) -> None:
    with pytest.raises(InputError, match=f"search space key 'optimizer.lr': .*{message}"):
        search_space(train_config(preset="tempcnn"), {"optimizer.lr": spec})


def test_a_model_option_value_the_model_refuses_is_named() -> None:
    with pytest.raises(InputError, match=r"search space key 'model.params.dropout': the value 1.5 is refused"):
        search_space(train_config(preset="tempcnn"), {"model.params.dropout": {"low": 0.1, "high": 1.5}})


def test_draws_stay_inside_their_distributions() -> None:
    space = search_space(
        train_config(preset="tempcnn"),
        {"batch_size": {"low": 16, "high": 64, "step": 16}, "optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True}},
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        values = suggest(study.ask(), space)
        assert set(values) == set(space)
        assert values["batch_size"] in (16, 32, 48, 64)
        assert 1e-4 <= values["optimizer.lr"] <= 1e-2
        assert values["model.params.filters"] in (32, 64, 128)
        assert values["adapter.bucket_days"] in (5, 10, 15)
