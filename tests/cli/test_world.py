"""`inseason synth` on the command line: its JSON summary is the world's world.json."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import run_cli


def test_synth_json_summary(tmp_path: Path) -> None:
    # a 1.2 km tile written by one process: the options reach the world, and it stays cheap
    options = ("--size", "tiny", "--years", "2022", "--tile-m", "1200", "--workers", "1")
    result = run_cli("synth", *options, "--out", str(tmp_path / "w"), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info == json.loads((tmp_path / "w" / "world.json").read_text())
    assert info["years"] == [2022] and info["scenes"] > 20
    assert info["config"]["tile_m"] == 1200 and [t["size_m"] for t in info["tiles"]] == [1200]
