"""The ``demo`` verb: the whole pipeline on a synthetic world, ending in the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from inseason.cli.common import Seed, State, err_console, out_console, out_option, stride_option


def demo(
    out: Annotated[Path, out_option("Folder for the demo's outputs (reused when run again).")] = Path("demo-out"),
    size: Annotated[
        str, typer.Option(help="World size to run on: demo (minutes), small or tiny (faster, rougher).")
    ] = "demo",
    seed: Seed = 1,
    stride: Annotated[int, stride_option("Every k-th label pixel is a sample (the course: 15).")] = 15,
) -> None:
    """Run the whole pipeline on a synthetic world and write the HTML report: synth, labels, scenes,
    extract, series, split, train the ARSET recipe and ours, evaluate (with the course protocol), map the
    test area as of four dates, report. Prints each model's end-of-season scores with their date, its best
    as-of date, and the course protocol beside the course's published figures.

    \f
    Args:
        out: ``--out``: the demo's folder; the stages it already holds are reused.
        size: ``--size`` of the synthetic world.
        seed: ``--seed`` of the world and the stages.
        stride: ``--stride``: every k-th label pixel is a sample.
    """  # noqa: D205, D301
    from inseason.demo import run_demo, summary_table

    def say(message: str) -> None:
        if not State.quiet:
            err_console.print(f"[bold]·[/] {escape(message)}")

    result = run_demo(out, size=size, seed=seed, stride=stride, quiet=State.quiet, say=say)
    if not State.quiet:
        out_console.print(summary_table(result))
        out_console.print(f"maps by {escape(result.mapped_by)}: {escape(str(result.maps_folder))}")
    out_console.print(f"report: {escape(str(result.report.resolve()))}")
