"""Rows of observations → the ragged list columns of the series table (DESIGN §2), one chunk at a time.

The input rows are sorted by (sample, year, date, preference): the first row of each date is kept, so the
caller decides which duplicate of a date wins by how it sorts. Chunks may end in the middle of a series;
:class:`SeriesAssembler` carries the unfinished series over to the next chunk, so memory stays bounded by
the chunk size however large the dataset is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass
class SeriesRows:
    """Observation rows, one per sample, year and acquisition, as aligned arrays.

    ``sample`` holds int64 keys, ``year`` the season, ``date`` days since 1970-01-01, ``values`` the band
    values (n × bands) and ``scl`` the scene classification (or ``None``).
    """

    sample: np.ndarray
    year: np.ndarray
    date: np.ndarray
    values: np.ndarray
    scl: np.ndarray | None

    def take(self, index: np.ndarray | slice) -> SeriesRows:
        """The rows at ``index``.

        Args:
            index: a boolean mask, integer indices or a slice.

        Returns:
            The selected rows.
        """
        return SeriesRows(
            self.sample[index],
            self.year[index],
            self.date[index],
            self.values[index],
            None if self.scl is None else self.scl[index],
        )

    def __len__(self) -> int:
        return len(self.sample)


@dataclass
class SeriesLists:
    """Complete series: their keys and the aligned ``dates``, ``values`` and ``scl`` list arrays."""

    sample: np.ndarray
    year: np.ndarray
    dates: pa.Array
    values: pa.Array
    scl: pa.Array
    duplicates: int  # observations dropped because their sample already had one on that date


def _concat(a: SeriesRows, b: SeriesRows) -> SeriesRows:
    return SeriesRows(
        np.concatenate([a.sample, b.sample]),
        np.concatenate([a.year, b.year]),
        np.concatenate([a.date, b.date]),
        np.concatenate([a.values, b.values]),
        None if a.scl is None or b.scl is None else np.concatenate([a.scl, b.scl]),
    )


def series_lists(rows: SeriesRows, *, value_type: pa.DataType) -> SeriesLists:
    """Group sorted ``rows`` of whole series into list columns, keeping the first row of each date.

    Args:
        rows: rows sorted by (sample, year, date, preference), holding whole series only.
        value_type: the Arrow type of the band values.

    Returns:
        One entry per (sample, year) series, and how many duplicate observations were dropped.
    """
    n = len(rows)
    new_date = np.ones(n, dtype=bool)
    if n:
        new_date[1:] = (
            (rows.sample[1:] != rows.sample[:-1])
            | (rows.year[1:] != rows.year[:-1])
            | (rows.date[1:] != rows.date[:-1])
        )
    kept = rows.take(new_date)
    m = len(kept)
    starts = (
        np.flatnonzero(np.r_[True, (kept.sample[1:] != kept.sample[:-1]) | (kept.year[1:] != kept.year[:-1])])
        if m
        else np.empty(0, dtype=np.int64)
    )
    offsets = pa.array(np.r_[starts, m].astype(np.int32))
    bands = kept.values.shape[1]
    flat = pa.array(np.ascontiguousarray(kept.values).ravel(), type=value_type)
    points = pa.FixedSizeListArray.from_arrays(flat, bands)
    values = pa.ListArray.from_arrays(offsets, points, type=pa.list_(pa.list_(value_type, bands)))
    dates = pa.ListArray.from_arrays(
        offsets, pa.array(kept.date.astype(np.int32)).cast(pa.date32()), type=pa.list_(pa.date32())
    )
    if kept.scl is None:
        scl = pa.nulls(len(starts), pa.list_(pa.uint8()))
    else:
        scl = pa.ListArray.from_arrays(offsets, pa.array(kept.scl, pa.uint8()), type=pa.list_(pa.uint8()))
    return SeriesLists(kept.sample[starts], kept.year[starts], dates, values, scl, duplicates=n - m)


class SeriesAssembler:
    """Turns sorted chunks of rows into complete series, holding back the one a chunk may cut.

    Feed the chunks with :meth:`add`, which yields the series each chunk completes, then take the last ones
    from :meth:`finish`.
    """

    def __init__(self, *, value_type: pa.DataType) -> None:
        self.value_type = value_type
        self._carry: SeriesRows | None = None

    def add(self, rows: SeriesRows) -> Iterator[SeriesLists]:
        """Series completed by ``rows`` (the last series of the chunk waits for the next chunk).

        Args:
            rows: the next chunk, sorted and following the previous chunk in that order.

        Yields:
            The series the chunk completes, as one `SeriesLists` (none when the chunk completes none).
        """
        if self._carry is not None:
            rows = _concat(self._carry, rows)
        if not len(rows):
            self._carry = rows
            return
        last = (rows.sample == rows.sample[-1]) & (rows.year == rows.year[-1])
        cut = int(np.flatnonzero(~last)[-1]) + 1 if (~last).any() else 0
        self._carry = rows.take(slice(cut, None))
        if cut:
            yield series_lists(rows.take(slice(0, cut)), value_type=self.value_type)

    def finish(self) -> Iterator[SeriesLists]:
        """The series still held back, once the last chunk was added.

        Yields:
            The held-back series as one `SeriesLists` (none when nothing is held back).
        """
        if self._carry is not None and len(self._carry):
            yield series_lists(self._carry, value_type=self.value_type)
        self._carry = None
