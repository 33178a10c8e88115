"""The embedded engine: a process pool sized to the cores, with bounded work in flight.

No server and nothing to start. Results are yielded as units finish (callers that need an order sort
them), and at most ``max_in_flight`` units are submitted at once, so memory stays bounded however many
units there are. With one worker everything runs in this process, which is easiest to debug.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

from inseason.progress import OneLineHandler, warning_line

T = TypeVar("T")
R = TypeVar("R")


def default_workers(limit: int = 8) -> int:
    """Workers to use by default: the cores this process may run on, up to ``limit``.

    Args:
        limit: the most workers to use, however many cores there are.

    Returns:
        The number of workers, at least one.
    """
    return max(1, min(len(os.sched_getaffinity(0)), limit))


def _start_worker(initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    """Set up a spawned worker: one-line warnings and log records, then the caller's initializer.

    Warnings and log records of level WARNING and above print as one line on stderr (a spawned process starts
    with Python's defaults).
    """
    warnings.formatwarning = warning_line
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(OneLineHandler())
        root.setLevel(logging.WARNING)
    if initializer is not None:
        initializer(*initargs)


def run_local(
    func: Callable[[T], R],
    units: Iterable[T],
    *,
    workers: int | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
    max_in_flight: int | None = None,
) -> Iterator[tuple[T, R]]:
    """Apply ``func`` to every unit in worker processes, yielding ``(unit, result)`` as each finishes.

    ``initializer(*initargs)`` runs once per worker (pass shared read-only state there, not with every
    unit). Warnings and log records of the workers print as one ``warning: …`` line each. Exceptions raised by
    ``func`` propagate to the caller, after which pending units are cancelled.

    Args:
        func: the pure per-unit function; an importable module-level function when ``workers`` > 1, since
            it is pickled to the workers with every unit.
        units: the units of work; they must pickle when ``workers`` > 1.
        workers: worker processes; None uses :func:`default_workers`, and one (or fewer) runs everything in
            this process.
        initializer: run once per worker with ``initargs`` before its first unit (shared read-only state).
        initargs: the arguments of ``initializer``.
        max_in_flight: the most units submitted at once (twice the workers by default), bounding memory.

    Yields:
        ``(unit, result)`` for every unit, in the order they finish.
    """
    n = workers or default_workers()
    if n <= 1:
        if initializer is not None:
            initializer(*initargs)
        for unit in units:
            yield unit, func(unit)
        return
    limit = max_in_flight or 2 * n
    with ProcessPoolExecutor(
        n, mp_context=get_context("spawn"), initializer=_start_worker, initargs=(initializer, initargs)
    ) as pool:
        yield from bounded_map(pool, func, units, limit=limit)


def bounded_map(
    pool: Executor, func: Callable[[T], R], units: Iterable[T], *, limit: int
) -> Generator[tuple[T, R], None, None]:
    """Apply ``func`` to every unit in ``pool``, at most ``limit`` at once, yielding ``(unit, result)`` as each ends.

    Exceptions raised by ``func`` propagate to the caller; units still pending then (or when the caller stops
    early) are cancelled.

    Args:
        pool: the process or thread pool.
        func: the per-unit function.
        units: the units of work, taken from the iterable only as room frees up.
        limit: the most units submitted at once, bounding memory.

    Yields:
        ``(unit, result)`` for every unit, in the order they finish.
    """
    pending: dict[Future[R], T] = {}
    todo = iter(units)
    try:
        while True:
            for unit in todo:
                pending[pool.submit(func, unit)] = unit
                if len(pending) >= limit:
                    break
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                unit = pending.pop(future)
                yield unit, future.result()
    finally:
        for future in pending:
            future.cancel()
