"""The Spark engine: the same pure per-unit functions as the local engine, scheduled by PySpark.

Units of work (scenes for extract, groups of samples for series, blocks for predict) go to Spark in waves:
a wave is ``spark.range(n, numPartitions=n)``, one row and so one Spark task per unit (retried by Spark
alone), and ``DataFrame.mapInArrow`` calls the unit function in the executors' Python workers on that
row's unit. Unit functions write their own outputs (part files) and return small results (manifest
entries), which come back to the driver as an Arrow table after each wave, so the caller records progress
as it goes. The shared read-only state (``initializer(*initargs)``, e.g. the points of every scene) runs
once per Python worker; on a classic session it travels to each executor once, as a broadcast.

The DataFrame API is all it uses, so it runs on classic sessions (``local[*]``, standalone, YARN,
Kubernetes, Databricks single-user clusters) and on Spark Connect sessions (``sc://host:port``, Databricks
serverless and shared clusters), where the shared state travels with every wave instead (Spark Connect
has no broadcast variables). The session is created once per process (:func:`get_spark`) or taken over
from the one already running (Databricks, EMR, a notebook); a cluster is chosen by configuration only.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import uuid
import zipimport
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import pyarrow as pa

from inseason.errors import InputError, InseasonError

#: How to get PySpark: it is the ``spark`` extra, not a dependency of the package itself.
SPARK_EXTRA_HINT = "pip install 'inseason[spark]'"

# PySpark is optional: callers import this module only when Spark is asked for (``--engine spark``, ``inseason
# bench engines``), so without it the package works and Spark fails here with one line that says what to install.
try:
    from pyspark import SparkContext, cloudpickle
    from pyspark.broadcast import Broadcast
    from pyspark.errors import PySparkAttributeError, PySparkRuntimeError
    from pyspark.sql import SparkSession
except ImportError as exc:  # tests/test_install.py runs this branch in a subprocess without PySpark
    raise InputError(
        f"the Spark engine (--engine spark, inseason bench engines) needs PySpark, which cannot be "
        f"imported ({exc}): {SPARK_EXTRA_HINT}"
    ) from exc

# SparkSession is re-exported: callers that take PySpark through this module get its install hint.
__all__ = [
    "DEFAULT_CONFIG",
    "SPARK_EXTRA_HINT",
    "SparkSession",
    "check_java",
    "get_spark",
    "run_spark",
    "spark_context",
]

T = TypeVar("T")
R = TypeVar("R")

#: Settings of a session this package starts itself (an existing session is used as it is).
DEFAULT_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.python.worker.reuse": "true",
}


def check_java() -> None:
    """Spark needs a JVM: refuse early, and say how to get one, when there is none.

    Raises:
        InputError: neither ``JAVA_HOME`` nor the ``PATH`` holds a ``java`` (the message says how to get one).
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return
    if shutil.which("java") is None:
        raise InputError(
            "--engine spark needs Java 17 or newer and none was found: install it "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )


def _check_master(master: str) -> None:
    """Refuse a standalone master or Spark Connect server that does not answer, before Spark retries it.

    A standalone master (``spark://host:port``) or a Spark Connect server (``sc://host:port``) must answer
    before Spark spends a minute retrying it; other masters (``local[*]``, ``yarn``) are not checked.

    Raises:
        InputError: none of the master's addresses accepts a connection.
    """
    scheme, _, addresses = master.partition("://")
    if scheme not in ("spark", "sc"):
        return
    default_port = 7077 if scheme == "spark" else 15002
    problem: OSError | None = None
    for address in addresses.split("/")[0].split(";")[0].split(","):
        parts = urlsplit(f"//{address}")
        try:
            with socket.create_connection((parts.hostname or "", parts.port or default_port), timeout=5):
                return
        except OSError as exc:
            problem = exc
    raise InputError(
        f"Spark master {master} cannot be reached ({problem}): start it, or fix --spark-master "
        "(e.g. spark://HOST:7077, sc://HOST:15002, yarn, local[*])"
    )


