"""`series` on the Spark engine and on S3: the same table as the local DuckDB path, whatever the units."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from inseason import storage
from inseason.errors import InputError
from inseason.extract.stage import extract
from inseason.series.build import make_series
from inseason.series.units import parts_uri
from inseason.tables import LABEL_POINTS, read_table, write_table
from inseason.testing.s3 import LoopbackS3


@pytest.fixture(scope="module")
def observations(engine_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Observations of the engine inputs (read-only)."""
    out = tmp_path_factory.mktemp("series-engines") / "obs"
    extract(*engine_inputs, out=out, workers=1, quiet=True)
    return out


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("sample_id", "ascending"), ("year", "ascending")])


def _read(uri: str | Path) -> pa.Table:
    fs, path = storage.filesystem(uri)
    return pq.read_table(path, filesystem=fs)


def test_spark_and_units_give_the_duckdb_table(
    observations: Path, engine_inputs: tuple[Path, Path], tmp_path: Path, spark: SparkSession
) -> None:
    points, _ = engine_inputs
    leftover = Path(parts_uri(str(tmp_path / "spark.parquet")))  # a killed run's half-written part
    leftover.mkdir()
    (leftover / "unit-00000.parquet").write_bytes(b"half a part")
    local = make_series(observations, points=points, label_map="arset", out=tmp_path / "local.parquet", quiet=True)
    on_spark = make_series(
        observations,
        points=points,
        label_map="arset",
        out=tmp_path / "spark.parquet",
        engine="spark",
        partitions=5,
        quiet=True,
    )
    assert local.series > 20 and local.observations > 100
    assert {k: v for k, v in on_spark.as_dict().items() if k != "out"} == {
        k: v for k, v in local.as_dict().items() if k != "out"
    }
    expected = _read(tmp_path / "local.parquet")
    table = _read(tmp_path / "spark.parquet")
    assert table.equals(_sorted(table))  # written sorted, as the local engine writes it
    assert table.equals(expected, check_metadata=True)  # same rows, lists, values and metadata
    assert not list(tmp_path.glob(".*"))  # part folders and temporary names are gone


def test_series_on_s3_in_and_out_on_both_engines(
    observations: Path, engine_inputs: tuple[Path, Path], tmp_path: Path, s3: LoopbackS3, spark: SparkSession
) -> None:
    points, _ = engine_inputs
    expected = make_series(observations, points=points, out=tmp_path / "disk.parquet", quiet=True)
    obs_uri = s3.upload(observations, "series", prefix="obs")
    points_uri = s3.upload(points.parent, "series", prefix="inputs") + f"/{points.name}"
    for engine in ("local", "spark"):
        out = f"s3://series/out/{engine}.parquet"
        summary = make_series(obs_uri, points=points_uri, out=out, engine=engine, workers=2, partitions=3, quiet=True)
        assert summary.series == expected.series and summary.classes == expected.classes
        assert _read(out).equals(_read(tmp_path / "disk.parquet"), check_metadata=True)
    assert storage.list_files("s3://series/out") == ["s3://series/out/local.parquet", "s3://series/out/spark.parquet"]


def test_foreign_points_and_bad_options_are_refused(
    observations: Path, engine_inputs: tuple[Path, Path], tmp_path: Path, spark: SparkSession
) -> None:
    points, _ = engine_inputs
    table = read_table(points, LABEL_POINTS, what="label points")
    write_table(table.slice(0, table.num_rows // 2), tmp_path / "half.parquet")
    with pytest.raises(InputError, match="observations reference point ids missing from the label points"):
        make_series(
            observations, points=tmp_path / "half.parquet", out=tmp_path / "s.parquet", engine="spark", quiet=True
        )
    assert not list(tmp_path.glob("*s.parquet*"))  # nothing written, no part folder left
    with pytest.raises(InputError, match="engine 'dask' is unknown: use local or spark"):
        make_series(observations, points=points, out=tmp_path / "s.parquet", engine="dask", quiet=True)
    with pytest.raises(InputError, match="partitions=0 must be at least 1"):
        make_series(observations, points=points, out=tmp_path / "s.parquet", engine="spark", partitions=0, quiet=True)
    with pytest.raises(InputError, match=r"S3 bucket no-such-bucket of s3://no-such-bucket/s.parquet does not exist"):
        make_series(observations, points=points, out="s3://no-such-bucket/s.parquet", quiet=True)
