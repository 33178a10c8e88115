"""One registry of model architectures: register by name, create by name, rebuild from a recorded spec.

A model class registers itself with ``@register_model("name")``. Its constructor takes the sizes
``n_bands``, ``n_steps`` and ``n_classes`` and keyword-only hyper-parameters with JSON-serialisable
defaults; ``create_model`` records the resolved sizes and hyper-parameters as the model's *spec*, the
JSON object a model bundle stores so that ``model_from_spec`` rebuilds the same architecture later.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Union

import torch

from inseason.errors import InputError

if TYPE_CHECKING:
    from inseason.models.trees import TreeBaseline

#: The input adapters of DESIGN §3 a model can be designed for.
ADAPTERS: tuple[str, ...] = ("bucketed", "sequence")

_SIZES: tuple[str, ...] = ("n_bands", "n_steps", "n_classes")

#: What ``create_model`` returns: a network on ``(values, mask, doy)`` tensors or a tree baseline on arrays.
Model = Union[torch.nn.Module, "TreeBaseline"]

ModelClass = TypeVar("ModelClass", bound="type[torch.nn.Module] | type[TreeBaseline]")


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about an architecture before one is built."""

    name: str
    adapter: str
    neural: bool
    defaults: Mapping[str, Any]
    summary: str
    #: the publication whose network the class reproduces unchanged (its layers and parameter count pinned),
    #: from the class attribute ``reproduces``; None for the project's own designs
    reproduces: str | None = None


