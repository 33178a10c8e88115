"""Errors of the machine or the paths given (unwritable output, full disk, missing path) are one ``error:`` line
with exit 2; any other exception keeps its traceback, as it is a bug."""

from __future__ import annotations

import builtins
import errno
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from inseason.cli.common import App, run_app
from tests.cli.helpers import SMALL_RUN, long_table, run_in_process, small_run, world_points_and_scenes


class IOException(Exception):
    """Stands for DuckDB's I/O error, which is no OSError."""


def _app_raising(exc: BaseException) -> App:
    app = App()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def fine() -> None:
        pass

    return app


def _run(exc: BaseException) -> tuple[int | str | None, list[str]]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err), pytest.raises(SystemExit) as ended:
        run_app(_app_raising(exc), "prog", ["boom"])
    return ended.value.code, err.getvalue().splitlines()


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/out/x.parquet"),
            "error: cannot write /data/out/x.parquet: permission denied: choose a location you can write to, or "
            "change its permissions",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"),
            "error: cannot write /mnt/ro/run: read-only file system: choose a location on a writable file system",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/obs/part.parquet"),
            "error: cannot write /data/obs/part.parquet: no space left on device: free some space or write elsewhere",
        ),
        (
            OSError(errno.EDQUOT, "Disk quota exceeded", "/home/me/x"),
            "error: cannot write /home/me/x: disk quota exceeded: free some space or write elsewhere",
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/nope/points.parquet"),
            "error: cannot open /nope/points.parquet: no such file or directory: check the path; an output's folder "
            "must exist or be creatable",
        ),
        (  # pyarrow: no errno attribute, the errno in the message
            OSError("Failed to open local file '/data/out/s.parquet'. Detail: [errno 28] No space left on device"),
            "error: cannot write /data/out/s.parquet: no space left on device: free some space or write elsewhere",
        ),
        (  # DuckDB: not an OSError, the cause in words
            IOException('IO Error: Cannot open file "/data/out/s.parquet": Read-only file system'),
            "error: cannot write /data/out/s.parquet: read-only file system: choose a location on a writable file "
            "system",
        ),
        (  # raised from an OS error
            _caused(RuntimeError("saving the checkpoint failed"), OSError(errno.ENOSPC, "No space", "/r/last.ckpt")),
            "error: cannot write /r/last.ckpt: no space left on device: free some space or write elsewhere",
        ),
    ],
    ids=["EACCES", "EROFS", "ENOSPC", "EDQUOT", "ENOENT", "pyarrow", "duckdb", "cause"],
)
def test_an_environment_error_is_one_line(exc: BaseException, line: str) -> None:
    assert _run(exc) == (2, [line])


def _context(exc: BaseException, context: BaseException) -> BaseException:
    exc.__context__ = context
    return exc


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("a bug"),
        KeyError("column"),
        OSError(errno.EBADF, "Bad file descriptor"),
        OSError("Parquet magic bytes not found in footer"),
        # raised while handling an OS error, not from it: a bug in the handler
        _context(TypeError("a bug in the handler"), PermissionError(errno.EACCES, "Permission denied", "/x")),
    ],
    ids=["ValueError", "KeyError", "EBADF", "OSError without errno", "context"],
)
def test_a_bug_keeps_its_traceback(exc: BaseException) -> None:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), pytest.raises(type(exc)) as raised:
        run_app(_app_raising(exc), "prog", ["boom"])
    assert raised.value is exc


def test_a_usage_error_is_one_line_and_help_exits_0() -> None:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err), pytest.raises(SystemExit) as ended:
        run_app(_app_raising(ValueError()), "prog", ["fine", "--nope"])
    assert ended.value.code == 2
    assert err.getvalue().splitlines() == ["error: no such option: --nope (see 'prog fine --help')"]
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as ended:
        run_app(_app_raising(ValueError()), "prog", ["fine", "--help"])
    assert ended.value.code == 0 and "Usage:" in out.getvalue()


