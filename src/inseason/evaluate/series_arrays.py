"""The ragged columns of a series table (DESIGN §2) as flat numpy arrays, and back.

Evaluation edits series in two ways: it drops observations (as-of truncation, course windows) and it
shuffles observation values (permutation importance). Both work on the flat observation arrays and
rebuild the table with the same schema, metadata and row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from inseason.errors import InputError

_SERIES_COLUMNS = ("dates", "values", "scl")


@dataclass(frozen=True)
class FlatSeries:
    """Observations of all rows of a series table, concatenated.

    ``row[k]`` is the table row of observation ``k``, ``day[k]`` its date as days since
    `inseason.season.EPOCH`, ``values[k]`` its band values ``[C]`` and ``scl[k]`` its scene classification
    (None when the table has no SCL).
    """

    row: np.ndarray
    day: np.ndarray
    values: np.ndarray
    scl: np.ndarray | None

    @property
    def n_rows(self) -> int:
        """Number of table rows the observations belong to."""
        return int(self.row.max()) + 1 if self.row.size else 0


def _flat_list(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Offsets (from 0) and flat values of a list column that has no null rows."""
    array = column.combine_chunks()
    if array.null_count:
        raise InputError(f"series column {column.type} has null rows: every series row needs its list")
    offsets = np.asarray(array.offsets)
    return offsets - offsets[0], array.flatten()


def flatten_series(table: pa.Table) -> FlatSeries:
    """The observations of a series table as flat arrays.

    Args:
        table: series rows with ``dates`` and ``values`` (and ``scl``, kept when complete).

    Returns:
        The observations (see `FlatSeries`).

    Raises:
        InputError: missing columns, null rows, or rows whose dates and values differ in length.
    """
    missing = [name for name in ("dates", "values") if name not in table.column_names]
    if missing:
        raise InputError(f"series table lacks columns {missing}: write it with inseason series or import")
    offsets, dates = _flat_list(table.column("dates"))
    value_offsets, values = _flat_list(table.column("values"))
    if not np.array_equal(offsets, value_offsets):
        raise InputError("series table has rows whose dates and values differ in length")
    width = table.schema.field("values").type.value_type.list_size
    flat_values = values.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    row = np.repeat(np.arange(table.num_rows), np.diff(offsets))
    day = dates.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    scl = None
    if "scl" in table.column_names and table.column("scl").null_count == 0:
        scl_offsets, scl_flat = _flat_list(table.column("scl"))
        if np.array_equal(scl_offsets, offsets):
            scl = scl_flat.to_numpy(zero_copy_only=False)
    return FlatSeries(row=row, day=day, values=flat_values, scl=scl)


def rebuild_series(table: pa.Table, flat: FlatSeries, *, keep: np.ndarray | None = None) -> pa.Table:
    """``table`` with its ragged columns replaced by ``flat``, same schema, metadata and row order.

    Args:
        table: the series table ``flat`` came from.
        flat: its observations, edited; they must stay grouped by row in row order.
        keep: which observations to keep; None keeps all.

    Returns:
        The rebuilt table.
    """
    if keep is not None:
        flat = FlatSeries(
            row=flat.row[keep],
            day=flat.day[keep],
            values=flat.values[keep],
            scl=None if flat.scl is None else flat.scl[keep],
        )
    counts = np.bincount(flat.row, minlength=table.num_rows)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    values_type = table.schema.field("values").type
    width = values_type.value_type.list_size
    inner = pa.FixedSizeListArray.from_arrays(
        pa.array(flat.values.reshape(-1), type=values_type.value_type.value_type), width
    )
    columns = {
        "dates": pa.ListArray.from_arrays(offsets, pa.array(flat.day.astype(np.int32)).cast(pa.date32())),
        "values": pa.ListArray.from_arrays(offsets, inner, type=values_type),
    }
    if flat.scl is not None:
        columns["scl"] = pa.ListArray.from_arrays(offsets, pa.array(flat.scl, type=pa.uint8()))
    for name, array in columns.items():
        index = table.column_names.index(name)
        table = table.set_column(index, table.schema.field(name), array.cast(table.schema.field(name).type))
    return table


def observation_window(table: pa.Table, *, start_day: np.ndarray | None = None, end_day: np.ndarray) -> pa.Table:
    """``table`` keeping only each row's observations between its own bounds (inclusive).

    Args:
        table: series rows.
        start_day: first day kept per row (days since `inseason.season.EPOCH`); None for no lower bound.
        end_day: last day kept per row.

    Returns:
        The table with its series cut.
    """
    flat = flatten_series(table)
    keep = flat.day <= np.asarray(end_day)[flat.row]
    if start_day is not None:
        keep &= flat.day >= np.asarray(start_day)[flat.row]
    return rebuild_series(table, flat, keep=keep)
