"""The data contracts of DESIGN §2 as Arrow schemas, and the one way to write and read them.

Every table carries ``inseason:schema_version`` (and, where it has coordinates, ``inseason:crs``) in its
schema metadata. Writers write to a temporary name and rename, so a reader never sees half a table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from inseason.errors import InputError

SCHEMA_VERSION = "1"

LABEL_POINTS = pa.schema([
    ("point_id", pa.int64()), ("x", pa.float64()), ("y", pa.float64()), ("lon", pa.float64()),
    ("lat", pa.float64()), ("year", pa.int16()), ("label_code", pa.int32()), ("label", pa.string()),
    ("field_id", pa.int64()), ("source", pa.string()),
])

SCENE_MANIFEST = pa.schema([
    ("scene_id", pa.string()), ("datetime", pa.timestamp("us", tz="UTC")), ("date", pa.date32()),
    ("tile", pa.string()), ("platform", pa.string()), ("processing_baseline", pa.string()),
    ("epsg", pa.int32()), ("footprint", pa.binary()), ("hrefs", pa.map_(pa.string(), pa.string())),
    ("cloud_cover_tile", pa.float64()), ("valid_fraction_aoi", pa.float64()), ("boa_offset", pa.int16()),
])

#: Sentinel-2 L2A bands as the observations and series tables order them.
S2_BANDS: tuple[str, ...] = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")

OBSERVATIONS = pa.schema([
    ("point_id", pa.int64()), ("scene_id", pa.string()), ("date", pa.date32()),
    *[(band, pa.int16()) for band in S2_BANDS], ("scl", pa.uint8()), ("tile", pa.string()),
])


def with_metadata(schema: pa.Schema, **extra: str) -> pa.Schema:
    """``schema`` with the schema version and ``extra`` (``crs=`` becomes ``inseason:crs``) as metadata."""
    meta = {b"inseason:schema_version": SCHEMA_VERSION.encode()}
    meta.update({f"inseason:{k}".encode(): v.encode() for k, v in extra.items()})
    return schema.with_metadata({**(schema.metadata or {}), **meta})


def write_table(table: pa.Table, path: str | os.PathLike[str], *, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``table`` as Parquet atomically (temporary name, then rename), stamping the schema version."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata(with_metadata(table.schema, **(metadata or {})).metadata)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    tmp.replace(path)


def read_table(path: str | os.PathLike[str], schema: pa.Schema, *, what: str) -> pa.Table:
    """Read a Parquet table and check it has ``schema``'s columns and types; clear errors otherwise."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError(f"{what} table {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{what} table {path} is not a readable Parquet file: {exc}") from None
    missing = [f.name for f in schema if f.name not in table.schema.names]
    if missing:
        raise InputError(f"{what} table {path} lacks columns {missing}: was it written by inseason?")
    wrong = [f"{f.name} ({table.schema.field(f.name).type}, expected {f.type})"
             for f in schema if not table.schema.field(f.name).type.equals(f.type)]
    if wrong:
        raise InputError(f"{what} table {path} has columns of the wrong type: {', '.join(wrong)}")
    return table
