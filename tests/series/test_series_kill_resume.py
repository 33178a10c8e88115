"""Kill-and-resume of ``series``: a real SIGKILL at several moments, then a rerun equal to an uninterrupted run.

The child process announces each moment on stdout and waits there (it reads a line from stdin), so the test kills
it at exactly that moment, with no timing involved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from inseason.series.build import make_series

CHILD = """
import sys
from contextlib import contextmanager

import pyarrow.parquet as pq

from inseason.series import build

observations, points, out, moment = sys.argv[1:5]


def pause(name):
    if name == moment:
        print(name, flush=True)
        sys.stdin.readline()  # the test kills the process here


real_batches = build._batches


def batches(*args, **kwargs):
    pause("query")  # the lock is held; DuckDB has its settings and is about to sort
    for n, rows in enumerate(real_batches(*args, **kwargs)):
        if n == 3:
            pause("streaming")  # row groups are in the temporary table, more to come
        yield rows


real_atomic_path = build.atomic_path


@contextmanager
def atomic_path(path, **kwargs):
    with real_atomic_path(path, **kwargs) as tmp:
        yield tmp
        pause("publish")  # the whole table is in the temporary, not yet renamed onto the target


build._batches = batches
build.atomic_path = atomic_path
build.make_series(observations, points=points, out=out, batch_rows=200, memory_limit="64MB", threads=1, quiet=True)
print("done", flush=True)
"""


def _kill_at(moment: str, tiny_observations: Any, out: Path) -> None:
    """Run ``series`` in a child process, SIGKILL it at ``moment`` and reap it."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tiny_observations.observations),
            str(tiny_observations.points),
            str(out),
            moment,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == moment
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("moment", ["query", "streaming", "publish"])
def test_series_killed_at_a_moment_resumes_to_the_uninterrupted_table(
    tiny_observations: Any, tiny_series: Path, tmp_path: Path, moment: str
) -> None:
    out = tmp_path / "series.parquet"
    (tmp_path / "notes.txt").write_text("the user's file")
    _kill_at(moment, tiny_observations, out)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not out.exists()
    assert ".series.parquet.inseason.lock" in left  # the killed run held the table
    if moment != "query":
        assert any(name.startswith(".series.parquet.tmp-") for name in left)  # and had begun writing it

    summary = make_series(tiny_observations.observations, points=tiny_observations.points, out=out, quiet=True)
    assert summary.series == 124
    assert pq.read_table(out).equals(pq.read_table(tiny_series))
    assert pq.read_table(out).schema.metadata == pq.read_table(tiny_series).schema.metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "series.parquet"]  # no tmp, spill or lock


def test_a_killed_rerun_leaves_the_published_table_whole(
    tiny_observations: Any, tiny_series: Path, tmp_path: Path
) -> None:
    out = tmp_path / "series.parquet"
    make_series(tiny_observations.observations, points=tiny_observations.points, out=out, quiet=True)
    _kill_at("streaming", tiny_observations, out)  # a second run killed mid-way leaves the first table whole
    assert pq.read_table(out).equals(pq.read_table(tiny_series))
