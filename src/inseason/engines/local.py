"""The embedded engine: a process pool sized to the cores, with bounded work in flight.

No server and nothing to start. Results are yielded as units finish (callers that need an order sort
them), and at most ``max_in_flight`` units are submitted at once, so memory stays bounded however many
units there are. With one worker everything runs in this process, which is easiest to debug.

Workers die with the process that started them: on Linux the kernel kills them when it exits
(``PR_SET_PDEATHSIG``), and a watch thread in every worker ends it within half a second on other systems, so
a killed run leaves no worker behind to go on writing. While a pool runs in the main thread, SIGTERM ends
this process cleanly (``SystemExit`` with status 143) instead of killing it outright; a pool left early
(an error, Ctrl-C, SIGTERM) ends its workers rather than waiting for the units they run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from multiprocessing import get_context
from types import FrameType
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


#: ``prctl`` option that sends a signal to this process when its parent exits (linux/prctl.h).
_PR_SET_PDEATHSIG = 1

#: Seconds between two checks of the watch thread that ends a worker whose parent is gone.
PARENT_POLL_S = 0.5

#: Seconds a worker of a pool left early gets to end after SIGTERM before it is killed.
_STOP_GRACE_S = 5.0


def _watch_parent(parent: int, *, interval: float = PARENT_POLL_S, exit: Callable[[int], object] = os._exit) -> None:
    """Return only once ``parent`` is no longer this process's parent, after calling ``exit(1)``.

    An orphan is adopted by another process (init or a subreaper), so its parent pid changes.
    """
    while os.getppid() == parent:
        time.sleep(interval)
    exit(1)


def die_with_parent(parent: int, *, pdeathsig: bool = True) -> None:
    """Make this process end when ``parent`` (the process that started it) is gone.

    On Linux the kernel sends SIGKILL the moment the parent exits (``prctl(PR_SET_PDEATHSIG)``); everywhere, a
    daemon thread checks every `PARENT_POLL_S` whether the parent is still there and ends this process when
    it is not. A parent already gone when this runs ends this process at once.

    Args:
        parent: the pid of the process that started this one.
        pdeathsig: ask Linux for the parent-death signal (False leaves the watch thread alone, for tests).
    """
    if pdeathsig and sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # no libc prctl: the watch thread alone
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="inseason-parent-watch", daemon=True).start()


def _start_worker(parent: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    """Set up a spawned worker: death with ``parent``, one-line warnings and log records, the caller's initializer.

    Warnings and log records of level WARNING and above print as one line on stderr (a spawned process starts
    with Python's defaults).
    """
    die_with_parent(parent)
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
    pool = ProcessPoolExecutor(
        n, mp_context=get_context("spawn"), initializer=_start_worker, initargs=(os.getpid(), initializer, initargs)
    )
    finished = False
    _POOLS.append(pool)
    try:
        with sigterm_as_exit():
            # no future cancelled here: CPython 3.11's pool fails on a cancelled future when its workers are ended
            yield from bounded_map(pool, func, units, limit=limit, cancel=False)
        finished = True
    finally:
        _POOLS.remove(pool)
        if finished:
            pool.shutdown(wait=True)
        else:  # an error, Ctrl-C, SIGTERM or a caller that stopped early: the running units are not waited for
            stop_pool(pool)


#: The process pools `run_local` runs now, whose workers SIGTERM ends (see `sigterm_as_exit`).
_POOLS: list[ProcessPoolExecutor] = []


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Send SIGTERM to every worker of ``pool`` (no lock taken: safe in a signal handler)."""
    for process in list((pool._processes or {}).values()):
        with suppress(OSError, ValueError):  # already gone, or closed
            process.terminate()


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    """The SIGTERM handler of `sigterm_as_exit`: end the running pools' workers, then exit with ``128 + signum``.

    The workers are ended here, not only when the pool's generator is closed: the caller's frame may keep the
    generator alive while ``SystemExit`` unwinds, and the interpreter's exit would then wait for their units.
    """
    for pool in list(_POOLS):
        _terminate_workers(pool)
    raise SystemExit(128 + signum)


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Within the block, SIGTERM ends the running pools' workers and raises ``SystemExit(143)`` in the main thread.

    So ``finally`` clauses run (locks released, temporary files removed) and no worker is left to write. The
    handler is set only in the main thread and only where SIGTERM still has its default action (a handler set
    by the application, a notebook or Spark is left alone: the workers still die with this process), and the
    previous one is restored after. Ctrl-C (SIGINT) is not touched.

    Yields:
        Nothing.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        yield
    finally:
        with suppress(ValueError):  # closed from another thread (a generator collected there): cannot restore
            signal.signal(signal.SIGTERM, previous)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down without waiting for its running units: cancel the pending ones and end the workers.

    Workers get SIGTERM, then SIGKILL after a few seconds; they are reaped before this returns.

    Args:
        pool: the process pool.
    """
    processes = list((pool._processes or {}).values())
    manager: threading.Thread | None = getattr(pool, "_executor_manager_thread", None)  # typeshed mistypes it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(_STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()
    if manager is not None:
        manager.join(_STOP_GRACE_S)


def bounded_map(
    pool: Executor, func: Callable[[T], R], units: Iterable[T], *, limit: int, cancel: bool = True
) -> Generator[tuple[T, R], None, None]:
    """Apply ``func`` to every unit in ``pool``, at most ``limit`` at once, yielding ``(unit, result)`` as each ends.

    Exceptions raised by ``func`` propagate to the caller; units still pending then (or when the caller stops
    early) are cancelled.

    Args:
        pool: the process or thread pool.
        func: the per-unit function.
        units: the units of work, taken from the iterable only as room frees up.
        limit: the most units submitted at once, bounding memory.
        cancel: cancel the pending units when a unit fails or the caller stops early; False leaves them to
            the pool's shutdown (``cancel_futures``), for a process pool whose workers may be ended meanwhile.

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
        if cancel:
            for future in pending:
                future.cancel()
