"""The ``bench`` verbs: both sides of a comparison in one run, reported as ratios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inseason.cli.common import (
    State,
    csv_list,
    int_list,
    json_flag,
    memory_limit_option,
    out_console,
    print_json,
    stride_option,
    workers_option,
)
from inseason.progress import plural


def ingest(
    world: Annotated[
        Path | None,
        typer.Option(
            help="A world from `inseason synth` (default: make one with a "
            "32.94 km tile, June 2022, in a temporary folder)."
        ),
    ] = None,
    boxes: Annotated[int, typer.Option(help="Boxes of label points along the tile's diagonal.")] = 3,
    box_m: Annotated[float, typer.Option(help="Side of each box in metres.")] = 1500.0,
    stride: Annotated[int, stride_option("Every k-th label pixel is a point (the course: 15).")] = 15,
    max_scenes: Annotated[int, typer.Option(help="Scenes extracted by both sides.")] = 24,
    workers: Annotated[int | None, workers_option("Worker processes for both sides (default: the cores).")] = None,
    repeats: Annotated[int, typer.Option(help="Runs of each side, in turn (the median run is shown).")] = 3,
    dense: Annotated[
        bool,
        typer.Option(
            "--dense",
            help="Instead: our extraction alone at a real density, --points over one real-layout tile "
            "(10 980 px, 1 024-px blocks) and --scenes scenes: decode MB/s per core against the deflate limit.",
        ),
    ] = False,
    points: Annotated[int, typer.Option(help="Label points of --dense.")] = 10_000,
    scenes: Annotated[int, typer.Option(help="Scenes of --dense.")] = 30,
    as_json: Annotated[bool, json_flag("Print one JSON object (bytes_ratio, speedup, ...).")] = False,
) -> None:
    """Windowed block reads against the course's whole-file downloads: bytes and observations/s.

    With ``--dense``, our extraction alone at a real density (10 000 points over a real-layout tile, 30
    scenes): how close its decode rate per core comes to the deflate limit.

    \f
    Args:
        world: ``--world`` to read (default: a temporary one).
        boxes: ``--boxes`` of label points.
        box_m: ``--box-m``: a box's side in metres.
        stride: ``--stride``: every k-th label pixel is a point.
        max_scenes: ``--max-scenes`` both sides extract.
        workers: ``--workers`` of both sides.
        repeats: ``--repeats`` of each side.
        dense: ``--dense``: measure our extraction at a real density instead.
        points: ``--points`` of the dense setting.
        scenes: ``--scenes`` of the dense setting.
        as_json: ``--json``: print the result as JSON instead of a table.
    """  # noqa: D301
    from inseason.bench.ingest import bench_ingest as run_bench
    from inseason.bench.ingest import bench_ingest_dense

    if dense:
        measured = bench_ingest_dense(points=points, scenes=scenes, workers=workers, quiet=State.quiet or as_json)
        if as_json:
            print_json(measured)
            return
        table = Table(
            title=f"inseason bench ingest --dense: {plural(measured['points'], 'point')} over a "
            f"{measured['size_10m']:,}-px real-layout tile × {plural(measured['scenes'], 'scene')}, "
            f"{plural(measured['workers'], 'worker')}"
        )
        columns = ("observations/s", "COG blocks read", "decoded MB", "decode MB/s per core", "of this machine's")
        for column in (*columns, "of the reference"):
            table.add_column(column, justify="right")
        table.add_row(
            f"{measured['observations_per_s']:,.0f}",
            f"{measured['blocks_read']:,} (touched {measured['touched_blocks']:,})",
            f"{measured['decoded_mb']:,.0f}",
            f"{measured['decode_mb_per_s_per_core']:,.1f}",
            f"{measured['share_of_local']:.0%} of {measured['local_decode_mb_per_s']:.0f}",
            f"{measured['share_of_limit']:.0%} of {measured['deflate_limit_mb_per_s']:.0f}",
        )
        out_console.print(table)
        return

    result = run_bench(
        world=world,
        boxes=boxes,
        box_m=box_m,
        stride=stride,
        max_scenes=max_scenes,
        workers=workers,
        repeats=repeats,
        quiet=State.quiet or as_json,
    )
    if as_json:
        print_json(result)
        return
    table = Table(
        title=f"inseason bench ingest: {plural(result['points'], 'point')} × "
        f"{plural(result['scenes'], 'scene')}, {plural(result['workers'], 'worker')}, median of "
        f"{plural(result['repeats'], 'run')}"
    )
    for column in ("", "ours (block reads)", "course (whole files)", "ratio"):
        table.add_column(column, justify="right")
    ours, course = result["ours"], result["course"]
    table.add_row(
        "bytes transferred",
        f"{ours['bytes'] / 1e6:,.1f} MB",
        f"{course['bytes'] / 1e6:,.1f} MB",
        f"{result['bytes_ratio']}× fewer",
    )
    table.add_row(
        "observations/s",
        f"{ours['observations_per_s']:,.0f}",
        f"{course['observations_per_s']:,.0f}",
        f"{result['speedup']}× faster ({result['speedup_spread'][0]}–{result['speedup_spread'][1]}×)",
    )
    table.add_row(
        "decode MB/s per core",
        f"{ours['decode_mb_per_s_per_core']}",
        f"{course['decode_mb_per_s_per_core']}",
        f"limit {result['deflate_limit_mb_per_s']:.0f}",
    )
    table.add_row(
        "observations",
        f"{ours['observations']:,}",
        f"{course['observations']:,}",
        "same" if result["same_observations"] else "DIFFERENT",
    )
    out_console.print(table)


def engines(
    world: Annotated[
        Path | None, typer.Option(help="A world from `inseason synth` (default: make one of --size).")
    ] = None,
    size: Annotated[str, typer.Option(help="World size to make when --world is not given.")] = "large",
    workers: Annotated[int, workers_option("Local processes and Spark local[N] cores.")] = 2,
    max_scenes: Annotated[int | None, typer.Option(help="Cap on the scenes extracted.")] = None,
    as_json: Annotated[
        bool,
        json_flag("Print one JSON object (local_rows_per_s, spark_rows_per_s, spark_startup_s, identical)."),
    ] = False,
) -> None:
    """The same extract + series on the local engine and on Spark local[N]: rows/s and Spark's start-up.

    \f
    Args:
        world: ``--world`` to read (default: one of ``size``).
        size: ``--size`` of the world to make.
        workers: ``--workers``: local processes and Spark cores.
        max_scenes: ``--max-scenes`` extracted.
        as_json: ``--json``: print the result as JSON instead of a table.

    Raises:
        InputError: PySpark is not installed, or an option is invalid.
    """  # noqa: D301
    from inseason.bench.engines import bench_engines as run_bench
    from inseason.bench.engines import bench_engines_markdown

    result = run_bench(world=world, size=size, workers=workers, max_scenes=max_scenes, quiet=State.quiet or as_json)
    if as_json:
        print_json(result)
    else:
        out_console.print(bench_engines_markdown(result), markup=False, highlight=False)


def series(
    points: Annotated[int, typer.Option(help="Synthetic points.")] = 200_000,
    dates: Annotated[int, typer.Option(help="Dates per point (a fifth are lost to clouds).")] = 50,
    memory_limit: Annotated[str, memory_limit_option("DuckDB memory cap of the capped run.")] = "96MB",
    as_json: Annotated[bool, json_flag("Print one JSON object (identical, working_memory_over_data, ...).")] = False,
) -> None:
    """Observations → series with DuckDB capped far below the data's size, against an uncapped run.

    \f
    Args:
        points: ``--points``: synthetic points.
        dates: ``--dates`` per point.
        memory_limit: ``--memory-limit`` of the capped run.
        as_json: ``--json``: print the result as JSON instead of a table.
    """  # noqa: D301
    from inseason.bench.series import bench_series as run_bench

    r = run_bench(points=points, dates=dates, memory_limit=memory_limit, quiet=State.quiet or as_json)
    if as_json:
        print_json(r)
        return
    table = Table(
        title=f"inseason bench series: {r['observations']:,} observations "
        f"({r['observations_in_memory_mb']:,} MB in memory, {r['observations_on_disk_mb']:,} MB on disk)"
    )
    for column in ("DuckDB memory", "seconds", "observations/s", "peak memory (MB)", "same table"):
        table.add_column(column, justify="right")
    for name, run in (("capped at " + r["memory_limit"], r["capped"]), ("uncapped", r["uncapped"])):
        table.add_row(
            name,
            f"{run['seconds']:.1f}",
            f"{r['observations'] / run['seconds']:,.0f}",
            f"{run['peak_rss_mb']:,.0f} ({run['peak_rss_mb'] - r['baseline_rss_mb']:,.0f} beyond imports)",
            "yes" if r["identical"] else "NO",
        )
    out_console.print(table)


def scaling(
    stages: Annotated[
        list[str] | None,
        typer.Option(
            help="Stages (comma list; default all: import, series, split, train_epoch, evaluate, extract, predict)."
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option(help="Base sizes relative to the default (0.1 for a quick look).", min=0.001)
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic inputs.")] = 0,
    as_json: Annotated[
        bool, json_flag('Print {"stage": {"exponent", "seconds", "peak_mb", "per_second", "sizes", "unit"}} as JSON.')
    ] = False,
) -> None:
    """How each stage's cost grows: seconds and peak memory at 1×, 2× and 4× its input, and the fitted
    exponent of cost against size (1.0 = linear).

    \f
    Args:
        stages: ``--stages`` to measure (default: all).
        scale: ``--scale`` of the base sizes.
        seed: ``--seed`` of the synthetic inputs.
        as_json: ``--json``: print the result as JSON instead of a table.

    Raises:
        InputError: An unknown stage or a scale that leaves too little work.
    """  # noqa: D205, D301
    from inseason.bench.scaling import bench_scaling, bench_scaling_markdown

    results = bench_scaling(stages=csv_list(stages) or None, scale=scale, seed=seed, quiet=State.quiet or as_json)
    if as_json:
        print_json(results)
    else:
        out_console.print(bench_scaling_markdown(results), markup=False, highlight=False, soft_wrap=True)


def predict(
    world: Annotated[Path | None, typer.Option(help="A world from `inseason synth` (default: a tiny one).")] = None,
    networks: Annotated[
        list[str] | None,
        typer.Option(
            help="Networks to time (comma list; default: arset, tempcnn, gru-incremental; with --backend "
            "onnx: arset, tempcnn)."
        ),
    ] = None,
    block_size: Annotated[int, typer.Option(help="Block side in pixels.")] = 256,
    workers: Annotated[int, workers_option("Worker processes of the end-to-end run.")] = 1,
    read_scenes: Annotated[
        int, typer.Option(help="Scenes of the read measurement on real-layout COGs (a season: 24 and up).")
    ] = 24,
    read_memory_mb: Annotated[
        int, typer.Option(help="Memory cache of decoded COG blocks per worker in the read measurement, MiB.")
    ] = 256,
    read_workers: Annotated[int, workers_option("Worker processes of the read measurement.")] = 2,
    side_m: Annotated[
        float | None, typer.Option(help="Map a square of this side (m) at the world's centre (default: its AOI).")
    ] = None,
    update_days: Annotated[int, typer.Option(help="Days an in-season update adds to a kept map.")] = 7,
    student: Annotated[
        bool,
        typer.Option(
            "--student",
            help="Also train a tempcnn teacher and distil the tempcnn-small student (inseason train --teacher) on "
            "an accuracy setting, and print their pixels/s (torch and ONNX Runtime) and macro-F1 side by side.",
        ),
    ] = False,
    student_setting: Annotated[
        str, typer.Option(help="The `inseason bench accuracy` setting the teacher and student learn.")
    ] = "many-classes",
    student_scale: Annotated[float, typer.Option(help="That setting's size relative to its default.")] = 1.0,
    backend: Annotated[
        str, typer.Option(help="What runs the networks: torch, onnx or onnx-int8 (`inseason predict --backend`).")
    ] = "torch",
    as_json: Annotated[
        bool,
        json_flag("Print one JSON object (end_to_end_over_model_only, update_over_full, read_amplification, ...)."),
    ] = False,
) -> None:
    """Map pixels/s end to end (read + model + write) against the model alone on the same pixels.

    Also times an in-season update (``predict --update``) adding the as-of date to a map kept with its series
    ``--update-days`` earlier, against mapping that date from scratch: ``update_over_full``.

    Also measures the bytes the map reader fetches on COGs with the real Sentinel-2 layout (10 980 px, 1 024-px
    blocks) served over HTTP: ``read_amplification`` is bytes fetched over the bytes of the COG blocks under the
    AOI (1.0: every block fetched once), for workers sharing the job's block folder, beside a memory cache
    alone and no cache.

    \f
    Args:
        world: ``--world`` to map (default: a tiny one).
        networks: ``--networks`` to time (default: arset, tempcnn and gru-incremental; on ONNX Runtime the first
            two).
        block_size: ``--block-size`` in pixels.
        workers: ``--workers`` of the end-to-end run.
        read_scenes: ``--read-scenes`` of the read measurement.
        read_memory_mb: ``--read-memory-mb``: each read worker's memory cache.
        read_workers: ``--read-workers`` of the read measurement.
        side_m: ``--side-m``: the side of the centred square to map (default: the world's AOI).
        update_days: ``--update-days`` between the kept map and the update's date.
        student: ``--student``: also measure a distilled student beside its teacher.
        student_setting: ``--student-setting`` they learn.
        student_scale: ``--student-scale`` of that setting.
        backend: ``--backend`` of the networks.
        as_json: ``--json``: print the result as JSON instead of a table.
    """  # noqa: D301
    from inseason.bench.predict import bench_predict as run_bench

    result = run_bench(
        networks=csv_list(networks) or None,
        world=world,
        block_size=block_size,
        workers=workers,
        quiet=State.quiet or as_json,
        read_scenes=read_scenes,
        read_memory_mb=read_memory_mb,
        read_workers=read_workers,
        side_m=side_m,
        update_days=update_days,
        student=student,
        student_setting=student_setting,
        student_scale=student_scale,
        backend=backend,  # type: ignore[arg-type]  # checked by bench_predict, one error line
    )
    if as_json:
        print_json(result)
        return
    w = result["world"]
    table = Table(
        title=f"inseason bench predict: {w['grid'][0]}×{w['grid'][1]} pixels, "
        f"{plural(w['scenes'], 'scene')} up to {w['as_of']}, {plural(result['workers'], 'worker')}, "
        f"backend {result['backend']}"
    )
    update = f"update +{result['update_days']} d ÷ from scratch"
    for column in ("network", "end to end px/s", "model only px/s", "end to end ÷ model only", update):
        table.add_column(column, justify="right")
    for name, n in result["networks"].items():
        table.add_row(
            name,
            f"{n['end_to_end_pixels_per_s']:,.0f}",
            f"{n['model_only_pixels_per_s']:,.0f}",
            f"{n['end_to_end_over_model_only']:.2f}",
            f"{n['update_over_full']:.2f} ({plural(n['update_scenes'], 'scene')})",
        )
    read = result["read"]
    table.caption = (
        f"reads on real-layout COGs ({read['scenes']} scenes, {read['workers']} workers): bytes fetched ÷ bytes of "
        f"the COG blocks under the AOI {read['read_amplification']:.2f} with the shared block folder, "
        f"{read['memory_read_amplification']:.2f} with memory caches alone"
        + (f", {read['uncached_read_amplification']:.2f} uncached" if "uncached_read_amplification" in read else "")
    )
    out_console.print(table)
    if "student" in result:
        _print_student(result["student"])


def _print_student(student: dict[str, Any]) -> None:
    """The teacher / student table of ``bench predict --student``."""
    models = student["models"]
    backends = [b for b in ("torch", "onnx", "onnx-int8") if b in models["teacher"]]
    table = Table(
        title=f"teacher and distilled student: macro-F1 on the {student['setting']} setting's test split, map "
        "pixels/s (model alone on one thread; end to end with one worker)"
    )
    for column in ("model", "parameters", "macro-F1", f"in season (day {student['in_season_day']})"):
        table.add_column(column, justify="right")
    for backend in backends:
        table.add_column(f"{backend} model px/s", justify="right")
        table.add_column(f"{backend} end to end px/s", justify="right")
    names = {
        "teacher": "teacher (tempcnn)",
        "student": "student (tempcnn-small, distilled)",
        "small": "tempcnn-small, labels only",
    }
    for key, label in names.items():
        m = models[key]
        cells = [label, f"{m['parameters']:,}", f"{m['macro_f1']:.3f}", f"{m['macro_f1_in_season']:.3f}"]
        for backend in backends:
            cells += [f"{m[backend]['model_only_pixels_per_s']:,.0f}", f"{m[backend]['end_to_end_pixels_per_s']:,.0f}"]
        table.add_row(*cells)
    speedup = student["speedup"]
    table.caption = (
        f"student on {student['student_backend']} ÷ teacher on torch: {speedup['end_to_end']:.1f}× end to end, "
        f"{speedup['model_only']:.1f}× model alone; macro-F1 {student['macro_f1_drop']:+.2f} points lower at the "
        f"season's end, {student['macro_f1_drop_in_season']:+.2f} in season (target: 5× within 1 point)"
    )
    out_console.print(table)


def train(
    n_samples: Annotated[int, typer.Option(help="Synthetic series to train on.")] = 1000,
    models: Annotated[
        list[str] | None, typer.Option(help="Models to time (comma list; default: all networks).")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Epochs of the input-wait run.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    repeats: Annotated[
        int, typer.Option(help="Runs of the loader comparison and the input-wait run (median and spread).")
    ] = 3,
    as_json: Annotated[bool, json_flag("Print one JSON object (loader_speedup, input_wait_fraction, ...).")] = False,
) -> None:
    """Our vectorised loader against a per-item Dataset + DataLoader, input wait, and each model's
    training and inference samples/s with FLOPs per sample against the machine's measured matmul rate.

    \f
    Args:
        n_samples: ``--n-samples``: synthetic series.
        models: ``--models`` to time (default: every network).
        epochs: ``--epochs`` of the input-wait run.
        batch_size: ``--batch-size``.
        repeats: ``--repeats`` of the two data-path measurements.
        as_json: ``--json``: print the result as JSON instead of a table.

    Raises:
        InputError: An unknown model, too few samples, or a count below one.
    """  # noqa: D205, D301
    from inseason.bench.train import DEFAULT_MODELS, bench_train_markdown
    from inseason.bench.train import bench_train as run_bench

    result = run_bench(
        n_samples=n_samples,
        models=csv_list(models) or DEFAULT_MODELS,
        epochs=epochs,
        batch_size=batch_size,
        repeats=repeats,
        quiet=State.quiet or as_json,
    )
    if as_json:
        print_json(result)
    else:
        out_console.print(bench_train_markdown(result), markup=False, highlight=False)


def accuracy(
    models: Annotated[
        list[str] | None, typer.Option(help="Models to train (comma list; default: every registered model).")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            help="Settings (comma list; default all: base, few, many-classes, one-band, composite-8d, modis-16d, "
            "noisy-labels, across-new-year, year-held-out)."
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option(help="Data size relative to the default (1: 300 samples a year in the base setting).")
    ] = 1.0,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs of every network (default: each model's own default).")
    ] = None,
    quick: Annotated[bool, typer.Option(help="A small check: --scale 0.2 and one epoch (unless given).")] = False,
    seeds: Annotated[
        list[str] | None,
        typer.Option(
            "--seeds",
            "--seed",
            help="Seeds of the data and the training (comma list; default 0). With several, each model runs once "
            "a seed: the table gives the mean ± sd and the rule's McNemar test pools every seed's test samples.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Keep one run folder per setting and model here; run again to resume (default: a temp dir)."),
    ] = None,
    as_json: Annotated[
        bool, json_flag('Print {"setting": {"model": {"macro_f1", "oa", "macro_f1_in_season", "seconds"}}} as JSON.')
    ] = False,
) -> None:
    """Every model's default configuration on synthetic data made hard as real data is: macro-F1 and OA
    per model and setting, the model the defaults should pick, and where a deep default loses to the forest.

    \f
    Args:
        models: ``--models`` to train (default: the registry's).
        settings: ``--settings`` to make (default: all).
        scale: ``--scale`` of the data.
        epochs: ``--epochs`` of every network (default: the model's default).
        quick: ``--quick``: scale 0.2 and one epoch unless ``--scale``/``--epochs`` say otherwise.
        seeds: ``--seeds`` of the data and the training (default: 0).
        out: ``--out``: the folder kept with the run folders.
        as_json: ``--json``: print the scores as JSON instead of a table.

    Raises:
        InputError: An unknown model or setting, or a scale or epoch count out of range.
    """  # noqa: D205, D301
    from inseason.bench.accuracy import bench_accuracy, bench_accuracy_markdown

    if quick:
        scale = 0.2 if scale == 1.0 else scale
        epochs = 1 if epochs is None else epochs
    result = bench_accuracy(
        models=csv_list(models) or None,
        settings=csv_list(settings) or None,
        scale=scale,
        epochs=epochs,
        seed=int_list(seeds, "--seeds", example="0,1,2") or 0,
        out=out,
        quiet=State.quiet or as_json,
    )
    if as_json:
        print_json(result.scores)
    else:
        out_console.print(bench_accuracy_markdown(result), markup=False, highlight=False, soft_wrap=True)
