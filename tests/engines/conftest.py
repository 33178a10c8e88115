"""Fixtures of the engine and storage tests: one loopback S3 server and one Spark session per test session.

The S3 server's AWS variables are set before Spark starts, so Spark's Python workers inherit them (as
executors on a cluster inherit theirs from the cluster's configuration).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from inseason.engines.spark import get_spark
from inseason.testing.s3 import LoopbackS3


@pytest.fixture(scope="session")
def s3() -> Iterator[LoopbackS3]:
    """A moto S3 server on loopback with the AWS environment pointing at it for the whole session."""
    with LoopbackS3() as server, server.environment():
        yield server


@pytest.fixture(scope="session")
def spark(s3: LoopbackS3) -> Iterator[Any]:
    """A ``local[2]`` Spark session (no UI, few shuffle partitions) whose workers run this interpreter."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        session = get_spark(master="local[2]", config={"spark.sql.shuffle.partitions": "2",
                                                       "spark.default.parallelism": "2"})
        yield session
        session.stop()
