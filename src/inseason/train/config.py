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

#: The losses a network can be trained on (`inseason.train.losses`).
Loss = Literal["cross_entropy", "gce"]

#: Options `inseason.train.defaults.adapt_to_data` can set from the series table (see `TrainConfig.adapt`).
AdaptKey = Literal["features.indices", "adapter.bucket_days", "adapter.window_days", "adapter.max_obs"]
ADAPT_KEYS: tuple[AdaptKey, ...] = ("features.indices", "adapter.bucket_days", "adapter.window_days", "adapter.max_obs")


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


class DistillConfig(StrictModel):
    """Knowledge distillation: train the run's (small) network on a teacher bundle's probabilities as well.

    The loss is ``(1 - weight) * loss(labels) + weight * temperature² * KL(teacher ‖ student)`` on both
    networks' logits divided by ``temperature`` (Hinton, Vinyals & Dean 2015), on the same batches: the same
    in-season truncations, so the student learns what the teacher says as of each day. The run takes the
    teacher's inputs (adapter, features, normalisation, window rule) and label map (`inseason.train.distill`).
    """

    teacher: str | None = Field(None, description="the teacher's bundle folder (None: no distillation)")
    weight: float = Field(0.7, ge=0, le=1, description="share of the loss on the teacher's probabilities")
    temperature: float = Field(2.0, gt=0, le=20, description="divides both networks' logits in the teacher's term")


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
    batch_size: int | None = Field(
        None,
        ge=1,
        le=65_536,
        description="samples per optimizer step (None: from the number of training samples, 16 to 128, at least "
        "8 steps an epoch; inseason.train.schedule)",
    )
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="networks, loss cross_entropy: share of each training label spread over the other classes",
    )
    loss: Loss = Field(
        "gce",
        description="networks: the loss optimised — gce (generalized cross-entropy: robust to wrong labels, and "
        "measured better than cross-entropy in season and at the season's end with the default epochs; it learns "
        "more slowly, so a short fixed epoch budget may suit cross_entropy better: docs/defaults.md) or "
        "cross_entropy; validation and the logged loss are cross-entropy either way (inseason.train.losses)",
    )
    gce_q: float = Field(0.7, gt=0, le=1, description="loss gce: its exponent q (towards 0: cross-entropy)")
    balance: Literal["none", "weighted", "sampler"] = Field("weighted", description="class balance")
    distill: DistillConfig = DistillConfig()
    monitor: Literal["val_macro_f1", "val_oa", "val_loss"] = Field(
        "val_macro_f1",
        description="validation figure that picks the epoch bundled and stops early (ties of a score go to the "
        "lower validation loss)",
    )
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
    adapt: tuple[AdaptKey, ...] = Field(
        (),
        description="options train sets from the series table before training (bucket_days from the typical gap "
        "between observations, window_days from the season the data covers, max_obs from the observations a "
        "season holds, features.indices to those the bands allow); config.yaml records the values set and an "
        "empty list. A key the user sets (YAML, --set) leaves the list",
    )
    accelerator: Literal["auto", "cpu", "gpu"] = "cpu"
    devices: int = Field(1, ge=1)
    strategy: str = "auto"
    calibrate: bool = Field(
        True, description="fit a temperature on the validation split so the probabilities are calibrated"
    )
    histograms: bool = Field(True, description="weight histograms in TensorBoard every epoch")
    profile: bool = Field(False, description="write a torch.profiler trace of the first steps")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.train_split == self.val_split:
            raise ValueError(f"train_split and val_split are both {self.train_split!r}: choose two splits")
        if self.label_smoothing and self.loss != "cross_entropy":
            raise ValueError(
                f"label_smoothing applies to loss cross_entropy, not {self.loss}: set loss=cross_entropy as well"
            )
        return self


