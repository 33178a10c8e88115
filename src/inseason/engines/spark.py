"""The Spark engine: the same pure per-unit functions as the local engine, scheduled by PySpark.

Units of work (scenes for extract) are spread over Spark partitions, one unit per partition (so one Spark
task per unit, retried alone), and ``mapPartitions`` calls the unit function in the executors' Python
workers. (``DataFrame.mapInArrow`` would add nothing here, as units and results are small pickled records,
and PySpark 4.0 requires pandas on the driver for it.) The shared read-only state
(``initializer(*initargs)``, e.g. the points of every scene) travels once per executor as a broadcast. Unit
functions write their own outputs (part files) and return small results (manifest entries), which come back
to the driver in waves of at most ``max_in_flight`` units, so the caller can record progress as it goes.

The session is created once per process (:func:`get_spark`) or taken over from the one already running
(Databricks, EMR, a notebook); a cluster is chosen by configuration only (``master``).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pyspark import cloudpickle
from pyspark.errors import PySparkRuntimeError
from pyspark.sql import SparkSession

from inseason.errors import InputError, InseasonError

T = TypeVar("T")
R = TypeVar("R")

#: Settings of a session this package starts itself (an existing session is used as it is).
DEFAULT_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.python.worker.reuse": "true",
}


def _check_java() -> None:
    """Spark needs a JVM: refuse early, and say how to get one, when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return
    if shutil.which("java") is None:
        raise InputError("--engine spark needs Java 17 or newer and none was found: install it "
                         "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME")


def _check_master(master: str) -> None:
    """A standalone master (``spark://host:port``) must answer before Spark spends a minute retrying it."""
    if not master.startswith("spark://"):
        return
    problem: OSError | None = None
    for address in master.removeprefix("spark://").split(","):
        parts = urlsplit(f"//{address}")
        try:
            with socket.create_connection((parts.hostname or "", parts.port or 7077), timeout=5):
                return
        except OSError as exc:
            problem = exc
    raise InputError(f"Spark master {master} cannot be reached ({problem}): start it, or fix --spark-master "
                     "(e.g. spark://HOST:7077, yarn, local[*])")


def get_spark(*, master: str | None = None, app_name: str = "inseason",
              config: Mapping[str, str] | None = None) -> SparkSession:
    """The Spark session to run on: the active one when there is one, else a new one on ``master``.

    ``master`` defaults to ``local[*]`` for a new session; an active session on another master is refused
    rather than silently used. Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if master is not None and master != running:
            raise InputError(f"a Spark session on {running} is already running in this process: "
                             f"use it (leave out --spark-master) or stop it before asking for {master}")
        return active
    target = master or "local[*]"
    _check_java()
    _check_master(target)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(target).appName(app_name)
    for key, value in {**DEFAULT_CONFIG, **(config or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except PySparkRuntimeError as exc:
        raise InputError(f"Spark could not start on {target} ({exc.getErrorClass()}): check Java (JAVA_HOME) "
                         "and --spark-master") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


_STATE: set[str] = set()  # runs whose initializer already ran in this Python worker


def _unit_runner(func: Callable[[Any], Any], state: Any) -> Callable[[Iterator[tuple[int, Any]]],
                                                                     Iterator[tuple[int, bool, Any]]]:
    """The partition function: run the initializer once per Python worker, then ``func`` on every unit."""

    def run(units: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, bool, Any]]:
        if state is not None and state.value[0] not in _STATE:
            token, payload = state.value
            initializer, initargs = cloudpickle.loads(payload)
            initializer(*initargs)
            _STATE.add(token)
        for index, unit in units:
            try:
                yield index, True, func(unit)
            except InseasonError as exc:  # a user mistake found by a worker: raised again on the driver
                yield index, False, exc

    return run


def run_spark(func: Callable[[T], R], units: Iterable[T], *, spark: SparkSession | None = None, master: str | None = None,
              initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = (),
              max_in_flight: int | None = None) -> Iterator[tuple[T, R]]:
    """Apply ``func`` to every unit on Spark, yielding ``(unit, result)`` in waves as they finish.

    The counterpart of :func:`inseason.engines.local.run_local` with the same contract: ``func`` must be an
    importable module-level function, and units and results must pickle. Each unit is its own Spark task (a
    failed task is retried by Spark alone); a wave holds ``max_in_flight`` units (four per core by default).
    A project error raised by ``func`` is raised again here; other errors fail the Spark job.
    """
    todo = list(units)
    if not todo:
        return
    session = spark if spark is not None else get_spark(master=master)
    context = session.sparkContext
    state = (context.broadcast((uuid.uuid4().hex, cloudpickle.dumps((initializer, initargs))))
             if initializer is not None else None)
    wave = max_in_flight or 4 * context.defaultParallelism
    runner = _unit_runner(func, state)
    try:
        for start in range(0, len(todo), wave):
            chunk = list(enumerate(todo[start:start + wave], start))
            finished = context.parallelize(chunk, numSlices=len(chunk)).mapPartitions(runner).collect()
            for index, ok, result in sorted(finished, key=lambda r: r[0]):
                if not ok:
                    raise result
                yield todo[index], result
    finally:
        if state is not None:
            state.destroy()
