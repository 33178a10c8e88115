"""`inseason series`: observations dataset + label points → the series table, out of core.

DuckDB sorts the observations by (point, season, date, SCL preference, scene) under a memory limit,
spilling to a temporary folder next to the output; the sorted rows stream through
:class:`~inseason.series.assemble.SeriesAssembler` into a Parquet writer, one row group per chunk. Of two
observations of one point on one date (tiles that overlap), the one with the better SCL class is kept, then
the one with the smaller scene id, so the table does not depend on the order scenes were extracted in.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import field_validator, model_validator

from inseason.config import SeasonStart, StageRequest
from inseason.engines import EngineName, check_engine
from inseason.engines.local import run_local
from inseason.errors import InputError, OutputError
from inseason.labels import LabelMap, MappedLabels, map_labels, resolve_label_map
from inseason.observations import observations_dataset
from inseason.progress import progress_bar
from inseason.season import DEFAULT_START, season_start_day
from inseason.series.assemble import SeriesAssembler, SeriesLists, SeriesRows
from inseason.series.units import Runner, run_units
from inseason.storage import atomic_path, check_bucket, is_s3, local_path, output_lock
from inseason.tables import LABEL_POINTS, S2_BANDS, read_table, series_schema

#: SCL classes from most to least trustworthy: which observation of a duplicated date is kept.
SCL_PREFERENCE: tuple[int, ...] = (4, 5, 6, 2, 10, 3, 7, 8, 9, 11, 1, 0)
_NOT_BANDS = {"point_id", "scene_id", "date", "scl", "tile", "year"}

#: DuckDB's memory units, by their lower-case spelling: the canonical spelling.
_MEMORY_UNITS = {u.lower(): u for u in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")}
_BAND_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
_MEMORY_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([A-Za-z]+)", re.ASCII)
_MEMORY_SHARE = re.compile(r"(\d+(?:\.\d+)?) ?%", re.ASCII)


def check_memory_limit(value: str) -> str:
    """A DuckDB memory limit checked against a strict pattern and normalised (``"4 gb"`` → ``"4GB"``).

    A size is a positive number (digits, an optional decimal part) and a unit, B, KB, MB, GB, TB (powers of
    1000) or KiB, MiB, GiB, TiB (powers of 1024), in any case, with an optional space between; a share of the
    machine's memory is a percentage above 0 and at most 100 (``"80%"``), which DuckDB accepts too. Nothing
    else passes, so the value can never carry SQL or anything DuckDB would read otherwise.

    Args:
        value: the memory limit as given (``--memory-limit``).

    Returns:
        The limit with its unit spelled as DuckDB documents it and no space: ``"512MB"``, ``"4GiB"``, ``"80%"``.

    Raises:
        InputError: the value is not such a size or percentage, or it is zero (the message names it).
    """
    text = str(value).strip()
    size = _MEMORY_SIZE.fullmatch(text)
    share = _MEMORY_SHARE.fullmatch(text)
    if size and size.group(2).lower() in _MEMORY_UNITS and float(size.group(1)) > 0:
        return size.group(1) + _MEMORY_UNITS[size.group(2).lower()]
    if share and 0 < float(share.group(1)) <= 100:
        return share.group(1) + "%"
    raise InputError(f"--memory-limit must be a size like 4GB (got {value!r})")


def observation_bands(observations: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """The part files of an observations dataset and their common band columns (in Sentinel-2 order).

    Args:
        observations: the observations dataset (a folder or S3 URI written by ``inseason extract``).

    Returns:
        The part files, sorted, and the band columns.

    Raises:
        InputError: the dataset has no part files or no band columns, or a part file's bands differ from the
            others' (the message names it).
    """
    dataset = observations_dataset(observations)
    files = sorted(dataset.files)
    if not files:
        raise InputError(f"observations dataset {observations} has no part files: run `inseason extract` first")
    bands: list[str] | None = None
    first = files[0]
    for path in files:
        names = [n for n in pq.read_schema(path, filesystem=dataset.filesystem).names if n not in _NOT_BANDS]
        ordered = sorted(names, key=lambda b: (S2_BANDS.index(b) if b in S2_BANDS else len(S2_BANDS), b))
        if bands is None:
            bands = ordered
        elif ordered != bands:
            raise InputError(
                f"observations dataset {observations} mixes band sets: {path} has {ordered}, "
                f"{first} has {bands}: extract every scene with the same bands"
            )
    assert bands is not None
    if not bands:
        raise InputError(f"observations dataset {observations} has no band columns")
    odd = [b for b in bands if not _BAND_NAME.fullmatch(b)]
    if odd:
        raise InputError(
            f"observations dataset {observations} has band columns {odd} that are not band names "
            "(letters, digits and _): extract the observations with `inseason extract`"
        )
    return files, bands


def _is_cdl(points: pa.Table) -> bool:
    """Whether every label point comes from the CDL (its codes are CDL classes)."""
    return all(s.startswith(("cdl", "cropscape")) for s in points.column("source").unique().to_pylist())


def _query(bands: list[str]) -> str:
    """The DuckDB query of every observation, sorted as the assembler needs (best SCL first within a date).

    Its one parameter, ``$files``, is the list of part files, bound by DuckDB; the band names are checked
    (`observation_bands`) and the SCL ranks are ours, so no text of the user's is part of the SQL.
    """
    rank = "CASE scl " + " ".join(f"WHEN {int(c)} THEN {i}" for i, c in enumerate(SCL_PREFERENCE)) + " ELSE 99 END"
    columns = ", ".join(f'"{b}"' for b in bands if _BAND_NAME.fullmatch(b))
    return (
        f"SELECT point_id, CAST(year AS SMALLINT) AS year, date, scl, {columns} "
        "FROM read_parquet($files, hive_partitioning = true) "
        f"ORDER BY point_id, year, date, {rank}, scene_id"
    )


def _batches(
    connection: duckdb.DuckDBPyConnection, files: list[str], bands: list[str], rows: int
) -> Iterator[SeriesRows]:
    """The sorted observations of ``files`` in chunks of ``rows`` observation rows."""
    reader = connection.sql(_query(bands), params={"files": [str(f) for f in files]}).to_arrow_reader(rows)
    for batch in reader:
        values = np.column_stack([batch.column(b).to_numpy(zero_copy_only=False) for b in bands])
        yield SeriesRows(
            sample=batch.column("point_id").to_numpy(),
            year=batch.column("year").to_numpy(),
            date=batch.column("date").cast(pa.int32()).to_numpy(),
            values=values.astype(np.int16),
            scl=batch.column("scl").to_numpy(zero_copy_only=False).astype(np.uint8),
        )


def _season_bounds(years: np.ndarray, start: str) -> tuple[dict[int, int], dict[int, int]]:
    """Per season year: its first day and the next season's first day, as days since 1970-01-01."""
    lo = {int(y): season_start_day(int(y), start) for y in np.unique(years)}
    hi = {int(y): season_start_day(int(y) + 1, start) for y in np.unique(years)}
    return lo, hi


