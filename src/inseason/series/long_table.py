"""`inseason import`: a long-format table of observations (CSV or Parquet) → the series table (DESIGN §2).

One row per observation: ``sample_id``, ``date`` (date, timestamp or ISO text), any numeric band columns,
``label``; optionally ``lon``, ``lat``, ``field_id``, ``split``, ``year``, ``scl``. Forgiving in form (column
names in any case, rows in any order, string or integer ids and labels, extra columns ignored) and strict in
meaning: a missing value drops its observation (an infinite band value, ``inf`` or ``-inf``, is no
measurement either: it drops its observation too, counted apart as ``infinite value``), a date that does not
parse or a sample with two labels is an error naming the rows, and the report says what was dropped and why.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from inseason.config import SeasonStart, StageRequest
from inseason.errors import InputError, OutputError
from inseason.labels import LabelMap, cdl_classes, map_labels, resolve_label_map
from inseason.progress import progress_bar
from inseason.season import DEFAULT_START, days_since_epoch, season_years
from inseason.series.assemble import SeriesAssembler, SeriesLists, SeriesRows
from inseason.series.build import SCL_PREFERENCE
from inseason.storage import output_lock
from inseason.tables import series_schema, write_table

log = logging.getLogger(__name__)

REQUIRED: tuple[str, ...] = ("sample_id", "date", "label")
OPTIONAL: tuple[str, ...] = ("lon", "lat", "field_id", "split", "year", "scl", "x", "y")
_SHOWN = 5


def read_long_table(path: str | os.PathLike[str]) -> pa.Table:
    """Read a CSV (``.csv``, ``.tsv``, ``.txt``, optionally gzipped) or Parquet file as an Arrow table.

    Args:
        path: the long-format table.

    Returns:
        The table as read (CSV empty strings are nulls).

    Raises:
        InputError: the file is missing, unreadable or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"long-format table {path} does not exist")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            return pq.read_table(path)
        if {".csv", ".tsv", ".txt"} & set(suffixes):
            delimiter = "\t" if ".tsv" in suffixes else ","
            return pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"long-format table {path} cannot be read: {exc}") from None
    raise InputError(f"long-format table {path} must be .csv, .tsv or .parquet")


#: Each SCL class's rank when two observations share a date (its place in `SCL_PREFERENCE`; others last).
_SCL_RANK = np.full(256, 99, dtype=np.int64)
_SCL_RANK[list(SCL_PREFERENCE)] = np.arange(len(SCL_PREFERENCE))


def _rows(mask: np.ndarray) -> str:
    """1-based data row numbers of ``mask``, the first few."""
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 1) for i in idx[:_SHOWN])
    return shown + (f" and {len(idx) - _SHOWN} more" if len(idx) > _SHOWN else "")


def _columns(table: pa.Table, path: Path) -> dict[str, str]:
    """Reserved column name → the file's spelling of it."""
    by_folded = {}
    for name in table.column_names:
        key = name.strip().casefold()
        if key in by_folded:
            raise InputError(f"{path} has two columns named {name!r} (ignoring case): rename one")
        by_folded[key] = name
    found = {r: by_folded[r] for r in (*REQUIRED, *OPTIONAL) if r in by_folded}
    missing = [r for r in REQUIRED if r not in found]
    if missing:
        raise InputError(
            f"{path} lacks columns {missing} (it has {table.column_names}): a long-format table needs "
            "sample_id, date, label and band columns"
        )
    return found


def _band_columns(
    table: pa.Table, reserved: dict[str, str], bands: Sequence[str] | None, path: Path
) -> tuple[list[str], list[str]]:
    """(band columns, ignored columns)."""
    others = [n for n in table.column_names if n not in reserved.values()]
    numeric = [
        n
        for n in others
        if pa.types.is_integer(table.schema.field(n).type)
        or pa.types.is_floating(table.schema.field(n).type)
        or pa.types.is_null(table.schema.field(n).type)
    ]
    if bands:
        missing = [b for b in bands if b not in table.column_names]
        if missing:
            raise InputError(f"{path} has no band columns {missing} (columns: {table.column_names})")
        wrong = [b for b in bands if b not in numeric]
        if wrong:
            raise InputError(f"band columns {wrong} of {path} are not numeric: choose numeric columns with --bands")
        chosen = list(bands)
    else:
        chosen = numeric
    if not chosen:
        raise InputError(f"{path} has no numeric band columns besides {sorted(reserved.values())}")
    return chosen, [n for n in others if n not in chosen]


