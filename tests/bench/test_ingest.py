"""`inseason bench ingest`: both sides extract the same observations; ours transfers fewer bytes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from inseason.bench.ingest import bench_ingest
from inseason.cli import app


def test_both_sides_agree_and_block_reads_transfer_less(tiny_world: Path) -> None:
    result = bench_ingest(
        world=tiny_world, years=(2021,), boxes=2, box_m=300, stride=5, max_scenes=4, workers=1, quiet=True
    )
    assert result["scenes"] == 4 and result["points"] > 0
    assert result["ours"]["observations"] == result["course"]["observations"] > 0
    assert result["same_observations"] is True
    assert result["ours"]["bytes"] < result["course"]["bytes"]
    assert result["bytes_ratio"] == round(result["course"]["bytes"] / result["ours"]["bytes"], 2)
    assert result["speedup"] > 0 and result["deflate_limit_mb_per_s"] == 300.0


def test_cli_prints_one_json_object(tiny_world: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "ingest",
            "--world",
            str(tiny_world),
            "--box-m",
            "300",
            "--boxes",
            "1",
            "--max-scenes",
            "2",
            "--workers",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"bytes_ratio", "speedup", "ours", "course", "same_observations"} <= set(doc)
    assert doc["scenes"] == 2
