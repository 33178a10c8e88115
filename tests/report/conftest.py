"""Shared inputs of the report tests: one fake evaluation and one fake predict folder with its truth raster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inseason.evaluate import fake_evaluation
from inseason.report.fake import write_fake_maps


@pytest.fixture(scope="session")
def evaluation() -> dict[str, Any]:
    """The fake evaluation (120 test samples, four classes, course protocol, importance)."""
    return fake_evaluation(n_boot=30)


@pytest.fixture(scope="session")
def maps_folder(evaluation: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake ``inseason predict --out`` folder around the evaluation's test points (three as-of dates),
    with ``truth.tif`` (CDL codes, EPSG:5070) beside it."""
    root = tmp_path_factory.mktemp("maps")
    return write_fake_maps(root / "maps", evaluation, truth=root / "truth.tif")
