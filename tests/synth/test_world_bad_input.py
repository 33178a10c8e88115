"""Bad input to `synth` gives one clear line and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from inseason import storage
from inseason.config import synth_config
from inseason.errors import InputError, OutputError
from inseason.synth import SynthRequest, synth
from inseason.synth import world as world_module


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"size": "huge"}, "unknown world size 'huge'"),
        ({"tile_m": -60}, "tile_m"),
        ({"tile_m": 2410}, "multiple of 60"),
        ({"tiles_x": 50}, "tiles_x"),
        ({"years": (2010,)}, "2017-2030"),
        ({"cloudiness": 1.5}, "cloudiness"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        synth(tmp_path / "w", quiet=True, **overrides)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_holding_a_world_or_other_files_is_not_overwritten(tmp_path: Path, tiny_world: Path) -> None:
    with pytest.raises(OutputError, match="already holds another world: pass --overwrite"):
        synth(tiny_world, quiet=True)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already holds other files"):
        synth(tmp_path, quiet=True, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_not_enough_disk_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(world_module.shutil, "disk_usage", lambda _: type("U", (), {"free": 10_000_000})())
    with pytest.raises(OutputError, match=r"not enough disk space .* needs about [\d,]+ MB and 10 MB are free"):
        synth(tmp_path / "w", quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_leaves_no_half_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(world_module, "write_catalog", broken)
    with pytest.raises(OutputError, match="disk full"):
        synth(tmp_path / "w", quiet=True, years=(2022,), season=("06-01", "06-10"), workers=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--size", "huge"], {"size": "huge"}),
        (["--tile-m", "2410"], {"tile_m": 2410}),
        (["--years", "2010"], {"years": (2010,)}),
        (["--cloudiness", "1.5"], {"cloudiness": 1.5}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    with pytest.raises(InputError) as info:
        synth(tmp_path / "w", quiet=True, **options)
    result = CliRunner().invoke(app, ["--quiet", "synth", "--out", str(tmp_path / "w"), *flags])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    size = options.pop("size", "tiny")
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        SynthRequest.of(out=tmp_path / "w", config=synth_config(size, **options))
    assert list(tmp_path.iterdir()) == []


def test_a_synth_request_round_trips(tmp_path: Path) -> None:
    config = synth_config("small", seed=4, years=(2021, 2022), cloudiness=0.2)
    request = SynthRequest.of(out=str(tmp_path / "w"), config=config, overwrite=True, workers=2, quiet=True)
    assert request.out == tmp_path / "w" and request.config is config
    dumped = request.model_dump()
    assert dumped["config"]["years"] == (2021, 2022)
    assert SynthRequest.of(**dumped) == request
    with pytest.raises(InputError, match=r"^invalid SynthRequest option config\.tiles_x: "):
        SynthRequest.of(out=tmp_path / "w", config={**dumped["config"], "tiles_x": 9})


def test_workers_below_one_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--workers 0: give at least 1 worker process"):
        SynthRequest.of(out=tmp_path / "w", config=synth_config("tiny"), workers=0)


def test_a_world_another_run_is_building_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / f".w{storage.LOCK_NAME}"
    holder = {"verb": "synth", "pid": os.getppid(), "host": socket.gethostname(), "started": "now", "token": "t"}
    lock.write_text(json.dumps(holder))  # a live process of this host (the test runner's parent) builds it
    with pytest.raises(OutputError, match=rf"{tmp_path / 'w'} is being written by another run \(inseason synth"):
        synth(tmp_path / "w", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [lock.name]  # nothing written, the lock untouched
    lock.unlink()
    assert synth(tmp_path / "w", quiet=True, years=(2022,), season=("06-01", "06-10")).scenes > 0  # a short world
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # the lock is gone after the run