def spark_context(session: SparkSession) -> SparkContext | None:
    """The session's SparkContext, or None for a Spark Connect session (which has none).

    Args:
        session: a classic or Spark Connect session.

    Returns:
        The SparkContext, or None on Spark Connect.
    """
    try:
        return session.sparkContext
    except PySparkAttributeError:
        return None


def _master(session: SparkSession) -> str:
    context = spark_context(session)
    if context is not None:
        return context.master or "unknown"
    return str(session.conf.get("spark.master", "unknown"))


def get_spark(
    *, master: str | None = None, app_name: str = "inseason", config: Mapping[str, str] | None = None
) -> SparkSession:
    """The Spark session to run on: the active one when there is one, else a new one on ``master``.

    ``master`` defaults to ``local[*]`` for a new session; ``sc://host:port`` connects to a Spark Connect
    server (no Java needed here). An active session on another master is refused rather than silently
    used. Python workers of a local or classic session run this interpreter unless ``PYSPARK_PYTHON`` says
    otherwise.

    Args:
        master: the master of a new session (``local[*]`` when None); must match an active session's.
        app_name: the application name of a new session.
        config: Spark settings of a new session, over `DEFAULT_CONFIG` (not applied on Spark Connect).

    Returns:
        The active session, or the new one.

    Raises:
        InputError: an active session runs on another master, the master does not answer, Java is missing
            (classic sessions), or Spark cannot start.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        running = _master(active)
        if master is not None and master != running:
            raise InputError(
                f"a Spark session on {running} is already running in this process: "
                f"use it (leave out --spark-master) or stop it before asking for {master}"
            )
        return active
    target = master or "local[*]"
    _check_master(target)
    builder = SparkSession.builder.appName(app_name)
    if target.startswith("sc://"):
        builder = builder.remote(target)
    else:
        check_java()
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(target)
        for key, value in {**DEFAULT_CONFIG, **(config or {})}.items():
            builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except PySparkRuntimeError as exc:
        raise InputError(
            f"Spark could not start on {target} ({exc.getErrorClass()}): check Java (JAVA_HOME) and --spark-master"
        ) from None
    context = spark_context(session)
    if context is not None:
        context.setLogLevel("ERROR")
    return session


def _skip_unchanged_zip_rereads() -> None:
    """Make ``importlib.invalidate_caches()`` re-read a zip archive on ``sys.path`` only when its file changed.

    PySpark's Python worker calls ``invalidate_caches()`` before every task, and on Python 3.10 and 3.11 that
    re-reads the whole directory of every zip archive on the path, once per package imported from it
    (pyspark.zip, py4j, the spark-core jar): measured here, it cut the cost of an empty task from 128 to
    60 ms of a core, more than a small unit's work (CPython gh-103200, fixed in 3.12). Runs in every task;
    it patches once per Python worker.
    """
    original = zipimport.zipimporter.invalidate_caches
    if sys.version_info >= (3, 12) or getattr(original, "inseason_lazy", False):
        return

    def invalidate_caches(self: zipimport.zipimporter) -> None:
        try:
            stat = os.stat(self.archive)
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp is not None and getattr(self, "_inseason_stamp", None) == stamp:
            return
        original(self)
        self._inseason_stamp = stamp  # type: ignore[attr-defined]

    invalidate_caches.inseason_lazy = True  # type: ignore[attr-defined]
    zipimport.zipimporter.invalidate_caches = invalidate_caches  # type: ignore[method-assign]


#: What a task returns: the unit's place in its wave, whether it succeeded, and its pickled result (or the
#: project error it raised).
_RESULT_SCHEMA = "index long, ok boolean, result binary"

#: PySpark's cloudpickle is untyped: its ``dumps`` with the signature it has.
_dumps = cast(Callable[[Any], bytes], cloudpickle.dumps)

_STATE: set[str] = set()  # runs whose initializer already ran in this Python worker


@dataclass(frozen=True)
class _Inline:
    """Shared state carried in the task closure (Spark Connect), read like a broadcast's ``value``."""

    value: tuple[str, bytes]


