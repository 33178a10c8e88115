"""Tables on s3://: read_table/write_table round trips and named mistakes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from inseason import storage
from inseason.errors import InputError
from inseason.tables import LABEL_POINTS, read_table, write_table
from inseason.testing.s3 import LoopbackS3


def test_table_round_trip_on_s3(s3: LoopbackS3) -> None:
    bucket = s3.create_bucket("tables")
    table = pa.table({"point_id": pa.array([3, 1], pa.int64())})
    uri = f"{bucket}/points/points.parquet"
    write_table(table, uri, metadata={"crs": "EPSG:5070"})
    back = read_table(uri, pa.schema([("point_id", pa.int64())]), what="label points")
    assert back.column("point_id").to_pylist() == [3, 1]
    assert back.schema.metadata[b"inseason:crs"] == b"EPSG:5070"
    assert back.schema.metadata[b"inseason:schema_version"] == b"1"
    assert storage.list_files(f"{bucket}/points") == [uri]  # no temporary object left behind


def test_s3_table_mistakes_are_named(s3: LoopbackS3) -> None:
    bucket = s3.create_bucket("tables")
    with pytest.raises(InputError, match=f"label points table {bucket}/missing.parquet does not exist"):
        read_table(f"{bucket}/missing.parquet", LABEL_POINTS, what="label points")
    storage.write_bytes(f"{bucket}/junk.parquet", b"not parquet")
    with pytest.raises(InputError, match="is not a readable Parquet file"):
        read_table(f"{bucket}/junk.parquet", LABEL_POINTS, what="label points")
    with pytest.raises(InputError, match=r"S3 bucket no-such-bucket of s3://no-such-bucket/t.parquet does not exist"):
        write_table(pa.table({"a": [1]}), "s3://no-such-bucket/t.parquet")


def test_a_scene_manifest_written_before_the_collection_column_is_read_with_nulls(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from inseason.tables import SCENE_MANIFEST

    older = pa.schema([f for f in SCENE_MANIFEST if f.name != "collection"])
    path = tmp_path / "scenes.parquet"
    pq.write_table(older.empty_table(), path)
    back = read_table(path, SCENE_MANIFEST, what="scene manifest")
    assert back.schema.field("collection").type == pa.string() and back.num_rows == 0
    pq.write_table(pa.schema([f for f in older if f.name != "epsg"]).empty_table(), path)
    with pytest.raises(InputError, match=r"lacks columns \['epsg'\]"):
        read_table(path, SCENE_MANIFEST, what="scene manifest")
