"""The ``inseason`` command line: one verb per pipeline stage, each a thin wrapper over a function."""

from __future__ import annotations

import inspect
import json
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
import typer.core
import typer.rich_utils
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import inseason
from inseason.errors import InputError, InseasonError
from inseason.progress import OneLineHandler, output_width, plural, warning_line


def _plain_flags(params: list[Any]) -> list[Any]:
    """Flags (``--json``, ``--quiet``, ``--help``) take no value: show none in help instead of ``<bool>``."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _FixedWidthHelp:
    """Help, usage errors and tables at `output_width` columns (not rich's 80 when piped); flags without
    a ``<bool>`` value. Mixed into the typer classes of every command and group of the app.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        """The command's parameters, flags marked as taking no value."""
        return _plain_flags(super().get_params(ctx))  # type: ignore[misc]

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:
        """Run the command with typer's help console (help, usage errors) at `output_width` columns."""
        previous = typer.rich_utils.MAX_WIDTH
        typer.rich_utils.MAX_WIDTH = output_width(sys.stdout)
        try:
            return super().main(args=args, prog_name=prog_name, **extra)  # type: ignore[misc]
        finally:
            typer.rich_utils.MAX_WIDTH = previous


def _unwrap(text: str | None) -> str | None:
    """Help text with the line breaks of its source docstring removed inside paragraphs (rich help keeps
    single line breaks, so a docstring wrapped at 120 columns would break mid-sentence in help).
    """
    if text is None:
        return None
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


class _Command(_FixedWidthHelp, typer.core.TyperCommand):
    """A verb of the app (see `_FixedWidthHelp`); its help paragraphs flow to the help width."""

    def __init__(self, name: str | None, *, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, help=_unwrap(help), **kwargs)


class _Group(_FixedWidthHelp, typer.core.TyperGroup):
    """The app and its sub-apps (see `_FixedWidthHelp`)."""


class _Typer(typer.Typer):
    """A typer app whose verbs are `_Command` s and whose groups are `_Group` s."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=_Group, **kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Register a verb (as `typer.Typer.command`, with `_Command` as its class)."""
        kwargs.setdefault("cls", _Command)
        return super().command(name, **kwargs)


app = _Typer(
    name="inseason",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    help="In-season crop-type mapping from irregular Sentinel-2 time series.\n\n"
    "Each verb is one stage of the pipeline; its outputs are open files you can inspect and feed to "
    "the next verb. Start with `inseason demo`.",
)
#: Tables and summaries on stdout; no rich markup, so paths and class names print as given (``a[1]``).
out_console = Console(markup=False)
err_console = Console(stderr=True)

#: ``--spark-master`` of every verb that runs on ``--engine spark``.
SparkMaster = Annotated[
    str | None,
    typer.Option(
        help="Spark master (spark://HOST:7077, sc://HOST:15002 for Spark Connect, yarn, local[*]); default: the "
        "active session or local[*]."
    ),
]


class _State:
    quiet = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"inseason {inseason.__version__}")
        raise typer.Exit()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` of the CLI: `inseason.progress.warning_line` on stderr."""
    (file if file is not None else sys.stderr).write(warning_line(message, category, filename, lineno))


def _install_reporting(ctx: typer.Context, *, verbose: bool) -> None:
    """Print Python warnings and log records as one-line messages on stderr while the verb runs, and put
    back the previous `warnings.showwarning` and root logger level when it ends (so that a test
    process calling the app many times is left as it was).

    Args:
        ctx: The app's context; the previous state is put back when it closes.
        verbose: Also print debug and info records (with their logger's name).
    """
    root = logging.getLogger()
    previous_showwarning, previous_level = warnings.showwarning, root.level
    handler = OneLineHandler(verbose=verbose)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    warnings.showwarning = _show_warning

    def restore() -> None:
        warnings.showwarning = previous_showwarning
        root.removeHandler(handler)
        root.setLevel(previous_level)

    ctx.call_on_close(restore)


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debugging details.")] = False,
) -> None:
    _State.quiet = quiet
    _install_reporting(ctx, verbose=verbose)
    for console in (out_console, err_console):
        console.width = output_width(console.file)


def _world_table(info: dict[str, Any], path: Path) -> Table:
    table = Table(title=f"synthetic world '{info['size']}' (seed {info['seed']}) in {path}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    tiles = ", ".join(t["name"] for t in info["tiles"])
    table.add_row("tiles", f"{tiles} (UTM EPSG:{info['scene_epsg']}, {info['tiles'][0]['size_m']:,} m)")
    table.add_row("years", ", ".join(map(str, info["years"])))
    table.add_row(
        "scenes",
        f"{plural(info['scenes'], 'scene')} from {plural(info['datatakes'], 'datatake')} "
        f"({plural(info['reprocessed_scenes'], 'reprocessed duplicate')})",
    )
    table.add_row("dates", f"{info['first_date']} to {info['last_date']}")
    table.add_row("fields", str(info["fields"]))
    total = sum(c["pixels"] for c in info["classes"].values())
    top = sorted(info["classes"].items(), key=lambda kv: -kv[1]["pixels"])
    table.add_row("classes", "\n".join(f"{code:>3} {c['name']}: {100 * c['pixels'] / total:.1f} %" for code, c in top))
    table.add_row("labels", f"CDL-like, EPSG:{info['label_epsg']}, 30 m: {path / 'labels'}")
    table.add_row("catalog", str(path / "stac" / "catalog.json"))
    table.add_row("size", f"{info['bytes'] / 1e6:,.1f} MB")
    return table


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to create (must be empty or absent).")],
    size: Annotated[
        str, typer.Option(help="World size: tiny (seconds), small (about a minute), demo, large.")
    ] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical files.")] = 1,
    years: Annotated[
        list[str] | None, typer.Option(help="Label years: 2021,2022 or repeat the option; default: the size's.")
    ] = None,
    tiles_x: Annotated[int | None, typer.Option(help="Tiles along x (1-4).")] = None,
    tiles_y: Annotated[int | None, typer.Option(help="Tiles along y (1-4).")] = None,
    tile_m: Annotated[int | None, typer.Option(help="Tile side in metres (multiple of 60).")] = None,
    cloudiness: Annotated[float | None, typer.Option(help="Mean cloud fraction of a scene (0-0.9).")] = None,
    label_noise: Annotated[float | None, typer.Option(help="Fraction of crop label pixels mislabelled.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes writing scenes (default: cores, up to 4).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a world already in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print world.json to stdout.")] = False,
) -> None:
    """Generate a synthetic Sentinel-2 L2A / CDL world: label rasters, COG scenes and a STAC catalog."""
    from inseason.synth import synth as make_world

    summary = make_world(
        out,
        size=size,
        seed=seed,
        overwrite=overwrite,
        workers=workers,
        quiet=_State.quiet or as_json,
        years=tuple(_int_list(years, "--years")) or None,
        tiles_x=tiles_x,
        tiles_y=tiles_y,
        tile_m=tile_m,
        cloudiness=cloudiness,
        label_noise=label_noise,
    )
    if as_json:
        out_console.print_json(json.dumps(summary.info))
    elif not _State.quiet:
        out_console.print(_world_table(summary.info, summary.path))


@app.command()
def serve(
    world: Annotated[Path, typer.Argument(help="A world folder made by `inseason synth`.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback only by default).")] = "127.0.0.1",
    files_port: Annotated[int, typer.Option(help="Port of the HTTP file server (0: any free port).")] = 0,
    stac_port: Annotated[int, typer.Option(help="Port of the STAC API (0: any free port).")] = 0,
) -> None:
    """Serve a world over HTTP: its files (with Range requests) and a STAC API, until Ctrl-C."""
    from inseason.synth import load_world
    from inseason.testing import serve_world

    load_world(world)  # a clear error if it is not a world
    with serve_world(world, host=host, files_port=files_port, stac_port=stac_port) as servers:
        out_console.print(f"STAC API:    {servers.stac.url}\nfiles:       {servers.files.url}\nPress Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _csv_list(values: list[str] | None) -> list[str]:
    """Options given as ``--opt a,b`` or repeated ``--opt a --opt b``: one flat list."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _int_list(values: list[str] | None, option: str) -> list[int]:
    try:
        return [int(v) for v in _csv_list(values)]
    except ValueError:
        raise InputError(f"{option} takes integers, e.g. {option} 2021,2022 (got {values})") from None


def _print_json(doc: Any) -> None:
    out_console.print_json(json.dumps(doc, default=str))


@app.command()
def labels(
    aoi: Annotated[str, typer.Option(help="Area of interest: 'west,south,east,north' in degrees or a vector file.")],
    years: Annotated[list[str], typer.Option(help="Label years: 2021,2022 or repeat the option.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Label points table to write (Parquet).")],
    cdl: Annotated[
        str | None,
        typer.Option(
            help="CDL: a folder of CDL_YYYY.tif, one GeoTIFF (any CRS), or 'cropscape' to download from CropScape."
        ),
    ] = None,
    cropscape_url: Annotated[str | None, typer.Option(help="CropScape service URL (implies --cdl cropscape).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where CropScape downloads are cached.")] = None,
    vector: Annotated[Path | None, typer.Option(help="Vector labels: GeoJSON, GeoPackage or Shapefile.")] = None,
    class_column: Annotated[str | None, typer.Option(help="Column of --vector holding the class.")] = None,
    field_column: Annotated[str | None, typer.Option(help="Column of --vector holding a field id.")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage.")] = None,
    strategy: Annotated[
        str, typer.Option(help="stride (every k-th pixel, as the course), stratified (per class) or per_field.")
    ] = "stride",
    stride: Annotated[int, typer.Option(help="stride: keep every k-th label pixel along rows and columns.")] = 15,
    spacing: Annotated[float | None, typer.Option(help="stride on vector labels: grid spacing in metres.")] = None,
    per_class: Annotated[
        int | None, typer.Option(help="stratified: at most this many points per class and year.")
    ] = None,
    min_per_class: Annotated[int, typer.Option(help="stratified: drop classes with fewer candidates.")] = 0,
    per_field: Annotated[int | None, typer.Option(help="per_field: points per field.")] = None,
    edge_buffer: Annotated[float, typer.Option(help="per_field: metres to stay inside field edges.")] = 30.0,
    classes: Annotated[
        list[str] | None, typer.Option(help="Keep only these class names or codes (comma list).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the sampling.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds before a CropScape request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed CropScape request.")] = 4,
) -> None:
    """Sample label points from CDL (local GeoTIFFs or CropScape) or vector labels inside an AOI."""
    from inseason.sources.points import make_label_points

    table = make_label_points(
        cdl=cdl,
        cropscape_url=cropscape_url,
        vector=vector,
        class_column=class_column,
        field_column=field_column,
        aoi=aoi,
        years=_int_list(years, "--years"),
        strategy=strategy,
        stride=stride,
        per_class=per_class,
        min_per_class=min_per_class,
        per_field=per_field,
        edge_buffer_m=edge_buffer,
        classes=_csv_list(classes) or None,
        seed=seed,
        cache_dir=cache_dir,
        out=out,
        spacing_m=spacing,
        layer=layer,
        quiet=_State.quiet,
        timeout=timeout,
        retries=retries,
    )
    if _State.quiet:
        return
    counts = (
        table.group_by(["year", "label"])
        .aggregate([("point_id", "count")])
        .sort_by([("year", "ascending"), ("point_id_count", "descending")])
    )
    summary = Table(title=f"{plural(table.num_rows, 'label point')} in {out}")
    for column in ("year", "class", "points"):
        summary.add_column(column, justify="right" if column != "class" else "left")
    for row in counts.to_pylist():
        summary.add_row(str(row["year"]), row["label"], f"{row['point_id_count']:,}")
    out_console.print(summary)


@app.command()
def scenes(
    stac: Annotated[str, typer.Option(help="A STAC API URL or a local catalog.json.")],
    aoi: Annotated[str, typer.Option(help="Area of interest: 'west,south,east,north' in degrees or a vector file.")],
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last date, YYYY-MM-DD (inclusive).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Scene manifest to write (Parquet).")],
    collection: Annotated[str, typer.Option(help="STAC collection.")] = "sentinel-2-l2a",
    min_valid: Annotated[
        float, typer.Option(help="Keep scenes whose valid share of the AOI (from SCL) exceeds this.")
    ] = 0.3,
    scl_mask: Annotated[
        list[str] | None,
        typer.Option(help="SCL classes counted as invalid (comma list; default the course's 0,1,7,8,9,11)."),
    ] = None,
    max_cloud: Annotated[
        float | None, typer.Option(help="Also drop items whose tile-wide eo:cloud_cover (%) exceeds this.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Parallel SCL reads.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds before a STAC request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed STAC request (429, 5xx, timeouts).")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest's counts as JSON.")] = False,
) -> None:
    """Search a STAC API or catalog for Sentinel-2 L2A scenes over an AOI and write the scene manifest."""
    from inseason.extract.sample import DEFAULT_SCL_MASK
    from inseason.extract.scenes import find_scenes, manifest_info

    table = find_scenes(
        stac=stac,
        aoi=aoi,
        start=start,
        end=end,
        out=out,
        collection=collection,
        min_valid=min_valid,
        scl_mask=_int_list(scl_mask, "--scl-mask") or DEFAULT_SCL_MASK,
        max_cloud=max_cloud,
        workers=workers,
        quiet=_State.quiet or as_json,
        timeout=timeout,
        retries=retries,
    )
    info = manifest_info(table)
    if as_json:
        _print_json({"scenes": table.num_rows, **info})
    elif not _State.quiet:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (info["counts"] or {}).items())
        out_console.print(f"{plural(table.num_rows, 'scene')} in {out} ({counts})")
        if info["note"]:
            out_console.print(info["note"])


@app.command()
def extract(
    points: Annotated[Path, typer.Argument(help="Label points table (from `inseason labels`).")],
    scenes: Annotated[Path, typer.Argument(help="Scene manifest (from `inseason scenes`).")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Observations folder or s3://bucket/prefix; run again to resume.")
    ],
    scl_mask: Annotated[
        list[str] | None,
        typer.Option(help="SCL classes to drop (comma list; default the course's 0,1,7,8,9,11; e.g. add 3,10)."),
    ] = None,
    season_start: Annotated[
        str, typer.Option(help="Season start MM-DD: scenes from it on belong to the label year.")
    ] = "01-01",
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: the cores).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Estimate scenes, bytes and time; write nothing.")] = False,
    engine: Annotated[str, typer.Option(help="local (a process pool) or spark.")] = "local",
    spark_master: SparkMaster = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the totals as JSON.")] = False,
) -> None:
    """Sample every label point in every scene, reading only the COG blocks that hold points (resumable)."""
    from inseason.extract.sample import DEFAULT_SCL_MASK
    from inseason.extract.stage import extract as run_extract

    totals = run_extract(
        points,
        scenes,
        out=out,
        scl_mask=_int_list(scl_mask, "--scl-mask") or DEFAULT_SCL_MASK,
        season_start=season_start,
        workers=workers,
        dry_run=dry_run,
        engine=engine,
        spark_master=spark_master,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(totals)
    elif not _State.quiet:
        table = Table(title="dry run: estimate" if dry_run else f"observations in {out}", show_header=False)
        for key, value in totals.items():
            table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
        out_console.print(table)


def _summary_table(title: str, values: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in values.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        table.add_row(str(key).replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
    return table


_LABEL_MAP_HELP = "Label map: cdl (CDL names), arset (the course's 7 classes), cdl-major:N, or a YAML file."


@app.command()
def series(
    observations: Annotated[str, typer.Argument(help="Observations folder or s3:// prefix (from `inseason extract`).")],
    points: Annotated[str, typer.Option(help="The label points table the observations were extracted for.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Series table to write (Parquet; path or s3://).")],
    label_map: Annotated[str | None, typer.Option(help=_LABEL_MAP_HELP)] = None,
    season_start: Annotated[str, typer.Option(help="Season start MM-DD (as for extract).")] = "01-01",
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory cap; it spills to disk beyond it.")] = "1GB",
    engine: Annotated[str, typer.Option(help="local (DuckDB, or a process pool for s3://) or spark.")] = "local",
    spark_master: SparkMaster = None,
    partitions: Annotated[int, typer.Option(help="spark or s3://: units of samples (by sample-id hash).")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Group observations into one calendar-true series per sample and season (out of core)."""
    from inseason.series.build import make_series

    summary = make_series(
        str(observations),
        points=str(points),
        label_map=label_map,
        out=str(out),
        season_start=season_start,
        memory_limit=memory_limit,
        engine=engine,
        spark_master=spark_master,
        partitions=partitions,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(summary)
    elif not _State.quiet:
        out_console.print(
            _summary_table(
                f"series in {out}", {k: v for k, v in summary.items() if k not in ("out", "label_map", "bands")}
            )
        )


@app.command("import")
def import_(
    table: Annotated[Path, typer.Argument(help="Long-format CSV or Parquet: sample_id, date, band columns, label.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Series table to write (Parquet).")],
    bands: Annotated[
        list[str] | None,
        typer.Option(help="Band columns to use (comma list; default: every numeric column that is not reserved)."),
    ] = None,
    season_start: Annotated[str, typer.Option(help="Season start MM-DD (tables without a year column).")] = "01-01",
    label_map: Annotated[str | None, typer.Option(help=_LABEL_MAP_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import report as JSON.")] = False,
) -> None:
    """Bring your own series: a long-format table (one row per observation) becomes a series table."""
    from inseason.series.long_table import import_series

    report = import_series(
        table,
        out=out,
        bands=_csv_list(bands) or None,
        season_start=season_start,
        label_map=label_map,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(report)
    elif not _State.quiet:
        out_console.print(_summary_table(f"imported {table} into {out}", report))


@app.command()
def split(
    series_table: Annotated[Path, typer.Argument(metavar="SERIES", help="Series table (from series or import).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Series table with a split column (Parquet).")],
    by: Annotated[str, typer.Option(help="random (warns: pixels of a field leak), year, field or block.")] = "block",
    block_size: Annotated[float, typer.Option(help="block: side of the square blocks in metres.")] = 2000.0,
    buffer: Annotated[float, typer.Option(help="block: drop points within this many metres of another split.")] = 0.0,
    fractions: Annotated[str, typer.Option(help="train,validation,test shares.")] = "0.7,0.15,0.15",
    folds: Annotated[int | None, typer.Option(help="Grouped k-fold on fields or blocks instead.")] = None,
    no_stratify: Annotated[bool, typer.Option("--no-stratify", help="Do not balance classes across splits.")] = False,
    train_years: Annotated[
        list[str] | None, typer.Option(help="year: seasons of the train split (comma list).")
    ] = None,
    validation_years: Annotated[list[str] | None, typer.Option(help="year: seasons of the validation split.")] = None,
    test_years: Annotated[list[str] | None, typer.Option(help="year: seasons of the test split.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    allow_leakage: Annotated[bool, typer.Option(help="Write a split that leaks by its definition anyway.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the leakage audit as JSON.")] = False,
) -> None:
    """Assign train/validation/test splits without leakage and write the leakage audit next to them."""
    from inseason.series.split import split_series

    try:
        shares = [float(v) for v in fractions.split(",")]
    except ValueError:
        raise InputError(f"--fractions takes numbers like 0.7,0.15,0.15 (got {fractions!r})") from None
    years = {
        name: _int_list(values, f"--{name}-years")
        for name, values in (("train", train_years), ("validation", validation_years), ("test", test_years))
        if values
    }
    audit = split_series(
        series_table,
        by=by,
        out=out,
        seed=seed,
        fractions=shares,
        block_size=block_size,
        buffer=buffer,
        folds=folds,
        stratify=not no_stratify,
        years=years or None,
        allow_leakage=allow_leakage,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(audit)
    elif not _State.quiet:
        out_console.print(
            f"splits in {out}: "
            + ", ".join(f"{k} {v:,}" for k, v in audit["samples"].items())
            + f"\nleakage audit: {out.with_name(out.stem + '.audit.md')}"
        )


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False) -> None:
    """List the registered models: input adapter, kind and default options."""
    from dataclasses import asdict

    from inseason.models import list_models, model_info

    infos = {name: asdict(model_info(name)) for name in list_models()}
    if as_json:
        _print_json(infos)
        return
    table = Table(title="models (inseason train --model NAME)")
    for column in ("name", "adapter", "kind", "summary"):
        table.add_column(column)
    for name, info in infos.items():
        table.add_row(name, info["adapter"], "network" if info["neural"] else "classical", info["summary"])
    out_console.print(table)


@app.command()
def train(
    series_table: Annotated[Path, typer.Argument(metavar="SERIES", help="Series table with a split column.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: config, TensorBoard logs, checkpoints, bundle.")
    ],
    model: Annotated[str | None, typer.Option(help="Model name (`inseason models`); applies its preset.")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Training preset: arset (the course's recipe), tempcnn, ltae.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (applied after the preset).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override KEY=VALUE (dotted key, YAML value), e.g. --set epochs=40 --set optimizer.lr=3e-4"
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Train a model with Lightning; write TensorBoard logs, checkpoints and a portable model bundle."""
    import dataclasses

    import yaml

    from inseason.train import TRAIN_PRESETS, train_config
    from inseason.train import train as run_train

    overrides: dict[str, Any] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE (got {item!r})")
        overrides[key.strip()] = yaml.safe_load(value)
    if model:
        overrides["model.name"] = model
    if preset is None and model in TRAIN_PRESETS and config is None:
        preset = model
    summary = run_train(
        series_table,
        out=out,
        config=train_config(preset=preset, path=config, overrides=overrides),
        resume=resume,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(dataclasses.asdict(summary))
    elif not _State.quiet:
        m = summary.metrics
        out_console.print(
            f"{summary.model}: validation overall accuracy {m['overall_accuracy']:.3f}, macro-F1 "
            f"{m['macro_f1']:.3f} (best epoch {summary.best_epoch} of {summary.epochs_run})\n"
            f"bundle and logs in {summary.out} (tensorboard --logdir {Path(summary.out) / 'tensorboard'})"
        )


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder or model bundle (from `inseason train`).")],
    series_table: Annotated[Path, typer.Argument(metavar="SERIES", help="Series table with a split column.")],
    split_name: Annotated[str, typer.Option("--split", help="Split to evaluate.")] = "test",
    as_of: Annotated[
        list[str] | None,
        typer.Option(help="As-of month-days (comma list; default every 15 days from 04-01 to 10-31)."),
    ] = None,
    target_f1: Annotated[float, typer.Option(help="F1 a class must reach for its earliest date.")] = 0.8,
    by: Annotated[str, typer.Option(help="Group for intervals and the accuracy map: field or block.")] = "field",
    block_size: Annotated[float, typer.Option(help="Block side in metres for --by block.")] = 2000.0,
    course_protocol: Annotated[bool, typer.Option(help="Also score the ARSET course's window protocol.")] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Evaluation JSON (default RUN/evaluation.json).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the headline metrics as one JSON object.")] = False,
) -> None:
    """Score a model by calendar as-of date, per class and per field, with band and date importance."""
    from inseason.evaluate.run import evaluate_run

    ev = evaluate_run(
        run,
        series_table,
        split=split_name,
        as_of=_csv_list(as_of) or None,
        target_f1=target_f1,
        by=by,
        block_size=block_size,
        course_protocol=course_protocol,
        n_boot=n_boot,
        seed=seed,
        out=out,
        quiet=_State.quiet or as_json,
    )
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
        _print_json({k: ev[k] for k in keys})
    elif not _State.quiet:
        table = Table(title=f"{run} on the {split_name} split ({plural(ev['n'], 'sample')})")
        for column in ("as of", "overall accuracy", "macro-F1", "kappa"):
            table.add_column(column, justify="right")
        best = (ev["best_as_of"] or {}).get("as_of")
        for row in ev["by_as_of_date"]:
            table.add_row(
                row["as_of"] + (" (best)" if row["as_of"] == best else ""),
                f"{row['overall_accuracy']:.3f}",
                f"{row['macro_f1']:.3f}",
                f"{row['kappa']:.3f}",
            )
        table.add_row(
            f"{ev['end_of_season']} (end of season)",
            f"{ev['overall_accuracy']:.3f}",
            f"{ev['macro_f1']:.3f}",
            f"{ev['kappa']:.3f}",
        )
        out_console.print(table)


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="Run folder holding evaluation.json (or an evaluation JSON file).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
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
    """
    from inseason.evaluate import read_evaluation
    from inseason.evaluate.run import EVALUATION_FILE
    from inseason.report import write_report

    def load(path: Path) -> dict[str, Any]:
        return read_evaluation(path / EVALUATION_FILE if path.is_dir() else path)

    if bundle is None and truth is not None and run.is_dir():
        bundle = run
    path = write_report(
        load(run),
        out=out,
        title=title,
        comparisons=[load(p) for p in compare or []],
        maps=maps,
        truth=truth,
        bundle=bundle,
    )
    if not _State.quiet:
        out_console.print(f"report: {path.resolve()}")


def _as_of_dates(as_of: list[str] | None, every: str | None, start: str | None, end: str | None) -> list[str]:
    """``--as-of`` dates, plus ``--every Nd`` from ``--from`` to ``--to``."""
    import datetime as dt

    dates = _csv_list(as_of)
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


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="Run folder or model bundle (from `inseason train`).")],
    aoi: Annotated[str, typer.Option(help="Area to map: 'west,south,east,north' in degrees or a vector file.")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Folder (or s3://bucket/prefix) for the maps; run again to resume.")
    ],
    as_of: Annotated[list[str] | None, typer.Option(help="As-of dates YYYY-MM-DD (comma list).")] = None,
    every: Annotated[str | None, typer.Option(help="Also map every N days, e.g. 15d, from --from to --to.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First date for --every.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date for --every.")] = None,
    scenes: Annotated[
        str | None, typer.Option(help="Scene manifest (from `inseason scenes`; a path or s3://).")
    ] = None,
    stac: Annotated[str | None, typer.Option(help="Or search this STAC API / catalog for the scenes.")] = None,
    block_size: Annotated[int, typer.Option(help="Block side in 10 m pixels: memory is bounded by it.")] = 256,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: the cores).")] = None,
    crop_mask: Annotated[
        str | None,
        typer.Option(help="CDL-coded raster (e.g. last year's CDL; a path or s3://): map only its crop pixels."),
    ] = None,
    scl_mask: Annotated[
        list[str] | None, typer.Option(help="SCL classes to drop (comma list; default 0,1,7,8,9,11).")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Map crop types wall to wall as of one or more dates: class + confidence COGs, STAC items, a season
    GIF and the double-crop sequence and transition dates.
    """
    import dataclasses

    from inseason.extract.sample import DEFAULT_SCL_MASK
    from inseason.predict import predict_map

    if (scenes is None) == (stac is None):
        raise InputError("give either --scenes (a scene manifest) or --stac (a STAC API or catalog)")
    run = predict_map(
        model,
        aoi=aoi,
        as_of=_as_of_dates(as_of, every, start, end),
        out=out,
        scenes=scenes,
        stac=stac,
        block_size=block_size,
        workers=workers,
        crop_mask=crop_mask,
        scl_mask=_int_list(scl_mask, "--scl-mask") or DEFAULT_SCL_MASK,
        engine=engine,
        spark_master=spark_master,
        allow_outside=allow_outside,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(dataclasses.asdict(run))
    elif not _State.quiet:
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


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the demo's outputs (reused when run again).")
    ] = Path("demo-out"),
    size: Annotated[
        str, typer.Option(help="World size to run on: demo (minutes), small or tiny (faster, rougher).")
    ] = "demo",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    stride: Annotated[int, typer.Option(help="Every k-th label pixel is a sample (the course: 15).")] = 15,
) -> None:
    """Run the whole pipeline on a synthetic world and write the HTML report: synth, labels, scenes,
    extract, series, split, train the ARSET recipe and ours, evaluate (with the course protocol), map the
    test area as of four dates, report. Prints each model's end-of-season scores with their date, its best
    as-of date, and the course protocol beside the course's published figures.
    """
    from inseason.demo import run_demo, summary_table

    def say(message: str) -> None:
        if not _State.quiet:
            err_console.print(f"[bold]·[/] {escape(message)}")

    result = run_demo(out, size=size, seed=seed, stride=stride, quiet=_State.quiet, say=say)
    if not _State.quiet:
        out_console.print(summary_table(result))
        out_console.print(f"maps by {escape(result.mapped_by)}: {escape(str(result.maps_folder))}")
    out_console.print(f"report: {escape(str(result.report.resolve()))}")


bench_app = _Typer(no_args_is_help=True, help="Benchmarks: both sides of a comparison in one run, as ratios.")
app.add_typer(bench_app, name="bench")


@bench_app.command("ingest")
def bench_ingest(
    world: Annotated[
        Path | None,
        typer.Option(
            help="A world from `inseason synth` (default: make one with a "
            "32.94 km tile, June 2022, in a temporary folder)."
        ),
    ] = None,
    boxes: Annotated[int, typer.Option(help="Boxes of label points along the tile's diagonal.")] = 3,
    box_m: Annotated[float, typer.Option(help="Side of each box in metres.")] = 1500.0,
    stride: Annotated[int, typer.Option(help="Every k-th label pixel is a point (the course: 15).")] = 15,
    max_scenes: Annotated[int, typer.Option(help="Scenes extracted by both sides.")] = 24,
    workers: Annotated[int | None, typer.Option(help="Worker processes for both sides (default: the cores).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (bytes_ratio, speedup, ...).")] = False,
) -> None:
    """Windowed block reads against the course's whole-file downloads: bytes and observations/s."""
    from inseason.bench.ingest import bench_ingest as run_bench

    result = run_bench(
        world=world,
        boxes=boxes,
        box_m=box_m,
        stride=stride,
        max_scenes=max_scenes,
        workers=workers,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(result)
        return
    table = Table(
        title=f"inseason bench ingest: {plural(result['points'], 'point')} × "
        f"{plural(result['scenes'], 'scene')}, {plural(result['workers'], 'worker')}"
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
        f"{result['speedup']}× faster",
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


@bench_app.command("engines")
def bench_engines(
    world: Annotated[
        Path | None, typer.Option(help="A world from `inseason synth` (default: make one of --size).")
    ] = None,
    size: Annotated[str, typer.Option(help="World size to make when --world is not given.")] = "large",
    workers: Annotated[int, typer.Option(help="Local processes and Spark local[N] cores.")] = 2,
    max_scenes: Annotated[int | None, typer.Option(help="Cap on the scenes extracted.")] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object (local_rows_per_s, spark_rows_per_s, spark_startup_s, identical)."
        ),
    ] = False,
) -> None:
    """The same extract + series on the local engine and on Spark local[N]: rows/s and Spark's start-up."""
    from inseason.bench.engines import bench_engines as run_bench
    from inseason.bench.engines import bench_engines_markdown

    result = run_bench(world=world, size=size, workers=workers, max_scenes=max_scenes, quiet=_State.quiet or as_json)
    if as_json:
        _print_json(result)
    else:
        out_console.print(bench_engines_markdown(result), markup=False, highlight=False)


@bench_app.command("series")
def bench_series(
    points: Annotated[int, typer.Option(help="Synthetic points.")] = 200_000,
    dates: Annotated[int, typer.Option(help="Dates per point (a fifth are lost to clouds).")] = 50,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory cap of the capped run.")] = "96MB",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (identical, working_memory_over_data, ...).")
    ] = False,
) -> None:
    """Observations → series with DuckDB capped far below the data's size, against an uncapped run."""
    from inseason.bench.series import bench_series as run_bench

    r = run_bench(points=points, dates=dates, memory_limit=memory_limit, quiet=_State.quiet or as_json)
    if as_json:
        _print_json(r)
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


@bench_app.command("predict")
def bench_predict(
    world: Annotated[Path | None, typer.Option(help="A world from `inseason synth` (default: a tiny one).")] = None,
    networks: Annotated[list[str] | None, typer.Option(help="Networks to time (comma list).")] = None,
    block_size: Annotated[int, typer.Option(help="Block side in pixels.")] = 256,
    workers: Annotated[int, typer.Option(help="Worker processes of the end-to-end run.")] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (end_to_end_over_model_only, ...).")
    ] = False,
) -> None:
    """Map pixels/s end to end (read + model + write) against the model alone on the same pixels."""
    from inseason.bench.predict import bench_predict as run_bench

    result = run_bench(
        networks=_csv_list(networks) or ("arset", "tempcnn"),
        world=world,
        block_size=block_size,
        workers=workers,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(result)
        return
    w = result["world"]
    table = Table(
        title=f"inseason bench predict: {w['grid'][0]}×{w['grid'][1]} pixels, "
        f"{plural(w['scenes'], 'scene')} up to {w['as_of']}, {plural(result['workers'], 'worker')}"
    )
    for column in ("network", "end to end px/s", "model only px/s", "end to end ÷ model only"):
        table.add_column(column, justify="right")
    for name, n in result["networks"].items():
        table.add_row(
            name,
            f"{n['end_to_end_pixels_per_s']:,.0f}",
            f"{n['model_only_pixels_per_s']:,.0f}",
            f"{n['end_to_end_over_model_only']:.2f}",
        )
    out_console.print(table)


@bench_app.command("train")
def bench_train(
    n_samples: Annotated[int, typer.Option(help="Synthetic series to train on.")] = 1000,
    models: Annotated[
        list[str] | None, typer.Option(help="Models to time (comma list; default: all networks).")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Epochs of the input-wait run.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (loader_speedup, input_wait_fraction, ...).")
    ] = False,
) -> None:
    """Our vectorised loader against a per-item Dataset + DataLoader, input wait, and each model's
    training and inference samples/s with FLOPs per sample against the machine's measured matmul rate.
    """
    from inseason.bench.train import DEFAULT_MODELS, bench_train_markdown
    from inseason.bench.train import bench_train as run_bench

    result = run_bench(
        n_samples=n_samples,
        models=_csv_list(models) or DEFAULT_MODELS,
        epochs=epochs,
        batch_size=batch_size,
        quiet=_State.quiet or as_json,
    )
    if as_json:
        _print_json(result)
    else:
        out_console.print(bench_train_markdown(result), markup=False, highlight=False)


def main() -> None:
    """Entry point: run the app, printing project errors as one line without a traceback."""
    try:
        app(prog_name="inseason")
    except InseasonError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