# --- outputs that cannot be written, verb by verb ----------------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@contextmanager
def unwritable(
    folder: Path, monkeypatch: pytest.MonkeyPatch, code: int = errno.EACCES, *, spare_locks: bool = False
) -> Iterator[None]:
    """Nothing can be created or written under ``folder``: mode 0o555, or as root (whom modes do not stop) the
    calls that create, write, rename or link under it raise ``OSError(code)`` (EROFS: a read-only file system,
    ENOSPC: a full disk). With ``spare_locks`` (simulated, whoever runs) folders and output locks can still be
    made: the disk fills once a run holds its output."""
    if code == errno.EACCES and os.geteuid() != 0 and not spare_locks:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return

    def under(path: Any) -> bool:
        try:
            path = Path(os.fsdecode(path)).absolute()
        except TypeError:  # a file descriptor
            return False
        return path.is_relative_to(folder) and not (spare_locks and ".inseason.lock" in path.name)

    def refuse(path: Any) -> None:
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def guard(func: Callable[..., Any], *positions: int, writes: Callable[..., bool] = lambda *a, **k: True) -> Any:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            for i in positions:
                if i < len(args) and under(args[i]) and writes(*args, **kwargs):
                    refuse(args[i])
            return func(*args, **kwargs)

        return guarded

    def opens_to_write(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> bool:
        return any(c in mode for c in "wax+")

    def os_opens_to_write(path: Any, flags: int, *args: Any, **kwargs: Any) -> bool:
        return bool(flags & _WRITE_FLAGS)

    if not spare_locks:
        monkeypatch.setattr(os, "mkdir", guard(os.mkdir, 0))
    monkeypatch.setattr(os, "open", guard(os.open, 0, writes=os_opens_to_write))
    monkeypatch.setattr(os, "replace", guard(os.replace, 1))
    monkeypatch.setattr(os, "rename", guard(os.rename, 1))
    monkeypatch.setattr(os, "link", guard(os.link, 1))
    monkeypatch.setattr(io, "open", guard(io.open, 0, writes=opens_to_write))
    monkeypatch.setattr(builtins, "open", guard(builtins.open, 0, writes=opens_to_write))
    yield


@pytest.fixture(scope="module")
def series_tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A long-format table and its import (read-only)."""
    folder = tmp_path_factory.mktemp("series")
    long = long_table(folder / "long.csv", samples=30, dates=8)
    ran = run_in_process("--quiet", "import", str(long), "--out", str(folder / "series.parquet"))
    assert ran.code == 0, ran.stderr
    return long, folder / "series.parquet"


_VERBS = {
    "import": lambda i, out: ["import", str(i["long"]), "--out", str(out / "series.parquet")],
    "split": lambda i, out: ["split", str(i["series"]), "--by", "random", "--out", str(out / "split.parquet")],
    "extract": lambda i, out: ["extract", str(i["points"]), str(i["scenes"]), "--out", str(out), "--workers", "1"],
    "series": lambda i, out: ["series", str(i["obs"]), "--points", str(i["points"]), "--out", str(out / "s.parquet")],
    "train": lambda i, out: ["train", str(i["split"]), *SMALL_RUN, "--out", str(out)],
    "evaluate": lambda i, out: [
        "evaluate",
        str(i["run"]),
        str(i["split"]),
        "--n-boot",
        "10",
        "--out",
        str(out / "evaluation.json"),
    ],
    "report": lambda i, out: ["report", str(i["evaluation"]), "--out", str(out / "report.html")],
    "demo": lambda i, out: ["demo", "--size", "tiny", "--out", str(out)],
}


@pytest.fixture(scope="module")
def verb_inputs(
    tiny_world: Path, series_tables: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each verb's inputs, made once (read-only): label points and scenes of the tiny world, its observations,
    the long table imported and split, a small trained run and its evaluation."""
    folder = tmp_path_factory.mktemp("inputs")
    points, scenes = world_points_and_scenes(tiny_world, folder, end="2022-04-20")
    split, obs, evaluation = folder / "split.parquet", folder / "obs", folder / "evaluation.json"
    for args in (
        ("extract", str(points), str(scenes), "--out", str(obs), "--workers", "1"),
        ("split", str(series_tables[1]), "--by", "random", "--out", str(split)),
    ):
        ran = run_in_process("--quiet", *args)
        assert ran.code == 0, ran.stderr
    run = small_run(split, folder / "run")
    ran = run_in_process("--quiet", "evaluate", str(run), str(split), "--n-boot", "10", "--out", str(evaluation))
    assert ran.code == 0, ran.stderr
    return {
        "long": series_tables[0],
        "series": series_tables[1],
        "points": points,
        "scenes": scenes,
        "obs": obs,
        "split": split,
        "run": run,
        "evaluation": evaluation,
    }


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC], ids=["EACCES", "EROFS", "ENOSPC"])
@pytest.mark.parametrize("verb", sorted(_VERBS))
def test_an_unwritable_out_is_one_line(
    verb: str, code: int, verb_inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only, unwritable or full ``--out``: one line naming it and the cause, exit 2, no traceback."""
    folder = tmp_path / "ro"
    folder.mkdir()
    with unwritable(folder, monkeypatch, code):
        ran = run_in_process("--quiet", *_VERBS[verb](verb_inputs, folder / "target"))
    lines = [line for line in ran.stderr.splitlines() if not line.startswith("warning: ")]  # split --by random's
    assert ran.code == 2, ran.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in ran.stderr, lines
    assert str(folder) in lines[0], lines
    cause = {errno.EACCES: ("permission denied", "not writable"), errno.EROFS: ("read-only", "not writable")}
    assert any(word in lines[0] for word in cause.get(code, ("no space left", "disk is full"))), lines


@pytest.mark.parametrize("verb", sorted(_VERBS))
def test_a_disk_full_once_the_run_holds_its_out_is_one_line(
    verb: str, verb_inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills after the run took its output lock: its first write of an output fails with one line
    naming the path and the cause, exit 2, and the lock is released."""
    folder = tmp_path / "full"
    folder.mkdir()
    with unwritable(folder, monkeypatch, errno.ENOSPC, spare_locks=True):
        ran = run_in_process("--quiet", *_VERBS[verb](verb_inputs, folder / "target"))
    lines = [line for line in ran.stderr.splitlines() if not line.startswith("warning: ")]
    assert ran.code == 2, ran.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in ran.stderr, lines
    assert str(folder) in lines[0] and any(w in lines[0] for w in ("no space left", "disk full", "disk is full"))
    assert [p.name for p in folder.rglob("*") if p.is_file()] == []  # the lock released, nothing half-written
