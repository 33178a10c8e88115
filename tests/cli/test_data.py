"""The data verbs on the command line (labels, scenes, extract, import, split): chained on the tiny world, their
options checked, what they print."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from inseason.cli import app
from inseason.observations import read_observations
from tests.cli.helpers import long_table, runner


def test_ingestion_verbs_chain(tiny_world: Path, tmp_path: Path) -> None:
    points, scenes, obs = tmp_path / "points.parquet", tmp_path / "scenes.parquet", tmp_path / "obs"
    aoi = str(tiny_world / "aoi.geojson")
    result = runner.invoke(
        app,
        [
            "--quiet",
            "labels",
            "--cdl",
            str(tiny_world / "labels"),
            "--aoi",
            aoi,
            "--years",
            "2021,2022",
            "--stride",
            "20",
            "--out",
            str(points),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "scenes",
            "--stac",
            str(tiny_world / "stac" / "catalog.json"),
            "--aoi",
            aoi,
            "--start",
            "2021-06-01",
            "--end",
            "2021-06-30",
            "--out",
            str(scenes),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["scenes"] == pq.read_metadata(scenes).num_rows > 0
    result = runner.invoke(app, ["extract", str(points), str(scenes), "--out", str(obs), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scenes"] == found["scenes"] and not obs.exists()
    result = runner.invoke(
        app,
        [
            "extract",
            str(points),
            str(scenes),
            "--out",
            str(obs),
            "--workers",
            "1",
            "--scl-mask",
            "0,1,3,7,8,9,10,11",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)
    assert totals["done"] == found["scenes"] and totals["observations"] > 0
    scl = read_observations(obs).column("scl").to_pylist()
    assert pq.read_table(obs).num_rows == totals["observations"]  # opens in any hive-aware reader
    assert len(scl) == totals["observations"] and not {0, 1, 3, 7, 8, 9, 10, 11} & set(scl)


def test_years_must_be_integers(tiny_world: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "labels",
            "--cdl",
            str(tiny_world / "labels"),
            "--aoi",
            "x.geojson",
            "--years",
            "2021,last",
            "--out",
            str(tmp_path / "p.parquet"),
        ],
    )
    assert result.exit_code != 0
    assert "--years takes integers" in str(result.exception)


def test_split_prints_the_audit_it_wrote_whatever_the_suffix(tmp_path: Path) -> None:
    long_table(tmp_path / "long.csv", samples=30)
    series, split = tmp_path / "s.parquet", tmp_path / "split.pq"
    assert runner.invoke(app, ["--quiet", "import", str(tmp_path / "long.csv"), "--out", str(series)]).exit_code == 0
    result = runner.invoke(app, ["split", str(series), "--by", "random", "--out", str(split)])
    assert result.exit_code == 0, result.output
    printed = result.stdout.replace("\n", "")  # a long path may be folded at the console's width
    assert f"leakage audit: {tmp_path / 'split.pq.audit.md'}" in printed
    assert (tmp_path / "split.pq.audit.md").is_file()