def _distinct(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Each row's index into the column's distinct values (-1 where null), and those values.

    Python then touches each distinct value once (a date, a label, a sample id), never each row.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = pc.dictionary_encode(array)
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, encoded.dictionary.to_pylist()


def _dates(column: pa.ChunkedArray, name: str, path: Path) -> np.ndarray:
    """Days since 1970 (``-2**31`` where missing); text that does not parse is an error naming the rows."""
    missing = np.int64(-(2**31))
    if pa.types.is_timestamp(column.type):
        if column.type.tz is not None:
            column = pc.cast(column, pa.timestamp(column.type.unit))  # UTC wall time
        column = pc.cast(column, pa.date32())
    if pa.types.is_date(column.type):
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
        return np.asarray(pc.fill_null(days, missing).to_numpy(), dtype=np.int64)
    indices, text = _distinct(pc.cast(column, pa.string()))
    parsed = np.full(len(text) + 1, missing, dtype=np.int64)  # the last slot is the nulls' (index -1)
    unparsed = np.zeros(len(text) + 1, dtype=bool)
    for i, value in enumerate(text):
        try:
            parsed[i] = days_since_epoch(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date())
        except ValueError:
            unparsed[i] = True
    bad = unparsed[indices]
    if bad.any():
        example = text[indices[np.argmax(bad)]]
        raise InputError(
            f"{path}: column {name!r} has dates that do not parse at rows {_rows(bad)} "
            f"(e.g. {example!r}): write dates as YYYY-MM-DD or ISO timestamps"
        )
    return np.asarray(parsed[indices], dtype=np.int64)


def _whole_numbers_as_int(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whole-number float columns (as CSV readers make of integer ids with gaps) as int64; others as they are.

    NaN in such a column is a missing value (null), as it is in the band columns.
    """
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        if np.all(np.isnan(values) | (values == np.round(values))):
            missing = pc.or_kleene(pc.is_null(column), pc.is_nan(column))
            return pc.cast(pc.if_else(missing, pa.scalar(None, column.type), column), pa.int64())
    return column


def _missing(column: pa.ChunkedArray) -> np.ndarray:
    """Where ``column`` holds no value: null, or NaN in a float column."""
    missing = pc.is_null(column)
    if pa.types.is_floating(column.type):
        missing = pc.or_(missing, pc.fill_null(pc.is_nan(column), True))
    return np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)


def _sample_keys(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, pa.DataType]:
    """(sorted unique ids, each row's index into them, the id type) — ids are int64 or string."""
    column = _whole_numbers_as_int(column)
    if pa.types.is_integer(column.type):
        # hash the ids (Arrow, one pass), then sort only the distinct ones: no sort of every row
        indices, values = _distinct(pc.fill_null(pc.cast(column, pa.int64(), safe=False), 0))
        distinct = np.asarray(values, dtype=np.int64)
        order = np.argsort(distinct)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return distinct[order], rank[indices], pa.int64()
    indices, text = _distinct(pc.cast(column, pa.string()))
    if (indices < 0).any():
        text.append("")  # null ids are dropped rows; they key as the empty id (index -1: the last)
    unique, inverse = np.unique(np.array(text, dtype=object), return_inverse=True)
    return unique, inverse[indices], pa.string()


def _labels(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The labels: each row's index into the label names (-1 where missing), the names, the integer codes.

    The codes are the rows' own (None when the labels are names). Names are stripped of surrounding spaces;
    a blank name is a missing label.
    """
    column = _whole_numbers_as_int(column)
    if pa.types.is_integer(column.type):
        indices, values = _distinct(column)
        codes = np.where(pc.is_null(column).to_numpy(zero_copy_only=False), 0, column.to_numpy(zero_copy_only=False))
        return indices, np.array([str(v) for v in values], dtype=object), codes.astype(np.int64)
    indices, values = _distinct(pc.cast(column, pa.string()))
    stripped = [str(v).strip() if v is not None else "" for v in values]
    names = sorted({v for v in stripped if v})
    where = {name: i for i, name in enumerate(names)}
    lookup = np.array([where.get(v, -1) for v in stripped] + [-1], dtype=np.int64)  # the last slot: nulls
    return lookup[indices], np.array(names, dtype=object), None


def _optional(table: pa.Table, cols: dict[str, str], name: str, kind: pa.DataType) -> pa.ChunkedArray | None:
    if name not in cols:
        return None
    try:
        return pc.cast(table.column(cols[name]), kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(f"column {cols[name]!r} must hold {kind} values") from None


def _conflicts(
    series: np.ndarray, values: np.ndarray, what: str, order: np.ndarray, rows_read: int, path: Path
) -> None:
    """Refuse series whose rows disagree on ``what``, naming their rows.

    Args:
        series: each row's series number (rows sorted by series; numbers 0, 1, … in order).
        values: each row's value of ``what`` as an integer code (-1: missing, a value of its own).
        what: the column's role, for the message.
        order: each row's place in the table read.
        rows_read: the rows of the table read.
        path: the table read, for the message.

    Raises:
        InputError: some series hold two values; the message names their rows.
    """
    if not len(series):
        return
    starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
    differ = np.minimum.reduceat(values, starts) != np.maximum.reduceat(values, starts)
    if differ.any():
        rows = np.zeros(rows_read, dtype=bool)
        rows[order[differ[series]]] = True
        raise InputError(
            f"{path}: {int(differ.sum())} sample(s) have conflicting {what} values at rows "
            f"{_rows(rows)}: one sample (and year) must have one {what}"
        )


class ImportRequest(StageRequest):
    """What the ``import`` stage is asked to do: a long-format table, the series table to write and how to read it.

    Built alike by ``inseason import`` and :func:`import_series`; :func:`run_import` does the work. Its options
    need no check of their own beyond the season start (`inseason.season.parse_month_day`, checked whether or
    not the table has a ``year`` column): what else can be wrong (a missing column or band, a date that does
    not parse) is found by reading the table.

    Attributes:
        path: the long-format CSV (``.csv``, ``.tsv``, ``.txt``, optionally gzipped) or Parquet table (local).
        out: the series table to write (a local file, not a folder).
        bands: the band columns, in order (None: every numeric column that is not a reserved one).
        season_start: the season start month-day (MM-DD) naming the season of a sample without a year.
        label_map: a preset name, a YAML file or a `LabelMap` to map the labels with (None: none).
        quiet: no progress bar.
    """

    path: Path
    out: Path
    bands: tuple[str, ...] | None = None
    season_start: SeasonStart = DEFAULT_START
    label_map: str | LabelMap | None = None
    quiet: bool = False


@dataclass(frozen=True)
class ImportResult:
    """What ``import`` read and wrote: the rows read and dropped, the columns used and the series written.

    Attributes:
        source: the long-format table read.
        out: the series table written.
        rows: the data rows read.
        bands: the band columns used, in order.
        ignored_columns: the columns neither reserved nor used as bands.
        dropped: observations dropped, by reason (``missing value``, ``infinite value``, ``duplicate date``…);
            empty when none.
        label_map: the label map's report (`inseason.labels.MappedLabels.report`), or None without a map.
        observations: the observations written.
        series: the series written (rows of the table).
        samples: the distinct samples written.
        samples_across_seasons: samples without a year whose dates fall in more than one season, each imported
            as one series per season (0 with a year column).
        series_of_samples_across_seasons: the series those samples became.
    """

    source: str
    out: str
    rows: int
    bands: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    dropped: dict[str, int]
    label_map: dict[str, Any] | None
    observations: int
    series: int
    samples: int
    samples_across_seasons: int = 0
    series_of_samples_across_seasons: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The report as ``inseason import --json`` prints it (``label_map`` only when a map was given).

        Returns:
            The fields by name, the bands and ignored columns as lists.
        """
        report: dict[str, Any] = {
            "source": self.source,
            "out": self.out,
            "rows": self.rows,
            "bands": list(self.bands),
            "ignored_columns": list(self.ignored_columns),
            "dropped": dict(self.dropped),
        }
        if self.label_map is not None:
            report["label_map"] = self.label_map
        report.update(observations=self.observations, series=self.series, samples=self.samples)
        if self.samples_across_seasons:
            report.update(
                samples_across_seasons=self.samples_across_seasons,
                series_of_samples_across_seasons=self.series_of_samples_across_seasons,
            )
        return report


def import_series(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    bands: Sequence[str] | None = None,
    season_start: str = DEFAULT_START,
    label_map: str | os.PathLike[str] | LabelMap | None = None,
    quiet: bool = False,
) -> ImportResult:
    """Import a long-format CSV/Parquet table of observations as a series table at ``out`` (float32 values).

    ``bands`` picks the band columns (default: every numeric column that is not a reserved one). With a
    ``year`` column a series is one (sample, year); without it each observation belongs to the season
    (starting on ``season_start``, MM-DD) its date falls in, so a sample is one series per season it has
    dates in (a season starting ``10-01`` keeps a winter crop's October and May dates in one series; a sample
    spanning several seasons is split, with one warning naming the first few). Rows with a
    missing value (or an infinite one: ``inf``, ``-inf``), date, label or id are dropped and counted by
    reason; of two rows of one sample and date the one with the better SCL class (then the smaller values) is
    kept. ``label_map`` (preset, YAML or `LabelMap`) maps the labels; integer labels that are all CDL codes are
    mapped as CDL classes.

    Args:
        path: the long-format CSV or Parquet table.
        out: the series table to write (a file, not a folder).
        bands: the band columns, in order (default: every numeric column that is not a reserved one).
        season_start: the season start month-day (MM-DD) naming the season of a sample without a year.
        label_map: a preset name, a YAML file or a `LabelMap` to map the labels with (default: none).
        quiet: no progress bar.

    Returns:
        The report (:class:`ImportResult`): rows read, kept and dropped by reason, the bands used and the
        columns ignored, the label map's report, and the numbers of observations, series and samples written.

    Raises:
        InputError: the table cannot be read, lacks a column, or has dates that do not parse or samples with
            conflicting labels or splits (the message names the rows).
        OutputError: ``out`` is a folder.
    """
    return run_import(
        ImportRequest.of(
            path=Path(path),
            out=Path(out),
            bands=None if bands is None else tuple(bands),
            season_start=season_start,
            label_map=str(label_map) if isinstance(label_map, os.PathLike) else label_map,
            quiet=quiet,
        )
    )


def run_import(request: ImportRequest) -> ImportResult:
    """Import the long-format table a request names as a series table (see :func:`import_series`).

    Args:
        request: the table, the output and how to read it.

    Returns:
        The report: rows read and dropped by reason, the columns used and ignored, the label map's report and
        the observations, series and samples written.

    Raises:
        InputError: the table cannot be read, lacks a column, or has dates that do not parse or samples with
            conflicting labels or splits (the message names the rows).
        OutputError: ``out`` is a folder.
    """
    source, out, season_start, label_map = request.path, request.out, request.season_start, request.label_map
    if out.is_dir():
        raise OutputError(f"output {out} is a folder: give a file name such as series.parquet")
    table = read_long_table(source)
    cols = _columns(table, source)
    band_names, ignored = _band_columns(table, cols, request.bands, source)
    n = table.num_rows
    dropped_by: dict[str, int] = {}
    seasons_split = (0, 0)
    label_report: dict[str, Any] | None = None
    with progress_bar(quiet=request.quiet) as bar:
        task = bar.add_task("import", total=4)
        values = np.column_stack(
            [pc.cast(table.column(b), pa.float64()).fill_null(np.nan).to_numpy() for b in band_names]
        ).astype(np.float64)
        days = _dates(table.column(cols["date"]), cols["date"], source)
        label, label_names, codes = _labels(table.column(cols["label"]))
        ids, key, id_type = _sample_keys(table.column(cols["sample_id"]))
        year_col = _optional(table, cols, "year", pa.int16())
        scl_col = _optional(table, cols, "scl", pa.uint8())
        drops = {
            "missing sample_id": _missing(table.column(cols["sample_id"])),
            "missing date": days == -(2**31),
            "missing label": label < 0,
            "missing value": np.isnan(values).any(axis=1),
            "infinite value": np.isinf(values).any(axis=1),
        }
        if year_col is not None:
            drops["missing year"] = pc.is_null(year_col).to_numpy(zero_copy_only=False)
        keep = np.ones(n, dtype=bool)
        for reason, mask in drops.items():
            dropped = int((mask & keep).sum())
            if dropped:
                dropped_by[reason] = dropped
            keep &= ~mask
        bar.advance(task)
        if not keep.any():
            raise InputError(f"{source}: no row is left after dropping missing values ({dropped_by})")

        rows_idx = np.flatnonzero(keep)
        key, days, values, label = key[rows_idx], days[rows_idx], values[rows_idx], label[rows_idx]
        scl = None if scl_col is None else scl_col.to_numpy(zero_copy_only=False)[rows_idx]
        if year_col is not None:
            year = year_col.to_numpy(zero_copy_only=False)[rows_idx].astype(np.int16)
        else:
            year = season_years(days, season_start)
            across = _samples_across_seasons(key, year, ids)
            if across[0]:
                seasons_split = across[:2]
                log.warning(
                    "samples with dates in more than one season starting %s: %d (%s); each is imported as one "
                    "series per season (%d series); give the table a year column, or --season-start the month-day "
                    "their season starts, if a sample is one season",
                    season_start,
                    across[0],
                    ", ".join(map(str, across[2])) + (", …" if across[0] > len(across[2]) else ""),
                    across[1],
                )
        rank = np.zeros(len(key)) if scl is None else _SCL_RANK[np.nan_to_num(scl, nan=0).astype(np.uint8)]
        order = _observation_order(key, year, days, rank, values)
        key, year, days, values, label = key[order], year[order], days[order], values[order], label[order]
        original = rows_idx[order]
        scl = None if scl is None else scl[order]
        series = np.r_[0, np.cumsum((key[1:] != key[:-1]) | (year[1:] != year[:-1]))]
        _conflicts(series, label, "label", original, n, source)
        split_col = _optional(table, cols, "split", pa.string())
        if split_col is not None:
            _conflicts(series, _distinct(split_col.take(pa.array(original)))[0], "split", original, n, source)
        bar.advance(task)

        assembler = SeriesAssembler(value_type=pa.float32())
        built = [
            *assembler.add(SeriesRows(sample=key, year=year, date=days, values=values, scl=scl)),
            *assembler.finish(),
        ]
        bar.advance(task)
        duplicates = sum(b.duplicates for b in built)
        if duplicates:
            dropped_by["duplicate date"] = duplicates
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        taken = pa.array(original[starts])
        series_names = label_names[label[starts]]
        series_codes = None if codes is None else codes[rows_idx][order][starts]
        label_meta = None
        if label_map is not None:
            the_map = resolve_label_map(label_map)
            cdl_codes = (
                series_codes if series_codes is not None and set(series_codes.tolist()) <= set(cdl_classes()) else None
            )
            mapped = map_labels(
                the_map,
                codes=cdl_codes.tolist() if cdl_codes is not None else [None] * len(starts),
                names=[cdl_classes()[c].name for c in cdl_codes] if cdl_codes is not None else series_names.tolist(),
                cdl=cdl_codes is not None,
            )
            series_names = np.array(mapped.labels, dtype=object)
            label_meta = mapped.metadata(the_map)
            label_report = mapped.report
        result = _series_table(
            built,
            ids,
            id_type,
            series_names,
            series_codes,
            table,
            cols,
            taken,
            band_names,
            season_start,
            label_meta,
            source,
        )
        with output_lock(out, verb="import", file=True):  # a killed run's temporaries go when it is taken
            write_table(result, out)
        bar.advance(task)
    return ImportResult(
        source=str(source),
        out=str(out),
        rows=n,
        bands=tuple(band_names),
        ignored_columns=tuple(ignored),
        dropped=dropped_by,
        label_map=label_report,
        observations=int(pc.sum(pc.list_value_length(result.column("dates"))).as_py() or 0),
        series=result.num_rows,
        samples=int(pc.count_distinct(result.column("sample_id")).as_py()),
        samples_across_seasons=seasons_split[0],
        series_of_samples_across_seasons=seasons_split[1],
    )


def _samples_across_seasons(key: np.ndarray, year: np.ndarray, ids: np.ndarray) -> tuple[int, int, list[Any]]:
    """The samples whose observations fall in more than one season: how many, their series, the first few ids.

    Args:
        key: the sample key of each row.
        year: the season of each row.
        ids: the sample id of each key.

    Returns:
        The number of such samples, the number of series they make and up to five of their ids (sorted).
    """
    if not len(key):
        return 0, 0, []
    low = int(year.min())
    span = int(year.max()) - low + 1
    pairs = key.astype(np.int64) * span + (year.astype(np.int64) - low)  # one int per (sample, season)
    distinct = pc.unique(pa.array(pairs)).to_numpy()  # hashed: no sort of every row
    per_sample = np.bincount(distinct // span, minlength=len(ids))
    split = np.flatnonzero(per_sample > 1)
    return len(split), int(per_sample[split].sum()), sorted(ids[split].tolist())[:5]


def _observation_order(
    key: np.ndarray, year: np.ndarray, days: np.ndarray, rank: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """The row order by sample, season, date and SCL rank, rows equal in all four then by their values.

    The order `numpy.lexsort` gives over (values…, rank, days, year, key), at the cost of one sort of an
    integer: the four keys are packed into one int64 (offsets from their minima), and only rows sharing a
    packed key — repeated dates, usually few — are sorted again by their values. Falls back to the lexsort
    when the packed key would not fit in 63 bits.

    Args:
        key: sample key of each row.
        year: season of each row.
        days: date of each row (days since 1970).
        rank: SCL rank of each row (0..99).
        values: [rows, bands] band values.

    Returns:
        The row indices in order.
    """
    columns = [np.asarray(c, dtype=np.int64) for c in (key, year, days, rank)]
    if not len(key):
        return np.zeros(0, dtype=np.int64)
    packed = np.zeros(len(key), dtype=np.int64)
    total = 1
    for column in columns:  # most significant first
        low, span = int(column.min()), int(column.max()) - int(column.min()) + 1
        total *= span
        if total >= 2**62:
            by_value = [values[:, i] for i in reversed(range(values.shape[1]))]
            return np.lexsort((*by_value, *reversed(columns)))
        packed = packed * span + (column - low)
    order = np.argsort(packed, kind="stable")
    ordered = packed[order]
    tied = np.zeros(len(order), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    tied[1:] |= same
    tied[:-1] |= same
    if tied.any():
        rows = order[tied]  # whole groups of equal packed keys, groups in order, rows in table order
        by_value = [values[rows, i] for i in reversed(range(values.shape[1]))]
        order[tied] = rows[np.lexsort((*by_value, packed[rows]))]
    return order


def _series_table(
    built: list[SeriesLists],
    ids: np.ndarray,
    id_type: pa.DataType,
    names: np.ndarray,
    codes: np.ndarray | None,
    table: pa.Table,
    cols: dict[str, str],
    taken: pa.Array,
    bands: list[str],
    season_start: str,
    label_meta: str | None,
    source: Path,
) -> pa.Table:
    """Assemble the series table (rows whose label the map dropped are left out)."""
    schema = series_schema(bands, values=pa.float32(), sample_id=id_type)
    meta = {
        **schema.metadata,
        b"inseason:season_start": season_start.encode(),
        b"inseason:source": f"import:{source.name}".encode(),
    }
    if label_meta is not None:
        meta[b"inseason:label_map"] = label_meta.encode()
    schema = schema.with_metadata(meta)

    def attr(name: str, kind: pa.DataType) -> pa.Array:
        if name not in cols:
            return pa.nulls(len(taken), kind)
        return pc.cast(table.column(cols[name]), kind).take(taken).combine_chunks()

    sample = np.concatenate([b.sample for b in built])
    year = np.concatenate([b.year for b in built])
    columns = [
        pa.array(ids[sample], id_type),
        pa.array(year, pa.int16()),
        pa.array(names, pa.string()),
        pa.nulls(len(sample), pa.int32()) if codes is None else pa.array(codes, pa.int32()),
        attr("field_id", pa.int64()),
        attr("lon", pa.float64()),
        attr("lat", pa.float64()),
        attr("x", pa.float64()),
        attr("y", pa.float64()),
        pa.nulls(len(sample), pa.string()),
        attr("split", pa.string()),
        pa.concat_arrays([b.dates for b in built]),
        pa.concat_arrays([b.values for b in built]),
        pa.concat_arrays([b.scl for b in built]),
    ]
    result = pa.Table.from_arrays(columns, schema=schema)
    return result.filter(pc.is_valid(result.column("label")))
