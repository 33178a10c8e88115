"""Series tables as real datasets come: other band names, one NDVI band, 8- and 16-day composites, irregular
dates, seasons starting in September. Built from `synthetic_series` tables (12 Sentinel-2 bands, 5-day revisit
with cloud gaps) by renaming, compositing, thinning or shifting."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from inseason.tables import S2_BANDS, series_schema

#: Sentinel-2 bands → the STAC common names a MODIS- or Landsat-style table uses.
COMMON = {
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B08": "nir",
    "B8A": "nir08",
    "B11": "swir16",
    "B12": "swir22",
}
#: An 8-band MODIS-like table: (Sentinel-2 band it is made of, its name).
MODIS_LIKE = (
    ("B04", "red"),
    ("B08", "nir"),
    ("B02", "blue"),
    ("B03", "green"),
    ("B05", "rededge"),
    ("B8A", "nir2"),
    ("B11", "swir1"),
    ("B12", "swir2"),
)


def _rebuild(
    table: pa.Table,
    bands: Sequence[str],
    dates: list[np.ndarray],
    values: list[np.ndarray],
    *,
    float_values: bool | None = None,
    season_start: str | None = None,
) -> pa.Table:
    """``table``'s rows with new bands, dates and values (the scl column dropped to empty lists); the values keep
    ``table``'s type unless ``float_values`` says."""
    if float_values is None:
        float_values = pa.types.is_floating(table.schema.field("values").type.value_type.value_type)
    schema = series_schema(bands, values=pa.float32() if float_values else pa.int16())
    if season_start is not None:
        meta = dict(schema.metadata or {})
        meta[b"inseason:season_start"] = season_start.encode()
        schema = schema.with_metadata(meta)
    columns = {name: table.column(name).to_pylist() for name in schema.names if name in table.column_names}
    columns["dates"] = [d.astype("datetime64[D]").tolist() for d in dates]
    columns["values"] = [v.tolist() for v in values]
    columns["scl"] = [[] for _ in dates]
    return pa.Table.from_pydict({f.name: columns[f.name] for f in schema}, schema=schema)


def _rows(table: pa.Table) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each row's dates (datetime64[D]) and values [n, C]."""
    dates = [np.array(d, dtype="datetime64[D]") for d in table.column("dates").to_pylist()]
    n_bands = len(json.loads(table.schema.metadata[b"inseason:bands"]))
    values = [np.array(v).reshape(-1, n_bands) for v in table.column("values").to_pylist()]
    return dates, values


def renamed(table: pa.Table, names: dict[str, str] | Sequence[tuple[str, str]]) -> pa.Table:
    """The Sentinel-2 bands ``names`` maps (S2 band → new name), renamed and in that order; the others dropped.

    Args:
        table: A 12-band `synthetic_series` table.
        names: Sentinel-2 band → its new name.

    Returns:
        The table with only those bands, under their new names.
    """
    pairs = list(names.items()) if isinstance(names, dict) else list(names)
    dates, values = _rows(table)
    columns = [S2_BANDS.index(band) for band, _ in pairs]
    return _rebuild(table, [name for _, name in pairs], dates, [v[:, columns] for v in values])


def ndvi_only(table: pa.Table, *, name: str = "NDVI") -> pa.Table:
    """One float band, NDVI from B08 and B04, named ``name``.

    Args:
        table: A 12-band `synthetic_series` table.
        name: The band's name (any case).

    Returns:
        The single-band table (float32 values, scale 1).
    """
    dates, values = _rows(table)
    red, nir = S2_BANDS.index("B04"), S2_BANDS.index("B08")
    ndvi = [((v[:, nir] - v[:, red]) / (v[:, nir] + v[:, red]))[:, None].astype(np.float32) for v in values]
    return _rebuild(table, [name], dates, ndvi, float_values=True)


def composites(table: pa.Table, every_days: int) -> pa.Table:
    """``every_days``-day composites: each row's observations averaged per period from 1 January, dated on its
    first day (a period without observation left out, as a cloudy composite).

    Args:
        table: A `synthetic_series` table (seasons starting 1 January).
        every_days: The compositing period (8 or 16 for MODIS).

    Returns:
        The composited table (same bands).
    """
    dates, values = _rows(table)
    out_dates, out_values = [], []
    for d, v in zip(dates, values, strict=True):
        year_start = d[0].astype("datetime64[Y]").astype("datetime64[D]")
        period = (d - year_start).astype(np.int64) // every_days
        kept = np.unique(period)
        out_dates.append(year_start + kept * every_days)
        out_values.append(np.stack([np.round(v[period == p].mean(axis=0)) for p in kept]).astype(v.dtype))
    bands = json.loads(table.schema.metadata[b"inseason:bands"])
    return _rebuild(table, bands, out_dates, out_values)


def thinned(table: pa.Table, *, keep: float, seed: int = 0) -> pa.Table:
    """Irregular dates: each observation kept with probability ``keep`` (at least two per row).

    Args:
        table: A `synthetic_series` table.
        keep: The share of observations kept.
        seed: Seed of the draw.

    Returns:
        The thinned table.
    """
    rng = np.random.default_rng(seed)
    dates, values = _rows(table)
    out_dates, out_values = [], []
    for d, v in zip(dates, values, strict=True):
        chosen = rng.random(d.size) < keep
        chosen[rng.choice(d.size, 2, replace=False)] = True
        out_dates.append(d[chosen])
        out_values.append(v[chosen])
    bands = json.loads(table.schema.metadata[b"inseason:bands"])
    return _rebuild(table, bands, out_dates, out_values)


def september_seasons(table: pa.Table) -> pa.Table:
    """Each row's season moved to start on 1 September before its label year (as the season labelled 2021 starts
    on 1 September 2020, `inseason.season`), the table recording season start 09-01 as ``inseason import
    --season-start 09-01`` does.

    Args:
        table: A `synthetic_series` table (seasons starting 1 January).

    Returns:
        The shifted table.
    """
    dates, values = _rows(table)
    years = table.column("year").to_pylist()
    shifts = [np.timedelta64((dt.date(y - 1, 9, 1) - dt.date(y, 1, 1)).days, "D") for y in years]
    shifted = [d + shift for d, shift in zip(dates, shifts, strict=True)]
    bands = json.loads(table.schema.metadata[b"inseason:bands"])
    return _rebuild(table, bands, shifted, values, season_start="09-01")


def denser(table: pa.Table) -> pa.Table:
    """A second satellite: an observation added halfway between each two (2-3 day gaps), values interpolated.

    Args:
        table: A `synthetic_series` table.

    Returns:
        The denser table.
    """
    dates, values = _rows(table)
    out_dates, out_values = [], []
    for d, v in zip(dates, values, strict=True):
        days = (d - d[0]).astype(np.int64)
        middle = (days[:-1] + days[1:]) // 2
        keep = middle > days[:-1]
        all_days = np.concatenate([days, middle[keep]])
        order = np.argsort(all_days, kind="stable")
        halfway = np.round((v[:-1] + v[1:]) / 2)[keep].astype(v.dtype)
        out_dates.append(d[0] + all_days[order])
        out_values.append(np.concatenate([v, halfway])[order])
    bands = json.loads(table.schema.metadata[b"inseason:bands"])
    return _rebuild(table, bands, out_dates, out_values)
