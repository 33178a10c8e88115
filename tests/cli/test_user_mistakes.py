"""Every user mistake is one ``error:`` line with exit 2: a table of bad invocations across the verbs.

Each case runs the CLI's entry point in this process on small inputs (a tiny world, its label points and
scenes, an imported long table and its split, one small trained run built once and copied, edited, for the
cases that need a run) as on a machine without a GPU, and asserts exit code 2, exactly one ``error:`` line on
stderr naming the offending input, no traceback, nothing written where ``--out`` pointed and a run given left
as it was. Every case fails before any work starts (no training, no extraction). ``docs/errors.md`` lists the
same cases with the message each gets; regenerate it with ``python -m tests.cli.test_user_mistakes`` after a
message changes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.cli.helpers import long_table, run_in_process, small_run, world_points_and_scenes

DOCS = Path(__file__).parents[2] / "docs" / "errors.md"


@dataclass(frozen=True)
class Mistake:
    """A bad invocation: the verb, what is wrong, the arguments and what the error line must name.

    Arguments and ``names`` hold ``{placeholders}`` of the inputs (`make_inputs`); ``{out}`` is an output path
    that must not exist after the run. ``{run}`` is a run folder made for the case by ``setup`` (a key of
    `SETUPS`: a copy of a small trained run, edited, or an interrupted run's folder); it must be unchanged after
    the run.
    """

    verb: str
    what: str
    args: tuple[str, ...]
    names: str
    setup: str | None = None


def _m(verb: str, what: str, args: str, names: str, setup: str | None = None) -> Mistake:
    return Mistake(verb, what, tuple(args.split()), names, setup)


W = "{world}"
SCENES = f"--stac {W}/stac/catalog.json --aoi {W}/aoi.geojson"
LABELS = f"--cdl {W}/labels --aoi {W}/aoi.geojson"
PREDICT = "--aoi {world}/aoi.geojson --scenes {scenes} --out {out}"

MISTAKES: tuple[Mistake, ...] = (
    # the command line itself
    _m("inseason", "unknown verb", "nosuch", "'nosuch'"),
    _m("synth", "unknown option", "synth --sise tiny --out {out}", "--sise"),
    _m("synth", "option value not a number", "synth --workers many --out {out}", "--workers"),
    _m("labels", "missing option", f"labels {LABELS} --out {{out}}", "--years"),
    _m("split", "missing argument", "split --out {out}", "SERIES"),
    # synth and serve
    _m("synth", "unknown world size", "synth --size huge --out {out}", "'huge'"),
    _m("synth", "no worker", "synth --workers 0 --out {out}", "--workers 0"),
    _m("synth", "negative seed", "synth --seed -1 --out {out}", "--seed -1"),
    _m("synth", "too many tiles", "synth --tiles-x 9 --out {out}", "tiles_x"),
    _m("synth", "cloudiness above 0.9", "synth --cloudiness 2 --out {out}", "cloudiness"),
    _m("serve", "not a world", "serve {missing}", "{missing}"),
    _m("serve", "negative port", f"serve {W} --files-port -1", "--files-port -1"),
    _m("serve", "port above 65535", f"serve {W} --stac-port 70000", "--stac-port 70000"),
    _m("serve", "port not a number", f"serve {W} --stac-port http", "--stac-port"),
    _m("serve", "busy port", f"serve {W} --files-port {{busy}}", "--files-port {busy}"),
    _m("serve", "one port for both servers", f"serve {W} --files-port 8123 --stac-port 8123", "8123"),
    # labels
    _m("labels", "years not integers", f"labels {LABELS} --years 20x2 --out {{out}}", "20x2"),
    _m(
        "labels",
        "missing CDL folder",
        "labels --cdl {missing} --aoi {world}/aoi.geojson --years 2022 --out {out}",
        "{missing}",
    ),
    _m(
        "labels",
        "AOI neither a box nor a file",
        f"labels --cdl {W}/labels --aoi 1,2,3 --years 2022 --out {{out}}",
        "1,2,3",
    ),
    _m("labels", "zero stride", f"labels {LABELS} --years 2022 --stride 0 --out {{out}}", "--stride 0"),
    _m("labels", "unknown strategy", f"labels {LABELS} --years 2022 --strategy foo --out {{out}}", "'foo'"),
    _m("labels", "negative seed", f"labels {LABELS} --years 2022 --seed -5 --out {{out}}", "--seed -5"),
    # scenes
    _m("scenes", "not a date", f"scenes {SCENES} --start 2022-13-01 --end 2022-05-01 --out {{out}}", "2022-13-01"),
    _m("scenes", "dates swapped", f"scenes {SCENES} --start 2022-06-01 --end 2022-05-01 --out {{out}}", "2022-06-01"),
    _m(
        "scenes",
        "missing catalog",
        "scenes --stac {missing} --aoi {world}/aoi.geojson --start 2022-04-01 --end 2022-05-01 --out {out}",
        "{missing}",
    ),
    _m(
        "scenes",
        "unknown signing",
        f"scenes {SCENES} --start 2022-04-01 --end 2022-05-01 --sign s3 --out {{out}}",
        "'s3'",
    ),
    _m(
        "scenes",
        "anonymous and requester-pays reads",
        f"scenes {SCENES} --start 2022-04-01 --end 2022-05-01 --no-sign-request --requester-pays --out {{out}}",
        "--requester-pays",
    ),
    _m(
        "labels",
        "missing CA bundle",
        "labels --cdl cropscape --aoi=-90.81,33.39,-90.79,33.41 --years 2021 --ca-bundle {missing} --out {out}",
        "{missing}",
    ),
    _m(
        "scenes",
        "no worker",
        f"scenes {SCENES} --start 2022-04-01 --end 2022-05-01 --workers 0 --out {{out}}",
        "--workers 0",
    ),
    _m(
        "scenes",
        "SCL class 300",
        f"scenes {SCENES} --start 2022-04-01 --end 2022-05-01 --scl-mask 300 --out {{out}}",
        "300",
    ),
    _m(
        "scenes",
        "share above 1",
        f"scenes {SCENES} --start 2022-04-01 --end 2022-05-01 --min-valid 2 --out {{out}}",
        "min_valid",
    ),
    # extract
    _m("extract", "negative workers", "extract {points} {scenes} --out {out} --workers -1", "--workers -1"),
    _m("extract", "SCL mask not integers", "extract {points} {scenes} --out {out} --scl-mask x", "--scl-mask"),
    _m("extract", "SCL class 300", "extract {points} {scenes} --out {out} --scl-mask 300", "300"),
    _m(
        "extract",
        "season start 13-01",
        "extract {points} {scenes} --out {out} --season-start 13-01",
        "--season-start '13-01'",
    ),
    _m("extract", "missing points", "extract {missing} {scenes} --out {out}", "{missing}"),
    _m("extract", "points not Parquet", "extract {long} {scenes} --out {out}", "{long}"),
    _m("extract", "scene manifest of another kind", "extract {points} {points} --out {out}", "{points}"),
    _m("extract", "unknown engine", "extract {points} {scenes} --out {out} --engine foo", "'foo'"),
    # series
    _m("series", "missing observations", "series {missing} --points {points} --out {out}", "{missing}"),
    _m(
        "series",
        "memory limit not a size",
        "series {empty} --points {points} --out {out} --memory-limit lots",
        "'lots'",
    ),
    _m(
        "series",
        "memory limit holding SQL",
        "series {empty} --points {points} --out {out} --memory-limit 1GB';SELECT'1",
        "--memory-limit",
    ),
    _m("series", "season start 00-00", "series {empty} --points {points} --out {out} --season-start 00-00", "'00-00'"),
    # import
    _m("import", "missing table", "import {missing} --out {out}", "{missing}"),
    _m("import", "table without the long-format columns", "import {points} --out {out}", "sample_id"),
    _m("import", "not a table", "import {bad_yaml} --out {out}", "{bad_yaml}"),
    _m("import", "season start 00-00", "import {long} --out {out} --season-start 00-00", "'00-00'"),
    _m("import", "unknown band", "import {long} --out {out} --bands NOPE", "NOPE"),
    _m("import", "unknown label map", "import {long} --out {out} --label-map nosuch", "'nosuch'"),
    # split
    _m("split", "missing series", "split {missing} --out {out}", "{missing}"),
    _m("split", "series not Parquet", "split {long} --out {out}", "{long}"),
    _m("split", "unknown method", "split {series} --by foo --out {out}", "'foo'"),
    _m("split", "fractions not numbers", "split {series} --by field --fractions a,b --out {out}", "a,b"),
    _m("split", "fractions above 1", "split {series} --by field --fractions 0.5,0.5,0.5 --out {out}", "0.5"),
    _m("split", "years not integers", "split {series} --by year --train-years x --out {out}", "--train-years"),
    _m("split", "one fold", "split {series} --by field --folds 1 --out {out}", "--folds"),
    _m("split", "negative seed", "split {series} --by random --seed -3 --out {out}", "--seed -3"),
    # train
    _m("train", "--set value not YAML", "train {split} --set epochs=[1, --out {out}", "epochs=[1,"),
    _m("train", "--set without a value", "train {split} --set epochs --out {out}", "'epochs'"),
    _m("train", "--set out of range", "train {split} --set epochs=-1 --out {out}", "epochs"),
    _m("train", "unknown model", "train {split} --model nosuch --out {out}", "'nosuch'"),
    _m("train", "unknown preset", "train {split} --preset nosuch --out {out}", "'nosuch'"),
    _m("train", "missing config", "train {split} --config {missing} --out {out}", "{missing}"),
    _m(
        "train",
        "config not YAML",
        "train {split} --config {bad_yaml} --out {out}",
        "{bad_yaml} is not valid YAML (line 2",
    ),
    _m("train", "config not a mapping", "train {split} --config {long} --out {out}", "{long}"),
    _m("train", "config not text", "train {split} --config {points} --out {out}", "{points}"),
    _m("train", "missing series", "train {missing} --model lstm --out {out}", "{missing}"),
    _m("train", "series not split yet", "train {series} --model lstm --out {out}", "run inseason split first"),
    _m(
        "train", "series without a split column", "train {nosplit} --model lstm --out {out}", "run inseason split first"
    ),
    _m(
        "train",
        "model parameter out of range",
        "train {split} --set features.indices=[] --set model.params.filters=-4 --out {out}",
        "model.params.filters",
    ),
    _m(
        "train",
        "GPU asked for, none here",
        "train {split} --model lstm --set accelerator=gpu --out {out}",
        "accelerator",
    ),
    _m(
        "train",
        "resume from a checkpoint holding a pickled object",
        "train {split} --model lstm --resume --out {run}",
        "{run}/checkpoints/last.ckpt cannot be loaded safely",
        "pickled checkpoint",
    ),
    _m("train", "validation split is train", "train {split} --set val_split=train --out {out}", "'train'"),
    _m(
        "train",
        "index the bands cannot give",
        "train {split} --model random_forest --set features.indices=[NDMI] --out {out}",
        "NDMI",
    ),
    _m(
        "train",
        "ensemble of two adapters",
        "train {split} --model ensemble --set model.params.members=[tempcnn,ltae] --out {out}",
        "ensemble-sequence",
    ),
    _m("train", "resume a finished run", "train {split} --model lstm --resume --out {run}", "{run}", "trained"),
    # evaluate
    _m("evaluate", "no model bundle", "evaluate {empty} {split} --out {out}", "{empty}"),
    _m("evaluate", "as-of not a month-day", "evaluate {empty} {split} --as-of 13-45 --out {out}", "'13-45'"),
    _m("evaluate", "unknown grouping", "evaluate {empty} {split} --by foo --out {out}", "'foo'"),
    _m("evaluate", "negative seed", "evaluate {empty} {split} --seed -1 --out {out}", "--seed -1"),
    _m("evaluate", "no importance repeat", "evaluate {empty} {split} --importance-repeats 0", "--importance-repeats"),
    _m(
        "evaluate", "bundle without its classes", "evaluate {run} {split} --out {out}", "{run}/model.json", "no classes"
    ),
    _m("evaluate", "class without a colour", "evaluate {run} {split} --out {out}", "{run}/model.json", "colourless"),
    _m("evaluate", "normalisation not numbers", "evaluate {run} {split} --out {out}", "{run}/model.json", "text mean"),
    _m(
        "evaluate",
        "calibration not a number",
        "evaluate {run} {split} --out {out}",
        "{run}/model.json",
        "hot calibration",
    ),
    _m(
        "evaluate",
        "negative calibration temperature",
        "evaluate {run} {split} --out {out}",
        "{run}/model.json",
        "negative temperature",
    ),
    _m("evaluate", "tampered bundle, no --out", "evaluate {run} {split}", "{run}/model.json", "text mean"),
    # report
    _m("report", "missing evaluation", "report {missing} --out {out}", "{missing}"),
    _m("report", "run without evaluation", "report {empty} --out {out}", "{empty}"),
    _m("report", "evaluation not JSON", "report {bad_json} --out {out}", "{bad_json}"),
    # predict
    _m("predict", "no model bundle", f"predict {{empty}} {PREDICT} --as-of 2022-06-01", "{empty}"),
    _m(
        "predict",
        "neither scenes nor STAC",
        "predict {empty} --aoi {world}/aoi.geojson --as-of 2022-06-01 --out {out}",
        "--scenes",
    ),
    _m("predict", "as-of not a date", f"predict {{empty}} {PREDICT} --as-of 2022-13-01", "2022-13-01"),
    _m("predict", "every 0 days", f"predict {{empty}} {PREDICT} --every 0d --from 2022-01-01 --to 2022-02-01", "'0d'"),
    _m("predict", "SCL class 300", f"predict {{empty}} {PREDICT} --as-of 2022-06-01 --scl-mask 300", "300"),
    _m("predict", "no worker", f"predict {{empty}} {PREDICT} --as-of 2022-06-01 --workers 0", "--workers 0"),
    _m("predict", "block too small", f"predict {{empty}} {PREDICT} --as-of 2022-06-01 --block-size 0", "block_size=0"),
    _m("predict", "--out and --update", f"predict {{empty}} {PREDICT} --as-of 2022-06-01 --update {{out}}", "--update"),
    _m(
        "predict",
        "bundle without its classes",
        f"predict {{run}} {PREDICT} --as-of 2022-06-01",
        "{run}/model.json",
        "no classes",
    ),
    _m(
        "predict",
        "class without a colour",
        f"predict {{run}} {PREDICT} --as-of 2022-06-01",
        "{run}/model.json",
        "colourless",
    ),
    _m(
        "predict",
        "normalisation not numbers",
        f"predict {{run}} {PREDICT} --as-of 2022-06-01",
        "{run}/model.json",
        "text mean",
    ),
    # demo
    _m("demo", "zero stride", "demo --stride 0 --out {out}", "--stride 0"),
    _m("demo", "negative seed", "demo --seed -1 --out {out}", "--seed -1"),
    _m("demo", "unknown world size", "demo --size huge --out {out}", "huge"),
    # bench
    _m("bench predict", "unknown network", "bench predict --networks resnet", "'resnet'"),
    _m("bench predict", "no worker", "bench predict --workers 0", "--workers 0"),
    _m("bench series", "memory limit not a size", "bench series --memory-limit lots", "'lots'"),
    _m("bench train", "unknown model", "bench train --models nosuch", "'nosuch'"),
    _m("bench train", "too few samples", "bench train --n-samples 0", "n_samples=0"),
    _m("bench train", "no repeat", "bench train --repeats 0", "repeats >= 1"),
    _m("bench ingest", "no worker", "bench ingest --workers 0", "--workers 0"),
    _m("bench ingest", "zero stride", "bench ingest --stride 0", "--stride 0"),
    _m("bench ingest", "no repeat", "bench ingest --repeats 0", "--repeats 0"),
    _m("bench ingest", "dense without points", "bench ingest --dense --points 0", "--points 0"),
    _m("bench engines", "no worker", "bench engines --workers 0", "--workers 0"),
    _m("bench accuracy", "unknown model", "bench accuracy --models nosuch", "'nosuch'"),
    _m("bench accuracy", "unknown setting", "bench accuracy --settings nosuch", "'nosuch'"),
    _m("bench accuracy", "scale too small", "bench accuracy --scale 0.01", "--scale 0.01"),
    _m("bench accuracy", "zero epochs", "bench accuracy --epochs 0", "--epochs 0"),
    _m("bench accuracy", "repeated seeds", "bench accuracy --seeds 0,0", "--seeds 0,0"),
    _m("bench accuracy", "seed not a number", "bench accuracy --seeds a", "--seeds takes integers"),
    # cross-validate
    _m("cross-validate", "unknown model", "cross-validate {split} --models tempcnn,nosuch --out {out}", "'nosuch'"),
    _m("cross-validate", "one fold", "cross-validate {split} --models tempcnn --folds 1 --out {out}", "--folds 1"),
    _m(
        "cross-validate",
        "unknown grouping",
        "cross-validate {split} --models tempcnn --by fields --out {out}",
        "'fields'",
    ),
    # tune
    _m("tune", "unknown model", "tune {split} --model nosuch --out {out}", "'nosuch'"),
    _m("tune", "space key not an option", "tune {split} --space {bad_space} --out {out}", "'nosuch_key'"),
    _m("tune", "no trial", "tune {split} --trials 0 --out {out}", "--trials"),
    _m("tune", "folds without cv", "tune {split} --folds 3 --out {out}", "--objective cv"),
)


def case_id(mistake: Mistake) -> str:
    """The case's test id and docs key: ``verb: what``."""
    return f"{mistake.verb}: {mistake.what}"


def make_inputs(folder: Path, world: Path) -> dict[str, str]:
    """The inputs the cases name, made in ``folder`` from a tiny ``world`` (label points, scenes, a long table
    imported and split, the split without its split column, a small trained run, a folder without a run,
    malformed files, a path that does not exist)."""
    import pyarrow.parquet as pq

    points, scenes = world_points_and_scenes(world, folder, end="2022-05-01")
    long = long_table(folder / "long.csv", samples=30, dates=8)
    series, split = folder / "series.parquet", folder / "split.parquet"
    for args in (
        ("import", str(long), "--out", str(series)),
        ("split", str(series), "--by", "random", "--out", str(split)),
    ):
        ran = run_in_process("--quiet", *args)
        assert ran.code == 0, ran.stderr
    pq.write_table(pq.read_table(split).drop_columns(["split"]), folder / "nosplit.parquet")
    small_run(split, folder / "trained")
    (folder / "empty").mkdir()
    (folder / "bad.json").write_text('{"overall_accuracy": ')
    (folder / "bad.yaml").write_text("epochs: [1,\n")
    (folder / "space.yaml").write_text("nosuch_key: [1, 2]\n")
    return {
        "world": str(world),
        "points": str(points),
        "scenes": str(scenes),
        "long": str(long),
        "series": str(series),
        "split": str(split),
        "nosplit": str(folder / "nosplit.parquet"),
        "trained": str(folder / "trained"),
        "empty": str(folder / "empty"),
        "bad_json": str(folder / "bad.json"),
        "bad_yaml": str(folder / "bad.yaml"),
        "bad_space": str(folder / "space.yaml"),
        "missing": str(folder / "missing"),
    }


@pytest.fixture(scope="module")
def inputs(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The cases' inputs (read-only)."""
    return make_inputs(tmp_path_factory.mktemp("mistakes"), tiny_world)


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port another socket listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class _Payload:
    """An object whose unpickling runs code: it creates the file ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (self.marker, "w")


def _pickled_checkpoint(run: Path, trained: Path) -> None:
    """An interrupted run's folder whose last checkpoint holds a pickled object besides its tensors."""
    import torch

    (run / "checkpoints").mkdir(parents=True)
    checkpoint = {"state_dict": {}, "loops": {}, "global_step": 4, "payload": _Payload(run / "unpickled")}
    torch.save(checkpoint, run / "checkpoints" / "last.ckpt")


def _edited_bundle(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path, Path], None]:
    """A setup copying the trained run and editing its model.json with ``edit``."""

    def setup(run: Path, trained: Path) -> None:
        shutil.copytree(trained, run)
        manifest = json.loads((run / "model.json").read_text())
        edit(manifest)
        (run / "model.json").write_text(json.dumps(manifest, indent=2))

    return setup


#: How a case's ``{run}`` is made from the small trained run (random forest, `small_run`).
SETUPS: dict[str, Callable[[Path, Path], None]] = {
    "trained": lambda run, trained: shutil.copytree(trained, run) and None,
    "no classes": _edited_bundle(lambda m: m.pop("classes")),
    "colourless": _edited_bundle(lambda m: m["classes"][0].pop("color")),
    "text mean": _edited_bundle(lambda m: m["normalization"].update(mean=["high"] * len(m["normalization"]["mean"]))),
    "pickled checkpoint": _pickled_checkpoint,
    "hot calibration": _edited_bundle(
        lambda m: m.update(calibration={**(m.get("calibration") or {"method": "temperature"}), "temperature": "hot"})
    ),
    "negative temperature": _edited_bundle(
        lambda m: m.update(calibration={**(m.get("calibration") or {"method": "temperature"}), "temperature": -1.0})
    ),
}


def run_mistake(mistake: Mistake, values: dict[str, str]) -> tuple[list[str], str, int | str | None]:
    """Run a case as on a machine without a GPU: its arguments with the placeholders filled in, the stderr
    lines, the line and the code."""
    import torch

    args = [a.format(**values) for a in mistake.args]
    with mock.patch.object(torch.cuda, "is_available", return_value=False):
        ran = run_in_process("--quiet", *args)
    lines = ran.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    return lines, errors[0] if len(errors) == 1 else ran.stderr, ran.code


@pytest.mark.parametrize("mistake", MISTAKES, ids=case_id)
def test_a_user_mistake_is_one_error_line(
    mistake: Mistake, inputs: dict[str, str], busy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a verb's default output (report.html, demo-out) would land here
    out, run = tmp_path / "out" / "target", tmp_path / "run"
    values = {**inputs, "out": str(out), "busy": str(busy_port), "run": str(run)}
    if mistake.setup is not None:
        SETUPS[mistake.setup](run, Path(inputs["trained"]))
    before = _files(run)
    lines, line, code = run_mistake(mistake, values)
    assert code == 2, (code, lines)
    assert "Traceback" not in "\n".join(lines)
    assert [x for x in lines if x.startswith("error:")] == [line], lines  # exactly one error line
    assert all(x.startswith(("error:", "warning:")) for x in lines), lines  # and nothing else but warnings
    assert mistake.names.format(**values) in line
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert _files(run) == before  # the run given is left as it was (nothing unpickled, nothing written)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["run"] if mistake.setup else [])


def _files(folder: Path) -> dict[str, bytes]:
    """The files under ``folder`` and their contents."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _docs_rows() -> dict[str, tuple[str, str]]:
    """``case id -> (command, message)`` of the table in docs/errors.md."""
    rows = {}
    for row in DOCS.read_text().splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
        if len(cells) == 4 and cells[0] not in ("verb", "---"):
            rows[f"{cells[0]}: {cells[1]}"] = (cells[2].strip("`"), cells[3])
    return rows


def test_the_docs_list_every_case_and_its_message_names_the_input() -> None:
    rows = _docs_rows()
    assert sorted(rows) == sorted(case_id(m) for m in MISTAKES), "regenerate: python -m tests.cli.test_user_mistakes"
    for mistake in MISTAKES:
        command, message = rows[case_id(mistake)]
        assert command == _command(mistake), case_id(mistake)
        assert message.startswith("error: ") and mistake.names.format(**_DOC_NAMES) in message, case_id(mistake)


def _command(mistake: Mistake) -> str:
    """The case's command as the docs show it: placeholders in capitals."""
    words = [a.format(**_DOC_NAMES) for a in mistake.args]
    return "inseason " + " ".join(words)


_DOC_NAMES = {
    k: k.upper() for k in ("world", "points", "scenes", "long", "series", "split", "nosplit", "empty", "out", "run")
} | {
    "trained": "TRAINED",
    "bad_json": "BAD_JSON",
    "bad_yaml": "BAD_YAML",
    "missing": "MISSING",
    "busy": "PORT",
    "bad_space": "SPACE",
}


def _normalise(text: str, values: dict[str, str]) -> str:
    """A message with the inputs' paths as the docs' placeholders (terminal escapes dropped)."""
    for key in sorted(values, key=lambda k: -len(values[k])):
        text = text.replace(values[key], _DOC_NAMES[key])
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.sub(r"\s+", " ", text).replace("|", "\\|")


def write_docs() -> None:
    """Run every case on fresh inputs and write docs/errors.md with the message each gets."""
    from inseason.synth import synth

    with tempfile.TemporaryDirectory() as tmp, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        root = Path(tmp)
        world = synth(root / "world", size="tiny", seed=1, quiet=True).path
        (root / "inputs").mkdir()
        values = make_inputs(root / "inputs", world)
        rows = []
        for i, mistake in enumerate(MISTAKES):
            run = root / "cases" / str(i) / "run"
            values |= {"out": str(root / "out" / "target"), "busy": str(sock.getsockname()[1]), "run": str(run)}
            if mistake.setup is not None:
                SETUPS[mistake.setup](run, Path(values["trained"]))
            _, line, code = run_mistake(mistake, values)
            assert code == 2, (case_id(mistake), line)
            rows.append(f"| {mistake.verb} | {mistake.what} | `{_command(mistake)}` | {_normalise(line, values)} |")
    DOCS.write_text(DOCS.read_text().split(_TABLE_START)[0] + _TABLE_START + "\n".join(rows) + "\n")


_TABLE_START = "| verb | mistake | command | message |\n| --- | --- | --- | --- |\n"


if __name__ == "__main__":
    write_docs()
    sys.exit(0)
