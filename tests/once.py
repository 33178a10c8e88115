"""Read-only fixture folders built once per test run, whether pytest runs in one process or in several.

`make test` runs the suite on every core with pytest-xdist; each worker is its own process and computes its
own session fixtures. A fixture whose files take minutes to make (a synthetic world, an extraction) builds
them here instead: the first worker to ask builds the folder under a file lock in the run's shared temporary
folder, the others wait for it and reuse it. Only folders that every test treats as read-only may be shared.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

_BUILT = ".built"


def build_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder ``name`` after ``build(folder)`` has filled it, built once for the whole run.

    Without xdist this is ``factory.mktemp(name)`` filled by ``build``. Under xdist the folder lives beside
    the workers' own temporary folders (``getbasetemp().parent``), and a marker file written after ``build``
    returns tells later workers that it is complete; a folder left half-built by a worker that failed is
    removed and built again.

    Args:
        factory: pytest's session-scoped ``tmp_path_factory``.
        name: The folder's name, unique among the run's shared folders.
        build: Fills the (empty, existing) folder; its return value is ignored.

    Returns:
        The filled folder.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = factory.mktemp(name)
        build(folder)
        return folder
    folder = factory.getbasetemp().parent / "shared" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / _BUILT).exists():
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        build(folder)
        (folder / _BUILT).touch()
    return folder
