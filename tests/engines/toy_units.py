"""Toy units of work for the engine tests, in a module of their own so Spark workers can import it."""

from __future__ import annotations

from typing import Any

from inseason.errors import InputError

_OFFSET: list[int] = []


def set_offset(offset: int) -> None:
    """Initializer: the shared state every unit adds."""
    _OFFSET[:] = [offset]


def shifted_square(unit: tuple[str, int]) -> dict[str, Any]:
    """A unit's value squared plus the shared offset; a negative value is a user mistake."""
    name, value = unit
    if value < 0:
        raise InputError(f"unit {name} is negative")
    return {"name": name, "value": value * value + _OFFSET[0]}


def zip_rereads_skipped(unit: int) -> bool:
    """Whether this Python worker re-reads unchanged zip archives no more (see the Spark engine)."""
    import zipimport

    return bool(getattr(zipimport.zipimporter.invalidate_caches, "inseason_lazy", False))


def warn_and_log(unit: int) -> int:
    """A unit that raises a Python warning and logs a warning, as a stage's worker might."""
    import logging
    import warnings

    warnings.warn(f"unit {unit}\n  warns", UserWarning, stacklevel=1)  # folded into one line
    logging.getLogger("inseason.toy").warning("unit %d logs", unit)
    return unit
