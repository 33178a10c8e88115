"""One writer per table: the output lock of a stage that writes one table file (``series``, ``import``, ``split``).

These stages write a file (``series.parquet``, and for ``split`` its two audit files beside it) into a folder
they do not own: the user's data folder may hold other tables that other runs write at the same time. So
they do not lock the folder; they lock the table, with `inseason.storage.output_lock` on a hidden folder
named after it (``.NAME.lock`` beside ``NAME``), which holds the lock file and goes away with it. A second
run writing the same table fails at once naming the first; runs writing other tables of the folder go on.

Under the lock no other live run writes the table, so the temporaries and spill folders of its name beside
it (``.NAME.tmp-PID``, ``.NAME.old-PID``, ``.NAME.spill-…``) are a killed run's leftovers: `remove_leftovers`
deletes them, and only them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from inseason.storage import is_s3, local_path, output_lock


def lock_folder(table: str | os.PathLike[str]) -> str:
    """The hidden folder (or S3 prefix) beside ``table`` that holds its output lock.

    Args:
        table: the table's path or ``s3://`` URI.

    Returns:
        ``.NAME.lock`` beside ``table``, in the same form (a local path or an ``s3://`` URI).
    """
    if is_s3(table):
        head, _, name = str(table).rstrip("/").rpartition("/")
        return f"{head}/.{name}.lock"
    path = local_path(table)
    return str(path.parent / f".{path.name}.lock")


@contextmanager
def table_lock(table: str | os.PathLike[str], *, verb: str) -> Iterator[None]:
    """Hold ``table`` as this run's output for the block (see the module's notes).

    Take it after the inputs and settings are validated and before the first write.

    Args:
        table: the table to write (a path or ``s3://`` URI).
        verb: the stage that writes (``series``), shown to a run that finds the table held.

    Yields:
        Nothing; the table is held until the block ends.

    Raises:
        OutputError: another live run writes the table, or its folder cannot be written.
    """
    folder = lock_folder(table)
    try:
        with output_lock(folder, verb=verb):
            yield
    finally:
        if not is_s3(folder):
            with suppress(OSError):  # a killed run's lock folder, taken over: empty once our lock is gone
                Path(folder).rmdir()


def remove_leftovers(*tables: str | os.PathLike[str]) -> list[Path]:
    """Delete what killed writers of ``tables`` left beside them: their temporaries and DuckDB spill folders.

    Only names of these files written by inseason are touched (``.NAME.tmp-PID…``, ``.NAME.old-PID…``,
    ``.NAME.spill-…``), and never this process's own. Call it while holding `table_lock`, which makes every
    other such name a leftover. On S3 nothing is staged beside a table, so nothing is deleted.

    Args:
        *tables: the files a stage writes (a table, and the files it writes beside it), paths or ``s3://`` URIs.

    Returns:
        The paths deleted.
    """
    removed = []
    for table in tables:
        if is_s3(table):
            continue
        path = local_path(table)
        if not path.parent.is_dir():
            continue
        ours = re.compile(rf"^\.{re.escape(path.name)}\.(?:(?:tmp|old)-(\d+)|spill-.*)", re.ASCII)
        for candidate in sorted(path.parent.iterdir()):
            match = ours.match(candidate.name)
            if match and match.group(1) != str(os.getpid()):
                if candidate.is_dir() and not candidate.is_symlink():
                    shutil.rmtree(candidate, ignore_errors=True)
                else:
                    candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed
