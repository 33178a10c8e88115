"""What every verb of the command line shares.

Help at a fixed width, the consoles, the app's own options, warnings and errors as one line, and the
options that several verbs take. A verb's docstring is its ``--help``: its ``Args:`` section follows a line
holding a form feed (written as a backslash and f in the source), where click and typer cut the help text,
so that the section documents the function without showing in ``--help``. Those docstrings say
``noqa: D301``: ruff asks for a raw string when a docstring holds a backslash, which would keep the two
characters instead of the form feed.
"""

from __future__ import annotations

import errno
import inspect
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NoReturn, TextIO

import typer
import typer.core
import typer.rich_utils
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.models import CommandFunctionType

from inseason.config import check_workers
from inseason.errors import InputError, InseasonError
from inseason.progress import OneLineHandler, output_width, warning_line

if TYPE_CHECKING:
    from typer import _click as click  # typer's own copy of click, which its command classes derive from

    _HelpBase = click.Command
else:
    _HelpBase = object

#: Tables and summaries on stdout; no rich markup, so paths and class names print as given (``a[1]``), and
#: lines of text are not wrapped at the terminal's width, so a long path stays one copyable, greppable piece.
out_console = Console(markup=False, soft_wrap=True)
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


def workers_option(help: str) -> Any:
    """The ``--workers`` option of a verb that runs worker processes or threads: at least 1 in every verb.

    Args:
        help: The option's help: what the workers do and the default.

    Returns:
        The typer option, for ``Annotated[int | None, workers_option("...")]``.
    """
    return typer.Option(help=help, callback=check_workers)


def _check_scl_mask(values: list[str] | None) -> list[str] | None:
    """``--scl-mask`` holds SCL classes (`scl_classes`); the verb reads the same values with it."""
    scl_classes(values)
    return values


def scl_mask_option(help: str) -> Any:
    """The ``--scl-mask`` option: SCL classes, checked by `inseason.extract.sample.check_scl_mask` in every verb.

    Args:
        help: The option's help: what the classes are used for and the default.

    Returns:
        The typer option, for ``Annotated[list[str] | None, scl_mask_option("...")] = None``; the verb turns
        the values into classes with `scl_classes`.
    """
    return typer.Option(help=help, callback=_check_scl_mask)


def _check_season_start(value: str) -> str:
    """``--season-start`` is a month-day of every year (`inseason.season.parse_month_day`)."""
    from inseason.season import parse_month_day

    parse_month_day(value, what="--season-start")
    return value


def season_start_option(help: str) -> Any:
    """The ``--season-start`` option (MM-DD), checked by `inseason.season.parse_month_day` in every verb.

    Args:
        help: The option's help: what the season start decides.

    Returns:
        The typer option, for ``Annotated[str, season_start_option("...")] = "01-01"``.
    """
    return typer.Option(help=help, callback=_check_season_start)


def _check_memory_limit(value: str) -> str:
    """``--memory-limit`` is a size or a share (`inseason.series.build.check_memory_limit`), normalised."""
    from inseason.series.build import check_memory_limit

    return check_memory_limit(value)


def memory_limit_option(help: str) -> Any:
    """The ``--memory-limit`` option of DuckDB, checked by `inseason.series.build.check_memory_limit`.

    Args:
        help: The option's help.

    Returns:
        The typer option, for ``Annotated[str, memory_limit_option("...")] = "1GB"``; the verb gets the
        limit normalised (``"4 gb"`` → ``"4GB"``).
    """
    return typer.Option(help=help, callback=_check_memory_limit)


#: The largest ``--seed``: the configs' bound (a 31-bit seed suits numpy, torch and Python alike).
SEED_MAX = 2**31 - 1


def _check_seed(value: int) -> int:
    """``--seed`` is between 0 and `SEED_MAX`."""
    if not 0 <= value <= SEED_MAX:
        raise InputError(f"--seed {value} must be between 0 and {SEED_MAX}")
    return value


def seed_option(help: str = "Random seed.") -> Any:
    """The ``--seed`` option: between 0 and `SEED_MAX` in every verb.

    Args:
        help: The option's help: what the seed decides.

    Returns:
        The typer option, for ``Annotated[int, seed_option("...")] = 0``.
    """
    return typer.Option(help=help, callback=_check_seed)


def _check_stride(value: int) -> int:
    """``--stride`` is at least 1."""
    if value < 1:
        raise InputError(f"--stride {value} must be at least 1 (1 takes every pixel)")
    return value


