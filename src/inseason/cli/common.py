"""What every verb of the command line shares.

Help at a fixed width, the consoles, the app's own options, warnings and errors as one line, and the
options that several verbs take. A verb's docstring is its ``--help``: its ``Args:`` section follows a line
holding a form feed (written as a backslash and f in the source), where click and typer cut the help text,
so that the section documents the function without showing in ``--help``. Those docstrings say
``noqa: D301``: ruff asks for a raw string when a docstring holds a backslash, which would keep the two
characters instead of the form feed.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TextIO

import typer
import typer.core
import typer.rich_utils
from rich.console import Console
from rich.markup import escape
from typer.models import CommandFunctionType

from inseason.errors import InputError, InseasonError
from inseason.progress import OneLineHandler, output_width, warning_line

if TYPE_CHECKING:
    from typer import _click as click  # typer's own copy of click, which its command classes derive from

    _HelpBase = click.Command
else:
    _HelpBase = object

#: Tables and summaries on stdout; no rich markup, so paths and class names print as given (``a[1]``).
out_console = Console(markup=False)
#: Progress notes and errors on stderr.
err_console = Console(stderr=True)


class State:
    """The app's own options (given before the verb), for the verbs to read."""

    #: ``--quiet``: no progress bars or summaries.
    quiet: ClassVar[bool] = False


# --- options that several verbs take, defined once ---------------------------------------------------------


def out_option(help: str) -> Any:
    """The ``--out`` / ``-o`` option of a verb: where it writes.

    Args:
        help: The option's help: what the verb writes there.

    Returns:
        The typer option, for ``Annotated[Path, out_option("...")]``.
    """
    return typer.Option("--out", "-o", help=help)


def json_flag(help: str) -> Any:
    """The ``--json`` flag of a verb: print its result as JSON on stdout instead of a table.

    Args:
        help: The flag's help: what the JSON holds.

    Returns:
        The typer option, for ``Annotated[bool, json_flag("...")] = False``.
    """
    return typer.Option("--json", help=help)


#: ``--aoi`` of the verbs that search their sources over an area of interest.
Aoi = Annotated[str, typer.Option(help="Area of interest: 'west,south,east,north' in degrees or a vector file.")]
#: ``--workers`` of the verbs that run a pool of worker processes.
Workers = Annotated[int | None, typer.Option(help="Worker processes (default: the cores).")]
#: ``--spark-master`` of every verb that runs on ``--engine spark``.
SparkMaster = Annotated[
    str | None,
    typer.Option(
        help="Spark master (spark://HOST:7077, sc://HOST:15002 for Spark Connect, yarn, local[*]); default: the "
        "active session or local[*]."
    ),
]
#: ``--label-map`` of the verbs that write a series table.
LabelMap = Annotated[
    str | None,
    typer.Option(help="Label map: cdl (CDL names), arset (the course's 7 classes), cdl-major:N, or a YAML file."),
]
#: ``--seed`` of the verbs whose only randomness is a plain seed.
Seed = Annotated[int, typer.Option(help="Random seed.")]
#: The RUN argument: what `inseason train` wrote.
RunOrBundle = Annotated[Path, typer.Argument(help="Run folder or model bundle (from `inseason train`).")]
#: The SERIES argument of the verbs that read the splits.
SplitSeries = Annotated[Path, typer.Argument(metavar="SERIES", help="Series table with a split column.")]


# --- option values -----------------------------------------------------------------------------------------


def csv_list(values: list[str] | None) -> list[str]:
    """One flat list from an option given as ``--opt a,b`` or repeated ``--opt a --opt b``.

    Args:
        values: The option's values as typer gives them (None when it was not given).

    Returns:
        The items, stripped, empty ones left out.
    """
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def int_list(values: list[str] | None, option: str) -> list[int]:
    """The integers of an option given as ``--opt 1,2`` or repeated (see `csv_list`).

    Args:
        values: The option's values as typer gives them (None when it was not given).
        option: The option's name, for the error message.

    Returns:
        The integers, in the order given.

    Raises:
        InputError: An item is not an integer.
    """
    try:
        return [int(v) for v in csv_list(values)]
    except ValueError:
        raise InputError(f"{option} takes integers, e.g. {option} 2021,2022 (got {values})") from None


def scl_classes(values: list[str] | None) -> Sequence[int]:
    """The SCL classes of ``--scl-mask`` (a comma list or repeated), the course's mask when it is not given.

    Args:
        values: The option's values as typer gives them (None when it was not given).

    Returns:
        The SCL classes counted as invalid.

    Raises:
        InputError: An item is not an integer.
    """
    from inseason.extract.sample import DEFAULT_SCL_MASK

    return int_list(values, "--scl-mask") or DEFAULT_SCL_MASK


def print_json(doc: Any) -> None:
    """Print a verb's result as JSON on stdout (values JSON does not know, such as paths, as strings).

    Args:
        doc: What to print: dicts, lists and scalars.
    """
    out_console.print_json(json.dumps(doc, default=str))


# --- help at a fixed width ---------------------------------------------------------------------------------


def _plain_flags(params: list[click.Parameter]) -> list[click.Parameter]:
    """Flags (``--json``, ``--quiet``, ``--help``) take no value: show none in help instead of ``<bool>``."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


@contextmanager
def _help_at_output_width() -> Iterator[None]:
    """Typer's help console (help, usage errors) at `output_width` columns (not rich's 80 when piped)."""
    previous = typer.rich_utils.MAX_WIDTH
    typer.rich_utils.MAX_WIDTH = output_width(sys.stdout)
    try:
        yield
    finally:
        typer.rich_utils.MAX_WIDTH = previous


class _PlainFlags(_HelpBase):
    """Help, usage errors at `output_width` columns and flags without a ``<bool>`` value.

    Mixed into the typer classes of every command and group.
    """

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """The command's parameters, flags marked as taking no value."""
        return _plain_flags(super().get_params(ctx))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the verb or the app with its help and usage errors at `output_width` columns."""
        with _help_at_output_width():
            # super() is TyperCommand or TyperGroup at run time; mypy sees only the mixin's stand-in base.
            return super().main(  # type: ignore[safe-super]
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )


def _unwrap(text: str | None) -> str | None:
    """Help text cut at its first form feed, its source docstring's line breaks inside paragraphs removed.

    Rich help keeps single line breaks, so a docstring wrapped at 120 columns would break mid-sentence in help.
    """
    if text is None:
        return None
    text = inspect.cleandoc(text).partition("\f")[0].strip()
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))


class _Command(_PlainFlags, typer.core.TyperCommand):
    """A verb of the app: help at `output_width` columns, flags without a value, paragraphs that flow."""

    def __init__(self, name: str | None, *, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, help=_unwrap(help), **kwargs)


class _Group(_PlainFlags, typer.core.TyperGroup):
    """The app and its sub-apps: help at `output_width` columns, flags without a value."""


class App(typer.Typer):
    """A typer app whose verbs and groups print their help at a fixed width (see `_Command`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=_Group, **kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[CommandFunctionType], CommandFunctionType]:
        """Register a verb (as `typer.Typer.command`, with help at a fixed width).

        Args:
            name: The verb (default: the function's name, ``_`` as ``-``).
            **kwargs: As for `typer.Typer.command`.

        Returns:
            The decorator that registers a function as the verb.
        """
        kwargs.setdefault("cls", _Command)
        return super().command(name, **kwargs)


# --- warnings, log records and errors as one line ----------------------------------------------------------


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` of the CLI: `inseason.progress.warning_line` on stderr."""
    (file if file is not None else sys.stderr).write(warning_line(message, category, filename, lineno))


def install_reporting(ctx: typer.Context, *, verbose: bool) -> None:
    """Print Python warnings and log records as one-line messages on stderr while the verb runs.

    The previous `warnings.showwarning` and root logger level are put back when the verb ends (so that a
    test process calling the app many times is left as it was).

    Args:
        ctx: The app's context; the previous state is put back when it closes.
        verbose: Also print debug and info records (with their logger's name).
    """
    root = logging.getLogger()
    previous_showwarning, previous_level = warnings.showwarning, root.level
    handler = OneLineHandler(verbose=verbose)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    warnings.showwarning = _show_warning

    def restore() -> None:
        warnings.showwarning = previous_showwarning
        root.removeHandler(handler)
        root.setLevel(previous_level)

    ctx.call_on_close(restore)


def run_app(app: typer.Typer, prog_name: str) -> None:
    """Run the app on the process's arguments, printing project errors as one line without a traceback.

    Args:
        app: The app.
        prog_name: The program's name in usage lines.

    Raises:
        SystemExit: Always, with the app's exit code; a project error's `InseasonError.exit_code` (after
            its ``error:`` line on stderr), 130 when interrupted.
    """
    try:
        app(prog_name=prog_name)
    except InseasonError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
