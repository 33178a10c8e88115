"""The command line: help for every verb, the version, and errors as one line without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import inseason
from inseason.cli import app

runner = CliRunner()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from inseason.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"inseason {inseason.__version__}"


@pytest.mark.parametrize("verb", sorted(typer.main.get_command(app).commands))
def test_every_verb_has_help(verb: str) -> None:
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 5


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = _run("synth", "--size", "huge", "--out", str(tmp_path / "w"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown world size 'huge': choose one of tiny, small, demo, large"
    assert "Traceback" not in result.stderr


def test_synth_json_summary(tmp_path: Path) -> None:
    result = _run("synth", "--size", "tiny", "--years", "2022", "--out", str(tmp_path / "w"), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info == json.loads((tmp_path / "w" / "world.json").read_text())
    assert info["years"] == [2022] and info["scenes"] > 20


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    result = _run("--quiet", "synth", "--size", "tiny", "--years", "2022", "--out", str(tmp_path / "w"))
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