def stride_option(help: str) -> Any:
    """The ``--stride`` option of the verbs that sample every k-th label pixel: at least 1 in every verb.

    Args:
        help: The option's help.

    Returns:
        The typer option, for ``Annotated[int, stride_option("...")] = 15``.
    """
    return typer.Option(help=help, callback=_check_stride)


#: ``--aoi`` of the verbs that search their sources over an area of interest.
Aoi = Annotated[str, typer.Option(help="Area of interest: 'west,south,east,north' in degrees or a vector file.")]
#: ``--workers`` of the verbs that run a pool of worker processes.
Workers = Annotated[int | None, workers_option("Worker processes (default: the cores).")]
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
Seed = Annotated[int, seed_option()]
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


def int_list(values: list[str] | None, option: str, *, example: str = "2021,2022") -> list[int]:
    """The integers of an option given as ``--opt 1,2`` or repeated (see `csv_list`).

    Args:
        values: The option's values as typer gives them (None when it was not given).
        option: The option's name, for the error message.
        example: A value of the option, for the error message.

    Returns:
        The integers, in the order given.

    Raises:
        InputError: An item is not an integer.
    """
    try:
        return [int(v) for v in csv_list(values)]
    except ValueError:
        raise InputError(f"{option} takes integers, e.g. {option} {example} (got {values})") from None


def scl_classes(values: list[str] | None) -> Sequence[int]:
    """The SCL classes of ``--scl-mask`` (a comma list or repeated), the course's mask when it is not given.

    Args:
        values: The option's values as typer gives them (None when it was not given).

    Returns:
        The SCL classes counted as invalid.

    Raises:
        InputError: An item is not an integer or not an SCL class (`inseason.extract.sample.check_scl_mask`).
    """
    from inseason.extract.sample import DEFAULT_SCL_MASK, check_scl_mask

    classes = int_list(values, "--scl-mask", example="0,1,7,8,9,11") or DEFAULT_SCL_MASK
    check_scl_mask(classes)
    return classes


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


#: OS errors caused by the machine or the user's paths, not by a bug: (what failed, the fix). EACCES and EPERM
#: say "cannot read" instead when the path exists and cannot be read.
_ENVIRONMENT_ERRORS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("cannot write", "choose a location you can write to, or change its permissions"),
    errno.EPERM: ("cannot write", "choose a location you can write to, or change its permissions"),
    errno.EROFS: ("cannot write", "choose a location on a writable file system"),
    errno.ENOSPC: ("cannot write", "free some space or write elsewhere"),
    errno.EDQUOT: ("cannot write", "free some space or write elsewhere"),
    errno.EFBIG: ("cannot write", "write to a file system that takes larger files"),
    errno.ENOENT: ("cannot open", "check the path; an output's folder must exist or be creatable"),
    errno.ENOTDIR: ("cannot open", "a part of the path is a file, not a folder: check the path"),
    errno.EISDIR: ("cannot open", "the path is a folder: give a file"),
    errno.ENAMETOOLONG: ("cannot open", "use a shorter path"),
    errno.ELOOP: ("cannot open", "the path has a symbolic link loop: check the path"),
    errno.EMFILE: ("cannot open", "raise the open-file limit (ulimit -n) or use fewer workers"),
    errno.ENFILE: ("cannot open", "raise the open-file limit (ulimit -n) or use fewer workers"),
}
#: The errno a library prints inside its message when it does not set ``OSError.errno`` (pyarrow: "[errno 13]").
_MESSAGE_ERRNO = re.compile(r"\[?errno:? ?(\d+)\]?", re.IGNORECASE)
#: The first quoted path in such a message.
_MESSAGE_PATH = re.compile(r"[\'\"](/[^\'\"]+|[A-Za-z0-9_.~-][^\'\"]*/[^\'\"]*)[\'\"]")


def _errno_of(exc: BaseException) -> int | None:
    """The errno of an I/O error: its own, the one its message names, or one whose text the message holds."""
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRORS:
        return exc.errno
    if not (isinstance(exc, OSError) or type(exc).__name__.endswith(("IOException", "IOError"))):
        return None  # only I/O errors (and DuckDB's, which are not OSError) are looked into
    text = str(exc)
    found = _MESSAGE_ERRNO.search(text)
    if found and int(found.group(1)) in _ENVIRONMENT_ERRORS:
        return int(found.group(1))
    lowered = text.lower()
    return next((code for code in _ENVIRONMENT_ERRORS if os.strerror(code).lower() in lowered), None)


