"""The local engine's workers die with their parent: real processes killed with SIGKILL or SIGTERM.

A parent process runs `run_local` with two workers on units that hold their worker until the test creates a
release file, then write a marker. Once both workers are up the parent is killed; only then is the release
file created, so a worker that outlived its parent would write a marker. Every worker must be gone within a
few seconds (a bound on liveness, not a speed measurement).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from inseason.engines.local import run_local, sigterm_as_exit
from tests.engines.processes import alive, poll
from tests.engines.toy_units import hold_until_released

ROOT = Path(__file__).resolve().parents[2]

POOL_PARENT = textwrap.dedent("""
    import sys

    from inseason.engines.local import run_local
    from tests.engines.toy_units import hold_until_released

    if __name__ == "__main__":
        folder = sys.argv[1]
        for _ in run_local(hold_until_released, [(folder, k) for k in range(1, 21)], workers=2):
            pass
""")

WATCHED_PARENT = textwrap.dedent("""
    import multiprocessing
    import os
    import sys
    import time

    from tests.engines.toy_units import watched_child

    if __name__ == "__main__":
        child = multiprocessing.get_context("spawn").Process(target=watched_child, args=(os.getpid(), sys.argv[1]))
        child.start()
        while True:
            time.sleep(1)
""")


def folders(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "pids").mkdir()
    (tmp_path / "markers").mkdir()
    return tmp_path / "pids", tmp_path / "markers"


def kill_parent_once_up(script: str, tmp_path: Path, sig: signal.Signals, *, children: int) -> tuple[int, list[int]]:
    """Run ``script`` on ``tmp_path``, wait for ``children`` pid files, send ``sig``; exit status and child pids."""
    pids, _ = folders(tmp_path)
    with open(tmp_path / "stderr.txt", "wb") as err:
        parent = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        up = poll(lambda: len(list(pids.iterdir())) >= children or parent.poll() is not None, seconds=120)
        assert up and parent.poll() is None, (tmp_path / "stderr.txt").read_text()
        workers = sorted(int(p.name) for p in pids.iterdir())
        assert len(workers) == children and parent.pid not in workers
        os.kill(parent.pid, sig)
        status = parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    (tmp_path / "release").touch()  # a worker still running would now write its marker
    return status, workers


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_pool_workers_die_with_their_parent_and_write_nothing_after(tmp_path: Path, sig: signal.Signals) -> None:
    status, workers = kill_parent_once_up(POOL_PARENT, tmp_path, sig, children=2)
    try:
        gone = poll(lambda: not any(alive(pid) for pid in workers), seconds=5)
        survivors = [pid for pid in workers if alive(pid)]
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert gone and survivors == []
    assert sorted(p.name for p in (tmp_path / "markers").iterdir()) == []
    if sig == signal.SIGKILL:
        assert status == -signal.SIGKILL
    else:  # SIGTERM became a clean exit: status 128 + 15, and no traceback
        assert status == 128 + signal.SIGTERM
        assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


def test_the_watch_thread_alone_ends_a_worker_whose_parent_is_gone(tmp_path: Path) -> None:
    # on other systems than Linux (no parent-death signal) the watch thread is all there is
    status, children = kill_parent_once_up(WATCHED_PARENT, tmp_path, signal.SIGKILL, children=1)
    try:
        gone = poll(lambda: not alive(children[0]), seconds=5)
    finally:
        if alive(children[0]):
            os.kill(children[0], signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert gone


def test_a_pool_left_early_ends_its_running_workers_without_waiting(tmp_path: Path) -> None:
    pids, markers = folders(tmp_path)
    # were the running units waited for, this timer would release them after a minute and they would write markers
    timer = threading.Timer(60, (tmp_path / "release").touch)
    timer.start()
    try:
        results = run_local(hold_until_released, [(str(tmp_path), k) for k in range(6)], workers=2)
        first = next(results)  # unit 0 returns at once; units 1 and up hold their workers
        assert poll(lambda: len(list(pids.iterdir())) == 2, seconds=120)
        workers = sorted(int(p.name) for p in pids.iterdir())
        results.close()
    finally:
        timer.cancel()
    assert first == ((str(tmp_path), 0), 0)
    assert [pid for pid in workers if alive(pid)] == []
    assert sorted(p.name for p in markers.iterdir()) == ["0"]


def test_sigterm_becomes_an_exit_only_while_a_pool_runs() -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert before == signal.SIG_DFL
    with sigterm_as_exit():
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with pytest.raises(SystemExit) as exited:
            handler(signal.SIGTERM, None)
        assert exited.value.code == 143
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert sorted(k for _, k in run_local(abs, [-2, 1], workers=2)) == [1, 2]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_sigterm_handler_set_by_the_application_is_left_alone() -> None:
    def mine(signum: int, frame: object) -> None:
        """The application's own handler."""

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_as_exit():
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