class _PointIndex:
    """Label points by ``point_id``, with their mapped class; filters observation rows to kept points."""

    def __init__(self, points: pa.Table, mapped: MappedLabels, season_start: str) -> None:
        order = np.argsort(points.column("point_id").to_numpy(), kind="stable")
        self.table = points.take(order)
        self.ids = self.table.column("point_id").to_numpy()
        if len(np.unique(self.ids)) != len(self.ids):
            raise InputError("label points table has duplicate point_id values: rebuild it with `inseason labels`")
        self.years = self.table.column("year").to_numpy()
        self.labels = np.array(mapped.labels, dtype=object)[order]
        self.kept = np.array([lab is not None for lab in self.labels])
        lo, hi = _season_bounds(self.years, season_start)
        self.lo = np.array([lo[int(y)] for y in self.years], dtype=np.int64)
        self.hi = np.array([hi[int(y)] for y in self.years], dtype=np.int64)
        self.counts: Counter[str] = Counter()

    def filter(self, rows: SeriesRows) -> SeriesRows:
        """Rows of kept points, in their point's season and within it; counts what is dropped."""
        where = np.searchsorted(self.ids, rows.sample)
        found = (where < len(self.ids)) & (self.ids[np.minimum(where, len(self.ids) - 1)] == rows.sample)
        if not found.all():
            bad = np.unique(rows.sample[~found])[:5].tolist()
            raise InputError(
                f"observations reference point ids missing from the label points (e.g. {bad}): "
                "give the --points table the observations were extracted from"
            )
        keep = self.kept[where]
        self.counts["label_dropped"] += int((~keep).sum())
        same_year = self.years[where] == rows.year
        self.counts["other_season"] += int((keep & ~same_year).sum())
        keep &= same_year
        inside = (rows.date >= self.lo[where]) & (rows.date < self.hi[where])
        self.counts["outside_season"] += int((keep & ~inside).sum())
        return rows.take(keep & inside)

    def table_of(self, lists: SeriesLists, schema: pa.Schema, crs: str | None) -> pa.Table:
        """The series rows of ``lists`` with their points' attributes."""
        index = np.searchsorted(self.ids, lists.sample)
        t = self.table.take(pa.array(index))
        n = len(index)
        return pa.Table.from_arrays(
            [
                pa.array(lists.sample, pa.int64()),
                pa.array(lists.year, pa.int16()),
                pa.array(self.labels[index].tolist(), pa.string()),
                t.column("label_code"),
                t.column("field_id"),
                t.column("lon"),
                t.column("lat"),
                t.column("x"),
                t.column("y"),
                pa.array([crs] * n, pa.string()),
                pa.nulls(n, pa.string()),
                lists.dates,
                lists.values,
                lists.scl,
            ],
            schema=schema,
        )


