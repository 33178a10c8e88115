"""Progress bars for every loop a person waits for (rich), silenced with ``--quiet``."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


def progress_bar(*, quiet: bool = False) -> Progress:
    """A rich progress display on stderr (use as a context manager; add one task per loop)."""
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description:<10}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=quiet, transient=False)
