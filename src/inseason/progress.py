"""What a person sees while a stage runs: progress bars, the width of printed text, counts as words.

Progress bars are rich's, silenced with ``--quiet``; help and tables are printed at `output_width`; counts
are written as words ("1 block", "2 blocks").
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Columns of help and tables when the output is not a terminal (a pipe, a file, a CI log), and the most
#: a terminal gets: wide enough that no option name or path is cut, narrow enough to read.
OUTPUT_WIDTH = 100


def output_width(stream: TextIO | None = None) -> int:
    """The width to render help and tables at on `stream`.

    A ``COLUMNS`` environment variable set to a positive integer wins (the user asked for it); a terminal
    gets its own width up to `OUTPUT_WIDTH`; anything else (a pipe, a file) gets `OUTPUT_WIDTH`, so that
    output piped to ``less`` or a log is not cut at 80 columns.

    Args:
        stream: Where the text goes (default: ``sys.stdout`` at the time of the call).

    Returns:
        A number of columns, at least 20.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), 20)
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return max(min(os.get_terminal_size(stream.fileno()).columns or OUTPUT_WIDTH, OUTPUT_WIDTH), 20)
    except (AttributeError, ValueError, OSError):  # a stream without a file descriptor: not a terminal
        pass
    return OUTPUT_WIDTH


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """A count and its noun in the right number.

    ``plural(1, "block")`` is ``"1 block"``, ``plural(1234, "point")`` is ``"1,234 points"``.

    Args:
        count: How many.
        noun: The singular noun (or noun phrase, e.g. ``"label point"``).
        plural_noun: The plural when it is not the noun + "s" (e.g. ``"classes"``, ``"series"``).

    Returns:
        The count with thousands separators, a space and the noun in singular (count 1) or plural.
    """
    word = noun if count == 1 else (plural_noun if plural_noun is not None else noun + "s")
    return f"{count:,} {word}"


def progress_bar(*, quiet: bool = False) -> Progress:
    """A rich progress display on stderr (use as a context manager; add one task per loop).

    Args:
        quiet: show nothing (``--quiet``).

    Returns:
        The display, not started yet.
    """
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=False,
    )


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces folded into single spaces.

    Args:
        text: any text.

    Returns:
        The text on one line.
    """
    return " ".join(text.split())


def warning_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A Python warning as the user sees it: ``warning: <message>`` on one line.

    The file, line and source line that Python prints by default are left out. The signature is
    `warnings.formatwarning`'s, which this replaces.

    Args:
        message: the warning or its text.
        category: the warning's class (not shown).
        filename: the file that warned (not shown).
        lineno: the line that warned (not shown).
        line: the source line (not shown).

    Returns:
        ``warning: <message>`` and a newline.
    """
    return f"warning: {one_line(str(message))}\n"


class OneLineHandler(logging.Handler):
    """Log records on the current stderr as one line each: ``warning: <message>``, ``error: <message>``.

    With ``verbose`` also ``debug <logger>: <message>`` and the traceback of logged exceptions.

    The CLI installs it for a verb; the local engine's worker processes install it too, so a warning reads
    the same wherever it is raised.
    """

    def __init__(self, *, verbose: bool = False) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to ``sys.stderr`` as it is when the record is emitted (the CLI runner's in tests)."""
        try:
            text = one_line(record.getMessage())
            if record.levelno >= logging.WARNING:
                line = f"{record.levelname.lower()}: {text}"
            else:
                line = f"{record.levelname.lower()} {record.name}: {text}"
            if self.verbose and record.exc_info:
                line += "\n" + logging.Formatter().formatException(record.exc_info)
            sys.stderr.write(line + "\n")
        except Exception:
            self.handleError(record)
