"""Search spaces of ``inseason tune``: dotted `TrainConfig` keys → Optuna distributions.

A model's default space comes from its registry entry (`inseason.models.model_info`) and the training
config it is tuned from: the step size and weight decay of the optimizer, the widths, depths, kernel sizes
and dropout of a network (judged by the names of its hyper-parameters), the bucketed adapter's bucket size
(and its window when the window ends on the as-of day) or the sequence adapter's length, the augmentation
strengths; a classical model's own options (trees, depth, leaf size, learning rate of boosting) instead of
the optimizer's. A YAML file (``--space``) adds keys or replaces their distributions, and ``KEY: null`` takes
a key out of the space (it keeps the config's value).

A distribution in YAML is ``{low: 1e-4, high: 1e-2, log: true}`` (a float range; integers when both ends
are integers, or ``type: int``; ``step`` for a grid) or ``{choices: [32, 64, 128]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from inseason.config import load_yaml
from inseason.errors import InputError
from inseason.models import create_model, model_info
from inseason.train.config import TrainConfig, dotted_options, train_config

#: A search space: dotted `TrainConfig` key → the distribution its value is drawn from.
SearchSpace = dict[str, BaseDistribution]

#: Hyper-parameter names read as a network's width (searched over half, the same and twice the default).
_WIDTHS = frozenset(
    {
        "filters",
        "hidden",
        "d_model",
        "encoder_hidden",
        "in_channels",
        "d_feedforward",
        "day_channels",
        "channels",
        "bottleneck",
        "features",
    }
)
#: Hyper-parameter names read as a depth (searched from 1 to one more than the default).
_DEPTHS = frozenset({"n_layers", "depth", "n_blocks", "n_modules"})
#: Options of the network training loop a classical model ignores.
_NETWORK_ONLY = ("optimizer.", "schedule.", "epochs", "patience", "monitor", "checkpoint_every_n_steps")
#: Options of each adapter kind (an adapter key of the other kind has no effect on the model).
_ADAPTER_KEYS = {
    "bucketed": {"adapter.window_days", "adapter.bucket_days", "adapter.anchor"},
    "sequence": {"adapter.max_obs"},
}
_SPEC_KEYS = frozenset({"type", "low", "high", "log", "step", "choices"})


def default_space(config: TrainConfig) -> SearchSpace:
    """The default search space of ``config``'s model, around the values ``config`` holds.

    Args:
        config: the training config the trials start from (its model, adapter and the model's options).

    Returns:
        Dotted key → distribution.

    Raises:
        InputError: the config's model is not registered.
    """
    info = model_info(config.model.name)
    space: SearchSpace = {}
    if info.neural:
        space["optimizer.lr"] = FloatDistribution(1e-4, 1e-2, log=True)
        space["optimizer.weight_decay"] = FloatDistribution(1e-6, 1e-2, log=True)
        space["augment.obs_dropout"] = FloatDistribution(0.0, 0.3)
        space["augment.band_noise"] = FloatDistribution(0.0, 0.05)
    adapter = config.adapter
    if adapter.kind == "bucketed":
        space["adapter.bucket_days"] = CategoricalDistribution(sorted({5, 10, 15, adapter.bucket_days}))
        if adapter.anchor == "as_of":
            space["adapter.window_days"] = IntDistribution(60, 240, step=30)
    else:
        space["adapter.max_obs"] = CategoricalDistribution(sorted({32, 64, 96, adapter.max_obs}))
    params = {**info.defaults, **config.model.params}
    tied = {v for value in params.values() if isinstance(value, list | tuple) for v in value}
    for name, value in params.items():
        if name in _WIDTHS and value in tied:  # a width another option repeats (L-TAE's mlp starts with d_model)
            continue
        distribution = _accepted(f"model.params.{name}", _param_distribution(name, value, neural=info.neural), config)
        if distribution is not None:
            space[f"model.params.{name}"] = distribution
    return space


def _accepted(key: str, distribution: BaseDistribution | None, config: TrainConfig) -> BaseDistribution | None:
    """A default distribution narrowed to the choices the model accepts (None: its ends are refused)."""
    if distribution is None:
        return None
    if isinstance(distribution, CategoricalDistribution):
        choices = [c for c in distribution.choices if _refusal(key, c, config) is None]
        return CategoricalDistribution(choices) if len(choices) > 1 else None
    if any(_refusal(key, end, config) is not None for end in _ends(distribution)):
        return None
    return distribution


def _param_distribution(name: str, value: Any, *, neural: bool) -> BaseDistribution | None:
    """The default distribution of one model hyper-parameter (None: not searched), judged by its name."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if name == "dropout" and isinstance(value, float):
        return FloatDistribution(0.0, 0.5)
    if neural and is_int and name in _WIDTHS and value >= 2:
        return CategoricalDistribution([value // 2, value, value * 2])
    if neural and is_int and name in _DEPTHS:
        return IntDistribution(1, value + 1)
    if neural and is_int and name == "kernel_size":
        return CategoricalDistribution(sorted({3, 5, 7, value}) if value <= 9 else [value // 2, value, value * 2])
    if neural:
        return None
    if name in ("n_estimators", "max_iter"):
        return IntDistribution(50, 500, log=True)
    if name == "max_depth":
        return CategoricalDistribution([None, 10, 20, 40])
    if name == "min_samples_leaf":
        return IntDistribution(1, 50, log=True)
    if name == "max_features" and isinstance(value, str):
        return CategoricalDistribution(["sqrt", "log2"])
    if name == "learning_rate":
        return FloatDistribution(0.02, 0.3, log=True)
    if name == "max_leaf_nodes":
        return IntDistribution(8, 128, log=True)
    if name == "l2_regularization":
        return FloatDistribution(0.0, 1.0)
    return None


def load_space(path: str | Path) -> dict[str, Any]:
    """Read a search-space YAML file: dotted key → distribution (or null to take the key out).

    Args:
        path: the YAML file.

    Returns:
        Its mapping, as written (checked by `search_space`).

    Raises:
        InputError: the file does not exist, is not YAML or does not hold a mapping.
    """
    return load_yaml(Path(path))


def search_space(config: TrainConfig, overrides: Mapping[str, Any] | None = None) -> SearchSpace:
    """The search space of ``config``: its model's default space with ``overrides`` applied, checked.

    Every key must be an option of `TrainConfig` that the config's model takes (a hyper-parameter of its
    own, an option of its adapter kind, an option of the training loop for networks), and the ends and
    choices of its distribution must be values the option and the model accept.

    Args:
        config: the training config the trials start from.
        overrides: dotted key → distribution spec (see the module's doc) or None to take the key out.

    Returns:
        Dotted key → distribution.

    Raises:
        InputError: a key the model does not take, or a distribution spec that is malformed or holds a
            value the option refuses (named).
    """
    space = default_space(config)
    for key, spec in (overrides or {}).items():
        key = str(key)
        _check_key(key, config)
        if spec is None:
            space.pop(key, None)
            continue
        space[key] = _distribution(key, spec)
    for key, distribution in space.items():
        _check_values(key, distribution, config)
    return space


def _check_key(key: str, config: TrainConfig) -> None:
    """Refuse a search-space key the config's model does not take, naming it."""
    name = config.model.name
    info = model_info(name)
    where = f"search space key {key!r}"
    if key.startswith("model.params."):
        param = key.removeprefix("model.params.")
        if param not in info.defaults:
            options = ", ".join(sorted(info.defaults)) or "none"
            raise InputError(f"{where}: model {name!r} has no option {param!r} (its options: {options})")
        return
    known = set(dotted_options(TrainConfig().model_dump(mode="json")))
    if key not in known or key in ("model.name", "model.params", "adapter.kind"):
        raise InputError(
            f"{where} is not a training option that can be tuned: use dotted keys of the training config "
            "such as optimizer.lr or model.params.dropout"
        )
    for kind, keys in _ADAPTER_KEYS.items():
        if key in keys and kind != config.adapter.kind:
            raise InputError(f"{where}: model {name!r} uses the {config.adapter.kind} adapter, which has no {key}")
    if not info.neural and key.startswith(_NETWORK_ONLY):
        raise InputError(f"{where}: model {name!r} is a classical model, which does not take {key}")


def _distribution(key: str, spec: Any) -> BaseDistribution:
    """The distribution of a YAML spec, refusing a malformed one with a line naming its key."""
    where = f"search space key {key!r}"
    example = "{low: 0.0001, high: 0.01, log: true} or {choices: [32, 64]}"
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: give a distribution such as {example} (got {spec!r})")
    unknown = sorted(set(map(str, spec)) - _SPEC_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(sorted(_SPEC_KEYS))})")
    kind = spec.get("type")
    if "choices" in spec:
        choices = spec["choices"]
        if kind not in (None, "categorical") or not isinstance(choices, list) or not choices:
            raise InputError(f"{where}: choices must be a non-empty list (without low/high)")
        if any(c is not None and not isinstance(c, bool | int | float | str) for c in choices):
            raise InputError(f"{where}: each choice must be a number, text, true/false or null")
        return CategoricalDistribution(choices)
    if "low" not in spec or "high" not in spec:
        raise InputError(f"{where}: give both low and high, or choices (e.g. {example})")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    numbers = (low, high) if step is None else (low, high, step)
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers) or not isinstance(log, bool):
        raise InputError(f"{where}: low, high and step must be numbers and log true or false")
    if kind is None:
        kind = "int" if all(isinstance(v, int) for v in numbers) else "float"
    if kind not in ("int", "float"):
        raise InputError(f"{where}: type must be int, float or categorical (got {kind!r})")
    if low > high:
        raise InputError(f"{where}: low {low} is above high {high}")
    if log and (low <= 0 or step is not None):
        raise InputError(f"{where}: a log range needs low above 0 and no step")
    if step is not None and step <= 0:
        raise InputError(f"{where}: step must be above 0")
    if kind == "int":
        if any(float(v) != int(v) for v in numbers):
            raise InputError(f"{where}: an int range takes integer low, high and step")
        return IntDistribution(int(low), int(high), log=log, step=1 if step is None else int(step))
    return FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))


def _ends(distribution: BaseDistribution) -> list[Any]:
    """The values that bound a distribution: its choices, or its low and high."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, FloatDistribution | IntDistribution):
        return [distribution.low, distribution.high]
    raise TypeError(f"unsupported distribution {distribution!r}")


def _refusal(key: str, value: Any, config: TrainConfig) -> InputError | None:
    """Why ``config`` with ``key`` set to ``value`` is refused by the config or the model (None: accepted)."""
    try:
        trial_config = train_config(overrides={**dotted_options(config.model_dump(mode="json")), key: value})
        if key.startswith("model.params."):
            create_model(
                trial_config.model.name,
                n_bands=2,
                n_steps=trial_config.adapter.n_steps,
                n_classes=2,
                **trial_config.model.params,
            )
    except InputError as error:
        return error
    return None


def _check_values(key: str, distribution: BaseDistribution, config: TrainConfig) -> None:
    """Refuse a distribution whose ends or choices the option or the model refuses, naming the key."""
    for value in _ends(distribution):
        error = _refusal(key, value, config)
        if error is not None:
            raise InputError(f"search space key {key!r}: the value {value!r} is refused ({error})")


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Draw a trial's values of every key of ``space``.

    Args:
        trial: the Optuna trial.
        space: the search space.

    Returns:
        Dotted key → value, the overrides of the trial's config.
    """
    values: dict[str, Any] = {}
    for key, distribution in space.items():
        if isinstance(distribution, CategoricalDistribution):
            values[key] = trial.suggest_categorical(key, distribution.choices)
        elif isinstance(distribution, IntDistribution):
            values[key] = trial.suggest_int(
                key, distribution.low, distribution.high, step=distribution.step, log=distribution.log
            )
        elif isinstance(distribution, FloatDistribution):
            values[key] = trial.suggest_float(
                key, distribution.low, distribution.high, step=distribution.step, log=distribution.log
            )
    return values


def describe(distribution: BaseDistribution) -> str:
    """A distribution in a few words, for the summary: ``1e-04 .. 0.01 (log)`` or ``one of 32, 64, 128``.

    Args:
        distribution: an Optuna distribution.

    Returns:
        The description.
    """
    if isinstance(distribution, CategoricalDistribution):
        return "one of " + ", ".join(str(c) for c in distribution.choices)
    if isinstance(distribution, FloatDistribution | IntDistribution):
        text = f"{distribution.low:g} .. {distribution.high:g}"
        if distribution.log:
            text += " (log)"
        if distribution.step not in (None, 1):
            text += f" step {distribution.step:g}"
        return text
    return repr(distribution)
