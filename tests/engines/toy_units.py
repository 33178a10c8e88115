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


def hold_until_released(unit: tuple[str, int]) -> int:
    """Record this worker's pid in ``folder/pids``, wait for ``folder/release``, then write ``folder/markers/k``.

    Unit 0 skips the wait, so a caller gets one result while the other units hold their workers.
    """
    import os
    import time
    from pathlib import Path

    folder, k = unit
    Path(folder, "pids", str(os.getpid())).touch()
    while k and not Path(folder, "release").exists():
        time.sleep(0.01)
    Path(folder, "markers", str(k)).touch()
    return k


def watched_child(parent: int, folder: str) -> None:
    """A spawned process that relies on the watch thread alone to end with ``parent``: pid file, then wait."""
    import os
    import time
    from pathlib import Path

    from inseason.engines.local import die_with_parent

    die_with_parent(parent, pdeathsig=False)
    Path(folder, "pids", str(os.getpid())).touch()
    while not Path(folder, "release").exists():
        time.sleep(0.01)
    Path(folder, "markers", "watched").touch()
