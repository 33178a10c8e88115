"""Bad input to `synth` gives one clear line and leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from inseason.errors import InputError, OutputError
from inseason.synth import synth
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
        synth(tmp_path / "w", quiet=True, years=(2022,), workers=1)
    assert list(tmp_path.iterdir()) == []