def _check_coordinates(points: pa.Table, where: str) -> None:
    """Refuse label points whose lon or lat is missing, NaN or infinite, naming how many and the first ids."""
    bad = np.zeros(points.num_rows, dtype=bool)
    for name in ("lon", "lat"):
        column = points.column(name)
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        bad |= ~np.isfinite(values)
    if bad.any():
        ids = points.column("point_id").to_numpy()[bad][:5].tolist()
        raise InputError(
            f"label points {where} have {int(bad.sum())} point(s) without finite lon/lat (point_id {ids}"
            f"{' …' if bad.sum() > 5 else ''}): drop or fix them, or rebuild the table with `inseason labels`"
        )


class SeriesRequest(StageRequest):
    """What the ``series`` stage is asked to do: the observations, their label points, the output and how to run.

    Built alike by ``inseason series`` and :func:`make_series`; :func:`run_series` does the work.

    Attributes:
        observations: the observations dataset (a folder or ``s3://`` URI written by ``inseason extract``).
        points: the label points table the observations were extracted for (a path or ``s3://`` URI).
        label_map: a preset name (``cdl``, ``arset``, ``cdl-major:N``), a YAML file or a `LabelMap` (None: CDL
            names as they are).
        out: the series table to write (a file path or ``s3://`` URI).
        season_start: the season start month-day (MM-DD); observations outside their point's season are dropped.
        memory_limit: DuckDB's memory limit (local engine), e.g. ``"512MB"``; it spills to disk beyond it.
        threads: DuckDB's threads (local engine; None: DuckDB's choice).
        batch_rows: observation rows per chunk streamed through the assembler (local engine; at least 1).
        engine: ``"local"`` or ``"spark"``.
        spark_master: the Spark master URL when no session is active.
        workers: processes of the local engine by units (None: the usable cores, at most 8).
        partitions: units of samples for the engines that build by units (at least 1).
        quiet: no progress bar.
    """

    observations: str
    points: str
    label_map: str | LabelMap | None = None
    out: str
    season_start: SeasonStart = DEFAULT_START
    memory_limit: str = "1GB"
    threads: int | None = None
    batch_rows: int = 65_536
    engine: EngineName = "local"
    spark_master: str | None = None
    workers: int | None = None
    partitions: int = 8
    quiet: bool = False

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory_limit(cls, value: object) -> str:
        """Refuse a memory limit that is not a size or a percentage; normalise it (see `check_memory_limit`)."""
        return check_memory_limit(str(value))

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse no partitions and no rows per chunk."""
        if self.partitions < 1:
            raise InputError(f"partitions={self.partitions} must be at least 1")
        if self.batch_rows < 1:
            raise InputError(f"batch_rows={self.batch_rows} must be at least 1")
        return self


@dataclass(frozen=True)
class SeriesResult:
    """What ``series`` built: the table written and the counts of what went into it and what was dropped.

    Attributes:
        out: the series table written (a path or ``s3://`` URI, as given).
        bands: the band columns of the values, in Sentinel-2 order.
        series: the series written (one per point and season).
        observations: the observations the series hold.
        duplicates_dropped: observations of a date a better (SCL, then scene id) observation already gave.
        observations_read: the observation rows read from the dataset.
        dropped: observations dropped, by reason (``label_dropped``, ``other_season``, ``outside_season``).
        points_without_observations: points the label map kept that have no observation in their season.
        classes: series per class, by class name.
        label_map: the ``inseason:label_map`` metadata of the table: the map's name, rules, classes and report.
    """

    out: str
    bands: tuple[str, ...]
    series: int
    observations: int
    duplicates_dropped: int
    observations_read: int
    dropped: dict[str, int]
    points_without_observations: int
    classes: dict[str, int]
    label_map: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The summary as ``inseason series --json`` prints it (the fields in order, the bands as a list).

        Returns:
            The fields by name.
        """
        return {
            "out": self.out,
            "bands": list(self.bands),
            "series": self.series,
            "observations": self.observations,
            "duplicates_dropped": self.duplicates_dropped,
            "observations_read": self.observations_read,
            "dropped": dict(self.dropped),
            "points_without_observations": self.points_without_observations,
            "classes": dict(self.classes),
            "label_map": self.label_map,
        }


def make_series(
    observations: str | os.PathLike[str],
    *,
    points: str | os.PathLike[str],
    label_map: str | os.PathLike[str] | LabelMap | None = None,
    out: str | os.PathLike[str],
    season_start: str = DEFAULT_START,
    memory_limit: str = "1GB",
    threads: int | None = None,
    batch_rows: int = 65_536,
    engine: str = "local",
    spark_master: str | None = None,
    workers: int | None = None,
    partitions: int = 8,
    quiet: bool = False,
) -> SeriesResult:
    """Turn an observations dataset and its label points into the series table at ``out`` (DESIGN §2).

    One row per (point, season), sorted by ``sample_id`` then ``year``; dates strictly increasing; int16
    values in the band order stored in the metadata. ``label_map`` is a preset name (``cdl``, ``arset``,
    ``cdl-major:N``), a YAML file or a `LabelMap` (default: CDL names as they are); it and its report go into
    the ``inseason:label_map`` metadata. Observations outside their point's season (``season_start``, MM-DD)
    are dropped and counted.

    ``engine="local"`` sorts with DuckDB under ``memory_limit`` (e.g. ``"512MB"``, spilling to disk beyond
    it, so datasets larger than memory work). ``engine="spark"`` (the active session, or a new one on
    ``spark_master``) builds ``partitions`` units of samples by sample-id hash (`inseason.series.units`);
    so does the local engine, with ``workers`` processes, when the observations or ``out`` are on ``s3://``
    (DuckDB cannot read S3 here). Every path gives the same table.

    Args:
        observations: the observations dataset (a folder or S3 URI written by ``inseason extract``).
        points: the label points table.
        label_map: a preset name, a YAML file or a `LabelMap` (default: CDL names as they are).
        out: the series table to write (a file path or S3 URI).
        season_start: the season start month-day (MM-DD).
        memory_limit: DuckDB's memory limit (local engine).
        threads: DuckDB's threads (local engine; default: DuckDB's choice).
        batch_rows: observation rows per chunk streamed through the assembler (local engine).
        engine: ``local`` or ``spark``.
        spark_master: the Spark master URL when no session is active.
        workers: processes of the local engine by units (default: the usable cores, at most 8).
        partitions: units of samples for the engines that build by units.
        quiet: no progress bar.

    Returns:
        What was built (:class:`SeriesResult`): ``out``, ``bands``, numbers of series, observations read and
        kept, duplicates and observations dropped (by reason), points without observations, series per class
        and the label map.

    Raises:
        InputError: an option is out of range, an input is missing or malformed, or no series is left.
        OutputError: ``out`` is a folder.
    """
    return run_series(
        SeriesRequest.of(
            observations=str(observations),
            points=str(points),
            label_map=str(label_map) if isinstance(label_map, os.PathLike) else label_map,
            out=str(out),
            season_start=season_start,
            memory_limit=memory_limit,
            threads=threads,
            batch_rows=batch_rows,
            engine=engine,
            spark_master=spark_master,
            workers=workers,
            partitions=partitions,
            quiet=quiet,
        )
    )


def run_series(request: SeriesRequest) -> SeriesResult:
    """Build the series table a request asks for (see :func:`make_series`).

    Args:
        request: the observations, points, output and how to run (checked when it was built).

    Returns:
        What was built: the table, its bands and the counts of series, observations and what was dropped.

    Raises:
        InputError: Spark without PySpark, an input missing or malformed, or no series left.
        OutputError: ``out`` is a folder.
    """
    observations, target = request.observations, request.out
    season_start, engine = request.season_start, request.engine
    check_engine(engine)
    if is_s3(target):
        check_bucket(target)
    elif local_path(target).is_dir():
        raise OutputError(f"output {target} is a folder: give a file name such as series.parquet")
    files, bands = observation_bands(observations)
    point_table = read_table(request.points, LABEL_POINTS, what="label points")
    the_map = resolve_label_map(request.label_map)
    mapped = map_labels(
        the_map,
        codes=point_table.column("label_code").to_pylist(),
        names=point_table.column("label").to_pylist(),
        cdl=_is_cdl(point_table),
    )
    _check_coordinates(point_table, request.points)
    index = _PointIndex(point_table, mapped, season_start)
    crs = (point_table.schema.metadata or {}).get(b"inseason:crs", b"").decode() or None
    schema = series_schema(bands, values=pa.int16(), crs=crs)
    meta = {
        **schema.metadata,
        b"inseason:label_map": mapped.metadata(the_map).encode(),
        b"inseason:season_start": season_start.encode(),
        b"inseason:source": b"observations",
    }
    schema = schema.with_metadata(meta)
    total = int(observations_dataset(observations).count_rows())
    # one writer per table; taking the lock deletes a killed run's temporaries and spill folders beside it
    with output_lock(target, verb="series", file=True):
        if engine == "local" and not is_s3(observations) and not is_s3(target):
            built = _series_with_duckdb(
                files,
                bands,
                index=index,
                schema=schema,
                crs=crs,
                out=local_path(target),
                total=total,
                memory_limit=request.memory_limit,
                threads=request.threads,
                batch_rows=request.batch_rows,
                quiet=request.quiet,
            )
        else:
            built = _series_by_units(
                observations,
                bands,
                index=index,
                schema=schema,
                crs=crs,
                out=target,
                total=total,
                engine=engine,
                spark_master=request.spark_master,
                workers=request.workers,
                partitions=request.partitions,
                quiet=request.quiet,
            )
    if built["series"] == 0:
        raise InputError(
            f"no series left from {observations} with label map {the_map.name}: "
            "check the points table and the label map"
        )
    kept_points = int(index.kept.sum())
    return SeriesResult(
        out=target,
        bands=tuple(bands),
        series=built["series"],
        observations=built["observations"],
        duplicates_dropped=built["duplicates_dropped"],
        observations_read=built["rows_read"],
        dropped=dict(built["dropped"]),
        points_without_observations=kept_points - built["series"],
        classes=dict(sorted(built["classes"].items())),
        label_map=json.loads(mapped.metadata(the_map)),
    )


def _series_with_duckdb(
    files: list[str],
    bands: list[str],
    *,
    index: _PointIndex,
    schema: pa.Schema,
    crs: str | None,
    out: Path,
    total: int,
    memory_limit: str,
    threads: int | None,
    batch_rows: int,
    quiet: bool,
) -> dict[str, Any]:
    """The local engine: one DuckDB sort of every observation streamed through the assembler into ``out``.

    DuckDB gets its settings (the checked memory limit, the spill folder, threads) as configuration values and
    the part files as a bound parameter: no path or option is written into SQL.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    spill = out.parent / f".{out.name}.spill-{os.getpid()}"
    built: dict[str, Any] = {
        "series": 0,
        "observations": 0,
        "duplicates_dropped": 0,
        "rows_read": 0,
        "classes": Counter(),
    }
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": check_memory_limit(memory_limit),
        "temp_directory": str(spill),
    }
    if threads is not None:
        config["threads"] = int(threads)
    try:
        connection = duckdb.connect(config=config)
    except duckdb.Error as exc:
        raise InputError(
            f"cannot start DuckDB with --memory-limit {memory_limit} and threads {threads}: {exc}"
        ) from None
    try:
        connection.execute("SET enable_progress_bar = false")  # ours is the rich bar below
        assembler = SeriesAssembler(value_type=pa.int16())
        with atomic_path(out) as tmp:
            with pq.ParquetWriter(tmp, schema) as writer, progress_bar(quiet=quiet) as bar:
                task = bar.add_task("series", total=total)

                def write(lists: SeriesLists) -> None:
                    table = index.table_of(lists, schema, crs)
                    writer.write_table(table)
                    built["series"] += table.num_rows
                    built["duplicates_dropped"] += lists.duplicates
                    built["observations"] += len(lists.values.flatten())
                    built["classes"].update(table.column("label").to_pylist())

                for rows in _batches(connection, files, bands, batch_rows):
                    bar.advance(task, len(rows))
                    built["rows_read"] += len(rows)
                    for lists in assembler.add(index.filter(rows)):
                        write(lists)
                for lists in assembler.finish():
                    write(lists)
            if not built["series"]:
                tmp.unlink()  # nothing to publish: the target stays as it was (build_series says why)
    except duckdb.Error as exc:
        raise InputError(f"cannot build series for {out}: {exc}") from None
    finally:
        connection.close()
        shutil.rmtree(spill, ignore_errors=True)
    built["dropped"] = index.counts
    return built


def _series_by_units(
    observations: str,
    bands: list[str],
    *,
    index: _PointIndex,
    schema: pa.Schema,
    crs: str | None,
    out: str,
    total: int,
    engine: str,
    spark_master: str | None,
    workers: int | None,
    partitions: int,
    quiet: bool,
) -> dict[str, Any]:
    """The same table from units of samples scheduled by ``engine`` (see `inseason.series.units`)."""

    def check(built: dict[str, Any]) -> None:
        if built["rows_read"] != total:  # observations of points the table does not hold: no unit read them
            ids = observations_dataset(observations).to_table(columns=["point_id"]).column("point_id").to_numpy()
            bad = np.setdiff1d(ids, index.ids)[:5].tolist()
            raise InputError(
                f"observations reference point ids missing from the label points (e.g. {bad}): "
                "give the --points table the observations were extracted from"
            )

    if engine == "spark":
        from inseason.engines.spark import run_spark

        run: Runner = functools.partial(run_spark, master=spark_master)
    else:
        run = functools.partial(run_local, workers=workers)
    built = run_units(
        run,
        observations=observations,
        index=index,
        schema=schema,
        crs=crs,
        bands=bands,
        scl_preference=SCL_PREFERENCE,
        out=out,
        partitions=partitions,
        check=check,
        quiet=quiet,
    )
    return built
