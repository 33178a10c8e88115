"""Engines schedule pure per-unit functions (a scene, a partition, a map block); they compute nothing."""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from inseason.errors import InputError

#: The engines a stage can run on.
ENGINES = ("local", "spark")


def check_engine(engine: str) -> None:
    """Refuse an unknown engine, or Spark without PySpark, before a stage writes anything.

    Stages call this first, so a run that cannot start leaves no settings file or folder behind.

    Args:
        engine: the engine asked for (``--engine``).

    Raises:
        InputError: ``engine`` is not one of `ENGINES`, or it is ``"spark"`` and PySpark cannot be imported
            (the message names ``pip install 'inseason[spark]'``).
    """
    if engine not in ENGINES:
        raise InputError(f"engine {engine!r} is unknown: use {' or '.join(ENGINES)}")
    if engine == "spark":
        importlib.import_module("inseason.engines.spark")  # raises the one-line InputError without PySpark


def _known_engine(value: Any) -> Any:
    """Refuse an unknown engine with `check_engine`'s message (before pydantic's own for the literal)."""
    if value not in ENGINES:
        check_engine(value)
    return value


#: The ``engine`` field of a stage's request: one of `ENGINES`, an unknown one refused with `check_engine`'s message.
EngineName = Annotated[Literal["local", "spark"], BeforeValidator(_known_engine)]
