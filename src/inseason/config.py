"""Pydantic models for the configuration of every stage, with presets.

Each stage's options are one model; the CLI builds it from flags (or a YAML file) and writes the resolved
model next to the stage's outputs so a run can be repeated exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from inseason import storage
from inseason.errors import InputError
from inseason.season import parse_month_day

WorldSize = Literal["tiny", "small", "demo", "large"]


def _season_start(value: str) -> str:
    """Refuse a season start that is not a month-day of every year (`inseason.season.parse_month_day`)."""
    parse_month_day(value, what="season start")
    return value


#: The month-day the seasons start (``MM-DD``): every request with a ``season_start`` field uses this type, so
#: ``00-00`` is refused alike in every verb, whatever else the verb reads.
SeasonStart = Annotated[str, AfterValidator(_season_start)]


def check_workers(workers: int | None) -> int | None:
    """Refuse a count of worker processes (or threads) below one; None asks for the stage's default.

    The one check of ``--workers``: the requests (through :data:`Workers`), the CLI's shared option and the
    benchmarks call it, so every verb refuses ``0`` with the same line.

    Args:
        workers: the ``--workers`` asked for.

    Returns:
        ``workers``, unchanged.

    Raises:
        InputError: ``workers`` is below 1.
    """
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: give at least 1 worker process (or leave it out for the default)")
    return workers


#: Worker processes of a stage: at least one, or None for the stage's default (the usable cores). Every
#: request with a ``workers`` field uses this type, so every verb refuses ``--workers 0`` alike.
Workers = Annotated[int | None, AfterValidator(check_workers)]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are an error, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


class StageRequest(StrictModel):
    """Base of every stage's request: what one verb is asked to do, built alike by the CLI and the Python API.

    Checks of the options alone live in the request's validators and raise `InputError` with the message the
    user sees (pydantic lets `InputError` through unchanged); checks that read files stay in the stage.
    """

    @classmethod
    def of(cls, **values: Any) -> Self:
        """Build the request, turning a pydantic type or range error into one `InputError` line.

        Args:
            **values: the request's fields.

        Returns:
            The validated request.

        Raises:
            InputError: a value has the wrong type or is out of range (the message names the option), or a
                validator of the request refused the combination.
        """
        return validated(cls, **values)


class SynthConfig(StrictModel):
    """Parameters of a synthetic world (DESIGN §5); a named size fills them, flags override them."""

    size: WorldSize = "tiny"
    seed: int = Field(1, ge=0, le=2**31 - 1)
    years: tuple[int, ...] = Field(..., min_length=1, max_length=10)
    tiles_x: int = Field(..., ge=1, le=4, description="tiles along x (east)")
    tiles_y: int = Field(..., ge=1, le=4, description="tiles along y (south)")
    tile_m: int = Field(..., ge=1200, le=109_800, description="tile side in metres, multiple of 60")
    overlap_m: int = Field(..., ge=0, description="overlap between neighbouring tiles in metres")
    season: tuple[str, str] = Field(..., description="first and last acquisition day of each year, MM-DD")
    revisit_days: int = Field(5, ge=1, le=30, description="revisit of one relative orbit with two satellites")
    cloudiness: float = Field(0.35, ge=0.0, le=0.9, description="mean cloud fraction of a scene")
    label_noise: float = Field(0.03, ge=0.0, le=0.3, description="fraction of CDL crop pixels mislabelled")
    field_scale: float = Field(1.0, gt=0.1, le=4.0, description="multiplier of field sizes")
    block_size: int = Field(256, description="COG block size in pixels")
    across_zones: bool = Field(False, description="tiles from UTM zones 15 and 16, astride their boundary at 90° W")

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        if self.tile_m % 60:
            raise ValueError(f"tile_m={self.tile_m} must be a multiple of 60 m (the 60 m bands' pixel)")
        if self.overlap_m % 60 or self.overlap_m >= self.tile_m // 2:
            raise ValueError(f"overlap_m={self.overlap_m} must be a multiple of 60 and under half a tile")
        if any(y < 2017 or y > 2030 for y in self.years) or len(set(self.years)) != len(self.years):
            raise ValueError(f"years {list(self.years)} must be distinct and within 2017-2030 (Sentinel-2 L2A era)")
        for day in self.season:
            try:
                parse_month_day(day, what="season day")
            except InputError as exc:
                raise ValueError(str(exc)) from None
        if self.block_size not in (128, 256, 512, 1024):
            raise ValueError(f"block_size={self.block_size} must be 128, 256, 512 or 1024")
        return self


_Model = TypeVar("_Model", bound=StrictModel)

SYNTH_SIZES: dict[str, dict[str, Any]] = {
    # tiny and small use scaled-down tiles so unit tests take seconds; demo and large use the
    # 10 980 m MGRS-like grid of DESIGN §5.
    "tiny": dict(
        years=(2021, 2022),
        tiles_x=1,
        tiles_y=1,
        tile_m=2400,
        overlap_m=0,
        season=("03-01", "10-31"),
        field_scale=0.5,
        block_size=128,
    ),
    "small": dict(
        years=(2021, 2022),
        tiles_x=2,
        tiles_y=1,
        tile_m=4800,
        overlap_m=480,
        season=("02-01", "11-30"),
        field_scale=0.8,
        block_size=128,
    ),
    "demo": dict(
        years=(2020, 2021, 2022),
        tiles_x=1,
        tiles_y=1,
        tile_m=10980,
        overlap_m=0,
        season=("02-01", "11-30"),
        block_size=256,
    ),
    "large": dict(
        years=(2019, 2020, 2021, 2022, 2023),
        tiles_x=2,
        tiles_y=2,
        tile_m=10980,
        overlap_m=960,
        season=("01-01", "12-31"),
        block_size=256,
    ),
}


def synth_config(size: str = "tiny", **overrides: Any) -> SynthConfig:
    """Resolve a named world size plus overrides into a validated config.

    Args:
        size: the named world size (tiny, small, demo, large) whose values come first.
        **overrides: `SynthConfig` fields that replace the size's (``None`` values are ignored).

    Returns:
        The validated config.

    Raises:
        InputError: an unknown size, or an override of the wrong type or out of range.
    """
    if size not in SYNTH_SIZES:
        raise InputError(f"unknown world size {size!r}: choose one of {', '.join(SYNTH_SIZES)}")
    values = {**SYNTH_SIZES[size], **{k: v for k, v in overrides.items() if v is not None}}
    return validated(SynthConfig, size=size, **values)


def validated(model: type[_Model], **values: Any) -> _Model:
    """Build ``model`` from values, turning a pydantic error into one line naming the bad key.

    Args:
        model: the config model to build.
        **values: its fields.

    Returns:
        The validated model.

    Raises:
        InputError: a value has the wrong type or is out of range (the message names the first such key).
    """
    try:
        return model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or model.__name__
        given = first.get("input")
        got = ""
        if first["loc"] and first["type"] not in ("missing", "extra_forbidden") and _scalar(given):
            got = f" (got {given!r})"
        raise InputError(f"invalid {model.__name__} option {where}: {first['msg']}{got}") from None


def _scalar(value: Any) -> bool:
    """Whether a value is short enough to repeat in a one-line message."""
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 60


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping of options, with a clear error for a missing or malformed file.

    Args:
        path: the YAML file.

    Returns:
        The mapping of option: value.

    Raises:
        InputError: the file does not exist, is not valid YAML, or does not hold a mapping.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(
            f"config file {path} is not YAML text (not UTF-8): give a YAML file of option: value"
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"config file {path} is not valid YAML ({_yaml_problem(exc)}): fix it and run again") from None
    if not isinstance(data, dict):
        raise InputError(f"config file {path} must hold a mapping of option: value")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where (line and column, counted from 1)."""
    problem = getattr(error, "problem", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def dump_yaml(model: BaseModel, path: Path) -> None:
    """Write the resolved config next to an output (atomically), so a run can be repeated exactly.

    Args:
        model: the resolved config.
        path: the YAML file to write.
    """
    with storage.atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))
