"""The ragged series store: a series table decoded once into flat numpy arrays (DESIGN §2, §3).

Batches are later built by vectorised gathers over these arrays, so no Python loop ever runs per sample.
Observation ``j`` of row ``i`` lives at ``offsets[i] + j``; its day of season (days since the row's season
start) is ``doy[offsets[i] + j]``. Values stay as the table stores them (int16 reflectance × 10 000 or
float32) with the band scales kept alongside.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from inseason.errors import InputError
from inseason.season import DEFAULT_START, parse_month_day, season_start_day
from inseason.tables import read_table, series_bands

#: Days of season are stored in int16 and keyed per row with this stride (a season is shorter).
DOY_STRIDE = 1024


@dataclass(frozen=True, eq=False)
class SeriesStore:
    """Flat arrays of one series table: ``values`` [N_obs, C], ``doy`` [N_obs], ``offsets`` [N_rows + 1]."""

    bands: tuple[str, ...]
    scales: np.ndarray  # float32 [C]
    values: np.ndarray  # int16 or float32 [N_obs, C]
    doy: np.ndarray  # int16 [N_obs]
    scl: np.ndarray | None  # uint8 [N_obs]
    offsets: np.ndarray  # int64 [N_rows + 1]
    labels: np.ndarray  # str [N_rows]
    label_codes: np.ndarray  # int32 [N_rows], -1 where the label has no source code (imported labels)
    years: np.ndarray  # int16 [N_rows]
    splits: np.ndarray  # object [N_rows] (None where the table has no split)
    sample_ids: np.ndarray  # [N_rows]
    season: str
    fingerprint: str
    lon: np.ndarray | None = None  # float64 [N_rows], NaN where unknown (None: the table has no lon/lat)
    lat: np.ndarray | None = None
    label_rules: tuple[str, ...] = ()  # window rules of the table's label map (e.g. "no_crop_growing")
    label_colors: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # the label map's colours
    label_crops: dict[str, tuple[str, str]] = field(default_factory=dict)  # double-crop class → (first, second)
    leakage_audit: dict[str, Any] | None = None  # the audit `inseason split` stored in the table, if any

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def counts(self) -> np.ndarray:
        """Number of observations of each row."""
        return np.diff(self.offsets)

    def rows_of(self, split: str) -> np.ndarray:
        """Row indices whose split is ``split``.

        Args:
            split: A split name (train, validation, test).

        Returns:
            The rows, int64 ascending.
        """
        return np.flatnonzero(self.splits == split).astype(np.int64)

    def positions_of(self, rows: np.ndarray) -> np.ndarray:
        """Flat indices of all observations of ``rows``, row after row.

        Args:
            rows: Store rows.

        Returns:
            Flat observation indices, int64.
        """
        starts, counts = self.offsets[rows], self.counts[rows]
        first = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        positions: npt.NDArray[np.int64] = first + np.arange(int(counts.sum()), dtype=np.int64)
        return positions

    def end_positions(self, rows: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        """Flat index one past each row's last observation on or before day of season ``as_of``.

        Args:
            rows: Store rows [B].
            as_of: Day of season per row [B].

        Returns:
            Flat indices [B], between the row's first observation and one past its last.
        """
        keys = rows.astype(np.int64) * DOY_STRIDE + np.clip(as_of, -1, DOY_STRIDE - 1)
        ends: npt.NDArray[np.int64] = np.searchsorted(self._keys, keys, side="right").clip(
            self.offsets[rows], self.offsets[rows + 1]
        )
        return ends

    def start_positions(self, rows: np.ndarray, first_day: np.ndarray) -> np.ndarray:
        """Flat index of each row's first observation on or after day of season ``first_day``.

        Args:
            rows: Store rows [B].
            first_day: Day of season per row [B].

        Returns:
            Flat indices [B], between the row's first observation and one past its last.
        """
        keys = rows.astype(np.int64) * DOY_STRIDE + np.clip(first_day, 0, DOY_STRIDE)
        starts: npt.NDArray[np.int64] = np.searchsorted(self._keys, keys, side="left").clip(
            self.offsets[rows], self.offsets[rows + 1]
        )
        return starts

    @property
    def _keys(self) -> np.ndarray:
        """Sort keys ``row * DOY_STRIDE + doy`` of every observation (computed once, then cached)."""
        keys = self.__dict__.get("_key_cache")
        if keys is None:
            row = np.repeat(np.arange(len(self), dtype=np.int64), self.counts)
            keys = row * DOY_STRIDE + self.doy.astype(np.int64)
            object.__setattr__(self, "_key_cache", keys)
        return keys


def _flat(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Values and zero-based offsets of a list column (nulls read as empty lists)."""
    array = column.combine_chunks()
    if isinstance(array, pa.ChunkedArray):  # an empty table
        array = pa.array([], type=column.type)
    offsets = array.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    if array.null_count:
        lengths = np.where(array.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    return array.flatten(), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def decode_series(table: pa.Table, *, season: str = DEFAULT_START) -> SeriesStore:
    """Decode a series table (DESIGN §2) into a `SeriesStore`, computing days of season from ``season``.

    Checks what the model later relies on: values aligned with dates, dates strictly increasing within a
    row and inside the row's season.

    Args:
        table: A series table.
        season: Season start (month-day) the days of season count from.

    Returns:
        The store, with the table's label map rules, colours, crops and leakage audit.

    Raises:
        InputError: A required column is missing, or a row's values, dates or label map metadata are
            invalid (the message names the row).
    """
    bands, scales = series_bands(table.schema)
    for name in ("dates", "values", "label", "year"):
        if name not in table.schema.names:
            raise InputError(f"series table lacks column {name!r}: write it with inseason series or import")
    dates, offsets = _flat(table.column("dates"))
    packed, value_offsets = _flat(table.column("values"))
    if not np.array_equal(offsets, value_offsets):
        bad = int(np.flatnonzero(np.diff(offsets) != np.diff(value_offsets))[0])
        raise InputError(
            f"series row {bad} has {np.diff(value_offsets)[bad]} values for "
            f"{np.diff(offsets)[bad]} dates: rewrite the table with inseason series"
        )
    values = packed.flatten().to_numpy(zero_copy_only=False).reshape(-1, len(bands))
    day = dates.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    years = table.column("year").to_numpy(zero_copy_only=False).astype(np.int16)
    starts = {int(y): season_start_day(int(y), season) for y in np.unique(years)}
    row_start = np.array([starts[int(y)] for y in years], dtype=np.int64)
    counts = np.diff(offsets)
    doy = day - np.repeat(row_start, counts)
    row_of_obs = np.repeat(np.arange(len(counts)), counts)
    outside = (doy < 0) | (doy >= 400)
    if outside.any():
        bad = int(row_of_obs[np.flatnonzero(outside)[0]])
        recorded = recorded_season_start(table.schema)
        written = f" (the table was written with {recorded})" if recorded not in (None, season) else ""
        raise InputError(
            f"series row {bad} (year {years[bad]}) has dates outside its season starting "
            f"{season}: check the season start{written} or the table's year column"
        )
    steps = np.diff(doy)
    same_row = row_of_obs[1:] == row_of_obs[:-1]
    if (same_row & (steps <= 0)).any():
        bad = int(row_of_obs[1:][np.flatnonzero(same_row & (steps <= 0))[0]])
        raise InputError(
            f"series row {bad} has dates that are not strictly increasing: rebuild it with inseason series"
        )
    scl = None
    if "scl" in table.schema.names and table.column("scl").null_count < table.num_rows:
        scl_values, scl_offsets = _flat(table.column("scl"))
        if np.array_equal(scl_offsets, offsets):
            scl = scl_values.to_numpy(zero_copy_only=False).astype(np.uint8)
    labels = np.array(table.column("label").to_pylist(), dtype=object)
    splits = (
        np.array(table.column("split").to_pylist(), dtype=object)
        if "split" in table.schema.names
        else np.full(table.num_rows, None, dtype=object)
    )
    codes = (
        pc.fill_null(table.column("label_code"), -1).to_numpy(zero_copy_only=False).astype(np.int32)
        if "label_code" in table.schema.names
        else np.full(table.num_rows, -1, np.int32)
    )
    lon, lat = (_coordinate(table, name) for name in ("lon", "lat"))
    digest = hashlib.sha256()
    for part in (offsets, values, doy.astype(np.int16), np.array(labels.tolist(), dtype=str)):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(repr((bands, scales, season)).encode())
    return SeriesStore(
        bands=tuple(bands),
        scales=np.asarray(scales, np.float32),
        values=values,
        doy=doy.astype(np.int16),
        scl=scl,
        offsets=offsets,
        labels=labels,
        label_codes=codes,
        years=years,
        splits=splits,
        sample_ids=np.asarray(
            table.column("sample_id").to_pylist() if "sample_id" in table.schema.names else np.arange(table.num_rows)
        ),
        season=season,
        fingerprint=digest.hexdigest()[:16],
        lon=lon,
        lat=lat,
        label_rules=label_rules(table.schema),
        label_colors=label_colors(table.schema),
        label_crops=label_crops(table.schema),
        leakage_audit=leakage_audit(table.schema),
    )


def _coordinate(table: pa.Table, name: str) -> np.ndarray | None:
    """A float64 coordinate column (nulls as NaN), or None when the table lacks it."""
    if name not in table.schema.names:
        return None
    column = table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(column, np.float64)


def _label_map_metadata(schema: pa.Schema) -> dict[str, Any]:
    """The label map `inseason series` stored in a series table's ``inseason:label_map`` metadata ({} if none)."""
    raw = (schema.metadata or {}).get(b"inseason:label_map")
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise InputError(
            "the series table's inseason:label_map metadata is not valid JSON: rebuild it with inseason series"
        )
    return meta


def label_rules(schema: pa.Schema) -> tuple[str, ...]:
    """The window rules (``rules``) of the table's label map.

    Args:
        schema: A series table's schema.

    Returns:
        The rule names; empty when the table has no label map.

    Raises:
        InputError: The label map metadata is not valid JSON.
    """
    return tuple(str(rule) for rule in _label_map_metadata(schema).get("rules", ()))


def label_colors(schema: pa.Schema) -> dict[str, tuple[int, int, int]]:
    """Class name → RGB colour of the table's label map.

    Args:
        schema: A series table's schema.

    Returns:
        The colours; empty when the table has no label map.

    Raises:
        InputError: The label map metadata is not valid JSON.
    """
    return {str(c["name"]): _rgb(c["color"]) for c in _label_map_metadata(schema).get("classes", ()) if c.get("color")}


def _rgb(color: Sequence[Any]) -> tuple[int, int, int]:
    """A label map colour ``[r, g, b]`` as a tuple of ints."""
    red, green, blue = (int(v) for v in color)
    return red, green, blue


def label_crops(schema: pa.Schema) -> dict[str, tuple[str, str]]:
    """Double-crop class name → (first crop, second crop) of the table's label map.

    For example "Dbl Crop WinWht/Soybeans" → ("Winter Wheat", "Soybeans").

    Args:
        schema: A series table's schema.

    Returns:
        The double-crop classes; empty when the table has no label map.

    Raises:
        InputError: The label map metadata is not valid JSON.
    """
    return {
        str(c["name"]): (str(c["first_crop"]), str(c["second_crop"]))
        for c in _label_map_metadata(schema).get("classes", ())
        if c.get("first_crop") and c.get("second_crop")
    }


def leakage_audit(schema: pa.Schema) -> dict[str, Any] | None:
    """The leakage audit `inseason split` stored in a series table's ``inseason:audit`` metadata.

    Args:
        schema: A series table's schema.

    Returns:
        The audit, or None when the table has none.
    """
    raw = (schema.metadata or {}).get(b"inseason:audit")
    return json.loads(raw) if raw else None


def recorded_season_start(schema: pa.Schema) -> str | None:
    """The season start `inseason series` or `inseason import` recorded in a table's ``inseason:season_start``.

    Args:
        schema: A series table's schema.

    Returns:
        The month-day (``MM-DD``), or None when the table records none.

    Raises:
        InputError: The recorded season start is not a month-day.
    """
    raw = (schema.metadata or {}).get(b"inseason:season_start")
    if not raw:
        return None
    text = str(raw.decode(errors="replace"))
    try:
        parse_month_day(text, what="season start")
    except InputError:
        raise InputError(
            f"the series table's inseason:season_start metadata {text!r} is not a month-day: re-import the table"
        ) from None
    return text


def load_series(path: str | os.PathLike[str], *, season: str = DEFAULT_START) -> SeriesStore:
    """Read a series Parquet file and decode it once (see `decode_series`).

    Args:
        path: A local path or ``s3://`` URI.
        season: Season start (month-day) the days of season count from.

    Returns:
        The store.

    Raises:
        InputError: The file cannot be read as a series table, or its rows are invalid.
    """
    return decode_series(read_table(path, what="series"), season=season)
