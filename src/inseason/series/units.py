"""Observations → series by units of samples, for engines that schedule pure functions (Spark, a process pool).

Samples are dealt into ``partitions`` units by a hash of ``sample_id``, so every observation of a sample
lands in one unit and units get similar shares whatever the id ranges. Each unit is a pure function of its
point ids: it reads only their rows from the observations dataset (a pyarrow dataset filter, on disk or
S3), sorts them as the DuckDB path does (point, season, date, SCL preference, scene), assembles their
series with the same code and writes one part file under a hidden folder next to the output. The driver
then concatenates the parts and sorts them by (``sample_id``, ``year``), so the table does not depend on
the engine, the number of units or the order they finished in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from inseason import storage
from inseason.observations import observations_dataset
from inseason.progress import progress_bar
from inseason.series.assemble import SeriesLists, SeriesRows, series_lists
from inseason.tables import write_table

#: A unit of work: its number and the point ids it builds the series of.
SeriesUnit = tuple[int, np.ndarray]
#: An engine: ``run(func, units, initializer=, initargs=)`` yielding ``(unit, result)`` (see `inseason.engines`).
Runner = Callable[..., Iterator[tuple[SeriesUnit, dict[str, Any]]]]


class PointLookup(Protocol):
    """What a unit needs of the label points (`inseason.series.build`'s point index)."""

    ids: np.ndarray
    counts: Counter[str]

    def filter(self, rows: SeriesRows) -> SeriesRows:
        """The rows of kept points inside their season, counting the others by reason in ``counts``.

        Args:
            rows: observation rows of the unit's points.

        Returns:
            The rows that make series.
        """
        ...

    def table_of(self, lists: SeriesLists, schema: pa.Schema, crs: str | None) -> pa.Table:
        """The series table rows of ``lists``: the series with their points' label, split and location.

        Args:
            lists: assembled series of kept points.
            schema: the series table schema.
            crs: the CRS of the points' ``x``/``y`` (None: no projected coordinates).

        Returns:
            A table with ``schema``.
        """
        ...


def sample_units(ids: np.ndarray, partitions: int) -> np.ndarray:
    """The unit (``0 … partitions-1``) of every int64 sample id: a fixed integer hash, the same on every machine.

    Args:
        ids: int64 sample ids.
        partitions: the number of units.

    Returns:
        The unit of each id (int64).
    """
    h = np.asarray(ids, np.int64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(31)
    return (h % np.uint64(partitions)).astype(np.int64)


def parts_uri(out: str) -> str:
    """The hidden folder (or S3 prefix) next to ``out`` where units write their part files.

    Args:
        out: the series table's path or S3 URI.

    Returns:
        ``.<name>.parts`` beside ``out``.
    """
    head, _, name = out.rstrip("/").rpartition("/")
    return f"{head}/.{name}.parts" if head else f".{name}.parts"


_STATE: dict[str, Any] = {}


def init_units(state: dict[str, Any]) -> None:
    """Worker initializer: keep what every unit needs in the worker.

    Args:
        state: the observations URI, bands, point index, schema, CRS, SCL preference and parts URI.
    """
    _STATE.clear()
    _STATE.update(state)


def build_unit(unit: SeriesUnit) -> dict[str, Any]:
    """Build and write the series of one unit's samples (after `init_units` in the same process).

    Args:
        unit: the unit's number and its point ids.

    Returns:
        The unit's counts: ``rows_read``, ``series``, ``observations``, ``duplicates_dropped``, ``dropped``
        (by reason), ``classes``, and ``part``, the part file written (None when the unit has no series).
    """
    number, ids = unit
    bands: list[str] = _STATE["bands"]
    index: PointLookup = _STATE["index"]
    dataset = observations_dataset(_STATE["observations"])
    table = dataset.to_table(
        columns=["point_id", "year", "date", "scl", "scene_id", *bands],
        filter=pads.field("point_id").isin(pa.array(ids, pa.int64())),
    )
    preference = {c: i for i, c in enumerate(_STATE["scl_preference"])}
    ranks = np.array([preference.get(c, 99) for c in range(256)], np.int16)
    rank = ranks[table.column("scl").to_numpy(zero_copy_only=False).astype(np.int64)]
    table = table.append_column("scl_rank", pa.array(rank)).sort_by(
        [
            ("point_id", "ascending"),
            ("year", "ascending"),
            ("date", "ascending"),
            ("scl_rank", "ascending"),
            ("scene_id", "ascending"),
        ]
    )
    values = (
        np.column_stack([table.column(b).to_numpy(zero_copy_only=False) for b in bands])
        if len(table)
        else np.empty((0, len(bands)), np.int16)
    )
    rows = SeriesRows(
        sample=table.column("point_id").to_numpy(),
        year=pc.cast(table.column("year"), pa.int16()).to_numpy(),
        date=table.column("date").cast(pa.int32()).to_numpy(),
        values=values.astype(np.int16),
        scl=table.column("scl").to_numpy(zero_copy_only=False).astype(np.uint8),
    )
    index.counts = Counter()
    lists = series_lists(index.filter(rows), value_type=pa.int16())
    series = index.table_of(lists, _STATE["schema"], _STATE["crs"])
    result = {
        "rows_read": len(rows),
        "series": series.num_rows,
        "observations": len(lists.values.flatten()),
        "duplicates_dropped": lists.duplicates,
        "dropped": dict(index.counts),
        "classes": dict(Counter(series.column("label").to_pylist())),
        "part": None,
    }
    if series.num_rows:
        part = f"{_STATE['parts']}/unit-{number:05d}.parquet"
        buffer = pa.BufferOutputStream()
        pq.write_table(series, buffer)
        storage.write_bytes(part, buffer.getvalue().to_pybytes())
        result["part"] = part
    return result


def run_units(
    run: Runner,
    *,
    observations: str,
    index: PointLookup,
    schema: pa.Schema,
    crs: str | None,
    bands: list[str],
    scl_preference: Iterable[int],
    out: str,
    partitions: int,
    check: Callable[[dict[str, Any]], None],
    quiet: bool,
) -> dict[str, Any]:
    """Build the series table at ``out`` with ``run`` (an engine) over ``partitions`` units of samples.

    ``check(counts)`` runs before anything is written to ``out`` (it raises to refuse); the part files are
    removed in any case.

    Args:
        run: the engine that runs `build_unit` over the units.
        observations: the observations dataset (a folder or S3 URI).
        index: the label points.
        schema: the series table schema.
        crs: the CRS of the points' ``x``/``y``.
        bands: the band columns, in order.
        scl_preference: SCL classes from most to least trusted (which duplicate of a date is kept).
        out: the series table to write (a path or S3 URI).
        partitions: the number of units the samples are dealt into.
        check: called with the summed counts before writing; raises to refuse the table.
        quiet: no progress bar.

    Returns:
        The summed counts of the units: ``rows_read``, ``series``, ``observations``, ``duplicates_dropped``,
        ``dropped`` (by reason) and ``classes``.
    """
    parts = parts_uri(out)
    storage.remove_tree(parts)  # leftovers of a killed run: every unit runs again, so nothing is counted twice
    which = sample_units(index.ids, partitions)
    units = [(n, index.ids[which == n]) for n in range(partitions) if (which == n).any()]
    state = {
        "observations": observations,
        "bands": bands,
        "index": index,
        "schema": schema,
        "crs": crs,
        "scl_preference": tuple(scl_preference),
        "parts": parts,
    }
    totals: dict[str, Any] = {
        "rows_read": 0,
        "series": 0,
        "observations": 0,
        "duplicates_dropped": 0,
        "dropped": Counter(),
        "classes": Counter(),
    }
    written = []
    try:
        with progress_bar(quiet=quiet) as bar:
            task = bar.add_task("series units", total=len(units))
            for _, result in run(build_unit, units, initializer=init_units, initargs=(state,)):
                for key in ("rows_read", "series", "observations", "duplicates_dropped"):
                    totals[key] += result[key]
                totals["dropped"].update(result["dropped"])
                totals["classes"].update(result["classes"])
                if result["part"] is not None:
                    written.append(result["part"])
                bar.advance(task)
        check(totals)
        if written:
            _combine(sorted(written), schema=schema, out=out)
    finally:
        storage.remove_tree(parts)
    return totals


def _combine(parts: list[str], *, schema: pa.Schema, out: str) -> None:
    """Concatenate the units' part files, sort by (sample_id, year) and write the table at ``out`` atomically."""
    tables = []
    for part in parts:
        fs, path = storage.filesystem(part)
        tables.append(pq.read_table(path, filesystem=fs, schema=schema))
    table = pa.concat_tables(tables).sort_by([("sample_id", "ascending"), ("year", "ascending")])
    write_table(table.replace_schema_metadata(schema.metadata), out)
