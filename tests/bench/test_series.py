"""`inseason bench series`: a memory-capped grouping gives the same series table as an uncapped one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inseason.bench.series import bench_series
from inseason.cli import app
from inseason.errors import InputError
from tests.cli.helpers import run_cli
from tests.engines.processes import alive, poll

ROOT = Path(__file__).resolve().parents[2]

# a benchmark process whose child (the way bench series runs make_series) writes its pid, then sleeps
PARENT = textwrap.dedent("""
    import sys
    import time

    from inseason.bench.series import python_child

    CHILD = "import os, pathlib, sys, time; pathlib.Path(sys.argv[2], str(os.getpid())).touch(); time.sleep(600)"
    python_child(CHILD, sys.argv[1])
""")


def test_capped_and_uncapped_series_are_identical() -> None:
    result = bench_series(points=3000, dates=12, memory_limit="16MB", quiet=True)
    assert result["identical"] is True
    assert result["capped"]["series"] == result["uncapped"]["series"] == 3000
    assert 0.7 * 3000 * 12 < result["observations"] < 0.9 * 3000 * 12
    assert result["observations_on_disk_mb"] > 0 and result["baseline_rss_mb"] > 0


def test_cli_prints_one_json_object() -> None:
    result = CliRunner().invoke(app, ["bench", "series", "--points", "500", "--dates", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["identical"] is True and doc["points"] == 500 and "working_memory_over_data" in doc


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory_limit": "lots"}, "--memory-limit must be a size like 4GB (got 'lots')"),
        ({"memory_limit": "1GB'; SELECT 1"}, "--memory-limit must be a size like 4GB"),
        ({"points": 0}, "bench series needs --points and --dates of at least 1 (got 0 and 50)"),
        ({"dates": -1}, "bench series needs --points and --dates of at least 1 (got 200000 and -1)"),
    ],
)
def test_bad_options_are_refused_before_any_work(options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as refused:
        bench_series(quiet=True, **options)  # type: ignore[arg-type]
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_cli_bad_memory_limit_is_one_error_line() -> None:
    result = run_cli("bench", "series", "--memory-limit", "lots")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == "error: --memory-limit must be a size like 4GB (got 'lots')"


def test_the_child_process_dies_with_a_killed_benchmark(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        assert poll(lambda: any(tmp_path.iterdir()) or parent.poll() is not None, seconds=120)
        assert parent.poll() is None, parent.stderr.read() if parent.stderr else ""
        child = int(next(tmp_path.iterdir()).name)
        os.kill(parent.pid, signal.SIGKILL)
        assert parent.wait(timeout=60) == -signal.SIGKILL
        gone = poll(lambda: not alive(child), seconds=5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stderr:
            parent.stderr.close()
    if not gone:
        os.kill(child, signal.SIGKILL)
    assert gone
