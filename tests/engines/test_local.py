"""The local engine's worker processes print warnings and log records as one ``warning:`` line each."""

from __future__ import annotations

import pytest

from inseason.engines.local import run_local
from tests.engines.toy_units import warn_and_log


def test_worker_warnings_are_one_line_each(capfd: pytest.CaptureFixture[str]) -> None:
    done = sorted(result for _, result in run_local(warn_and_log, [1, 2, 3], workers=2))
    assert done == [1, 2, 3]
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert sorted(lines) == sorted(
        [f"warning: unit {k} warns" for k in (1, 2, 3)] + [f"warning: unit {k} logs" for k in (1, 2, 3)]
    )
