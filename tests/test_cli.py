"""The command line: help for every verb, the version, and errors as one line without a traceback."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

import inseason
from inseason.cli import app
from inseason.extract.observations import read_observations

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


def test_ingestion_verbs_chain(tiny_world: Path, tmp_path: Path) -> None:
    points, scenes, obs = tmp_path / "points.parquet", tmp_path / "scenes.parquet", tmp_path / "obs"
    aoi = str(tiny_world / "aoi.geojson")
    result = runner.invoke(app, ["--quiet", "labels", "--cdl", str(tiny_world / "labels"), "--aoi", aoi,
                                 "--years", "2021,2022", "--stride", "20", "--out", str(points)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["scenes", "--stac", str(tiny_world / "stac" / "catalog.json"), "--aoi", aoi,
                                 "--start", "2021-06-01", "--end", "2021-06-30", "--out", str(scenes), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["scenes"] == pq.read_metadata(scenes).num_rows > 0
    result = runner.invoke(app, ["extract", str(points), str(scenes), "--out", str(obs), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scenes"] == found["scenes"] and not obs.exists()
    result = runner.invoke(app, ["extract", str(points), str(scenes), "--out", str(obs), "--workers", "1",
                                 "--scl-mask", "0,1,3,7,8,9,10,11", "--json"])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)
    assert totals["done"] == found["scenes"] and totals["observations"] > 0
    scl = read_observations(obs).column("scl").to_pylist()
    assert pq.read_table(obs).num_rows == totals["observations"]  # opens in any hive-aware reader
    assert len(scl) == totals["observations"] and not {0, 1, 3, 7, 8, 9, 10, 11} & set(scl)


def test_years_must_be_integers(tiny_world: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["labels", "--cdl", str(tiny_world / "labels"), "--aoi", "x.geojson",
                                 "--years", "2021,last", "--out", str(tmp_path / "p.parquet")])
    assert result.exit_code != 0
    assert "--years takes integers" in str(result.exception)


def test_modelling_verbs_chain(tiny_world: Path, tmp_path: Path) -> None:
    """series → split → train → evaluate → report through the CLI, on the tiny world."""
    points, scenes, obs = tmp_path / "points.parquet", tmp_path / "scenes.parquet", tmp_path / "obs"
    aoi = str(tiny_world / "aoi.geojson")
    for args in (["labels", "--cdl", str(tiny_world / "labels"), "--aoi", aoi, "--years", "2021,2022",
                  "--stride", "10", "--out", str(points)],
                 ["scenes", "--stac", str(tiny_world / "stac" / "catalog.json"), "--aoi", aoi, "--start",
                  "2021-01-01", "--end", "2022-12-31", "--out", str(scenes)],
                 ["extract", str(points), str(scenes), "--out", str(obs), "--workers", "1"]):
        result = runner.invoke(app, ["--quiet", *args])
        assert result.exit_code == 0, result.output
    series, split = tmp_path / "series.parquet", tmp_path / "split.parquet"
    result = runner.invoke(app, ["series", str(obs), "--points", str(points), "--label-map", "cdl-major:4",
                                 "--out", str(series), "--json"])
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["series"] == pq.read_metadata(series).num_rows > 50
    result = runner.invoke(app, ["split", str(series), "--by", "field", "--out", str(split), "--json"])
    assert result.exit_code == 0, result.output
    audit = json.loads(result.stdout)
    assert sum(audit["samples"].values()) == built["series"]
    assert (tmp_path / "split.audit.md").is_file()

    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(split), "--model", "tempcnn", "--set", "epochs=2", "--set",
                                 "batch_size=16", "--out", str(run), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == "tempcnn" and summary["epochs_run"] == 2
    assert (run / "model.json").is_file() and (run / "weights.safetensors").is_file()
    assert (run / "config.yaml").read_text().count("epochs: 2") == 1
    bundle = inseason.load_model(run)
    assert bundle.manifest["model"]["name"] == "tempcnn" and len(bundle.class_names) == 5  # 4 major + Other
    assert bundle.manifest["leakage_audit"]["samples"] == audit["samples"]  # the split's audit travels along

    result = runner.invoke(app, ["evaluate", str(run), str(split), "--as-of", "05-01,08-01", "--n-boot", "50",
                                 "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert [row["as_of"] for row in metrics["by_as_of_date"]] == ["05-01", "08-01"]
    assert 0 <= metrics["overall_accuracy"] <= 1 and metrics["n"] == audit["samples"]["test"]
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["leakage_audit"]["samples"] == audit["samples"]

    maps = tmp_path / "maps"
    result = runner.invoke(app, ["predict", str(run), "--aoi", aoi, "--scenes", str(scenes), "--as-of",
                                 "2022-06-01", "--every", "30d", "--from", "2022-07-01", "--to", "2022-08-01",
                                 "--workers", "1", "--out", str(maps), "--json"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert sorted(made["maps"]) == ["2022-06-01", "2022-07-01", "2022-07-31"] and made["gif"]
    assert all(Path(p).is_file() for p in made["maps"].values())

    result = runner.invoke(app, ["report", str(run), "--compare", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "Models compared" in html and "<script src=" not in html


def test_train_rejects_a_malformed_override(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tmp_path / "x.parquet"), "--set", "epochs", "--out", str(tmp_path / "r")])
    assert result.exit_code != 0 and "--set expects KEY=VALUE" in str(result.exception)


def test_models_lists_the_registry() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    models = json.loads(result.stdout)
    assert {"arset", "arset-slide", "tempcnn", "ltae", "transformer", "lstm", "random_forest"} <= set(models)
    assert models["ltae"]["adapter"] == "sequence" and models["random_forest"]["neural"] is False


def test_imported_series_go_through_train_evaluate_and_report(tmp_path: Path) -> None:
    """A user's own NDVI table (string ids and labels, no coordinates, no CDL codes) runs end to end."""
    import math
    import random

    rng = random.Random(0)
    lines = ["sample_id,date,NDVI,label"]
    for i in range(90):
        label = ("Maize", "Beans", "Paddy")[i % 3]
        peak = {"Maize": 180, "Beans": 220, "Paddy": 200}[label]
        for k in range(28):
            day = 60 + 8 * k + rng.randint(0, 3)
            ndvi = 0.2 + 0.6 * math.exp(-(((day - peak) / 30) ** 2)) + rng.gauss(0, 0.03)
            stamp = dt.datetime(2021, 1, 1, 10, 30, tzinfo=dt.timezone.utc) + dt.timedelta(days=day)
            lines.append(f"s{i},{stamp.isoformat()},{ndvi:.3f},{label}")
    (tmp_path / "long.csv").write_text("\n".join(lines) + "\n")
    series, split, run = tmp_path / "s.parquet", tmp_path / "split.parquet", tmp_path / "run"
    for args in (["import", str(tmp_path / "long.csv"), "--out", str(series)],
                 ["split", str(series), "--by", "random", "--out", str(split)],
                 ["train", str(split), "--model", "tempcnn", "--set", "epochs=2", "--set", "features.indices=[]",
                  "--out", str(run)],
                 ["evaluate", str(run), str(split), "--n-boot", "20"],
                 ["report", str(run), "--out", str(tmp_path / "r.html")]):
        result = runner.invoke(app, ["--quiet", *args])
        assert result.exit_code == 0, (args[0], result.output, result.exception)
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert [c["name"] for c in evaluation["classes"]] == ["Beans", "Maize", "Paddy"]
    assert all(c["code"] is None for c in evaluation["classes"]) and evaluation["map"]["x"][0] is None
    assert "Beans" in (tmp_path / "r.html").read_text()
