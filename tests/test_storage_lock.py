"""One writer per output folder: the output lock on disk and on S3, stale locks, and leftover temporaries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inseason import storage
from inseason.errors import OutputError
from inseason.testing.s3 import LoopbackS3

_HOLD = textwrap.dedent(
    """
    import sys, time
    from inseason import storage
    with storage.output_lock(sys.argv[1], verb="extract"):
        print("held", flush=True)
        time.sleep(60)
    """
)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _holder(pid: int, *, host: str | None = None, token: str = "t") -> dict[str, object]:
    return {
        "verb": "series",
        "pid": pid,
        "host": host or socket.gethostname(),
        "started": "2026-12-03T10:00:00+00:00",
        "token": token,
    }


@pytest.fixture
def other_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A live process of another run holding ``tmp_path / 'out'``."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield out, process
    process.kill()
    process.wait()
    process.stdout.close()


def test_a_second_run_into_a_held_folder_fails_naming_the_holder(other_run) -> None:  # type: ignore[no-untyped-def]
    out, process = other_run
    before = (out / storage.LOCK_NAME).read_bytes()
    with (
        pytest.raises(OutputError, match=rf"is being written by another run \(inseason extract, pid {process.pid} on "),
        storage.output_lock(out, verb="series"),
    ):
        pytest.fail("the block of a refused lock must not run")
    assert (out / storage.LOCK_NAME).read_bytes() == before  # the holder's lock is untouched


def test_the_lock_is_released_and_a_killed_holder_is_taken_over(other_run) -> None:  # type: ignore[no-untyped-def]
    out, process = other_run
    process.kill()
    process.wait()
    assert json.loads((out / storage.LOCK_NAME).read_text())["pid"] == process.pid  # left behind by the kill
    with storage.output_lock(out, verb="series"):
        held = json.loads((out / storage.LOCK_NAME).read_text())
        assert (held["verb"], held["pid"]) == ("series", os.getpid())
        (out / "table.parquet").write_bytes(b"x")
    assert not (out / storage.LOCK_NAME).exists()
    assert (out / "table.parquet").exists()


def test_locks_of_dead_processes_are_stale_others_are_not(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lock = out / storage.LOCK_NAME
    lock.write_text(json.dumps(_holder(_dead_pid())))
    with storage.output_lock(out, verb="train"):
        assert json.loads(lock.read_text())["verb"] == "train"
    # another host's lock cannot be checked from here: refused, with the file to delete
    lock.write_text(json.dumps(_holder(_dead_pid(), host="elsewhere.example")))
    with (
        pytest.raises(OutputError, match=rf"pid \d+ on elsewhere.example.*if that run is gone, delete {lock}"),
        storage.output_lock(out, verb="train"),
    ):
        pytest.fail("refused")
    lock.write_text("{not json")
    with pytest.raises(OutputError, match="cannot be read"), storage.output_lock(out, verb="train"):
        pytest.fail("refused")
    # a live process of this host (the test runner's parent) holds it
    lock.write_text(json.dumps(_holder(os.getppid())))
    with (
        pytest.raises(OutputError, match=f"pid {os.getppid()} on {socket.gethostname()}"),
        storage.output_lock(out, verb="train"),
    ):
        pytest.fail("refused")


def test_a_reused_pid_does_not_keep_a_lock_alive(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lock = out / storage.LOCK_NAME
    doc = _holder(os.getppid()) | {"process_start": "1"}  # that pid now belongs to a process started later
    lock.write_text(json.dumps(doc))
    with storage.output_lock(out, verb="train"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_the_lock_is_reentrant_and_the_folder_it_made_goes_when_empty(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with storage.output_lock(out, verb="demo"):
        assert (out / storage.LOCK_NAME).exists()
        with storage.output_lock(out, verb="extract"):
            assert json.loads((out / storage.LOCK_NAME).read_text())["verb"] == "demo"
        assert (out / storage.LOCK_NAME).exists()  # the inner block does not release the outer one
        assert storage.list_files(out) == []  # listings never show the lock
    assert not out.exists()  # nothing was written: the folder the lock made is gone again
    with pytest.raises(ValueError, match="boom"), storage.output_lock(out, verb="demo"):
        raise ValueError("boom")
    assert not out.exists()


def test_taking_the_lock_deletes_temporaries_of_killed_writers_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "year=2021").mkdir(parents=True)
    dead = _dead_pid()
    stale = [out / f".part-1.parquet.tmp-{dead}", out / "year=2021" / f".part-2.parquet.tmp-{dead}.tif"]
    stale_folder = out / f".maps.old-{dead}"
    live = out / f".run.json.tmp-{os.getppid()}"
    for path in [*stale, live]:
        path.write_bytes(b"partial")
    stale_folder.mkdir()
    (stale_folder / "block.tif").write_bytes(b"x")
    with storage.output_lock(out, verb="extract"):
        pass
    assert [p.exists() for p in stale] == [False, False]
    assert not stale_folder.exists()
    assert live.exists()  # a live process may still write it


def test_one_writer_per_s3_prefix(s3: LoopbackS3) -> None:
    out = s3.create_bucket("locks") + "/runs/a"
    with storage.output_lock(out, verb="predict"):
        assert storage.exists(f"{out}/{storage.LOCK_NAME}")
        assert storage.list_files(out) == []
        # a second taker (another run's record) fails the conditional put, finds this live process and stops
        with pytest.raises(OutputError, match=f"inseason predict, pid {os.getpid()}"):
            storage._acquire_s3(out, storage._new_holder("series"))
        doc = json.loads(storage.read_bytes(f"{out}/{storage.LOCK_NAME}"))
        assert (doc["verb"], doc["pid"]) == ("predict", os.getpid())
    assert not storage.exists(f"{out}/{storage.LOCK_NAME}")
    # a lock left by a killed run of this host is taken over
    storage.write_bytes(f"{out}/{storage.LOCK_NAME}", json.dumps(_holder(_dead_pid())).encode())
    with storage.output_lock(out, verb="predict"):
        assert json.loads(storage.read_bytes(f"{out}/{storage.LOCK_NAME}"))["pid"] == os.getpid()
    assert not storage.exists(f"{out}/{storage.LOCK_NAME}")


def test_an_s3_lock_of_another_live_run_is_refused(s3: LoopbackS3) -> None:
    out = s3.create_bucket("locks-held") + "/runs/b"
    storage.write_bytes(f"{out}/{storage.LOCK_NAME}", json.dumps(_holder(os.getppid())).encode())
    with (
        pytest.raises(OutputError, match=f"inseason series, pid {os.getppid()}"),
        storage.output_lock(out, verb="predict"),
    ):
        pytest.fail("the block of a refused lock must not run")
    assert json.loads(storage.read_bytes(f"{out}/{storage.LOCK_NAME}"))["verb"] == "series"


def test_an_output_file_is_locked_on_its_own(tmp_path: Path, s3: LoopbackS3) -> None:
    table = tmp_path / "data" / "series.parquet"
    dead = _dead_pid()
    leftover = tmp_path / "data" / f".series.parquet.tmp-{dead}"
    other = tmp_path / "data" / f".labels.parquet.tmp-{dead}"
    leftover.parent.mkdir()
    leftover.write_bytes(b"partial")
    other.write_bytes(b"partial")
    with storage.output_lock(table, verb="series", file=True):
        assert (tmp_path / "data" / ".series.parquet.inseason.lock").exists()
        with storage.output_lock(tmp_path / "data" / "split.parquet", verb="split", file=True):
            pass  # another file of the same folder: no collision
        assert storage.list_files(tmp_path / "data") == [str(other)]  # no lock among them
    assert not leftover.exists()  # the file's own leftovers go
    assert other.exists()  # another output's are not this lock's business
    assert not (tmp_path / "data" / ".series.parquet.inseason.lock").exists()
    uri = s3.create_bucket("file-locks") + "/data/series.parquet"
    with storage.output_lock(uri, verb="series", file=True):
        assert storage.exists(s3.create_bucket("file-locks") + "/data/.series.parquet.inseason.lock")
        with pytest.raises(OutputError, match="inseason series"):
            storage._acquire_s3(uri.rpartition("/")[0], storage._new_holder("x"), "series.parquet")
    assert not storage.exists(s3.create_bucket("file-locks") + "/data/.series.parquet.inseason.lock")


def test_the_folders_an_empty_run_made_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    with storage.output_lock(out, verb="demo"):
        assert out.is_dir()
    assert list(tmp_path.iterdir()) == []  # a/b/out made by the lock, nothing written: all gone
    (tmp_path / "a").mkdir()
    with storage.output_lock(out, verb="demo"):
        (out.parent / "kept.txt").write_text("written by the run")
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["kept.txt"]  # b holds a file: kept
