"""Tables and scene quality on s3://: read_table/write_table round trips, named mistakes, extract from
points and scene manifest on S3, and the AOI quality of an SCL COG at an s3:// href."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from shapely.geometry import shape

from inseason import storage
from inseason.errors import InputError
from inseason.extract.quality import scl_valid_fraction
from inseason.extract.stage import extract
from inseason.tables import LABEL_POINTS, SCENE_MANIFEST, read_table, write_table
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


def test_extract_reads_points_and_scenes_from_s3(
    tiny_world: Path, tmp_path: Path, s3: LoopbackS3, engine_inputs: tuple[Path, Path]
) -> None:
    points, scenes = engine_inputs
    few = read_table(scenes, SCENE_MANIFEST, what="scene manifest").slice(0, 3)
    write_table(few, tmp_path / "scenes.parquet")
    bucket = s3.create_bucket("inputs")
    write_table(read_table(points, LABEL_POINTS, what="label points"), f"{bucket}/points.parquet")
    write_table(few, f"{bucket}/scenes.parquet")
    on_disk = extract(points, tmp_path / "scenes.parquet", out=tmp_path / "disk", workers=1, quiet=True)
    on_s3 = extract(f"{bucket}/points.parquet", f"{bucket}/scenes.parquet", out=tmp_path / "s3", workers=1, quiet=True)
    assert on_s3.done == on_disk.done == 3
    assert on_s3.observations == on_disk.observations > 0
    settings = json.loads((tmp_path / "s3" / "_extract.json").read_text())
    assert settings["fingerprint"] == json.loads((tmp_path / "disk" / "_extract.json").read_text())["fingerprint"]
    assert settings["points"] == f"{bucket}/points.parquet"
    resumed = extract(f"{bucket}/points.parquet", f"{bucket}/scenes.parquet", out=tmp_path / "s3", quiet=True)
    assert (resumed.resumed, resumed.done) == (3, 0)


def test_scene_quality_of_an_s3_href_equals_the_local_file(tiny_world: Path, s3: LoopbackS3) -> None:
    local = next(tiny_world.glob("scenes/*/2022/*/SCL.tif"))
    uri = s3.upload(local.parent, "quality", prefix=local.parent.name) + "/SCL.tif"
    aoi = shape(json.loads((tiny_world / "aoi.geojson").read_text())["features"][0]["geometry"])
    expected = scl_valid_fraction(str(local), aoi)
    assert expected.aoi_pixels > 0
    assert scl_valid_fraction(uri, aoi) == expected