def check_model_adapter(config: TrainConfig) -> None:
    """Refuse a config whose model is designed for another input adapter than the config's.

    Args:
        config: a training config.

    Raises:
        InputError: the model takes the other adapter; the message names the setting that fixes it.
    """
    from inseason.models import model_info

    info = model_info(config.model.name)
    if info.adapter != config.adapter.kind:
        raise InputError(
            f"model {config.model.name!r} is designed for the {info.adapter} adapter: set adapter.kind={info.adapter}"
        )


def season_preset(model: str) -> dict[str, Any]:
    """The preset of a model on the bucketed adapter: the whole season on a calendar grid, fit to the data.

    The buckets are fixed to the season's calendar from its start (``anchor=season``), later observations
    masked out, so the model sees the whole season (not a window ending on the as-of day) and in-season
    inputs are the same calendar with the future missing. ``bucket_days`` and ``window_days`` (5 and 365
    until then) and NDVI follow the data (`TrainConfig.adapt`).

    Args:
        model: The registry name.

    Returns:
        The preset's nested options.
    """
    return {
        "model": {"name": model},
        "adapter": {"kind": "bucketed", "anchor": "season", "window_days": 365, "bucket_days": 5},
        "features": {"indices": ["NDVI"]},
        "adapt": ["features.indices", "adapter.bucket_days", "adapter.window_days"],
    }


def sequence_preset(model: str) -> dict[str, Any]:
    """The preset of a model on the sequence adapter: its observed dates, as many as a season holds.

    ``max_obs`` (64 until then) and NDVI follow the data (`TrainConfig.adapt`).

    Args:
        model: The registry name.

    Returns:
        The preset's nested options.
    """
    return {
        "model": {"name": model},
        "adapter": {"kind": "sequence", "max_obs": 64},
        "features": {"indices": ["NDVI"]},
        "adapt": ["features.indices", "adapter.max_obs"],
    }


def model_preset(model: str) -> dict[str, Any]:
    """The options a model name alone gives: its preset, else the preset of the adapter it is designed for.

    Args:
        model: A registry name.

    Returns:
        The nested options (a copy).

    Raises:
        InputError: The model is not registered.
    """
    if model in TRAIN_PRESETS:
        return copy.deepcopy(TRAIN_PRESETS[model])
    from inseason.models import model_info

    adapter = model_info(model).adapter
    return season_preset(model) if adapter == "bucketed" else sequence_preset(model)


