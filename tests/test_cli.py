"""The command line: help for every verb (at a fixed width, flags without values), the version, shell
completion, warnings and errors as one line without a traceback, nothing written when a verb fails."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

import inseason
from inseason.cli import app
from inseason.observations import read_observations
from inseason.predict import MapRun
from inseason.progress import OUTPUT_WIDTH, output_width, plural

runner = CliRunner()


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI's entry point in a fresh process (stdout and stderr are pipes, not a terminal)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    return subprocess.run(
        [sys.executable, "-c", "from inseason.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, **(env or {})},
    )


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"inseason {inseason.__version__}"


def _verbs(group: Any = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every verb of the app, a group's subcommands (``bench train``) included, as its words."""
    group = typer.main.get_command(app) if group is None else group
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        found += _verbs(command, (*path, name)) if hasattr(command, "commands") else []
    return sorted(found)


@pytest.mark.parametrize("verb", [" ".join(words) for words in _verbs()])
def test_every_verb_has_help(verb: str) -> None:
    result = runner.invoke(app, [*verb.split(), "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 5
    assert "<bool>" not in result.stdout  # flags take no value: none is shown
    # a verb's docstring is its help up to the form feed; the Args: section after it stays out of help
    assert "Args:" not in result.stdout and "Raises:" not in result.stdout and "\f" not in result.stdout


def test_the_verb_list_shows_no_docstring_sections() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "Args:" not in result.stdout and "\f" not in result.stdout


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

    maps = tmp_path / "maps"
    result = runner.invoke(
        app,
        [
            "predict",
            str(run),
            "--aoi",
            aoi,
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
    _long_table(tmp_path / "long.csv", samples=90)
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


def test_split_prints_the_audit_it_wrote_whatever_the_suffix(tmp_path: Path) -> None:
    _long_table(tmp_path / "long.csv", samples=30)
    series, split = tmp_path / "s.parquet", tmp_path / "split.pq"
    assert runner.invoke(app, ["--quiet", "import", str(tmp_path / "long.csv"), "--out", str(series)]).exit_code == 0
    result = runner.invoke(app, ["split", str(series), "--by", "random", "--out", str(split)])
    assert result.exit_code == 0, result.output
    printed = result.stdout.replace("\n", "")  # a long path may be folded at the console's width
    assert f"leakage audit: {tmp_path / 'split.pq.audit.md'}" in printed
    assert (tmp_path / "split.pq.audit.md").is_file()


def _long_table(path: Path, *, samples: int, dates: int = 28, seed: int = 0) -> Path:
    """A long-format NDVI table (string ids and labels, no coordinates) of three crops with distinct peaks."""
    import math
    import random

    rng = random.Random(seed)
    lines = ["sample_id,date,NDVI,label"]
    for i in range(samples):
        label = ("Maize", "Beans", "Paddy")[i % 3]
        peak = {"Maize": 180, "Beans": 220, "Paddy": 200}[label]
        for k in range(dates):
            day = 60 + 8 * k + rng.randint(0, 3)
            ndvi = 0.2 + 0.6 * math.exp(-(((day - peak) / 30) ** 2)) + rng.gauss(0, 0.03)
            stamp = dt.datetime(2021, 1, 1, 10, 30, tzinfo=dt.UTC) + dt.timedelta(days=day)
            lines.append(f"s{i},{stamp.isoformat()},{ndvi:.3f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _no_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_show_completion_prints_a_bash_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")  # take the shell from the option
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="inseason")
    assert result.exit_code == 0, result.output
    assert "complete -o default -F _inseason_completion inseason" in result.stdout
    assert "_INSEASON_COMPLETE=complete_bash" in result.stdout
    listed = runner.invoke(app, ["--help"]).stdout
    assert "--install-completion" in listed and "--show-completion" in listed


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("inseason pre", ["predict"]),
        ("inseason predict --allow-o", ["--allow-outside"]),
        ("inseason bench e", ["engines"]),
    ],
)
def test_bash_completion_completes_verbs_and_options(words: str, expected: list[str]) -> None:
    """What the installed bash completion script asks the program for, and its answer."""
    result = _run(
        env={"_INSEASON_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_help_is_a_fixed_width_when_piped() -> None:
    """Piped help is OUTPUT_WIDTH columns wide, not rich's 80, and no option name is cut."""
    result = _run("predict", "--help")
    assert result.returncode == 0, result.stderr
    text = _no_ansi(result.stdout)
    assert max(len(line) for line in text.splitlines()) == OUTPUT_WIDTH == 100
    command = typer.main.get_command(app).commands["predict"]  # type: ignore[attr-defined]
    options = [opt for param in command.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("-")]
    assert "--allow-outside" in options and len(options) > 15
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), option
    # a flag shows no value, and the help paragraph flows instead of breaking where the docstring did
    assert re.search(r"--json\s+Print what was written as JSON\.", text)
    description = [line.strip() for line in text.splitlines()[3:6]]
    assert description[0].startswith("Map crop types") and len(description[0]) > OUTPUT_WIDTH - 15
    assert " ".join(description).strip().endswith("GIF and the double-crop sequence and transition dates.")
    listing = _no_ansi(_run("--help").stdout)  # the verbs' first paragraphs flow too
    assert "items, a season GIF and the double-crop" in listing and "scenes, extract, series, split" in listing


def test_tables_are_not_cut_at_80_columns_when_piped() -> None:
    result = _run("models")
    assert result.returncode == 0, result.stderr
    assert 80 < max(len(line) for line in _no_ansi(result.stdout).splitlines()) <= OUTPUT_WIDTH


def test_output_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """COLUMNS wins; a terminal gets its width up to OUTPUT_WIDTH; a pipe or file gets OUTPUT_WIDTH."""
    import fcntl
    import io
    import pty
    import struct
    import termios

    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_width(io.StringIO()) == OUTPUT_WIDTH
    master, slave = pty.openpty()
    try:
        with open(slave, "w", closefd=False) as terminal:
            for columns, expected in ((60, 60), (OUTPUT_WIDTH + 80, OUTPUT_WIDTH)):
                fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
                assert output_width(terminal) == expected
            monkeypatch.setenv("COLUMNS", "132")
            assert output_width(terminal) == output_width(io.StringIO()) == 132
    finally:
        os.close(master)
        os.close(slave)


def test_plural() -> None:
    assert plural(1, "block") == "1 block"
    assert plural(0, "block") == "0 blocks"
    assert plural(2, "block") == "2 blocks"
    assert plural(1234, "label point") == "1,234 label points"
    assert plural(2, "class", "classes") == "2 classes" and plural(1, "class", "classes") == "1 class"


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


def test_a_stage_warning_is_one_line_on_stderr(tmp_path: Path) -> None:
    """`split --by random` warns that pixels of one field leak: one `warning:` line, nothing else."""
    from inseason.series.split import RANDOM_WARNING

    series, split = tmp_path / "s.parquet", tmp_path / "split.parquet"
    result = _run(
        "--quiet", "import", str(_long_table(tmp_path / "long.csv", samples=30, dates=8)), "--out", str(series)
    )
    assert result.returncode == 0, result.stderr
    result = _run("--quiet", "split", str(series), "--by", "random", "--out", str(split))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"warning: {RANDOM_WARNING}"]
    assert pq.read_metadata(split).num_rows == 30


@pytest.fixture(scope="module")
def label_points(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A label points table of the tiny world (read-only)."""
    out = tmp_path_factory.mktemp("points") / "points.parquet"
    result = runner.invoke(
        app,
        [
            "--quiet",
            "labels",
            "--cdl",
            str(tiny_world / "labels"),
            "--aoi",
            str(tiny_world / "aoi.geojson"),
            "--years",
            "2022",
            "--stride",
            "40",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


#: Per verb: arguments that make its stage refuse the input (a project error), with OUT the output it names.
_FAILING_RUNS = {
    "labels": [
        "labels",
        "--cdl",
        "{world}/labels",
        "--aoi",
        "{world}/aoi.geojson",
        "--years",
        "2022",
        "--classes",
        "Nonexistent",
        "--out",
        "OUT",
    ],
    "scenes": [
        "scenes",
        "--stac",
        "{world}/stac/catalog.json",
        "--aoi",
        "{world}/aoi.geojson",
        "--start",
        "2030-01-01",
        "--end",
        "2030-02-01",
        "--out",
        "OUT",
    ],
    "extract": ["extract", "{points}", "{points}", "--out", "OUT", "--workers", "1"],
    "series": ["series", "{tmp}/no-observations", "--points", "{points}", "--out", "OUT"],
    "import": ["import", "{points}", "--out", "OUT"],
    "split": ["split", "{points}", "--by", "field", "--fractions", "0.7,0.7,0.1", "--out", "OUT"],
    "train": ["train", "{points}", "--set", "no_such_option=3", "--out", "OUT"],
    "evaluate": ["evaluate", "{tmp}", "{points}", "--out", "OUT"],
    "predict": ["predict", "{tmp}", "--aoi", "{world}/aoi.geojson", "--as-of", "2022-06-01", "--out", "OUT"],
    "report": ["report", "{tmp}", "--out", "OUT"],
}


@pytest.mark.parametrize("verb", sorted(_FAILING_RUNS))
def test_a_failing_verb_leaves_nothing_behind(verb: str, tiny_world: Path, label_points: Path, tmp_path: Path) -> None:
    """A project error: exit code 2, and the output the user named does not exist (nor anything else)."""
    from inseason.errors import InseasonError

    out = tmp_path / "out" / "target"
    out.parent.mkdir()
    args = [
        a.format(world=tiny_world, points=label_points, tmp=tmp_path) if a != "OUT" else str(out)
        for a in _FAILING_RUNS[verb]
    ]
    result = runner.invoke(app, ["--quiet", *args])
    assert isinstance(result.exception, InseasonError), (result.exception, result.output)
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_user_text_is_printed_as_given_not_as_rich_markup(
    tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Square brackets in a path or option value are printed, not taken for rich markup tags."""
    result = _run("labels", "--cdl", "x", "--aoi", "x", "--years", "[bold]2021", "--out", str(tmp_path / "p.parquet"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --years takes integers, e.g. --years 2021,2022 (got ['[bold]2021'])"
    monkeypatch.chdir(tmp_path)  # a short relative path: the printed line is not wrapped inside it
    out = Path("[bold]scenes[/].parquet")
    result = runner.invoke(
        app,
        [
            "scenes",
            "--stac",
            str(tiny_world / "stac" / "catalog.json"),
            "--aoi",
            str(tiny_world / "aoi.geojson"),
            "--start",
            "2021-06-01",
            "--end",
            "2021-06-10",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and f"scenes in {out} (" in " ".join(result.stdout.split())
