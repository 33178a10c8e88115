"""The training configuration: one pydantic model, from a preset, a YAML file and dotted overrides."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from inseason.config import SeasonStart, StrictModel, load_yaml
from inseason.data import AdapterConfig, AugmentConfig, FeatureConfig
from inseason.errors import InputError


class ModelConfig(StrictModel):
    """Which architecture of the registry, with its hyper-parameters (JSON values)."""

    name: str = "tempcnn"
    params: dict[str, Any] = Field(default_factory=dict)


class OptimizerConfig(StrictModel):
    """Optimizer and its step size."""

    name: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = "adamw"
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0, le=1)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd and rmsprop only")


class ScheduleConfig(StrictModel):
    """Learning-rate schedule, stepped once per epoch."""

    name: Literal["constant", "cosine", "step", "exponential", "plateau"] = "cosine"
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.5, gt=0, le=1, description="step/exponential/plateau: decay factor")
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up before the schedule")


class TrainConfig(StrictModel):
    """Everything a training run depends on; the resolved config is saved in the run folder."""

    model: ModelConfig = ModelConfig()
    adapter: AdapterConfig = AdapterConfig()
    features: FeatureConfig = FeatureConfig()
    augment: AugmentConfig = AugmentConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    epochs: int | None = Field(
        None, ge=1, le=10_000, description="None: from the number of training samples (inseason.train.schedule)"
    )
    batch_size: int = Field(128, ge=1, le=65_536)
    balance: Literal["none", "weighted", "sampler"] = Field("weighted", description="class balance")
    monitor: Literal["val_macro_f1", "val_oa", "val_loss"] = "val_macro_f1"
    patience: int | None = Field(
        None,
        ge=0,
        description="early stopping after this many epochs without improvement (0: off; None: from the data "
        "size when epochs is None too, else off)",
    )
    checkpoint_every_n_steps: int = Field(50, ge=1, description="resume checkpoint period in optimizer steps")
    as_of_copies: int = Field(
        4,
        ge=1,
        le=64,
        description="classical baselines: passes over the training rows, "
        "the first as of the whole season, the others augmented (random as-of day)",
    )
    val_as_of: int | None = Field(None, ge=0, le=399, description="day of season validation sees (None: whole)")
    train_split: str = "train"
    val_split: str = "validation"
    validation_share: float = Field(
        0.15,
        ge=0,
        lt=1,
        description="share of the training rows carved as validation (grouped by field, stratified) when the "
        "table has no validation split (0: refuse such a table)",
    )
    season_start: SeasonStart | None = Field(
        None, description="month-day the seasons start (None: the one the series table records, else 01-01)"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    accelerator: Literal["auto", "cpu", "gpu"] = "cpu"
    devices: int = Field(1, ge=1)
    strategy: str = "auto"
    histograms: bool = Field(True, description="weight histograms in TensorBoard every epoch")
    profile: bool = Field(False, description="write a torch.profiler trace of the first steps")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.train_split == self.val_split:
            raise ValueError(f"train_split and val_split are both {self.train_split!r}: choose two splits")
        return self


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # the ARSET course: its Conv1D network on 120-day windows of 5-day buckets, NDVI added, Adam, 40 epochs
    "arset": {
        "model": {"name": "arset"},
        "adapter": {"kind": "bucketed", "window_days": 120, "bucket_days": 5},
        "features": {"indices": ["NDVI"]},
        "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
        "schedule": {"name": "constant"},
        "epochs": 40,
        "batch_size": 32,
        "balance": "none",
    },
    # TempCNN sees no day inputs, so its 5-day slots are fixed to the calendar (the whole season, 73 slots)
    "tempcnn": {
        "model": {"name": "tempcnn"},
        "adapter": {"kind": "bucketed", "anchor": "season", "window_days": 365, "bucket_days": 5},
        "features": {"indices": ["NDVI"]},
    },
    "ltae": {
        "model": {"name": "ltae"},
        "adapter": {"kind": "sequence", "max_obs": 64},
        "features": {"indices": ["NDVI"]},
    },
}


def _set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in nested dicts (creating the levels) to a copy of ``value``.

    A copy, so that later keys (``model.params.x`` after ``model.params``) never change a preset or the
    caller's own dicts.
    """
    *parents, leaf = key.split(".")
    node = values
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InputError(f"config override {key}: {part} is not a group of options")
        node = child
    node[leaf] = copy.deepcopy(value)


def train_config(
    *, preset: str | None = None, path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Resolve preset → YAML file → dotted overrides (``optimizer.lr=0.01``) into a validated `TrainConfig`.

    Each later source overrides the earlier ones key by key; anything not given keeps its default.

    Args:
        preset: a name of `TRAIN_PRESETS`, or None.
        path: a YAML file of options (nested or dotted keys), or None.
        overrides: dotted keys and their values, applied last.

    Returns:
        The validated config.

    Raises:
        InputError: an unknown preset, an unknown key or a wrong type (naming the key), or an unreadable
            YAML file.
    """
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in TRAIN_PRESETS:
            raise InputError(f"unknown training preset {preset!r}: choose one of {', '.join(TRAIN_PRESETS)}")
        for key, value in dotted_options(TRAIN_PRESETS[preset]).items():
            _set_dotted(values, key, value)
    if path is not None:
        for key, value in dotted_options(load_yaml(Path(path))).items():
            _set_dotted(values, key, value)
    for key, value in (overrides or {}).items():
        _set_dotted(values, key, value)
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InputError(f"invalid training option {where}: {first['msg']}") from None


def dotted_options(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested options into the dotted keys `train_config` takes as overrides.

    ``model.params`` stays one value, so a model keeps its own keys.

    Args:
        values: nested options (a preset, a YAML file's content, ``TrainConfig.model_dump(mode="json")``).
        prefix: the dotted prefix of ``values``'s keys.

    Returns:
        Dotted key → value.
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted != "model.params":
            flat.update(dotted_options(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
