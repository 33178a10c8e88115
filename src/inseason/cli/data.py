"""The data verbs, from sources to a split series table: labels, scenes, extract, series, import, split."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inseason.cli.common import (
    Aoi,
    LabelMap,
    Seed,
    SparkMaster,
    State,
    Workers,
    csv_list,
    int_list,
    json_flag,
    memory_limit_option,
    out_console,
    out_option,
    print_json,
    scl_classes,
    scl_mask_option,
    season_start_option,
    seed_option,
    stride_option,
    workers_option,
)
from inseason.errors import InputError
from inseason.progress import plural


def labels(
    aoi: Aoi,
    years: Annotated[list[str], typer.Option(help="Label years: 2021,2022 or repeat the option.")],
    out: Annotated[Path, out_option("Label points table to write (Parquet).")],
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
    stride: Annotated[int, stride_option("stride: keep every k-th label pixel along rows and columns.")] = 15,
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
    seed: Annotated[int, seed_option("Random seed of the sampling.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds before a CropScape request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed CropScape request.")] = 4,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(help="PEM file of the CA certificates to trust for CropScape (else $REQUESTS_CA_BUNDLE)."),
    ] = None,
) -> None:
    """Sample label points from CDL (local GeoTIFFs or CropScape) or vector labels inside an AOI.

    \f
    Args:
        aoi: ``--aoi``: a box in degrees or a vector file.
        years: ``--years``: the label years.
        out: ``--out``: the label points table.
        cdl: ``--cdl``: the CDL source, when the labels are CDL.
        cropscape_url: ``--cropscape-url``.
        cache_dir: ``--cache-dir``: the CropScape download cache.
        vector: ``--vector``: the vector labels, when they are not CDL.
        class_column: ``--class-column`` of ``vector``.
        field_column: ``--field-column`` of ``vector``.
        layer: ``--layer`` of a GeoPackage ``vector``.
        strategy: ``--strategy``: stride, stratified or per_field.
        stride: ``--stride`` of the stride strategy.
        spacing: ``--spacing`` of the stride strategy on vector labels.
        per_class: ``--per-class`` of the stratified strategy.
        min_per_class: ``--min-per-class`` of the stratified strategy.
        per_field: ``--per-field`` of the per_field strategy.
        edge_buffer: ``--edge-buffer`` of the per_field strategy, in metres.
        classes: ``--classes`` to keep.
        seed: ``--seed`` of the sampling.
        timeout: ``--timeout`` of a CropScape request, in seconds.
        retries: ``--retries`` of a failed CropScape request.
        ca_bundle: ``--ca-bundle``: the CA certificates CropScape's certificate is checked against.

    Raises:
        InputError: ``--years`` is not a list of integers, the sources or options are invalid, or the CA bundle
            does not exist.
    """  # noqa: D301
    from inseason.sources.points import LabelsRequest, run_labels

    request = LabelsRequest.of(
        cdl=cdl,
        cropscape_url=cropscape_url,
        vector=None if vector is None else str(vector),
        class_column=class_column,
        field_column=field_column,
        aoi=aoi,
        years=int_list(years, "--years"),
        strategy=strategy,
        stride=stride,
        per_class=per_class,
        min_per_class=min_per_class,
        per_field=per_field,
        edge_buffer_m=edge_buffer,
        classes=csv_list(classes) or None,
        seed=seed,
        cache_dir=cache_dir,
        out=out,
        spacing_m=spacing,
        layer=layer,
        quiet=State.quiet,
        timeout=timeout,
        retries=retries,
        ca_bundle=ca_bundle,
    )
    table = run_labels(request).table
    if State.quiet:
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


def scenes(
    stac: Annotated[
        str,
        typer.Option(
            help="A STAC API URL (Earth Search https://earth-search.aws.element84.com/v1, Planetary Computer "
            "https://planetarycomputer.microsoft.com/api/stac/v1) or a local catalog.json."
        ),
    ],
    aoi: Aoi,
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last date, YYYY-MM-DD (inclusive).")],
    out: Annotated[Path, out_option("Scene manifest to write (Parquet).")],
    collection: Annotated[
        list[str] | None,
        typer.Option(
            help="STAC collection; repeat to search several and merge them (one acquisition kept once): "
            "sentinel-2-c1-l2a (Earth Search, one baseline, gaps) and sentinel-2-l2a (Earth Search's older one, or "
            "Planetary Computer's). Default sentinel-2-l2a."
        ),
    ] = None,
    min_valid: Annotated[
        float, typer.Option(help="Keep scenes whose valid share of the AOI (from SCL) exceeds this.")
    ] = 0.3,
    scl_mask: Annotated[
        list[str] | None,
        scl_mask_option("SCL classes counted as invalid (comma list; default the course's 0,1,7,8,9,11)."),
    ] = None,
    max_cloud: Annotated[
        float | None, typer.Option(help="Also drop items whose tile-wide eo:cloud_cover (%) exceeds this.")
    ] = None,
    workers: Annotated[int, workers_option("Parallel SCL reads.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds before a STAC request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed STAC request (429, 5xx, timeouts).")] = 4,
    no_sign_request: Annotated[
        bool,
        typer.Option(
            "--no-sign-request",
            help="Read the scenes' files anonymously (public S3 buckets); outputs keep your credentials. "
            "Recorded in the manifest for extract and predict.",
        ),
    ] = False,
    requester_pays: Annotated[
        bool, typer.Option("--requester-pays", help="Read the scenes' S3 files as a requester-pays reader.")
    ] = False,
    sign: Annotated[
        str,
        typer.Option(
            help="Sign the scenes' hrefs: auto (Planetary Computer's SAS token where hrefs are on Azure Blob "
            "Storage), planetary-computer or none."
        ),
    ] = "auto",
    as_json: Annotated[bool, json_flag("Print the manifest's counts as JSON.")] = False,
) -> None:
    """Search a STAC API or catalog for Sentinel-2 L2A scenes over an AOI and write the scene manifest.

    Collections: sentinel-2-c1-l2a on Earth Search (https://earth-search.aws.element84.com/v1) is Collection 1,
    the whole archive reprocessed to one baseline, the first choice where it covers your dates, but whole years
    of some tiles are missing; sentinel-2-l2a on Earth Search is the older collection, every baseline as first
    delivered, complete for past years but missing recent items; sentinel-2-l2a on Planetary Computer
    (https://planetarycomputer.microsoft.com/api/stac/v1) needs signed hrefs (--sign auto does it). Pass
    --collection twice to search both Earth Search collections and merge them: the summary shows per month how
    many scenes each one has, so a gap shows. Each scene's BOA offset is checked against its blue band; scenes
    whose pixels contradict their metadata are named and corrected.

    \f
    Args:
        stac: ``--stac``: the API or catalog to search.
        aoi: ``--aoi``: a box in degrees or a vector file.
        start: ``--start``: the first date.
        end: ``--end``: the last date, inclusive.
        out: ``--out``: the scene manifest.
        collection: ``--collection`` to search, repeatable.
        min_valid: ``--min-valid``: the least valid share of the AOI a kept scene has.
        scl_mask: ``--scl-mask``: SCL classes that are not valid.
        max_cloud: ``--max-cloud``: the most tile-wide cloud cover (%) of a kept item.
        workers: ``--workers``: parallel SCL reads.
        timeout: ``--timeout`` of a STAC request, in seconds.
        retries: ``--retries`` of a failed STAC request.
        no_sign_request: ``--no-sign-request``: anonymous reads of the scenes' files.
        requester_pays: ``--requester-pays``: requester-pays reads of the scenes' files.
        sign: ``--sign``: auto, planetary-computer or none.
        as_json: ``--json``: print the counts as JSON instead of a line.

    Raises:
        InputError: ``--scl-mask`` is not a list of integers, or the search cannot be made.
    """  # noqa: D301
    from inseason.extract.scenes import ScenesRequest, run_scenes

    request = ScenesRequest.of(
        stac=stac,
        aoi=aoi,
        start=start,
        end=end,
        out=str(out),
        collection=tuple(collection or ("sentinel-2-l2a",)),
        min_valid=min_valid,
        scl_mask=scl_classes(scl_mask),
        max_cloud=max_cloud,
        workers=workers,
        quiet=State.quiet or as_json,
        timeout=timeout,
        retries=retries,
        no_sign_request=no_sign_request,
        requester_pays=requester_pays,
        sign=sign,
    )
    found = run_scenes(request)
    info = found.info
    if as_json:
        print_json({"scenes": found.scenes, **info})
    elif not State.quiet:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (info["counts"] or {}).items())
        out_console.print(f"{plural(found.scenes, 'scene')} in {out} ({counts})")
        months = info["collection_months"] or {}
        if months:
            table = Table(title="scenes found over the AOI per month")
            table.add_column("month")
            for name in months:
                table.add_column(name, justify="right")
            for month in next(iter(months.values())):
                table.add_row(month, *(str(months[name][month]) for name in months))
            out_console.print(table)
        for flip in info["offset_from_pixels"] or []:
            out_console.print(
                f"{flip['scene_id']}: BOA offset {flip['pixels']} from the pixels (metadata {flip['metadata']}; "
                f"{flip['share']:.0%} of its valid {flip['band']} values below 1000 DN)"
            )
        if info["note"]:
            out_console.print(info["note"])


def extract(
    points: Annotated[Path, typer.Argument(help="Label points table (from `inseason labels`).")],
    scenes: Annotated[Path, typer.Argument(help="Scene manifest (from `inseason scenes`).")],
    out: Annotated[str, out_option("Observations folder or s3://bucket/prefix; run again to resume.")],
    scl_mask: Annotated[
        list[str] | None,
        scl_mask_option("SCL classes to drop (comma list; default the course's 0,1,7,8,9,11; e.g. add 3,10)."),
    ] = None,
    season_start: Annotated[
        str, season_start_option("Season start MM-DD: scenes from it on belong to the label year.")
    ] = "01-01",
    workers: Workers = None,
    dry_run: Annotated[bool, typer.Option(help="Estimate scenes, bytes and time; write nothing.")] = False,
    allow_skips: Annotated[
        bool,
        typer.Option(
            help="Finish with exit 0 even when scenes stay unread for network faults (timeouts, resets, cut or "
            "5xx responses) after every retry; without it the run fails after recording them, and running the "
            "same command again reads just those scenes. Scenes skipped for their content (no valid pixel) "
            "never fail a run."
        ),
    ] = False,
    engine: Annotated[str, typer.Option(help="local (a process pool) or spark.")] = "local",
    spark_master: SparkMaster = None,
    as_json: Annotated[bool, json_flag("Print the totals as JSON.")] = False,
) -> None:
    """Sample every label point in every scene, reading only the COG blocks that hold points (resumable).

    \f
    Args:
        points: The label points table.
        scenes: The scene manifest.
        out: ``--out``: the observations folder or s3:// prefix.
        scl_mask: ``--scl-mask``: SCL classes whose pixels are dropped.
        season_start: ``--season-start``: the month-day a label year's season starts.
        workers: ``--workers``: worker processes of the local engine.
        dry_run: ``--dry-run``: estimate only.
        allow_skips: ``--allow-skips``: succeed although scenes stayed unread for network faults.
        engine: ``--engine``: local or spark.
        spark_master: ``--spark-master`` of the spark engine.
        as_json: ``--json``: print the totals as JSON instead of a table.

    Raises:
        InputError: ``--scl-mask`` is not a list of integers, or an input or option is invalid.
    """  # noqa: D301
    from inseason.extract.stage import ExtractRequest, run_extract

    request = ExtractRequest.of(
        points=str(points),
        scenes=str(scenes),
        out=out,
        scl_mask=scl_classes(scl_mask),
        season_start=season_start,
        workers=workers,
        dry_run=dry_run,
        allow_skips=allow_skips,
        engine=engine,
        spark_master=spark_master,
        quiet=State.quiet or as_json,
    )
    totals = asdict(run_extract(request))
    if as_json:
        print_json(totals)
    elif not State.quiet:
        table = Table(title="dry run: estimate" if dry_run else f"observations in {out}", show_header=False)
        for key, value in totals.items():
            table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
        out_console.print(table)


def _summary_table(title: str, values: dict[str, Any]) -> Table:
    """A two-column table of a stage's summary: its keys in words, numbers with thousands separators."""
    table = Table(title=title, show_header=False)
    for key, value in values.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        table.add_row(str(key).replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
    return table


def series(
    observations: Annotated[str, typer.Argument(help="Observations folder or s3:// prefix (from `inseason extract`).")],
    points: Annotated[str, typer.Option(help="The label points table the observations were extracted for.")],
    out: Annotated[str, out_option("Series table to write (Parquet; path or s3://).")],
    label_map: LabelMap = None,
    season_start: Annotated[str, season_start_option("Season start MM-DD (as for extract).")] = "01-01",
    memory_limit: Annotated[
        str, memory_limit_option("DuckDB memory cap (4GB, 512MiB or 80%); it spills to disk beyond it.")
    ] = "1GB",
    engine: Annotated[str, typer.Option(help="local (DuckDB, or a process pool for s3://) or spark.")] = "local",
    spark_master: SparkMaster = None,
    partitions: Annotated[int, typer.Option(help="spark or s3://: units of samples (by sample-id hash).")] = 8,
    as_json: Annotated[bool, json_flag("Print the summary as JSON.")] = False,
) -> None:
    """Group observations into one calendar-true series per sample and season (out of core).

    \f
    Args:
        observations: The observations folder or s3:// prefix.
        points: ``--points``: the label points table.
        out: ``--out``: the series table.
        label_map: ``--label-map`` from label codes to classes.
        season_start: ``--season-start``: the month-day a season starts.
        memory_limit: ``--memory-limit`` of DuckDB.
        engine: ``--engine``: local or spark.
        spark_master: ``--spark-master`` of the spark engine.
        partitions: ``--partitions``: units of samples on spark or s3://.
        as_json: ``--json``: print the summary as JSON instead of a table.

    Raises:
        InputError: An input or option is invalid.
    """  # noqa: D301
    from inseason.series.build import SeriesRequest, run_series

    request = SeriesRequest.of(
        observations=observations,
        points=points,
        label_map=label_map,
        out=out,
        season_start=season_start,
        memory_limit=memory_limit,
        engine=engine,
        spark_master=spark_master,
        partitions=partitions,
        quiet=State.quiet or as_json,
    )
    summary = run_series(request).as_dict()
    if as_json:
        print_json(summary)
    elif not State.quiet:
        out_console.print(
            _summary_table(
                f"series in {out}", {k: v for k, v in summary.items() if k not in ("out", "label_map", "bands")}
            )
        )


def import_(
    table: Annotated[Path, typer.Argument(help="Long-format CSV or Parquet: sample_id, date, band columns, label.")],
    out: Annotated[Path, out_option("Series table to write (Parquet).")],
    bands: Annotated[
        list[str] | None,
        typer.Option(help="Band columns to use (comma list; default: every numeric column that is not reserved)."),
    ] = None,
    season_start: Annotated[str, season_start_option("Season start MM-DD (tables without a year column).")] = "01-01",
    label_map: LabelMap = None,
    as_json: Annotated[bool, json_flag("Print the import report as JSON.")] = False,
) -> None:
    """Bring your own series: a long-format table (one row per observation) becomes a series table.

    \f
    Args:
        table: The long-format table.
        out: ``--out``: the series table.
        bands: ``--bands``: the band columns to use.
        season_start: ``--season-start``: the month-day a season starts.
        label_map: ``--label-map`` from labels to classes.
        as_json: ``--json``: print the import report as JSON instead of a table.

    Raises:
        InputError: The table or an option is invalid.
    """  # noqa: D301
    from inseason.series.long_table import ImportRequest, run_import

    request = ImportRequest.of(
        path=table,
        out=out,
        bands=csv_list(bands) or None,
        season_start=season_start,
        label_map=label_map,
        quiet=State.quiet or as_json,
    )
    report = run_import(request).as_dict()
    if as_json:
        print_json(report)
    elif not State.quiet:
        out_console.print(_summary_table(f"imported {table} into {out}", report))


def split(
    series_table: Annotated[Path, typer.Argument(metavar="SERIES", help="Series table (from series or import).")],
    out: Annotated[Path, out_option("Series table with a split column (Parquet).")],
    by: Annotated[str, typer.Option(help="random (warns: pixels of a field leak), year, field or block.")] = "block",
    block_size: Annotated[float, typer.Option(help="block: side of the square blocks in metres.")] = 2000.0,
    buffer: Annotated[float, typer.Option(help="block: drop points within this many metres of another split.")] = 0.0,
    fractions: Annotated[str, typer.Option(help="train,validation,test shares.")] = "0.7,0.15,0.15",
    folds: Annotated[
        int | None,
        typer.Option(
            help="k folds instead of train/validation/test: grouped on fields or blocks, or stratified random "
            "(--by random)."
        ),
    ] = None,
    no_stratify: Annotated[bool, typer.Option("--no-stratify", help="Do not balance classes across splits.")] = False,
    train_years: Annotated[
        list[str] | None, typer.Option(help="year: seasons of the train split (comma list).")
    ] = None,
    validation_years: Annotated[list[str] | None, typer.Option(help="year: seasons of the validation split.")] = None,
    test_years: Annotated[list[str] | None, typer.Option(help="year: seasons of the test split.")] = None,
    seed: Seed = 0,
    allow_leakage: Annotated[bool, typer.Option(help="Write a split that leaks by its definition anyway.")] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            help="Write the split even when it leaves train, validation (when it has a share or years) or test "
            "empty, or when --buffer drops more than half of the samples; without it such a split is refused and "
            "nothing is written."
        ),
    ] = False,
    as_json: Annotated[bool, json_flag("Print the leakage audit as JSON.")] = False,
) -> None:
    """Assign train/validation/test splits without leakage and write the leakage audit next to them.

    \f
    Args:
        series_table: The series table.
        out: ``--out``: the series table with a split column.
        by: ``--by``: random, year, field or block.
        block_size: ``--block-size`` of the block split, in metres.
        buffer: ``--buffer`` of the block split, in metres.
        fractions: ``--fractions``: the train, validation and test shares.
        folds: ``--folds``: grouped k-fold instead.
        no_stratify: ``--no-stratify``: do not balance classes.
        train_years: ``--train-years`` of the year split.
        validation_years: ``--validation-years`` of the year split.
        test_years: ``--test-years`` of the year split.
        seed: ``--seed``.
        allow_leakage: ``--allow-leakage``: write a leaking split anyway.
        allow_empty: ``--allow-empty``: write a split with an empty split or most samples dropped anyway.
        as_json: ``--json``: print the leakage audit as JSON instead of a line.

    Raises:
        InputError: ``--fractions`` or the years are not numbers, or the split cannot be made as asked.
    """  # noqa: D301
    from inseason.series.split import SplitRequest, run_split

    try:
        shares = [float(v) for v in fractions.split(",")]
    except ValueError:
        raise InputError(f"--fractions takes numbers like 0.7,0.15,0.15 (got {fractions!r})") from None
    years = {
        name: int_list(values, f"--{name}-years")
        for name, values in (("train", train_years), ("validation", validation_years), ("test", test_years))
        if values
    }
    request = SplitRequest.of(
        series=series_table,
        by=by,
        out=out,
        seed=seed,
        fractions=tuple(shares),
        block_size=block_size,
        buffer=buffer,
        folds=folds,
        stratify=not no_stratify,
        years=years or None,
        allow_leakage=allow_leakage,
        allow_empty=allow_empty,
        quiet=State.quiet or as_json,
    )
    result = run_split(request)
    if as_json:
        print_json(result.audit)
    elif not State.quiet:
        out_console.print(
            f"splits in {out}: "
            + ", ".join(f"{k} {v:,}" for k, v in result.samples.items())
            + f"\nleakage audit: {result.audit_md}"
        )