_REGISTRY: dict[str, tuple[type[torch.nn.Module] | type[TreeBaseline], ModelInfo]] = {}


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator that registers an architecture under ``name``.

    The class must declare ``adapter`` ("bucketed" or "sequence") and take ``n_bands``, ``n_steps`` and
    ``n_classes`` plus keyword-only hyper-parameters whose defaults are JSON-serialisable. Options the
    generic type and range check (judged by the default) cannot judge, such as a list of member names, are
    named in an optional class attribute ``checks_own_options`` (a frozenset); the class then refuses bad
    values itself with an InputError.

    Args:
        name: The architecture's name in configurations and model specs.

    Returns:
        The decorator; it returns the class unchanged.

    Raises:
        ValueError: The name is taken or the class breaks the rules above (a programming error).
    """

    def register(cls: ModelClass) -> ModelClass:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        adapter = getattr(cls, "adapter", None)
        if adapter not in ADAPTERS:
            raise ValueError(f"{cls.__name__}.adapter must be one of {ADAPTERS}, not {adapter!r}")
        parameters = dict(inspect.signature(cls).parameters)
        missing = [size for size in _SIZES if size not in parameters]
        if missing:
            raise ValueError(f"{cls.__name__} must take {', '.join(missing)}")
        defaults = {key: parameter.default for key, parameter in parameters.items() if key not in _SIZES}
        if any(
            parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.default is inspect.Parameter.empty
            for key, parameter in parameters.items()
            if key not in _SIZES
        ):
            raise ValueError(f"{cls.__name__}: hyper-parameters must be keyword-only with defaults")
        json.dumps(defaults)
        summary = (inspect.getdoc(cls) or "").split("\n", 1)[0]
        _REGISTRY[name] = (
            cls,
            ModelInfo(
                name=name,
                adapter=adapter,
                neural=issubclass(cls, torch.nn.Module),
                defaults=defaults,
                summary=summary,
                reproduces=getattr(cls, "reproduces", None),
            ),
        )
        return cls

    return register


def list_models() -> list[str]:
    """The registered architecture names.

    Returns:
        The names, sorted.
    """
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """The registry entry of an architecture.

    Args:
        name: A registered name.

    Returns:
        Its input adapter, whether it is a neural network, its defaults and summary.

    Raises:
        InputError: The name is not registered.
    """
    return _entry(name)[1]


def create_model(
    name: str, *, n_bands: int, n_steps: int, n_classes: int, seed: int | None = None, **hyper: Any
) -> Model:
    """Build architecture ``name`` for inputs of ``n_steps`` × ``n_bands`` and ``n_classes`` outputs.

    ``hyper`` overrides the architecture's defaults (see :func:`model_info`). ``seed`` makes the result
    reproducible without touching the global random state: it seeds a neural network's weight
    initialisation, and it is a classical baseline's ``seed`` hyper-parameter (recorded in its spec).

    Args:
        name: A registered name.
        n_bands: Input channels C.
        n_steps: Time steps T the model is built for.
        n_classes: Output classes K.
        seed: Seed of the initialisation (networks) or of the fit (tree baselines).
        **hyper: Hyper-parameters overriding the architecture's defaults (JSON values).

    Returns:
        The model, carrying its spec (see :func:`model_spec`).

    Raises:
        InputError: An unknown name or option, a size that is not a positive integer, an option of the wrong
            type or out of range (named), an option that is not a JSON value, or sizes and options the
            architecture cannot take together.
    """
    cls, info = _entry(name)
    for size_name, size in (("n_bands", n_bands), ("n_steps", n_steps), ("n_classes", n_classes)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputError(f"model {name!r}: {size_name} must be a positive integer, not {size!r}")
    unknown = sorted(set(hyper) - set(info.defaults))
    if unknown:
        raise InputError(
            f"model {name!r} has no option {unknown[0]!r}: its options are {', '.join(sorted(info.defaults)) or 'none'}"
        )
    if not info.neural and seed is not None:
        hyper = {**hyper, "seed": seed}
    spec = {"name": name, "n_bands": n_bands, "n_steps": n_steps, "n_classes": n_classes, **info.defaults, **hyper}
    try:
        spec = json.loads(json.dumps(spec))
    except (TypeError, ValueError) as error:
        raise InputError(f"model {name!r}: options must be JSON values (numbers, strings, lists): {error}") from None
    own: frozenset[str] = getattr(cls, "checks_own_options", frozenset())  # judged by the class (ensemble members)
    for key in hyper:
        if key in info.defaults and key not in own:  # (a tree baseline's seed comes from ``seed``)
            _check_option(name, key, spec[key], info.defaults[key])
    options = {key: value for key, value in spec.items() if key != "name"}
    try:
        if info.neural and seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = cls(**options)
        else:
            model = cls(**options)
    except (ValueError, TypeError, RuntimeError, AssertionError) as error:  # options that do not fit together
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"model {name!r} cannot be built with options {hyper}: {reason}") from None
    # An instance attribute, set past torch.nn.Module.__setattr__ (typed for tensors and modules only).
    object.__setattr__(model, "spec", spec)
    return model


#: Integer options that may be 0 (the others are counts or sizes: 1 or more).
_ZERO_OR_MORE = frozenset({"seed"})
#: Float options that may be 0 (the others must be above 0); dropout-like ones lie in [0, 1).
_FLOAT_ZERO_OR_MORE = frozenset({"l2_regularization"})
_FRACTIONS = frozenset({"dropout"})


def _check_option(model: str, key: str, value: Any, default: Any) -> None:
    """Refuse a hyper-parameter of the wrong type or out of range (judged by its default), naming it.

    Raises:
        InputError: ``value`` does not fit option ``key`` of ``model``.
    """
    where = f"model {model!r}: option {key!r} (model.params.{key})"

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, not {value!r}")
    elif is_int(default):
        if key == "n_jobs":
            if not is_int(value) or value == 0:
                raise InputError(f"{where} must be a positive number of processes or -1 (all cores), not {value!r}")
        elif key in _ZERO_OR_MORE:
            if not is_int(value) or value < 0:
                raise InputError(f"{where} must be an integer of 0 or more, not {value!r}")
        elif not is_int(value) or value < 1:
            raise InputError(f"{where} must be a positive integer, not {value!r}")
    elif isinstance(default, float):
        if not (is_int(value) or isinstance(value, float)) or not math.isfinite(value):
            raise InputError(f"{where} must be a number, not {value!r}")
        if key in _FRACTIONS and not 0 <= value < 1:
            raise InputError(f"{where} must be at least 0 and below 1, not {value!r}")
        if key in _FLOAT_ZERO_OR_MORE and value < 0:
            raise InputError(f"{where} must be 0 or more, not {value!r}")
        if key not in _FRACTIONS | _FLOAT_ZERO_OR_MORE and value <= 0:
            raise InputError(f"{where} must be above 0, not {value!r}")
    elif isinstance(default, (tuple, list)):
        if not isinstance(value, (tuple, list)) or not value or not all(is_int(v) and v >= 1 for v in value):
            raise InputError(f"{where} must be a list of positive integers, not {value!r}")
    elif default is None and value is not None and (not is_int(value) or value < 1):
        raise InputError(f"{where} must be a positive integer or null, not {value!r}")


def model_spec(model: Model | str) -> dict[str, Any]:
    """The JSON spec of a model built by :func:`create_model`, or of an architecture name with its defaults.

    Args:
        model: A model built by :func:`create_model`, or a registered name.

    Returns:
        For a built model: ``{"name", "n_bands", "n_steps", "n_classes", **hyper-parameters}``, what a bundle
        records. For a name: ``{"name", **defaults}``, what a configuration starts from.

    Raises:
        InputError: The model was not built by :func:`create_model`, or the name is not registered.
    """
    if isinstance(model, str):
        return {"name": model, **json.loads(json.dumps(dict(model_info(model).defaults)))}
    spec = getattr(model, "spec", None)
    if not isinstance(spec, dict):
        raise InputError(f"{type(model).__name__} was not built by inseason.models.create_model: it has no spec")
    copied: dict[str, Any] = json.loads(json.dumps(spec))
    return copied


def parameter_count(model: Model) -> int:
    """The size of a model: a network's parameters, or the nodes of a fitted tree baseline.

    Args:
        model: A network or a fitted tree baseline.

    Returns:
        The number of parameter values (networks) or tree nodes (tree baselines).

    Raises:
        InputError: The tree baseline is not fitted.
    """
    if isinstance(model, torch.nn.Module):
        return sum(parameter.numel() for parameter in model.parameters())
    return model.node_count


def model_from_spec(spec: Mapping[str, Any]) -> Model:
    """Rebuild the architecture a spec recorded (weights are loaded separately, e.g. from safetensors).

    Args:
        spec: A spec from :func:`model_spec` (e.g. read back from model.json).

    Returns:
        The model, untrained.

    Raises:
        InputError: The spec lacks a size or the name, or :func:`create_model` refuses it.
    """
    missing = [key for key in ("name", *_SIZES) if key not in spec]
    if missing:
        raise InputError(f"model spec lacks {', '.join(missing)}: the model.json is incomplete or not a model spec")
    options = {key: value for key, value in spec.items() if key not in ("name", *_SIZES)}
    return create_model(
        spec["name"], n_bands=spec["n_bands"], n_steps=spec["n_steps"], n_classes=spec["n_classes"], **options
    )


def _entry(name: str) -> tuple[type[torch.nn.Module] | type[TreeBaseline], ModelInfo]:
    """The registered class and info of ``name``, or an InputError listing the names there are."""
    if name not in _REGISTRY:
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(list_models())}")
    return _REGISTRY[name]
