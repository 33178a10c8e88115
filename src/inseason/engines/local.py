"""The embedded engine: a process pool sized to the cores, with bounded work in flight.

No server and nothing to start. Results are yielded as units finish (callers that need an order sort
them), and at most ``max_in_flight`` units are submitted at once, so memory stays bounded however many
units there are. With one worker everything runs in this process, which is easiest to debug.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers(limit: int = 8) -> int:
    """Workers to use by default: the cores this process may run on, up to ``limit``."""
    return max(1, min(len(os.sched_getaffinity(0)), limit))


def run_local(func: Callable[[T], R], units: Iterable[T], *, workers: int | None = None,
              initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = (),
              max_in_flight: int | None = None) -> Iterator[tuple[T, R]]:
    """Apply ``func`` to every unit in worker processes, yielding ``(unit, result)`` as each finishes.

    ``initializer(*initargs)`` runs once per worker (pass shared read-only state there, not with every
    unit). Exceptions raised by ``func`` propagate to the caller, after which pending units are cancelled.
    """
    n = workers or default_workers()
    if n <= 1:
        if initializer is not None:
            initializer(*initargs)
        for unit in units:
            yield unit, func(unit)
        return
    limit = max_in_flight or 2 * n
    pending: dict[Future[R], T] = {}
    todo = iter(units)
    with ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
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
