"""The model verbs on the command line (models, train, evaluate, predict): the pipeline chained through them to
the report, on the tiny world and on an imported table, and what predict passes and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import shapely.geometry

import inseason
from inseason.cli import app
from inseason.predict import MapRun
from inseason.synth import centre_square
from tests.cli.helpers import long_table, runner


def test_modelling_verbs_chain(tiny_world: Path, tmp_path: Path) -> None:
    """series → split → train → evaluate → report through the CLI, on the tiny world."""
    points, scenes, obs = tmp_path / "points.parquet", tmp_path / "scenes.parquet", tmp_path / "obs"
    aoi = str(tiny_world / "aoi.geojson")
    for args in (
        [
            "labels",
            "--cdl",
            str(tiny_world / "labels"),
            "--aoi",
            aoi,
            "--years",
            "2021,2022",
            "--stride",
            "10",
            "--out",
            str(points),
        ],
        [
            "scenes",
            "--stac",
            str(tiny_world / "stac" / "catalog.json"),
            "--aoi",
            aoi,
            "--start",
            "2021-01-01",
            "--end",
            "2022-12-31",
            "--out",
            str(scenes),
        ],
        ["extract", str(points), str(scenes), "--out", str(obs), "--workers", "1"],
    ):
        result = runner.invoke(app, ["--quiet", *args])
        assert result.exit_code == 0, result.output
    series, split = tmp_path / "series.parquet", tmp_path / "split.parquet"
    result = runner.invoke(
        app, ["series", str(obs), "--points", str(points), "--label-map", "cdl-major:4", "--out", str(series), "--json"]
    )
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["series"] == pq.read_metadata(series).num_rows > 50
    result = runner.invoke(app, ["split", str(series), "--by", "field", "--out", str(split), "--json"])
    assert result.exit_code == 0, result.output
    audit = json.loads(result.stdout)
    assert sum(audit["samples"].values()) == built["series"]
    assert (tmp_path / "split.audit.md").is_file()

    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            str(split),
            "--model",
            "tempcnn",
            "--set",
            "epochs=2",
            "--set",
            "batch_size=16",
            "--out",
            str(run),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == "tempcnn" and summary["epochs_run"] == 2
    assert (run / "model.json").is_file() and (run / "weights.safetensors").is_file()
    assert (run / "config.yaml").read_text().count("epochs: 2") == 1
    bundle = inseason.load_model(run)
    assert bundle.manifest["model"]["name"] == "tempcnn" and len(bundle.class_names) == 5  # 4 major + Other
    assert bundle.manifest["leakage_audit"]["samples"] == audit["samples"]  # the split's audit travels along

    result = runner.invoke(
        app, ["evaluate", str(run), str(split), "--as-of", "05-01,08-01", "--n-boot", "50", "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert [row["as_of"] for row in metrics["by_as_of_date"]] == ["05-01", "08-01"]
    assert 0 <= metrics["overall_accuracy"] <= 1 and metrics["n"] == audit["samples"]["test"]
    assert metrics["end_of_season"] == "12-31" and metrics["best_as_of"]["as_of"] in ("05-01", "08-01")
    assert metrics["sample_size"]["n"] == metrics["n"]
    result = runner.invoke(app, ["evaluate", str(run), str(split), "--as-of", "05-01,08-01", "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "12-31 (end of season)" in result.stdout and "(best)" in result.stdout
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["leakage_audit"]["samples"] == audit["samples"]

    maps, map_aoi = tmp_path / "maps", tmp_path / "map-area.geojson"  # a 1 km square: a sixth of the world
    square = centre_square(json.loads((tiny_world / "world.json").read_text()), side_m=1000.0)
    map_aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(square)}))
    result = runner.invoke(
        app,
        [
            "predict",
            str(run),
            "--aoi",
            str(map_aoi),
            "--scenes",
            str(scenes),
            "--as-of",
            "2022-06-01",
            "--every",
            "30d",
            "--from",
            "2022-07-01",
            "--to",
            "2022-08-01",
            "--workers",
            "1",
            "--out",
            str(maps),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert sorted(made["maps"]) == ["2022-06-01", "2022-07-01", "2022-07-31"] and made["gif"]
    assert all(Path(p).is_file() for p in made["maps"].values())

    result = runner.invoke(app, ["report", str(run), "--compare", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "Models compared" in html and "<script src=" not in html and "2022-07-31" not in html
    result = runner.invoke(
        app,
        [
            "report",
            str(run),
            "--maps",
            str(maps),
            "--truth",
            str(tiny_world / "labels" / "CDL_2022.tif"),
            "--out",
            str(tmp_path / "m.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "m.html").read_text()
    assert "Maps of the test area" in html and "2022-07-31" in html and "CDL_2022.tif" in html


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
    long_table(tmp_path / "long.csv", samples=90)
    series, split, run = tmp_path / "s.parquet", tmp_path / "split.parquet", tmp_path / "run"
    for args in (
        ["import", str(tmp_path / "long.csv"), "--out", str(series)],
        ["split", str(series), "--by", "random", "--out", str(split)],
        [
            "train",
            str(split),
            "--model",
            "tempcnn",
            "--set",
            "epochs=2",
            "--set",
            "features.indices=[]",
            "--out",
            str(run),
        ],
        ["evaluate", str(run), str(split), "--n-boot", "20"],
        ["report", str(run), "--out", str(tmp_path / "r.html")],
    ):
        result = runner.invoke(app, ["--quiet", *args])
        assert result.exit_code == 0, (args[0], result.output, result.exception)
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert [c["name"] for c in evaluation["classes"]] == ["Beans", "Maize", "Paddy"]
    assert all(c["code"] is None for c in evaluation["classes"]) and evaluation["map"]["x"][0] is None
    assert "Beans" in (tmp_path / "r.html").read_text()


def test_a_september_season_recorded_at_import_serves_train_and_evaluate(tmp_path: Path) -> None:
    """Issue 19: train ignored the season start import recorded, and evaluate crashed as of an empty date.

    The series run from late September 2014 to May 2015 (season 2015 from 1 September). Train takes the
    season start from the table (a contradicting ``--set season_start`` is refused naming it); the default
    as-of dates follow the season; as of 09-20, when nothing is observed yet, every sample gets the prior.
    """
    import datetime as dt

    long_table(tmp_path / "long.csv", samples=60, start=dt.date(2014, 8, 1))
    series, split, run = tmp_path / "s.parquet", tmp_path / "split.parquet", tmp_path / "run"
    train = ["train", str(split), "--model", "tempcnn", "--set", "epochs=1", "--set", "features.indices=[]"]
    for args in (
        ["import", str(tmp_path / "long.csv"), "--season-start", "09-01", "--out", str(series)],
        ["split", str(series), "--by", "random", "--out", str(split)],
        [*train, "--out", str(run)],
        ["evaluate", str(run), str(split), "--n-boot", "5"],
    ):
        result = runner.invoke(app, ["--quiet", *args])
        assert result.exit_code == 0, (args[0], result.output, result.exception)
    assert json.loads((run / "model.json").read_text())["season_start"] == "09-01"
    assert "season_start: 09-01" in (run / "config.yaml").read_text()
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["season_start"] == "09-01" and evaluation["end_of_season"] == "08-31"
    assert [d["as_of"] for d in evaluation["by_as_of_date"]][:2] == ["11-30", "12-15"]

    early = tmp_path / "early.json"
    evaluate = ["--quiet", "evaluate", str(run), str(split), "--as-of", "09-20,03-01", "--n-boot", "5"]
    result = runner.invoke(app, [*evaluate, "--out", str(early)])
    assert result.exit_code == 0, (result.output, result.exception)
    samples = json.loads(early.read_text())["samples"]
    assert len({s["as_of"][0]["label"] for s in samples}) == 1  # nothing observed by 09-20: the prior's argmax
    prior = json.loads((run / "model.json").read_text())["prior"]
    assert {s["as_of"][0]["probability"] for s in samples} == {round(max(prior), 4)}

    # importance is most of the cost: --no-importance skips it and changes nothing else
    quick, few = tmp_path / "quick.json", tmp_path / "few.json"
    full_args = ["--quiet", "evaluate", str(run), str(split), "--n-boot", "5"]
    assert runner.invoke(app, [*full_args, "--no-importance", "--out", str(quick)]).exit_code == 0
    assert runner.invoke(app, [*full_args, "--importance-repeats", "2", "--out", str(few)]).exit_code == 0
    full, skipped, two = (json.loads(p.read_text()) for p in (run / "evaluation.json", quick, few))
    assert skipped["importance"]["bands"] is None and skipped["importance"]["periods"] is None
    assert skipped["by_as_of_date"] == full["by_as_of_date"] and skipped["macro_f1"] == full["macro_f1"]
    assert {r["n_repeats"] for r in two["importance"]["bands"]} == {2}
    assert {r["n_repeats"] for r in full["importance"]["bands"]} == {5}
    refused = runner.invoke(app, [*full_args, "--importance-repeats", "0"])
    assert refused.exit_code != 0 and "--importance-repeats" in refused.output

    result = runner.invoke(app, ["--quiet", *train, "--set", "season_start=01-01", "--out", str(tmp_path / "r2")])
    assert result.exit_code != 0
    assert "outside its season starting 01-01" in str(result.exception)
    assert "the table was written with 09-01" in str(result.exception)


def _fake_run_predict(calls: list[dict[str, Any]]) -> Any:
    """A `run_predict` that records its request, warns as stage code does, and maps one block."""
    import logging
    import warnings

    def fake(request: Any) -> MapRun:
        options = request.model_dump()
        calls.append(options)
        warnings.warn(
            "the AOI reaches outside the region the model was trained on:\n    maps there are guesses", stacklevel=2
        )
        logging.getLogger("inseason.predict").warning("2 scenes   skipped (unreadable)")
        return MapRun(
            out=str(options["out"]),
            maps={"2022-06-01": "m/2022-06-01.tif"},
            items={},
            double_crops={},
            gif=None,
            blocks=1,
            resumed_blocks=0,
            mapped_pixels={"2022-06-01": 5},
            empty_blocks=[{"row": 0, "col": 0}],
            skipped_scenes=[],
        )

    return fake


# The stage's warning must reach the CLI's one-line printer, as it does for a user; the suite's "error" filter
# would raise it inside the fake stage instead.
@pytest.mark.filterwarnings("default::UserWarning")
@pytest.mark.parametrize("allow_outside", [False, True])
def test_predict_passes_allow_outside_and_prints_warnings_as_one_line(
    allow_outside: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import logging
    import warnings

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("inseason.predict.run_predict", _fake_run_predict(calls))
    monkeypatch.chdir(tmp_path)
    showwarning, level = warnings.showwarning, logging.getLogger().level
    result = runner.invoke(
        app,
        [
            "predict",
            "run",
            "--aoi",
            "0,0,1,1",
            "--scenes",
            "s.parquet",
            "--as-of",
            "2022-06-01",
            "--out",
            "m",
            *(["--allow-outside"] if allow_outside else []),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and calls[0]["allow_outside"] is allow_outside and calls[0]["out"] == "m"
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: the AOI reaches outside the region the model was trained on: maps there are guesses",
        "warning: 2 scenes skipped (unreadable)",
    ]
    assert "Traceback" not in result.stderr and "UserWarning" not in result.stderr and ".py:" not in result.stderr
    assert "maps in m (1 block, 0 resumed)" in result.stdout
    assert "1 block had no valid observation" in result.stdout
    # the CLI puts back what it changed for the verb's run
    assert warnings.showwarning is showwarning and logging.getLogger().level == level
    help_text = runner.invoke(app, ["predict", "--help"]).stdout
    assert "--allow-outside" in help_text and "trained on" in help_text


@pytest.mark.parametrize(
    ("flags", "model", "adapter", "anchor"),
    [
        ([], "tempcnn", "bucketed", "season"),  # no flag: the default model with its preset
        (["--model", "ltae"], "ltae", "sequence", None),
        (["--model", "random_forest"], "random_forest", "bucketed", None),  # no preset: its adapter
        (["--model", "lstm"], "lstm", "sequence", None),
        (["--model", "gru", "--set", "adapter.kind=bucketed"], "gru", "bucketed", None),  # the user's choice wins
    ],
)
def test_train_without_flags_or_with_a_model_alone_gets_a_working_config(
    flags: list[str], model: str, adapter: str, anchor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[Any] = []
    monkeypatch.setattr("inseason.train.run_train", lambda request: requests.append(request))
    result = runner.invoke(app, ["--quiet", "train", "split.parquet", "--out", "run", *flags])
    if model == "gru":  # a sequence model on buckets: refused by the request, in one line
        assert "is designed for the sequence adapter" in str(result.exception)
        return
    assert result.exit_code == 0, result.output
    config = requests[0].resolved_config()
    assert (config.model.name, config.adapter.kind) == (model, adapter)
    if anchor is not None:
        assert config.adapter.anchor == anchor


def test_train_prints_the_calibration_it_fitted(tmp_path: Path) -> None:
    long_table(tmp_path / "long.csv", samples=60)
    series, split, run = tmp_path / "s.parquet", tmp_path / "split.parquet", tmp_path / "run"
    for args in (
        ["--quiet", "import", str(tmp_path / "long.csv"), "--out", str(series)],
        ["--quiet", "split", str(series), "--by", "random", "--out", str(split)],
    ):
        assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["train", str(split), "--model", "tempcnn", "--set", "epochs=1", "--out", str(run)])
    assert result.exit_code == 0, (result.output, result.exception)
    calibration = json.loads((run / "model.json").read_text())["calibration"]
    line = " ".join(result.stdout.split())  # the console wraps long lines
    assert "validation overall accuracy" in line
    expected = f"calibration error {calibration['ece_before']:.3f} → {calibration['ece_after']:.3f}"
    assert expected in line and f"(T = {calibration['temperature']:.2f})" in line