def environment_error(exc: BaseException) -> str | None:
    """The one line to print for an OS error caused by the machine or the paths given, None for any other.

    An unwritable or read-only output, a full disk, a missing file or folder, a path through a file: the
    error, or an OS error it was raised from (``raise ... from``), names the path and the cause, and the line
    says what failed, the path, the cause and the fix. Errors whose message carries the errno (pyarrow's
    ``[errno 13]``, DuckDB's ``IOException``) count too. Anything else is a bug and keeps its traceback.

    Args:
        exc: The exception that ended the verb.

    Returns:
        The line (without ``error:``), or None when ``exc`` is not such an error.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = _errno_of(current)
        if code is not None:
            return _environment_line(current, code)
        current = current.__cause__
    return None


def _environment_line(exc: BaseException, code: int) -> str:
    """``cannot write PATH: CAUSE: FIX`` of an environment error (see `environment_error`)."""
    action, fix = _ENVIRONMENT_ERRORS[code]
    cause = os.strerror(code).lower()
    path: object = getattr(exc, "filename", None)
    if path is None:
        found = _MESSAGE_PATH.search(str(exc))
        path = found.group(1) if found else None
    if path is None:
        return f"{action}: {cause} ({' '.join(str(exc).split())}): {fix}"
    name = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    other = getattr(exc, "filename2", None)
    if other is not None:
        name += f" -> {os.fsdecode(other)}"
    if code in (errno.EACCES, errno.EPERM) and os.path.isfile(name) and not os.access(name, os.R_OK):
        action, fix = "cannot read", "change its permissions or copy it somewhere readable"
    return f"{action} {name}: {cause}: {fix}"


def usage_line(exc: ClickException) -> str:
    """The one line of a command-line usage error (a missing option, an option value of the wrong type).

    Args:
        exc: The error click raised while reading the command line.

    Returns:
        The message (without ``error:``), with where to find the verb's help when click knows the verb.
    """
    message = " ".join(exc.format_message().split())
    message = message[:1].lower() + message[1:].rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _fail(line: str, code: int) -> NoReturn:
    """Print ``error: LINE`` on stderr, as given (no markup) on one line, and exit with ``code``."""
    line = " ".join(line.split())  # a message that spans lines (a library's, quoted in ours) still prints as one
    err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def run_app(app: typer.Typer, prog_name: str, args: Sequence[str] | None = None) -> NoReturn:
    """Run the app, printing every user mistake as one ``error:`` line on stderr, without a traceback.

    A project error (`InseasonError`), a command-line usage error (an unknown option, a value of the wrong
    type) and an OS error of the environment (`environment_error`: unwritable output, full disk, missing
    path) each print one line and exit 2. Any other exception is a bug in inseason and keeps its traceback.

    Args:
        app: The app.
        prog_name: The program's name in usage lines.
        args: The command line after the program's name (default: the process's arguments).

    Raises:
        SystemExit: Always, with the app's exit code: 0 when the verb succeeded, 2 after an ``error:`` line,
            130 when interrupted.
    """
    try:
        code = app(args=args, prog_name=prog_name, standalone_mode=False)
    except InseasonError as exc:
        _fail(str(exc), exc.exit_code)
    except NoArgsIsHelpError as exc:  # the help, printed already by typer's rich help (or here without rich)
        if exc.format_message().strip():
            exc.show()
        sys.exit(exc.exit_code)
    except ClickException as exc:
        _fail(usage_line(exc), exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        line = environment_error(exc)
        if line is None:
            raise  # a bug: its traceback is what we need to fix it
        _fail(line, 2)
    sys.exit(code if isinstance(code, int) else 0)


def set_options(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as dotted keys and YAML values: the one reading of ``--set`` of every verb.

    Args:
        items: the ``--set`` values as given.

    Returns:
        Dotted key → value.

    Raises:
        InputError: an item is not KEY=VALUE or its value is not YAML.
    """
    import yaml

    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE (got {item!r})")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            mark = getattr(exc, "problem_mark", None)
            where = f" at character {mark.column + 1} of {value!r}" if mark is not None else ""
            raise InputError(
                f"--set {item!r}: the value is not YAML ({problem}{where}); quote a text value, "
                f"e.g. --set 'name=\"a: b\"'"
            ) from None
    return overrides
