"""The model verbs: models (the registry), train, evaluate and predict (wall-to-wall maps)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inseason.cli.common import (
    RunOrBundle,
    Seed,
    SparkMaster,
    SplitSeries,
    State,
    Workers,
    csv_list,
    json_flag,
    out_console,
    out_option,
    print_json,
    scl_classes,
    scl_mask_option,
    set_options,
)
from inseason.errors import InputError
from inseason.progress import plural


def models(as_json: Annotated[bool, json_flag("Print the registry as JSON.")] = False) -> None:
    """List the registered models: input adapter, kind and default options.

    \f
    Args:
        as_json: ``--json``: print the registry as JSON instead of a table.
    """  # noqa: D301
    from dataclasses import asdict

    from inseason.models import list_models, model_info

    infos = {name: asdict(model_info(name)) for name in list_models()}
    if as_json:
        print_json(infos)
        return
    table = Table(title="models (inseason train --model NAME)")
    for column in ("name", "adapter", "kind", "summary"):
        table.add_column(column)
    for name, info in infos.items():
        table.add_row(name, info["adapter"], "network" if info["neural"] else "classical", info["summary"])
    out_console.print(table)


def train(
    series_table: SplitSeries,
    out: Annotated[Path, out_option("Run folder: config, TensorBoard logs, checkpoints, bundle.")],
    model: Annotated[str | None, typer.Option(help="Model name (`inseason models`); applies its preset.")] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Training preset: arset (the course's exact recipe), or a model's name (its defaults: the whole "
            "season, inputs fit to the data's cadence and bands)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (applied after the preset).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override KEY=VALUE (dotted key, YAML value), e.g. --set epochs=40 --set optimizer.lr=3e-4"
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    teacher: Annotated[
        Path | None,
        typer.Option(
            help="Distil this model bundle (or run folder) into the trained network: it learns the teacher's "
            "probabilities as well as the labels, on the teacher's inputs and label map (default model: the "
            "tempcnn-small preset, a fast map network; see distill.weight and distill.temperature)."
        ),
    ] = None,
    as_json: Annotated[bool, json_flag("Print the run summary as JSON.")] = False,
) -> None:
    """Train a model with Lightning; write TensorBoard logs, checkpoints and a portable model bundle.

    With --teacher BUNDLE, distil a trained model into a small one that maps several times faster.

    \f
    Args:
        series_table: The series table with a split column.
        out: ``--out``: the run folder.
        model: ``--model``: the registered model, whose preset applies unless ``preset`` or ``config`` is given.
        preset: ``--preset``: the training preset.
        config: ``--config``: a YAML config applied after the preset.
        set_: ``--set``: KEY=VALUE overrides applied last.
        resume: ``--resume`` an interrupted run.
        teacher: ``--teacher``: the bundle to distil (sets ``distill.teacher``).
        as_json: ``--json``: print the run summary as JSON instead of a line.

    Raises:
        InputError: A ``--set`` is not KEY=VALUE or its value is not YAML, or the config or series table is
            invalid.
    """  # noqa: D301
    import dataclasses

    from inseason.train import TrainConfig, TrainRequest, run_train, train_config
    from inseason.train.config import model_preset

    overrides = set_options(set_)
    if model:
        overrides["model.name"] = model
    if teacher is not None:
        overrides["distill.teacher"] = str(teacher)
    chosen: str | dict[str, Any] | None = preset
    if teacher is not None and model is None and preset is None and config is None:
        chosen = "tempcnn-small"  # the map student
    elif preset is None and config is None:
        # no preset: the model's own (the default model's without a flag); a model without one gets the preset
        # of the adapter it is designed for: the whole season, inputs fit to the data (model_preset)
        chosen = model_preset(model or TrainConfig().model.name)
    request = TrainRequest.of(
        series=str(series_table),
        out=out,
        config=train_config(preset=chosen, path=config, overrides=overrides),
        resume=resume,
        quiet=State.quiet or as_json,
    )
    result = run_train(request)
    if as_json:
        print_json(dataclasses.asdict(result))
    elif not State.quiet:
        m, cal = result.metrics, result.calibration
        calibrated = (
            ""
            if cal is None
            else f"; calibration error {cal['ece_before']:.3f} → {cal['ece_after']:.3f} (T = {cal['temperature']:.2f})"
        )
        out_console.print(
            f"{result.model}: validation overall accuracy {m['overall_accuracy']:.3f}, macro-F1 "
            f"{m['macro_f1']:.3f} (best epoch {result.best_epoch} of {result.epochs_run}){calibrated}\n"
            f"bundle and logs in {result.out} (tensorboard --logdir {result.tensorboard})"
        )


def evaluate(
    run: RunOrBundle,
    series_table: SplitSeries,
    split_name: Annotated[str, typer.Option("--split", help="Split to evaluate.")] = "test",
    as_of: Annotated[
        list[str] | None,
        typer.Option(
            help="As-of month-days (comma list; default every 15 days from day 90 to day 303 of the model's "
            "season: 04-01 to 10-31 for seasons starting 01-01)."
        ),
    ] = None,
    target_f1: Annotated[float, typer.Option(help="F1 a class must reach for its earliest date.")] = 0.8,
    by: Annotated[str, typer.Option(help="Group for intervals and the accuracy map: field or block.")] = "field",
    block_size: Annotated[float, typer.Option(help="Block side in metres for --by block.")] = 2000.0,
    course_protocol: Annotated[bool, typer.Option(help="Also score the ARSET course's window protocol.")] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals.")] = 1000,
    importance: Annotated[
        bool,
        typer.Option(
            help="Band and date permutation importance: one model pass over the split per band or period, repeat "
            "and date, most of the evaluation's time (--no-importance skips it)."
        ),
    ] = True,
    importance_repeats: Annotated[int, typer.Option(help="Permutations per band or period.", min=1)] = 5,
    seed: Seed = 0,
    out: Annotated[Path | None, out_option("Evaluation JSON (default RUN/evaluation.json).")] = None,
    as_json: Annotated[bool, json_flag("Print the headline metrics as one JSON object.")] = False,
) -> None:
    """Score a model by calendar as-of date, per class and per field, with band and date importance.

    \f
    Args:
        run: The run folder or model bundle.
        series_table: The series table with a split column.
        split_name: ``--split`` to score.
        as_of: ``--as-of`` month-days.
        target_f1: ``--target-f1`` of a class's earliest date.
        by: ``--by``: the group of intervals and the accuracy map, field or block.
        block_size: ``--block-size`` of ``--by block``, in metres.
        course_protocol: ``--course-protocol``: also score the course's windows.
        n_boot: ``--n-boot``: bootstrap resamples.
        importance: ``--importance/--no-importance``: band and date permutation importance.
        importance_repeats: ``--importance-repeats``: permutations per band or period.
        seed: ``--seed`` of the bootstrap.
        out: ``--out``: the evaluation JSON.
        as_json: ``--json``: print the headline metrics as JSON instead of a table.

    Raises:
        InputError: The run, the series table or an option is invalid.
    """  # noqa: D301
    from inseason.evaluate.run import EvaluateRequest, run_evaluate

    request = EvaluateRequest.of(
        run=str(run),
        series=str(series_table),
        split=split_name,
        as_of=csv_list(as_of) or None,
        target_f1=target_f1,
        by=by,
        block_size=block_size,
        course_protocol=course_protocol,
        n_boot=n_boot,
        importance=importance,
        importance_repeats=importance_repeats,
        seed=seed,
        out=None if out is None else str(out),
        quiet=State.quiet or as_json,
    )
    result = run_evaluate(request)
    ev = result.evaluation
    if as_json:
        keys = (
            "end_of_season",
            "overall_accuracy",
            "macro_f1",
            "weighted_f1",
            "kappa",
            "n",
            "per_class",
            "intervals",
            "best_as_of",
            "sample_size",
            "by_as_of_date",
            "earliest_date",
            "course_windows",
        )
        print_json({k: ev[k] for k in keys})
    elif not State.quiet:
        table = Table(title=f"{run} on the {split_name} split ({plural(result.n, 'sample')})")
        for column in ("as of", "overall accuracy", "macro-F1", "kappa"):
            table.add_column(column, justify="right")
        best = result.best_as_of["as_of"] if result.best_as_of is not None else None
        for row in ev["by_as_of_date"]:
            table.add_row(
                row["as_of"] + (" (best)" if row["as_of"] == best else ""),
                f"{row['overall_accuracy']:.3f}",
                f"{row['macro_f1']:.3f}",
                f"{row['kappa']:.3f}",
            )
        table.add_row(
            f"{result.end_of_season} (end of season)",
            f"{result.overall_accuracy:.3f}",
            f"{result.macro_f1:.3f}",
            f"{result.kappa:.3f}",
        )
        out_console.print(table)


def _as_of_dates(as_of: list[str] | None, every: str | None, start: str | None, end: str | None) -> list[str]:
    """``--as-of`` dates, plus ``--every Nd`` from ``--from`` to ``--to``."""
    import datetime as dt

    dates = csv_list(as_of)
    if every is not None:
        if not (every.endswith("d") and every[:-1].isdigit() and int(every[:-1]) > 0):
            raise InputError(f"--every takes a number of days such as 15d (got {every!r})")
        if start is None or end is None:
            raise InputError("--every needs --from and --to dates (YYYY-MM-DD)")
        try:
            day, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        except ValueError:
            raise InputError(f"--from/--to take dates YYYY-MM-DD (got {start!r}, {end!r})") from None
        while day <= last:
            dates.append(day.isoformat())
            day += dt.timedelta(days=int(every[:-1]))
    if not dates:
        raise InputError("give --as-of DATE[,DATE…] or --every Nd --from DATE --to DATE")
    return sorted(set(dates))


def predict(
    model: RunOrBundle,
    aoi: Annotated[
        str | None,
        typer.Option(
            help="Area to map: 'west,south,east,north' in degrees or a vector file (with --update: the run's)."
        ),
    ] = None,
    out: Annotated[str | None, out_option("Folder (or s3://bucket/prefix) for the maps; run again to resume.")] = None,
    as_of: Annotated[list[str] | None, typer.Option(help="As-of dates YYYY-MM-DD (comma list).")] = None,
    every: Annotated[str | None, typer.Option(help="Also map every N days, e.g. 15d, from --from to --to.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First date for --every.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date for --every.")] = None,
    scenes: Annotated[
        str | None, typer.Option(help="Scene manifest (from `inseason scenes`; a path or s3://).")
    ] = None,
    stac: Annotated[str | None, typer.Option(help="Or search this STAC API / catalog for the scenes.")] = None,
    block_size: Annotated[int, typer.Option(help="Block side in 10 m pixels: memory is bounded by it.")] = 256,
    workers: Workers = None,
    crop_mask: Annotated[
        str | None,
        typer.Option(help="CDL-coded raster (e.g. last year's CDL; a path or s3://): map only its crop pixels."),
    ] = None,
    scl_mask: Annotated[
        list[str] | None, scl_mask_option("SCL classes to drop (comma list; default 0,1,7,8,9,11).")
    ] = None,
    engine: Annotated[str, typer.Option(help="local (a process pool) or spark (blocks as Spark tasks).")] = "local",
    spark_master: SparkMaster = None,
    allow_outside: Annotated[
        bool,
        typer.Option(
            "--allow-outside",
            help="Map an AOI that lies entirely outside "
            "the region the model was trained on (the lon/lat box of its "
            "training samples): an error otherwise, as the model has seen no "
            "field there. An AOI that overlaps the region, even partly, is "
            "mapped without this option.",
        ),
    ] = False,
    keep_series: Annotated[
        bool,
        typer.Option(
            "--keep-series",
            help="Keep each block's series in the folder (series/), so that later dates can be added with "
            "--update reading only the newer scenes (about 2 bytes a band and observation per pixel, compressed).",
        ),
    ] = False,
    update: Annotated[
        str | None,
        typer.Option(
            help="A finished map folder made with --keep-series: add the --as-of dates (after its last one) "
            "reading only the scenes newer than it; the maps equal a run of every date from scratch.",
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="What runs the network: torch (the bundle's own), onnx (ONNX Runtime: the same probabilities to "
            "float precision, about 2x faster on CPU; the graph is verified against torch first) or onnx-int8.",
        ),
    ] = "torch",
    as_json: Annotated[bool, json_flag("Print what was written as JSON.")] = False,
) -> None:
    """Map crop types wall to wall as of one or more dates: class + confidence COGs, STAC items, a season
    GIF and the double-crop sequence and transition dates.

    In season, map with --keep-series, then add each new date with --update FOLDER: only the scenes after
    the folder's last date are read.

    \f
    Args:
        model: The run folder or model bundle.
        aoi: ``--aoi`` to map: a box in degrees or a vector file.
        out: ``--out``: the maps' folder or s3:// prefix.
        as_of: ``--as-of`` dates.
        every: ``--every`` N days from ``start`` to ``end``.
        start: ``--from``: the first date of ``every``.
        end: ``--to``: the last date of ``every``.
        scenes: ``--scenes``: the scene manifest; or ``stac``.
        stac: ``--stac``: the STAC API or catalog to search for the scenes; or ``scenes``.
        block_size: ``--block-size`` in 10 m pixels.
        workers: ``--workers``: worker processes of the local engine.
        crop_mask: ``--crop-mask``: map only the crop pixels of this CDL-coded raster.
        scl_mask: ``--scl-mask``: SCL classes whose pixels are dropped.
        engine: ``--engine``: local or spark.
        spark_master: ``--spark-master`` of the spark engine.
        allow_outside: ``--allow-outside``: map an AOI outside the model's training region.
        keep_series: ``--keep-series``: keep the blocks' series for later updates.
        update: ``--update``: the finished map folder to add the as-of dates to (instead of ``out``).
        backend: ``--backend``: torch, onnx or onnx-int8.
        as_json: ``--json``: print what was written as JSON instead of a table.

    Raises:
        InputError: Neither or both of ``--scenes`` and ``--stac`` (or of ``--out`` and ``--update``), no
            date, a malformed date or list, or an input the maps cannot be made from.
    """  # noqa: D205, D301
    import dataclasses

    from inseason.predict import PredictRequest, run_predict

    if (scenes is None) == (stac is None):
        raise InputError("give either --scenes (a scene manifest) or --stac (a STAC API or catalog)")
    if (out is None) == (update is None):
        raise InputError(
            "give either --out FOLDER (a new map run) or --update FOLDER (add dates to a run made with --keep-series)"
        )
    request = PredictRequest.of(
        bundle=str(model),
        aoi=aoi,
        as_of=_as_of_dates(as_of, every, start, end),
        out=out if out is not None else update,
        scenes=scenes,
        stac=stac,
        block_size=block_size,
        workers=workers,
        crop_mask=crop_mask,
        scl_mask=scl_classes(scl_mask),
        engine=engine,
        spark_master=spark_master,
        allow_outside=allow_outside,
        keep_series=keep_series,
        update=update is not None,
        backend=backend,
        quiet=State.quiet or as_json,
    )
    run = run_predict(request)
    if as_json:
        print_json(dataclasses.asdict(run))
    elif not State.quiet:
        table = Table(title=f"maps in {run.out} ({plural(run.blocks, 'block')}, {run.resumed_blocks:,} resumed)")
        for column in ("as of", "class map COG", "mapped pixels", "double crops"):
            table.add_column(column)
        for date, path in run.maps.items():
            table.add_row(date, path, f"{run.mapped_pixels[date]:,}", run.double_crops.get(date, ""))
        out_console.print(table)
        if run.gif:
            out_console.print(f"season animation: {run.gif}")
        if run.empty_blocks:
            out_console.print(
                f"{plural(len(run.empty_blocks), 'block')} had no valid observation (nodata): see summary.json"
            )
