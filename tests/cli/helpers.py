"""What the command-line tests share: a CLI runner, the program in a fresh process or in this one, a long-format
table, a small trained run."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

runner = CliRunner()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI's entry point in a fresh process (stdout and stderr are pipes, not a terminal)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    return subprocess.run(
        [sys.executable, "-c", "from inseason.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, **(env or {})},
    )


def long_table(
    path: Path, *, samples: int, dates: int = 28, seed: int = 0, start: dt.date = dt.date(2021, 1, 1)
) -> Path:
    """A long-format NDVI table (string ids and labels, no coordinates) of three crops with distinct peaks.

    Observations run every 8 days (±3) from day 60 after ``start``; the crops peak on days 180, 200 and 220.
    """
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
            stamp = dt.datetime.combine(start, dt.time(10, 30), tzinfo=dt.UTC) + dt.timedelta(days=day)
            lines.append(f"s{i},{stamp.isoformat()},{ndvi:.3f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Ran:
    """What a run of the CLI in this process gave: its exit code and what it printed."""

    code: int | str | None
    stdout: str
    stderr: str


def run_in_process(*args: str) -> Ran:
    """The CLI's entry point (`run_app`, as ``inseason ARGS``) in this process, its output captured.

    Warnings print as the program prints them (one ``warning:`` line) instead of being raised as pytest's
    warnings-as-errors would. An exception `run_app` lets through (a bug) propagates to the test.
    """
    from inseason.cli import app
    from inseason.cli.common import run_app

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = None
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            run_app(app, "inseason", list(args))
        except SystemExit as exc:
            code = exc.code
    return Ran(code, out.getvalue(), err.getvalue())


#: The cheapest model to train: a random forest of 10 trees (no network, no checkpoints, about a second).
SMALL_RUN = ("--model", "random_forest", "--set", "adapter.kind=bucketed", "--set", "model.params.n_estimators=10")


def small_run(split: Path, out: Path) -> Path:
    """Train the cheapest model (`SMALL_RUN`) on a split series table into the run folder ``out``."""
    ran = run_in_process("--quiet", "train", str(split), *SMALL_RUN, "--out", str(out))
    assert ran.code == 0, ran.stderr
    return out


def world_points_and_scenes(world: Path, folder: Path, *, end: str) -> tuple[Path, Path]:
    """Label points (2022, stride 40) and the scene manifest from 2022-04-01 to ``end`` of a synthetic ``world``,
    written in ``folder``; the inputs the CLI error tests start from."""
    from inseason.extract.scenes import find_scenes
    from inseason.sources.points import make_label_points

    points, scenes = folder / "points.parquet", folder / "scenes.parquet"
    make_label_points(
        cdl=str(world / "labels"), aoi=str(world / "aoi.geojson"), years=[2022], stride=40, out=points, quiet=True
    )
    find_scenes(
        stac=str(world / "stac" / "catalog.json"),
        aoi=str(world / "aoi.geojson"),
        start="2022-04-01",
        end=end,
        out=scenes,
        min_valid=0.0,
        quiet=True,
    )
    return points, scenes
