"""The pipeline on object storage: a world uploaded to a loopback S3 server, then extract → series → predict
with every input and output on s3://, on both engines, giving what the local engine gives on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from shapely.geometry.base import BaseGeometry

from inseason import storage
from inseason.bench.predict import untrained_bundle
from inseason.errors import InputError, OutputError
from inseason.extract.stage import extract
from inseason.predict import predict_map
from inseason.series.build import make_series
from inseason.tables import LABEL_POINTS, SCENE_MANIFEST, read_table, write_table
from inseason.testing.s3 import LoopbackS3


def _tree(root: str) -> dict[str, bytes]:
    """Every file under a folder or prefix, by relative name (temporary names would show up here too)."""
    return {uri.removeprefix(root.rstrip("/") + "/"): storage.read_bytes(uri) for uri in storage.list_files(root)}


def _table(uri: str | Path) -> pa.Table:
    fs, path = storage.filesystem(uri)
    return pq.read_table(path, filesystem=fs)


@pytest.fixture(scope="module")
def s3_inputs(
    tiny_world: Path, engine_inputs: tuple[Path, Path], s3: LoopbackS3, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, str, str]:
    """Six scenes of the tiny world as a manifest on disk, and the same scenes, manifest and points on S3."""
    points, scenes = engine_inputs
    folder = tmp_path_factory.mktemp("s3-pipeline")
    on_disk = read_table(scenes, SCENE_MANIFEST, what="scene manifest").slice(0, 6)
    write_table(on_disk, folder / "scenes.parquet")
    rows = on_disk.to_pylist()
    for row in rows:  # s3://pipeline/world/<scene>/<band>.tif
        hrefs = dict(row["hrefs"])
        prefix = s3.upload(Path(hrefs["B02"]).parent, "pipeline", prefix=f"world/{row['scene_id']}")
        row["hrefs"] = {band: f"{prefix}/{Path(href).name}" for band, href in hrefs.items()}
    write_table(pa.Table.from_pylist(rows, schema=on_disk.schema), "s3://pipeline/inputs/scenes.parquet")
    write_table(read_table(points, LABEL_POINTS, what="label points"), "s3://pipeline/inputs/points.parquet")
    return (
        points,
        folder / "scenes.parquet",
        "s3://pipeline/inputs/points.parquet",
        "s3://pipeline/inputs/scenes.parquet",
    )


def test_extract_series_predict_on_s3_equal_the_local_run_on_disk(
    map_square: BaseGeometry, s3_inputs: tuple[Path, Path, str, str], tmp_path: Path, spark: SparkSession
) -> None:
    points, scenes, points_uri, scenes_uri = s3_inputs
    dates = sorted({r["date"] for r in read_table(scenes, SCENE_MANIFEST, what="scene manifest").to_pylist()})
    middle, last = dates[len(dates) // 2], dates[-1]
    as_of = [middle.isoformat(), last.isoformat()]
    bundle = untrained_bundle("tempcnn-small", tmp_path / "bundle", seed=2)  # the map network: cheap
    aoi = map_square
    disk = tmp_path / "disk"
    extract(points, scenes, out=disk / "obs", workers=1, quiet=True)
    make_series(disk / "obs", points=points, out=disk / "series.parquet", quiet=True)
    reference = predict_map(
        bundle, aoi=aoi, scenes=scenes, as_of=as_of, out=disk / "maps", block_size=64, workers=1, quiet=True
    )
    assert reference.blocks > 1 and reference.gif is not None and sum(reference.mapped_pixels.values()) > 0
    expected_parts = {k: v for k, v in _tree(str(disk / "obs")).items() if k.startswith("year=")}
    expected_maps = {
        name: (disk / "maps" / name).read_bytes() for name in (f"map_{middle}.tif", f"map_{last}.tif", "season.gif")
    }

    for engine in ("local", "spark"):
        root = f"s3://pipeline/{engine}"
        done = extract(points_uri, scenes_uri, out=f"{root}/obs", engine=engine, workers=2, quiet=True)
        assert done.done == 6 and done.skipped == 0
        assert {k: v for k, v in _tree(f"{root}/obs").items() if k.startswith("year=")} == expected_parts
        make_series(
            f"{root}/obs",
            points=points_uri,
            out=f"{root}/series.parquet",
            engine=engine,
            workers=2,
            partitions=3,
            quiet=True,
        )
        assert _table(f"{root}/series.parquet").equals(_table(disk / "series.parquet"), check_metadata=True)
        run = predict_map(
            bundle,
            aoi=aoi,
            scenes=scenes_uri,
            as_of=as_of,
            out=f"{root}/maps",
            block_size=64,
            engine=engine,
            workers=2,
            quiet=True,
        )
        assert run.out == f"{root}/maps" and run.maps[last.isoformat()] == f"{root}/maps/map_{last}.tif"
        assert run.mapped_pixels == reference.mapped_pixels and not run.skipped_scenes
        written = _tree(f"{root}/maps")
        assert {name: written[name] for name in expected_maps} == expected_maps  # byte for byte
        assert sorted(written) == sorted(
            p.relative_to(disk / "maps").as_posix() for p in (disk / "maps").rglob("*") if p.is_file()
        )
        item = json.loads(written[f"map_{last}.json"])
        assert item["assets"]["classes"]["href"] == f"./map_{last}.tif"  # resolves next to the item on S3 too
        assert json.loads(written["summary.json"])["maps"] == run.maps


def test_map_run_on_s3_resumes_and_refuses_other_settings(
    tiny_world: Path, s3_inputs: tuple[Path, Path, str, str], s3: LoopbackS3, tmp_path: Path
) -> None:
    _, scenes, _, scenes_uri = s3_inputs
    day = max(r["date"] for r in read_table(scenes, SCENE_MANIFEST, what="scene manifest").to_pylist()).isoformat()
    bundle = untrained_bundle("arset", tmp_path / "bundle", seed=4)
    aoi = tiny_world / "aoi.geojson"
    out = "s3://pipeline/resume/maps"
    first = predict_map(bundle, aoi=aoi, scenes=scenes_uri, as_of=[day], out=out, block_size=128, workers=1, quiet=True)
    written = _tree(out)
    blocks = sorted(name for name in written if name.startswith("blocks/"))
    assert len(blocks) == first.blocks > 1

    for name in ["summary.json", f"map_{day}.tif", *blocks[1:]]:  # a run killed after its first block
        s3.client().delete_object(Bucket="pipeline", Key=f"resume/maps/{name}")
    resumed = predict_map(
        bundle, aoi=aoi, scenes=scenes_uri, as_of=[day], out=out, block_size=128, workers=1, quiet=True
    )
    assert resumed.resumed_blocks == 1 and resumed.mapped_pixels == first.mapped_pixels
    again = _tree(out)
    assert json.loads(again.pop("summary.json"))["resumed_blocks"] == 1
    assert again == {k: v for k, v in written.items() if k != "summary.json"}  # nothing twice, none missing

    with pytest.raises(OutputError, match=f"{out} holds a map run with other settings"):
        predict_map(bundle, aoi=aoi, scenes=scenes_uri, as_of=[day], out=out, block_size=256, quiet=True)
    with pytest.raises(InputError, match="S3 bucket no-such-bucket of s3://no-such-bucket/maps does not exist"):
        predict_map(bundle, aoi=aoi, scenes=scenes_uri, as_of=[day], out="s3://no-such-bucket/maps", quiet=True)
    storage.write_bytes("s3://pipeline/other/notes.txt", b"someone else's")
    with pytest.raises(OutputError, match="s3://pipeline/other is not empty"):
        predict_map(bundle, aoi=aoi, scenes=scenes_uri, as_of=[day], out="s3://pipeline/other", quiet=True)
