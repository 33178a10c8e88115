"""Shared fixtures: synthetic worlds are built once per test session and reused read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from inseason.synth import synth

pytest_plugins = ["inseason.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tiny`` world (seed 1): one 2.4 km tile, 2021 and 2022. Treat it as read-only."""
    return synth(tmp_path_factory.mktemp("worlds") / "tiny", size="tiny", seed=1, quiet=True).path
