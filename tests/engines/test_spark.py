"""The Spark engine on toy units: same results as the local engine, shared state, errors, bad input."""

from __future__ import annotations

import sys
import zipfile
import zipimport
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from inseason.engines import spark as engine
from inseason.engines.local import run_local
from inseason.engines.spark import get_spark, run_spark
from inseason.errors import InputError
from tests.engines import toy_units


@pytest.fixture(scope="module")
def toy_spark(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> SparkSession:
    """The session, with the toy units module shipped to its workers (as a user ships their own code): a zip
    archive of the module inside its packages, so that workers import it by the same name as the tests."""
    root = Path(toy_units.__file__).parents[2]
    archive = tmp_path_factory.mktemp("toy-units") / "toy_units.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("tests/__init__.py", "tests/engines/__init__.py", "tests/engines/toy_units.py"):
            zf.write(root / name, name)
    spark.sparkContext.addPyFile(str(archive))
    return spark


def test_spark_matches_local_with_shared_state(toy_spark: SparkSession) -> None:
    units = [(f"u{i}", i) for i in range(11)]
    local = [
        r["value"]
        for _, r in run_local(
            toy_units.shifted_square, units, workers=1, initializer=toy_units.set_offset, initargs=(100,)
        )
    ]
    results = list(
        run_spark(
            toy_units.shifted_square,
            units,
            spark=toy_spark,
            initializer=toy_units.set_offset,
            initargs=(100,),
            max_in_flight=4,
        )
    )
    assert [u for u, _ in results] == units  # waves of 4, each put back into the submitted order
    assert [r["value"] for _, r in results] == local == [100 + i * i for i in range(11)]


def test_spark_raises_project_errors_of_workers(toy_spark: SparkSession) -> None:
    with pytest.raises(InputError, match="unit bad is negative"):
        list(
            run_spark(
                toy_units.shifted_square,
                [("ok", 1), ("bad", -1)],
                spark=toy_spark,
                initializer=toy_units.set_offset,
                initargs=(0,),
            )
        )


def test_existing_session_is_reused_and_another_master_refused(spark: SparkSession) -> None:
    assert get_spark() is spark
    assert get_spark(master="local[2]") is spark
    with pytest.raises(InputError, match="already running"):
        get_spark(master="local[1]")


def test_unreachable_master_is_named() -> None:
    with pytest.raises(InputError, match=r"spark://127\.0\.0\.1:9 cannot be reached"):
        engine._check_master("spark://127.0.0.1:9")
    with pytest.raises(InputError, match=r"sc://127\.0\.0\.1:9/;user_id=me cannot be reached"):
        engine._check_master("sc://127.0.0.1:9/;user_id=me")


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="needs Java 17"):
        engine.check_java()


def test_unchanged_zip_archives_are_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipimport.zipimporter, "invalidate_caches", zipimport.zipimporter.invalidate_caches)
    reads: list[str] = []
    read_directory = zipimport._read_directory  # type: ignore[attr-defined]
    monkeypatch.setattr(zipimport, "_read_directory", lambda path: reads.append(path) or read_directory(path))
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("first.py", "")
    importer = zipimport.zipimporter(str(archive))
    engine._skip_unchanged_zip_rereads()
    engine._skip_unchanged_zip_rereads()  # a second call leaves one wrapper
    lazy = sys.version_info < (3, 12)  # 3.12 made invalidation cheap itself
    assert getattr(zipimport.zipimporter.invalidate_caches, "inseason_lazy", False) is lazy
    if not lazy:
        return
    importer.invalidate_caches()
    importer.invalidate_caches()
    assert reads == [str(archive)] * 2  # opened once, then read once to stamp it; unchanged since
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("second.py", "")
    importer.invalidate_caches()
    assert len(reads) == 3 and importer.find_spec("second") is not None  # a changed archive is read again


def test_spark_workers_skip_rereading_unchanged_zips(toy_spark: SparkSession) -> None:
    flags = [flag for _, flag in run_spark(toy_units.zip_rereads_skipped, list(range(4)), spark=toy_spark)]
    assert flags == [sys.version_info < (3, 12)] * 4
