"""The data contracts of DESIGN §2 as Arrow schemas, and the one way to write and read them.

Every table carries ``inseason:schema_version`` (and, where it has coordinates, ``inseason:crs``) in its
schema metadata. Tables may live on the local disk or at ``s3://bucket/key`` (through `inseason.storage`).
Writers write to a temporary name and rename (on S3 an object appears only once complete), so a reader
never sees half a table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from inseason import storage
from inseason.errors import InputError

SCHEMA_VERSION = "1"

LABEL_POINTS = pa.schema(
    [
        ("point_id", pa.int64()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
        ("year", pa.int16()),
        ("label_code", pa.int32()),
        ("label", pa.string()),
        ("field_id", pa.int64()),
        ("source", pa.string()),
    ]
)

SCENE_MANIFEST = pa.schema(
    [
        ("scene_id", pa.string()),
        ("datetime", pa.timestamp("us", tz="UTC")),
        ("date", pa.date32()),
        ("tile", pa.string()),
        ("platform", pa.string()),
        ("processing_baseline", pa.string()),
        ("epsg", pa.int32()),
        ("footprint", pa.binary()),
        ("hrefs", pa.map_(pa.string(), pa.string())),
        ("cloud_cover_tile", pa.float64()),
        ("valid_fraction_aoi", pa.float64()),
        ("boa_offset", pa.int16()),
        ("collection", pa.string()),  # the item's STAC collection (null when the item names none)
    ]
)

#: Columns added to a table kind after its first release: a table written before lacks them, and reading it
#: fills them with nulls (every one of them is nullable) instead of refusing the file.
ADDED_COLUMNS: frozenset[str] = frozenset({"collection"})

#: Sentinel-2 L2A bands as the observations and series tables order them.
S2_BANDS: tuple[str, ...] = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
#: Sentinel-2 band → its STAC ``eo`` common name (also Earth Search v1's asset key of the band).
S2_COMMON_NAMES: dict[str, str] = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B11": "swir16",
    "B12": "swir22",
}

OBSERVATIONS = pa.schema(
    [
        ("point_id", pa.int64()),
        ("scene_id", pa.string()),
        ("date", pa.date32()),
        *[(band, pa.int16()) for band in S2_BANDS],
        ("scl", pa.uint8()),
        ("tile", pa.string()),
    ]
)


#: Scale of each Sentinel-2 band in the series table: stored value × scale = surface reflectance.
S2_SCALE = 1e-4


INT16, INT64 = pa.int16(), pa.int64()  # the series schema's default value and sample-id types


def series_schema(
    bands: Sequence[str],
    *,
    values: pa.DataType = INT16,
    sample_id: pa.DataType = INT64,
    scales: Sequence[float] | None = None,
    crs: str | None = None,
) -> pa.Schema:
    """The series schema of DESIGN §2 for ``bands``: one row per (sample, season), ragged and calendar-true.

    ``values`` is int16 (reflectance × 10 000, extracted Sentinel-2) or float32 (imported series);
    ``sample_id`` is int64 (a label point's ``point_id``) or string. The band order and each band's scale
    go into the metadata as ``inseason:bands`` and ``inseason:scales`` (JSON lists).

    Args:
        bands: the band names, in the order of the values' inner lists.
        values: the values' type: int16 or float32.
        sample_id: the sample id's type: int64 or string.
        scales: each band's scale (stored value × scale = the measurement); None: 1e-4 for int16, 1 otherwise.
        crs: the CRS of the ``x``/``y`` columns, stored as ``inseason:crs``.

    Returns:
        The schema with its metadata.

    Raises:
        InputError: ``bands`` is empty.
    """
    if not bands:
        raise InputError("a series table needs at least one band")
    if scales is None:
        scales = [S2_SCALE if values == pa.int16() else 1.0] * len(bands)
    schema = pa.schema(
        [
            ("sample_id", sample_id),
            ("year", pa.int16()),
            ("label", pa.string()),
            ("label_code", pa.int32()),
            ("field_id", pa.int64()),
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("x", pa.float64()),
            ("y", pa.float64()),
            ("crs", pa.string()),
            ("split", pa.string()),
            ("dates", pa.list_(pa.date32())),
            ("values", pa.list_(pa.list_(values, len(bands)))),
            ("scl", pa.list_(pa.uint8())),
        ]
    )
    extra = {"bands": json.dumps(list(bands)), "scales": json.dumps([float(s) for s in scales])}
    if crs is not None:
        extra["crs"] = crs
    return with_metadata(schema, **extra)


def series_bands(schema: pa.Schema) -> tuple[list[str], list[float]]:
    """Band names and scales of a series table, from its metadata.

    Args:
        schema: the series table's schema.

    Returns:
        ``(bands, scales)``; the scales are 1 when the metadata has none.

    Raises:
        InputError: the schema has no ``inseason:bands`` metadata.
    """
    meta = schema.metadata or {}
    if b"inseason:bands" not in meta:
        raise InputError("series table has no inseason:bands metadata: write it with inseason series or import")
    bands = json.loads(meta[b"inseason:bands"])
    scales = json.loads(meta.get(b"inseason:scales", json.dumps([1.0] * len(bands)).encode()))
    return bands, scales


def with_metadata(schema: pa.Schema, **extra: str) -> pa.Schema:
    """``schema`` with the schema version and ``extra`` added to its metadata.

    Args:
        schema: the schema (its own metadata is kept).
        **extra: more metadata, each name prefixed with ``inseason:`` (``crs=`` becomes ``inseason:crs``).

    Returns:
        The schema with the metadata.
    """
    meta = {b"inseason:schema_version": SCHEMA_VERSION.encode()}
    meta.update({f"inseason:{k}".encode(): v.encode() for k, v in extra.items()})
    return schema.with_metadata({**(schema.metadata or {}), **meta})


def write_table(table: pa.Table, path: str | os.PathLike[str], *, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``table`` as Parquet at a path or ``s3://`` URI, atomically, stamping the schema version.

    On disk the file is written under a temporary name and renamed; on S3 the object appears only once
    its upload completes (a bucket that does not exist is refused first).

    Args:
        table: the table.
        path: a path, ``file://`` URI or ``s3://bucket/key``.
        metadata: more schema metadata, each name prefixed with ``inseason:``.

    Raises:
        InputError: the ``s3://`` bucket does not exist or cannot be reached.
    """
    table = table.replace_schema_metadata(with_metadata(table.schema, **(metadata or {})).metadata)
    if storage.is_s3(path):
        storage.check_bucket(str(path))
        fs, where = storage.filesystem(path)
        pq.write_table(table, where, filesystem=fs)
        return
    with storage.atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | os.PathLike[str], schema: pa.Schema | None = None, *, what: str) -> pa.Table:
    """Read a Parquet table (a path or ``s3://`` URI) and check it has ``schema``'s columns and types.

    Args:
        path: a path, ``file://`` URI or ``s3://bucket/key``.
        schema: the columns and types the table must have (extra columns are allowed; a column of
            `ADDED_COLUMNS` that an older table lacks is filled with nulls); None: no check (series tables,
            whose bands vary).
        what: the table's kind in messages (``label points``).

    Returns:
        The table.

    Raises:
        InputError: the file is missing or unreadable, lacks a column or has one of the wrong type (the
            message names the table).
    """
    try:
        fs, where = storage.filesystem(path)
        table = pq.read_table(where, filesystem=fs)
    except FileNotFoundError:
        raise InputError(f"{what} table {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{what} table {path} is not a readable Parquet file: {exc}") from None
    if schema is None:
        return table
    for field in schema:
        if field.name in ADDED_COLUMNS and field.name not in table.schema.names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    missing = [f.name for f in schema if f.name not in table.schema.names]
    if missing:
        raise InputError(f"{what} table {path} lacks columns {missing}: was it written by inseason?")
    wrong = [
        f"{f.name} ({table.schema.field(f.name).type}, expected {f.type})"
        for f in schema
        if not table.schema.field(f.name).type.equals(f.type)
    ]
    if wrong:
        raise InputError(f"{what} table {path} has columns of the wrong type: {', '.join(wrong)}")
    return table
