"""`predict_map` on Spark: the same maps as the local engine (on S3: tests/predict/test_maps_s3.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from shapely.geometry.base import BaseGeometry

from inseason.bench.predict import untrained_bundle
from inseason.errors import InputError
from inseason.predict import predict_map

AS_OF = ["2022-06-01", "2022-08-01"]


def test_spark_maps_equal_local_maps(
    spark: Any, map_square: BaseGeometry, engine_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    _, scenes = engine_inputs
    bundle = untrained_bundle("tempcnn-small", tmp_path / "bundle", seed=3)  # the map network: cheap
    aoi = map_square
    local = predict_map(
        bundle, aoi=aoi, scenes=scenes, as_of=AS_OF, out=tmp_path / "local", block_size=64, workers=1, quiet=True
    )
    on_spark = predict_map(
        bundle, aoi=aoi, scenes=scenes, as_of=AS_OF, out=tmp_path / "spark", block_size=64, engine="spark", quiet=True
    )
    assert local.blocks == on_spark.blocks > 1
    assert local.mapped_pixels == on_spark.mapped_pixels and sum(local.mapped_pixels.values()) > 0
    for date in AS_OF:
        assert Path(local.maps[date]).read_bytes() == Path(on_spark.maps[date]).read_bytes()


def test_unknown_engine_is_refused(tiny_world: Path, engine_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="engine 'dask' is unknown"):
        predict_map(
            untrained_bundle("arset", tmp_path / "b", seed=0),
            aoi=tiny_world / "aoi.geojson",
            scenes=engine_inputs[1],
            as_of=AS_OF,
            out=tmp_path / "m",
            engine="dask",
            quiet=True,
        )
