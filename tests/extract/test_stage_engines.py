"""`extract` on the Spark engine and on S3: the same part files and manifest as the local engine on disk, and
the same resume."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from inseason import storage
from inseason.errors import InputError
from inseason.extract.stage import extract
from inseason.observations import MANIFEST, read_manifest, read_observations
from inseason.tables import LABEL_POINTS, SCENE_MANIFEST, read_table, write_table
from inseason.testing.s3 import LoopbackS3


def _parts(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("year=*/tile=*/part-*"))}


def _manifest(root: Path) -> list[dict[str, object]]:
    return sorted(
        (json.loads(line) for line in (root / MANIFEST).read_text().splitlines()), key=lambda e: str(e["scene_id"])
    )


def test_spark_writes_what_local_writes_and_resumes_alike(
    engine_inputs: tuple[Path, Path], tmp_path: Path, spark: SparkSession
) -> None:
    points, scenes = engine_inputs
    local = extract(points, scenes, out=tmp_path / "local", workers=2, quiet=True)
    on_spark = extract(points, scenes, out=tmp_path / "spark", engine="spark", quiet=True)
    assert {k: getattr(on_spark, k) for k in ("scenes", "done", "skipped", "observations", "bytes_read")} == {
        k: getattr(local, k) for k in ("scenes", "done", "skipped", "observations", "bytes_read")
    }
    assert local.skipped == 0 and local.done >= 10 and local.observations > 0
    parts = _parts(tmp_path / "local")
    assert _parts(tmp_path / "spark") == parts  # byte for byte, file by file
    assert _manifest(tmp_path / "spark") == _manifest(tmp_path / "local")
    assert read_observations(tmp_path / "spark").equals(read_observations(tmp_path / "local"))

    # a job killed after three scenes: three parts, and a manifest line cut short
    killed = tmp_path / "spark"
    for name in sorted(parts)[3:]:
        (killed / name).unlink()
    lines = (killed / MANIFEST).read_text().splitlines()
    kept = [line for line in lines if any(json.loads(line)["scene_id"] in n for n in sorted(parts)[:3])]
    (killed / MANIFEST).write_text("\n".join(kept) + "\n" + lines[-1][:10])
    resumed = extract(points, scenes, out=killed, engine="spark", quiet=True)
    assert (resumed.resumed, resumed.done) == (3, local.done - 3)  # no scene twice
    assert _parts(killed) == parts
    assert _manifest(killed) == _manifest(tmp_path / "local")


def test_s3_cogs_and_outputs_give_the_same_parts_on_both_engines(
    engine_inputs: tuple[Path, Path], tmp_path: Path, s3: LoopbackS3, spark: SparkSession
) -> None:
    points, scenes = engine_inputs
    on_disk = read_table(scenes, SCENE_MANIFEST, what="scene manifest").slice(0, 5)
    rows = on_disk.to_pylist()
    for row in rows:  # upload the five scenes and point the manifest at s3://world/scenes/<scene>/<band>.tif
        hrefs = dict(row["hrefs"])
        folder = s3.upload(Path(hrefs["B02"]).parent, "world", prefix=f"scenes/{row['scene_id']}")
        row["hrefs"] = {band: f"{folder}/{Path(href).name}" for band, href in hrefs.items()}
    write_table(on_disk, tmp_path / "disk.parquet")
    write_table(pa.Table.from_pylist(rows, schema=on_disk.schema), tmp_path / "s3.parquet")

    reference = extract(points, tmp_path / "disk.parquet", out=tmp_path / "disk", workers=1, quiet=True)
    local = extract(points, tmp_path / "s3.parquet", out="s3://world/obs-local", workers=2, quiet=True)
    on_spark = extract(points, tmp_path / "s3.parquet", out="s3://world/obs-spark", engine="spark", quiet=True)
    assert reference.done == local.done == on_spark.done == 5
    assert local.bytes_read == on_spark.bytes_read == reference.bytes_read
    expected = _parts(tmp_path / "disk")
    assert _s3_parts("s3://world/obs-local") == _s3_parts("s3://world/obs-spark") == expected
    assert read_observations("s3://world/obs-spark").equals(read_observations(tmp_path / "disk"))
    assert sorted(read_manifest("s3://world/obs-spark").values(), key=str) == sorted(
        read_manifest(tmp_path / "disk").values(), key=str
    )

    storage.write_bytes("s3://world/obs-spark/_manifest.jsonl", b"")  # a job that died before its manifest
    resumed = extract(points, tmp_path / "s3.parquet", out="s3://world/obs-spark", engine="spark", quiet=True)
    assert (resumed.resumed, resumed.done) == (5, 0)
    with pytest.raises(InputError, match="S3 bucket no-such-bucket of s3://no-such-bucket/obs does not exist"):
        extract(points, tmp_path / "s3.parquet", out="s3://no-such-bucket/obs", quiet=True)


def _s3_parts(root: str) -> dict[str, bytes]:
    return {
        uri.removeprefix(root + "/"): storage.read_bytes(uri) for uri in storage.list_files(root, suffix=".parquet")
    }


def test_unknown_engine_is_named(engine_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="engine 'dask' is unknown: use local or spark"):
        extract(*engine_inputs, out=tmp_path / "obs", engine="dask", quiet=True)


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
