"""`inseason bench ingest`: both sides extract the same observations; ours transfers fewer bytes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inseason.bench.ingest import bench_ingest, bench_ingest_dense
from inseason.cli import app
from inseason.errors import InputError


def test_both_sides_agree_and_block_reads_transfer_less(tiny_world: Path) -> None:
    result = bench_ingest(
        world=tiny_world, years=(2021,), boxes=2, box_m=300, stride=5, max_scenes=4, workers=1, repeats=2, quiet=True
    )
    assert result["scenes"] == 4 and result["points"] > 0
    assert result["ours"]["observations"] == result["course"]["observations"] > 0
    assert result["same_observations"] is True
    assert result["ours"]["bytes"] < result["course"]["bytes"]
    assert result["bytes_ratio"] == round(result["course"]["bytes"] / result["ours"]["bytes"], 2)
    assert result["speedup"] > 0 and result["deflate_limit_mb_per_s"] == 300.0
    # two runs of each side: the speed-up shown is one of them, with the lowest and highest beside it
    low, high = result["speedup_spread"]
    assert result["repeats"] == 2 and 0 < low <= result["speedup"] <= high


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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": -1}, "--workers -1: give at least 1 worker process"),
        ({"boxes": 0}, "--boxes 0: use at least 1"),
        ({"stride": 0}, "--stride 0: use at least 1"),
        ({"max_scenes": -3}, "--max-scenes -3: use at least 1"),
        ({"box_m": 0.0}, "--box-m 0.0: give the side of a box in metres, above 0"),
        ({"box_m": float("nan")}, "--box-m nan: give the side of a box in metres, above 0"),
        ({"box_m": 30_000.0}, "--box-m 30000: boxes that large do not fit in the world's 32940 m tile"),
        ({"years": ()}, "bench ingest needs at least one year"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    options: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # any folder made would show here
    with pytest.raises(InputError) as refused:
        bench_ingest(quiet=True, **options)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_given_world_is_checked_for_the_years_and_the_boxes(tiny_world: Path) -> None:
    with pytest.raises(InputError, match=r"the world holds the years \[2021, 2022\], not \[2019\]"):
        bench_ingest(world=tiny_world, years=(2019,), quiet=True)
    with pytest.raises(InputError, match="--box-m 2000: boxes that large do not fit in the world's 2400 m tile"):
        bench_ingest(world=tiny_world, years=(2021,), box_m=2000, max_scenes=1, quiet=True)


def test_the_dense_setting_decodes_each_touched_block_once() -> None:
    # a fifth of a real tile's side (2 196 px: 3 x 3 blocks at 10 m, 2 x 2 at 20 m, 1 at 60 m), 400 points
    result = bench_ingest_dense(points=400, scenes=2, size_10m=2196, workers=1, seed=3)
    assert (result["points"], result["scenes"], result["workers"], result["size_10m"]) == (400, 2, 1, 2196)
    assert result["observations"] == 800  # every point is clear (SCL 4-6) in every scene
    # every block of every band holds a point, and is read once: 4 bands at 10 m x 9 blocks, those at
    # 20 m (6 bands and SCL) x 4, 2 bands at 60 m x 1, per scene
    assert result["touched_blocks"] == 2 * (4 * 9 + 7 * 4 + 2) == result["blocks_read"]
    assert result["decoded_mb"] == round(2 * (66 * 1024 * 1024 * 2 - 4 * 1024 * 1024) / 1e6, 1)  # SCL: 1 byte
    assert result["bytes_sent"] > 0 and result["seconds"] > 0
    rate = result["decode_mb_per_s_per_core"]
    assert abs(rate * result["seconds"] - result["decoded_mb"]) < 0.1 * result["seconds"] + 0.1
    assert abs(result["share_of_limit"] - rate / 300.0) < 0.001
    assert result["local_decode_mb_per_s"] > 0
    assert abs(result["share_of_local"] - rate / result["local_decode_mb_per_s"]) < 0.01


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"points": 0}, "--points 0: use at least 1"),
        ({"scenes": 0}, "--scenes 0: use at least 1"),
        ({"size_10m": 100}, "bench ingest: size_10m=100: give a positive multiple of 6"),
        ({"workers": 0}, "--workers 0: give at least 1 worker process"),
    ],
)
def test_the_dense_setting_refuses_bad_options_before_any_work(
    options: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(InputError) as refused:
        bench_ingest_dense(**options)
    assert str(refused.value).startswith(message)
    assert list(tmp_path.iterdir()) == []