def _unit_runner(
    func: Callable[[Any], Any], units: Sequence[Any], state: Broadcast[tuple[str, bytes]] | _Inline | None
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of a wave: the initializer once per Python worker, then ``func`` per row.

    A row's ``id`` is its unit's place in ``units``.
    """

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        _skip_unchanged_zip_rereads()
        if state is not None and state.value[0] not in _STATE:
            token, payload = state.value
            initializer, initargs = cloudpickle.loads(payload)
            initializer(*initargs)
            _STATE.add(token)
        for batch in batches:
            indices, ok, results = [], [], []
            for index in batch.column(0).to_pylist():
                try:
                    result, success = func(units[index]), True
                except InseasonError as exc:  # a user mistake found by a worker: raised again on the driver
                    result, success = exc, False
                indices.append(index)
                ok.append(success)
                results.append(_dumps(result))
            yield pa.RecordBatch.from_arrays(
                [pa.array(indices, pa.int64()), pa.array(ok, pa.bool_()), pa.array(results, pa.binary())],
                names=["index", "ok", "result"],
            )

    return run


def run_spark(
    func: Callable[[T], R],
    units: Iterable[T],
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
    max_in_flight: int | None = None,
) -> Iterator[tuple[T, R]]:
    """Apply ``func`` to every unit on Spark, yielding ``(unit, result)`` in waves as they finish.

    The counterpart of :func:`inseason.engines.local.run_local` with the same contract: ``func`` must be an
    importable module-level function, and units and results must pickle. Each unit is its own Spark task (a
    failed task is retried by Spark alone); a wave holds ``max_in_flight`` units (eight per core by default;
    ``spark.default.parallelism``, else 8, stands for the cores on Spark Connect). A project error raised by
    ``func`` is raised again here; other errors fail the Spark job.

    Args:
        func: the pure per-unit function, importable at module level.
        units: the units of work; they must pickle.
        spark: the session to run on; None takes :func:`get_spark`'s (on ``master``).
        master: the master of a new session when ``spark`` is None (see :func:`get_spark`).
        initializer: run once per Python worker with ``initargs`` before its first unit (shared read-only
            state, a broadcast on classic sessions).
        initargs: the arguments of ``initializer``.
        max_in_flight: the units of one wave (eight per core by default).

    Yields:
        ``(unit, result)`` for every unit, wave by wave.

    Raises:
        InseasonError: the project error (e.g. InputError) that ``func`` raised on a worker.
    """
    todo = list(units)
    if not todo:
        return
    session = spark if spark is not None else get_spark(master=master)
    context = spark_context(session)
    state: Broadcast[tuple[str, bytes]] | _Inline | None = None
    if initializer is not None:
        shared = (uuid.uuid4().hex, _dumps((initializer, initargs)))
        state = context.broadcast(shared) if context is not None else _Inline(shared)
    if context is not None:
        cores = context.defaultParallelism
    else:  # Spark Connect does not tell the cluster's cores
        cores = int(session.conf.get("spark.default.parallelism", "8") or 8)
    wave = max_in_flight or 8 * cores
    try:
        for start in range(0, len(todo), wave):
            chunk = todo[start : start + wave]
            tasks = session.range(0, len(chunk), 1, len(chunk))
            finished = tasks.mapInArrow(_unit_runner(func, chunk, state), _RESULT_SCHEMA).toArrow()
            rows = zip(*(finished.column(name).to_pylist() for name in ("index", "ok", "result")))
            for index, ok, payload in sorted(rows):
                result = cloudpickle.loads(payload)
                if not ok:
                    raise result
                yield chunk[index], result
    finally:
        if isinstance(state, Broadcast):
            state.destroy()
