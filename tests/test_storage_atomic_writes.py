"""storage.atomic_path, the one way to write a file whole: a temporary next to the target renamed onto it (or
uploaded to S3); an error leaves neither a temporary nor a target; a folder replaces a folder."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inseason import storage
from inseason.testing.s3 import LoopbackS3


@pytest.fixture(scope="module")
def s3() -> Iterator[LoopbackS3]:
    with LoopbackS3() as server, server.environment():
        yield server


def _write_then_fail(uri: str | Path, error: BaseException, *, folder: bool = False) -> Path:
    """Write part of ``uri`` through atomic_path, raise ``error`` half way; return the temporary path used."""
    with storage.atomic_path(uri) as tmp:
        if folder:
            tmp.mkdir()
            (tmp / "partial.txt").write_text("half")
        else:
            tmp.write_bytes(b"half")
        raise error
    raise AssertionError("unreachable")


def test_success_renames_the_temporary_onto_the_target(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.json"
    with storage.atomic_path(target) as tmp:
        assert tmp == tmp_path / "deep" / f".out.json.tmp-{os.getpid()}"  # next to it, a dot name readers skip
        assert tmp.parent.is_dir() and not tmp.exists()
        tmp.write_text("new")
        assert not target.exists()  # nothing shows before the block ends
    assert target.read_text() == "new"
    with storage.atomic_path(f"file://{target}", suffix=".tif") as tmp:
        assert tmp.name == f".out.json.tmp-{os.getpid()}.tif"
        tmp.write_text("newer")
    assert target.read_text() == "newer"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_an_error_leaves_no_temporary_and_no_target(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="half way"):
        _write_then_fail(target, RuntimeError("half way"))
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        _write_then_fail(target, KeyboardInterrupt())
    assert target.read_bytes() == b"old"  # the previous content stays
    assert list(tmp_path.iterdir()) == [target]


def test_nothing_written_leaves_the_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with storage.atomic_path(target):
        pass
    assert target.read_text() == "old"


def test_a_folder_replaces_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "world"
    target.mkdir()
    (target / "stale.txt").write_text("old world")
    with storage.atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "fresh.txt").write_text("new world")
    assert [p.name for p in target.iterdir()] == ["fresh.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["world"]  # neither the temporary nor the old folder remain
    with pytest.raises(OSError, match="disk full"):
        _write_then_fail(target, OSError("disk full"), folder=True)
    assert [p.name for p in target.iterdir()] == ["fresh.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_s3_uploads_then_deletes_the_temporary(s3: LoopbackS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the local temporaries go
    bucket = s3.create_bucket("atomic")
    uri = f"{bucket}/maps/2021/map.tif"
    with storage.atomic_path(uri, suffix=".part") as tmp:
        assert tmp.name == "map.tif.part" and not tmp.exists()
        tmp.write_bytes(b"cog bytes")
        assert not storage.exists(uri)
    assert storage.read_bytes(uri) == b"cog bytes"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="broken"):
        _write_then_fail(f"{bucket}/maps/2022/map.tif", ValueError("broken"))
    assert list(tmp_path.iterdir()) == []
    assert storage.list_files(bucket) == [uri]
    storage.write_bytes(f"{bucket}/notes.txt", b"written whole")
    assert storage.read_bytes(f"{bucket}/notes.txt") == b"written whole"


def test_a_full_disk_while_writing_names_the_target_not_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "evaluation.json"

    def fill(tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError, match=r"No space left on device") as info, storage.atomic_path(target) as tmp:
        fill(tmp)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    with pytest.raises(PermissionError) as refused, storage.atomic_path(target):
        raise PermissionError(errno.EACCES, "Permission denied")  # a write without a file name
    assert refused.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no temporary left, nothing published