#: Training presets: nested options, as a YAML config would give them. A preset's ``adapt`` list names the
#: options train sets from the data (`TrainConfig.adapt`); ``season_preset(name)`` and ``sequence_preset(name)``
#: give a model the defaults of its adapter. A model without an entry gets those of its adapter (`model_preset`).
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # the ARSET course: its Conv1D network on 120-day windows of 5-day buckets, NDVI added, Adam, 40 epochs,
    # cross-entropy (the course's exact recipe: nothing adapts to the data)
    "arset": {
        "model": {"name": "arset"},
        "adapter": {"kind": "bucketed", "window_days": 120, "bucket_days": 5},
        "features": {"indices": ["NDVI"]},
        "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
        "schedule": {"name": "constant"},
        "epochs": 40,
        "batch_size": 32,
        "balance": "none",
        "loss": "cross_entropy",
    },
    # TempCNN sees no day inputs, so its slots are fixed to the calendar (the whole season: 73 slots of 5 days
    # on Sentinel-2; 23 of 16 days on MODIS)
    # dropout 0.5 instead of the paper's 0.2 (its datasets had thousands of samples a class): measured on
    # `inseason bench accuracy`'s few-samples and noisy-label settings (docs/defaults.md)
    "tempcnn": {**season_preset("tempcnn"), "model": {"name": "tempcnn", "params": {"dropout": 0.5}}},
    # the map student: TempCNN with 16 filters and a 64-unit dense layer (about 1/13 of tempcnn's multiply-adds
    # on 73 slots), what `inseason train --teacher` distils a teacher into (`inseason bench predict --student`
    # measures both)
    "tempcnn-small": {
        **season_preset("tempcnn"),
        "model": {"name": "tempcnn", "params": {"filters": 16, "hidden": 64, "dropout": 0.2}},
    },
    "random_forest": season_preset("random_forest"),
    "gradient_boosting": season_preset("gradient_boosting"),
    # InceptionTime and MiniRocket take the mask (and InceptionTime the slot's place) as input channels on the
    # season's calendar grid; the optimizer defaults measured best (docs/models.md: MiniRocket's head at lr 1e-2
    # lost 7 points of macro-F1 to 1e-3)
    "inceptiontime": season_preset("inceptiontime"),
    "minirocket": season_preset("minirocket"),
    # dropout 0.5 instead of the paper's 0.2, as tempcnn's, and half the paper's widths (64 input channels,
    # d_model 128, 8 heads, MLP 128-64): both measured on `inseason bench accuracy` (docs/defaults.md)
    "ltae": {
        **sequence_preset("ltae"),
        "model": {
            "name": "ltae",
            "params": {"dropout": 0.5, "in_channels": 64, "d_model": 128, "n_head": 8, "mlp": [128, 64]},
        },
    },
    "gru": sequence_preset("gru"),
    # the map network an in-season service updates cheaply: a one-direction GRU reads each pixel's observations in
    # date order, so its state carries a map from one as-of date to the next: every date of a season comes out
    # of one pass and `inseason predict --update` reads only the new observations (`Predictor.advance`)
    "gru-incremental": {
        **sequence_preset("gru"),
        "model": {"name": "gru", "params": {"bidirectional": False, "hidden": 64, "n_layers": 1}},
    },
    "lstm": sequence_preset("lstm"),
    "transformer": sequence_preset("transformer"),
    # three TempCNNs from distinct seeds, each trained on its own loss, their probabilities averaged (one bundle);
    # the members take their presets' dropout 0.5 (tempcnn, ltae)
    "ensemble": {
        **season_preset("ensemble"),
        "model": {"name": "ensemble", "params": {"member_params": {"dropout": 0.5}}},
    },
    "ensemble-sequence": {
        **sequence_preset("ensemble-sequence"),
        "model": {"name": "ensemble-sequence", "params": {"member_params": {"dropout": 0.5}}},
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
    *,
    preset: str | Mapping[str, Any] | None = None,
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Resolve preset → YAML file → dotted overrides (``optimizer.lr=0.01``) into a validated `TrainConfig`.

    Each later source overrides the earlier ones key by key; anything not given keeps its default. A key the
    YAML file or an override sets leaves the preset's ``adapt`` list: the user's value is never adapted.

    Args:
        preset: a name of `TRAIN_PRESETS`, nested options (`model_preset`), or None.
        path: a YAML file of options (nested or dotted keys), or None.
        overrides: dotted keys and their values, applied last.

    Returns:
        The validated config.

    Raises:
        InputError: an unknown preset, an unknown key or a wrong type (naming the key), or an unreadable
            YAML file.
    """
    values: dict[str, Any] = {}
    if isinstance(preset, str):
        if preset not in TRAIN_PRESETS:
            raise InputError(f"unknown training preset {preset!r}: choose one of {', '.join(TRAIN_PRESETS)}")
        preset = TRAIN_PRESETS[preset]
    for key, value in dotted_options(preset or {}).items():
        _set_dotted(values, key, value)
    explicit: dict[str, Any] = dotted_options(load_yaml(Path(path))) if path is not None else {}
    explicit.update(overrides or {})
    for key, value in explicit.items():
        _set_dotted(values, key, value)
    if "adapt" not in explicit and isinstance(values.get("adapt"), list | tuple):
        values["adapt"] = [key for key in values["adapt"] if not _is_set(key, explicit)]
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InputError(f"invalid training option {where}: {first['msg']}") from None


def _is_set(key: str, explicit: Mapping[str, Any]) -> bool:
    """Whether dotted ``key`` (or a group above it, ``adapter`` for ``adapter.max_obs``) is among ``explicit``."""
    parts = key.split(".")
    return any(".".join(parts[:n]) in explicit for n in range(1, len(parts) + 1))


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
