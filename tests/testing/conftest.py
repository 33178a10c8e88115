"""Fixtures of the loopback-server tests.

The server fixtures come from ``inseason.testing.pytest_plugin``, enabled in the top-level conftest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Every server a test starts is stopped, with its threads, by the end of the test."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before, "threads left running"
