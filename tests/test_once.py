"""tests/once.py: a shared fixture folder is built once per run, by one worker, and rebuilt when half-built."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.once import build_once


class _WorkerTemp:
    """The part of pytest's TempPathFactory that build_once uses, as an xdist worker sees it."""

    def __init__(self, run: Path, worker: str) -> None:
        self.base = run / f"popen-{worker}"

    def getbasetemp(self) -> Path:
        return self.base


def test_workers_share_one_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    builds: list[Path] = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "world.txt").write_text("built")

    first = build_once(_WorkerTemp(tmp_path, "gw0"), "world", build)  # type: ignore[arg-type]
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    second = build_once(_WorkerTemp(tmp_path, "gw1"), "world", build)  # type: ignore[arg-type]
    assert first == second == tmp_path / "shared" / "world"
    assert builds == [first]
    assert (second / "world.txt").read_text() == "built"


def test_a_half_built_folder_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    factory = _WorkerTemp(tmp_path, "gw0")

    def crash(folder: Path) -> None:
        (folder / "partial.txt").write_text("half")
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        build_once(factory, "world", crash)  # type: ignore[arg-type]
    folder = build_once(factory, "world", lambda f: (f / "world.txt").write_text("built"))  # type: ignore[arg-type]
    assert sorted(p.name for p in folder.iterdir()) == [".built", "world.txt"]


def test_without_xdist_each_session_builds_its_own(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    folder = build_once(tmp_path_factory, "own", lambda f: (f / "x").write_text("1"))
    assert folder.parent == tmp_path_factory.getbasetemp()
    assert (folder / "x").read_text() == "1"
    assert not (folder / ".built").exists()
