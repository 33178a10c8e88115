"""The ``report`` verb: one self-contained HTML page of an evaluation, its comparisons and its maps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from inseason.cli.common import State, out_console, out_option


def report(
    run: Annotated[
        Path,
        typer.Argument(help="Run folder holding evaluation.json, an evaluation JSON file, or a cross-validate folder."),
    ],
    out: Annotated[Path, out_option("HTML file to write.")] = Path("report.html"),
    compare: Annotated[
        list[Path] | None, typer.Option(help="Other runs (or evaluation files) to compare with.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Report title.")] = None,
    maps: Annotated[
        Path | None,
        typer.Option(
            help="An `inseason predict --out` folder: its wall-to-wall maps "
            "(class, confidence, a date slider) and mapped areas."
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="A CDL-coded GeoTIFF (any CRS) of the maps' season, drawn "
            "beside them in the model's classes (needs --maps)."
        ),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="The run folder of the model that made the maps, to turn "
            "CDL codes into its classes (default: RUN when it is a "
            "folder and --truth is given)."
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML report (no network needed) of an evaluation, with the wall-to-wall maps
    of a predict run when --maps is given.

    \f
    Args:
        run: The run folder holding evaluation.json, or an evaluation JSON file.
        out: ``--out``: the HTML file.
        compare: ``--compare``: other runs or evaluation files, beside ``run``.
        title: ``--title`` of the report.
        maps: ``--maps``: a predict run's folder.
        truth: ``--truth``: a CDL-coded GeoTIFF drawn beside the maps.
        bundle: ``--bundle``: the run whose classes the ``truth`` codes become.

    Raises:
        InputError: An evaluation, the maps or the truth cannot be read.
    """  # noqa: D205, D301
    from inseason.evaluate import read_evaluation
    from inseason.evaluate.run import EVALUATION_FILE
    from inseason.report import ReportRequest, run_report

    def load(path: Path) -> dict[str, Any]:
        return read_evaluation(path / EVALUATION_FILE if path.is_dir() else path)

    from inseason.evaluate.crossval import cross_validation_in

    summary = cross_validation_in(run)
    if summary is not None:  # a cross-validate folder: its own page
        from inseason.report.crossval import write_cross_validation_report

        written = write_cross_validation_report(summary, out=out, title=title)
        if not State.quiet:
            out_console.print(f"report: {written.resolve()}")
        return
    if bundle is None and truth is not None and run.is_dir():
        bundle = run
    request = ReportRequest.of(
        evaluation=load(run),
        out=out,
        title=title,
        comparisons=[load(p) for p in compare or []],
        maps=None if maps is None else str(maps),
        truth=None if truth is None else str(truth),
        bundle=None if bundle is None else str(bundle),
    )
    path = run_report(request).path
    if not State.quiet:
        out_console.print(f"report: {path.resolve()}")
