"""The ``inseason`` command line: one verb per pipeline stage, each a thin wrapper over a function.

This module makes the app, registers the verbs in the pipeline's order and runs it. The verbs live by group:
`inseason.cli.world` (synth, serve), `inseason.cli.data` (labels to split), `inseason.cli.model` (models,
train, evaluate, predict), `inseason.cli.report`, `inseason.cli.demo` and `inseason.cli.bench`; what they
share (help at a fixed width, the consoles, the options several verbs take) is in `inseason.cli.common`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import inseason
from inseason.cli import bench, crossval, data, demo, model, report, tune, world
from inseason.cli.common import App, State, err_console, install_reporting, out_console, run_app
from inseason.progress import output_width

app = App(
    name="inseason",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    help="In-season crop-type mapping from irregular Sentinel-2 time series.\n\n"
    "Each verb is one stage of the pipeline; its outputs are open files you can inspect and feed to "
    "the next verb. Start with `inseason demo`.",
)


def _version(value: bool) -> None:
    """``--version``: print the version and stop."""
    if value:
        typer.echo(f"inseason {inseason.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debugging details.")] = False,
) -> None:
    """The app's own options, before the verb; warnings and log records as one line while it runs."""
    State.quiet = quiet
    install_reporting(ctx, verbose=verbose)
    out_console.width, err_console.width = output_width(sys.stdout), output_width(sys.stderr)  # where they write


# The verbs, in the order `inseason --help` lists them: the pipeline's.
app.command("synth")(world.synth)
app.command("serve")(world.serve)
app.command("labels")(data.labels)
app.command("scenes")(data.scenes)
app.command("extract")(data.extract)
app.command("series")(data.series)
app.command("import")(data.import_)
app.command("split")(data.split)
app.command("models")(model.models)
app.command("train")(model.train)
app.command("evaluate")(model.evaluate)
app.command("cross-validate")(crossval.cross_validate)
app.command("tune")(tune.tune)
app.command("report")(report.report)
app.command("predict")(model.predict)
app.command("demo")(demo.demo)

bench_app = App(no_args_is_help=True, help="Benchmarks: both sides of a comparison in one run, as ratios.")
bench_app.command("ingest")(bench.ingest)
bench_app.command("engines")(bench.engines)
bench_app.command("series")(bench.series)
bench_app.command("predict")(bench.predict)
bench_app.command("train")(bench.train)
bench_app.command("accuracy")(bench.accuracy)
bench_app.command("scaling")(bench.scaling)
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Entry point of the ``inseason`` program: run the app, printing project errors as one line."""
    run_app(app, prog_name="inseason")
