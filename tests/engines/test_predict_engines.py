"""`predict_map` on Spark and from COGs on s3://: the same maps as the local engine reading from disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from inseason.bench.predict import untrained_bundle
from inseason.errors import InputError
from inseason.predict import predict_map
from inseason.tables import SCENE_MANIFEST, read_table, write_table
from inseason.testing.s3 import LoopbackS3

AS_OF = ["2022-06-01", "2022-08-01"]


def test_spark_maps_equal_local_maps(spark: Any, tiny_world: Path, engine_inputs: tuple[Path, Path],
                                     tmp_path: Path) -> None:
    _, scenes = engine_inputs
    bundle = untrained_bundle("tempcnn", tmp_path / "bundle", seed=3)
    aoi = tiny_world / "aoi.geojson"
    local = predict_map(bundle, aoi=aoi, scenes=scenes, as_of=AS_OF, out=tmp_path / "local", block_size=128,
                        workers=1, quiet=True)
    on_spark = predict_map(bundle, aoi=aoi, scenes=scenes, as_of=AS_OF, out=tmp_path / "spark", block_size=128,
                           engine="spark", quiet=True)
    assert local.blocks == on_spark.blocks > 1
    assert local.mapped_pixels == on_spark.mapped_pixels and sum(local.mapped_pixels.values()) > 0
    for date in AS_OF:
        assert Path(local.maps[date]).read_bytes() == Path(on_spark.maps[date]).read_bytes()


def test_unknown_engine_is_refused(tiny_world: Path, engine_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="engine 'dask' is unknown"):
        predict_map(untrained_bundle("arset", tmp_path / "b", seed=0), aoi=tiny_world / "aoi.geojson",
                    scenes=engine_inputs[1], as_of=AS_OF, out=tmp_path / "m", engine="dask", quiet=True)


def test_maps_from_cogs_on_s3_equal_maps_from_disk(tiny_world: Path, engine_inputs: tuple[Path, Path],
                                                   s3: LoopbackS3, spark: Any, tmp_path: Path) -> None:
    """Scenes whose COG hrefs are s3:// map to the same COGs as from disk, on both engines."""
    on_disk = read_table(engine_inputs[1], SCENE_MANIFEST, what="scene manifest").slice(0, 6)
    rows = on_disk.to_pylist()
    for row in rows:
        hrefs = dict(row["hrefs"])
        folder = s3.upload(Path(hrefs["B02"]).parent, "world", prefix=f"map-scenes/{row['scene_id']}")
        row["hrefs"] = {band: f"{folder}/{Path(href).name}" for band, href in hrefs.items()}
    write_table(on_disk, tmp_path / "disk.parquet")
    write_table(pa.Table.from_pylist(rows, schema=on_disk.schema), tmp_path / "s3.parquet")
    last = max(row["date"] for row in rows).isoformat()
    bundle = untrained_bundle("arset", tmp_path / "bundle", seed=1)
    aoi = tiny_world / "aoi.geojson"
    runs = {name: predict_map(bundle, aoi=aoi, scenes=tmp_path / manifest, as_of=[last], out=tmp_path / name,
                              block_size=128, engine=engine, workers=1, quiet=True)
            for name, manifest, engine in (("disk", "disk.parquet", "local"), ("s3-local", "s3.parquet", "local"),
                                           ("s3-spark", "s3.parquet", "spark"))}
    expected = Path(runs["disk"].maps[last]).read_bytes()
    assert runs["disk"].mapped_pixels[last] > 0 and not runs["s3-local"].skipped_scenes
    assert Path(runs["s3-local"].maps[last]).read_bytes() == expected
    assert Path(runs["s3-spark"].maps[last]).read_bytes() == expected
