"""The Spark engine on toy units: same results as the local engine, shared state, errors, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import toy_units
from pyspark.sql import SparkSession

from inseason.engines import spark as engine
from inseason.engines.local import run_local
from inseason.engines.spark import get_spark, run_spark
from inseason.errors import InputError


@pytest.fixture(scope="module")
def toy_spark(spark: SparkSession) -> SparkSession:
    """The session, with the toy units module shipped to its workers (as a user ships their own code)."""
    spark.sparkContext.addPyFile(str(Path(toy_units.__file__)))
    return spark


def test_spark_matches_local_with_shared_state(toy_spark: SparkSession) -> None:
    units = [(f"u{i}", i) for i in range(11)]
    local = [r["value"] for _, r in run_local(toy_units.shifted_square, units, workers=1,
                                              initializer=toy_units.set_offset, initargs=(100,))]
    results = list(run_spark(toy_units.shifted_square, units, spark=toy_spark, initializer=toy_units.set_offset,
                             initargs=(100,), max_in_flight=4))
    assert [u for u, _ in results] == units  # waves of 4, each put back into the submitted order
    assert [r["value"] for _, r in results] == local == [100 + i * i for i in range(11)]


def test_spark_raises_project_errors_of_workers(toy_spark: SparkSession) -> None:
    with pytest.raises(InputError, match="unit bad is negative"):
        list(run_spark(toy_units.shifted_square, [("ok", 1), ("bad", -1)], spark=toy_spark,
                       initializer=toy_units.set_offset, initargs=(0,)))


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
        engine._check_java()
