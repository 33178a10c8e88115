"""The ``cross-validate`` verb: k-fold cross-validation of several models on identical folds, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inseason.cli.common import Seed, State, csv_list, json_flag, out_console, out_option, print_json, set_options
from inseason.errors import InputError

_NAMES = {"overall_accuracy": "overall accuracy", "macro_f1": "macro-F1", "kappa": "kappa"}


def _number(value: float | None, digits: int = 3) -> str:
    """A score with ``digits`` decimals, or a dash where it is undefined."""
    return "–" if value is None else f"{value:.{digits}f}"


def cross_validate(
    series_table: Annotated[
        Path, typer.Argument(metavar="SERIES", help="Series table (its folds from `split --folds` are reused).")
    ],
    out: Annotated[Path, out_option("Folder: one run folder per model and fold, and summary.json.")],
    models: Annotated[
        list[str], typer.Option(help="Models to compare (comma list of `inseason models` names), each with its preset.")
    ],
    folds: Annotated[int | None, typer.Option(help="Folds (default: the table's own, else 5).")] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Folds of fields, blocks or random samples (default: the table's own folds, else field)."),
    ] = None,
    block_size: Annotated[float, typer.Option(help="block: side of the square blocks in metres.")] = 2000.0,
    buffer: Annotated[float, typer.Option(help="Drop points within this many metres of another fold.")] = 0.0,
    validation: Annotated[
        float, typer.Option(help="Share of each fold's training part carved as validation (grouped by field).")
    ] = 0.15,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Training override KEY=VALUE for every model, e.g. --set epochs=20."),
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples of each fold's evaluation.")] = 200,
    seed: Seed = 0,
    allow_leakage: Annotated[bool, typer.Option(help="Use folds that leak by their definition anyway.")] = False,
    as_json: Annotated[bool, json_flag("Print the summary as JSON.")] = False,
) -> None:
    """Train and evaluate every model on the same k folds; compare them fold by fold with a paired test.

    A killed run resumes when started again with the same options: finished model and fold pairs are skipped.

    \f
    Args:
        series_table: The series table.
        out: ``--out``: the cross-validation folder.
        models: ``--models``: the registry models, each trained with its preset.
        folds: ``--folds``: the number of folds.
        by: ``--by``: field, block or random folds.
        block_size: ``--block-size`` of block folds, in metres.
        buffer: ``--buffer`` between folds, in metres.
        validation: ``--validation``: the share of each fold's training part carved as validation.
        set_: ``--set``: KEY=VALUE training overrides applied to every model's preset.
        n_boot: ``--n-boot``: bootstrap resamples of each fold's evaluation.
        seed: ``--seed`` of the folds, the carve and the bootstrap.
        allow_leakage: ``--allow-leakage``: use folds that leak anyway.
        as_json: ``--json``: print the summary as JSON instead of tables.

    Raises:
        InputError: A ``--set`` is not KEY=VALUE, or the series, the models or the folds' options are invalid.
    """  # noqa: D301
    from inseason.evaluate.crossval import CrossValidateRequest, run_cross_validate

    if by is not None and by not in ("field", "block", "random"):
        raise InputError(f"--by {by!r}: choose field, block or random")
    request = CrossValidateRequest.of(
        series=series_table,
        out=out,
        models=tuple(csv_list(models)),
        folds=folds,
        by=by,
        block_size=block_size,
        buffer=buffer,
        seed=seed,
        validation=validation,
        overrides=set_options(set_) or None,
        n_boot=n_boot,
        allow_leakage=allow_leakage,
        quiet=State.quiet or as_json,
    )
    result = run_cross_validate(request)
    if as_json:
        print_json(result.summary)
    elif not State.quiet:
        print_summary(result.summary)
        out_console.print(
            f"{result.ran} model and fold pairs run, {result.reused} reused; summary in {result.summary_json}"
        )


def print_summary(summary: dict[str, Any]) -> None:
    """Print a cross-validation summary: per-fold and pooled scores per model, then the paired comparisons.

    Args:
        summary: the summary document (`inseason.evaluate.crossval`).
    """
    metrics = summary["metrics"]
    folds = summary["folds"]
    table = Table(title=f"{len(folds)}-fold cross-validation ({summary['by']} folds), end-of-season scores")
    table.add_column("model")
    table.add_column("fold")
    for metric in metrics:
        table.add_column(_NAMES.get(metric, metric), justify="right")
    for model, entry in summary["models"].items():
        for row in entry["folds"]:
            table.add_row(model, row["fold"], *(_number(row[m]) for m in metrics))
        table.add_row(
            model,
            "mean ± sd",
            *(f"{_number(entry['mean'][m])} ± {_number(entry['std'][m])}" for m in metrics),
        )
        pooled = entry["pooled"] or {}
        table.add_row(model, "pooled", *(_number(pooled.get(m)) for m in metrics), end_section=True)
    out_console.print(table)
    if not summary["comparisons"]:
        return
    paired = Table(title=f"paired comparison ({summary['test']})")
    for column in ("models", "metric", "per-fold differences", "mean", "t", "p"):
        paired.add_column(column, justify="left" if column in ("models", "metric") else "right")
    for c in summary["comparisons"]:
        paired.add_row(
            " − ".join(c["models"]),
            _NAMES.get(c["metric"], c["metric"]),
            " ".join(f"{d:+.3f}" for d in c["differences"]),
            f"{c['mean']:+.3f}",
            _number(c["t"], 2),
            _number(c["p_value"]),
        )
    out_console.print(paired)
