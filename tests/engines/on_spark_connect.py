"""Run extract and series with ``--engine spark`` on a Spark Connect session (a script for the engine tests).

``python on_spark_connect.py POINTS SCENES OUT`` starts a local Spark Connect server and a client session
(``SparkSession.builder.remote("local[2]")``, as Databricks serverless or shared clusters hand out), lets
``inseason`` take that session over, and prints one JSON object: the session's class and what each stage
returned. It runs in a process of its own because a Connect session switches PySpark's module-level
dispatch to Connect for the whole process.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from pyspark.sql import SparkSession

from inseason.engines.spark import run_spark, spark_context
from inseason.errors import InputError
from inseason.extract.stage import extract
from inseason.series.build import make_series


def _check_offset(unit: int) -> int:
    if unit < 0:
        raise InputError(f"unit {unit} is negative")
    return unit


def main(points: str, scenes: str, out: str) -> None:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = SparkSession.builder.remote("local[2]").getOrCreate()
    try:
        extracted = extract(points, scenes, out=Path(out) / "obs", engine="spark", quiet=True)
        series = make_series(
            Path(out) / "obs", points=points, out=Path(out) / "series.parquet", engine="spark", partitions=3, quiet=True
        )
        try:
            list(run_spark(_check_offset, [1, -1], spark=session))
            error = None
        except InputError as exc:
            error = str(exc)
        print(
            json.dumps(
                {
                    "session": type(session).__module__,
                    "has_context": spark_context(session) is not None,
                    "extract": asdict(extracted),
                    "series": {k: v for k, v in series.as_dict().items() if k != "out"},
                    "error": error,
                }
            )
        )
    finally:
        session.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
