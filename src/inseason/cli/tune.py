"""The ``tune`` verb: search a model's training options with Optuna (`inseason.tune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inseason.cli.common import (
    SplitSeries,
    State,
    json_flag,
    out_console,
    out_option,
    print_json,
    seed_option,
    set_options,
)


def tune(
    series_table: SplitSeries,
    out: Annotated[Path, out_option("Search folder: study.db (resumable), trials/NNNN run folders, best.yaml.")],
    model: Annotated[str | None, typer.Option(help="Model to tune (`inseason models`); applies its preset.")] = None,
    preset: Annotated[str | None, typer.Option(help="Training preset the trials start from.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config the trials start from (after the preset).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override KEY=VALUE of the starting config, e.g. --set epochs=10."),
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option(
            help="YAML search space: dotted key → {low, high, log, step} or {choices}; null drops a default key."
        ),
    ] = None,
    trials: Annotated[
        int, typer.Option(min=1, help="Trials the study holds when the search ends (a resume counts).")
    ] = 20,
    objective: Annotated[
        str, typer.Option(help="validation (macro-F1 on the validation split) or cv (cross-validation).")
    ] = "validation",
    folds: Annotated[
        int | None, typer.Option(help="--objective cv: folds (default: the table's own folds, else 5).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(help="--objective cv: folds by field, block or random (default: the table's own, else field)."),
    ] = None,
    pruner: Annotated[
        str,
        typer.Option(
            help="Pruning of poor trials (after an epoch, or a fold with --objective cv): median, hyperband or none."
        ),
    ] = "median",
    seed: Annotated[int, seed_option("Seed of the sampler (TPE).")] = 0,
    as_json: Annotated[bool, json_flag("Print the search summary as JSON.")] = False,
) -> None:
    """Search a model's training options with Optuna; write the best config as YAML for `train --config`.

    Run it again with the same --out to resume a killed search or add trials.

    \f
    Args:
        series_table: The series table with a split column.
        out: ``--out``: the search folder.
        model: ``--model``: the model tuned, whose preset applies unless ``preset`` or ``config`` is given.
        preset: ``--preset``: the training preset the trials start from.
        config: ``--config``: a YAML config applied after the preset.
        set_: ``--set``: KEY=VALUE overrides applied last.
        space: ``--space``: a YAML file of search-space changes.
        trials: ``--trials``: trials the study holds at the end.
        objective: ``--objective``: validation or cv.
        folds: ``--folds`` of ``--objective cv``.
        by: ``--by``: how the folds of ``--objective cv`` are made.
        pruner: ``--pruner``: median, hyperband or none.
        seed: ``--seed`` of the sampler.
        as_json: ``--json``: print the summary as JSON instead of a table.

    Raises:
        InputError: A ``--set`` is not KEY=VALUE, the search space, the config or the series table is invalid,
            or ``--out`` holds a study of another model, objective or table.
    """  # noqa: D301
    import dataclasses

    from inseason.train import TrainConfig, train_config
    from inseason.train.config import model_preset
    from inseason.tune import TuneRequest, load_space, run_tune

    overrides = set_options(set_)
    if model:
        overrides["model.name"] = model
    chosen: str | dict[str, Any] | None = preset
    if preset is None and config is None:  # as train resolves them (model_preset)
        chosen = model_preset(model or TrainConfig().model.name)
    request = TuneRequest.of(
        series=str(series_table),
        out=out,
        config=train_config(preset=chosen, path=config, overrides=overrides),
        space=None if space is None else load_space(space),
        trials=trials,
        objective=objective,
        folds=folds,
        by=by,
        pruner=pruner,
        seed=seed,
        quiet=State.quiet or as_json,
    )
    result = run_tune(request)
    if as_json:
        print_json(dataclasses.asdict(result))
        return
    if State.quiet:
        return
    table = Table(title=f"{result.model}: {len(result.trials)} trials in {result.study_db}")
    for column in ("trial", "state", "macro-F1", "overall accuracy", "run"):
        table.add_column(column, justify="right" if column != "run" else "left")
    for row in result.trials:
        value, accuracy = row.get("value"), row.get("overall_accuracy")
        state = row["state"] + (" (best)" if row["number"] == result.best_trial else "")
        table.add_row(
            str(row["number"]),
            state,
            "" if value is None else f"{value:.3f}",
            "" if accuracy is None else f"{accuracy:.3f}",
            str(row.get("run", "")),
        )
    out_console.print(table)
    if result.best_trial is None or result.best_value is None:
        out_console.print("no trial completed: see the failed trials' errors in --json")
        return
    out_console.print(f"best: trial {result.best_trial}, {result.objective} macro-F1 {result.best_value:.3f}")
    for key, value in result.best_params.items():
        out_console.print(f"  {key} = {value:.4g}" if isinstance(value, float) else f"  {key} = {value}")
    out_console.print(f"config: {result.best_config} (inseason train SERIES --config {result.best_config})")
