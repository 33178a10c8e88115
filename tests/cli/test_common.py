"""The command line: help for every verb (at a fixed width, flags without values), the version, shell
completion, warnings and errors as one line without a traceback, nothing written when a verb fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import typer

import inseason
from inseason.cli import app
from inseason.progress import OUTPUT_WIDTH
from tests.cli.helpers import long_table, run_cli, runner


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
    result = run_cli("synth", "--size", "huge", "--out", str(tmp_path / "w"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown world size 'huge': choose one of tiny, small, demo, large"
    assert "Traceback" not in result.stderr


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    result = run_cli("--quiet", "synth", "--size", "tiny", "--years", "2022", "--out", str(tmp_path / "w"))
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


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
    result = run_cli(
        env={"_INSEASON_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_help_is_a_fixed_width_when_piped() -> None:
    """Piped help is OUTPUT_WIDTH columns wide, not rich's 80, and no option name is cut."""
    result = run_cli("predict", "--help")
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
    listing = _no_ansi(run_cli("--help").stdout)  # the verbs' first paragraphs flow too
    assert "items, a season GIF and the double-crop" in listing and "scenes, extract, series, split" in listing


def test_tables_are_not_cut_at_80_columns_when_piped() -> None:
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    assert 80 < max(len(line) for line in _no_ansi(result.stdout).splitlines()) <= OUTPUT_WIDTH


def test_a_stage_warning_is_one_line_on_stderr(tmp_path: Path) -> None:
    """`split --by random` warns that pixels of one field leak: one `warning:` line, nothing else."""
    from inseason.series.split import RANDOM_WARNING

    series, split = tmp_path / "s.parquet", tmp_path / "split.parquet"
    result = run_cli(
        "--quiet", "import", str(long_table(tmp_path / "long.csv", samples=30, dates=8)), "--out", str(series)
    )
    assert result.returncode == 0, result.stderr
    result = run_cli("--quiet", "split", str(series), "--by", "random", "--out", str(split))
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
    result = run_cli(
        "labels", "--cdl", "x", "--aoi", "x", "--years", "[bold]2021", "--out", str(tmp_path / "p.parquet")
    )
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
