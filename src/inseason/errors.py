"""Project exceptions: a user mistake becomes one clear line naming the input and the fix."""

from __future__ import annotations


class InseasonError(Exception):
    """Base class of every error caused by user input or the environment.

    The CLI prints the message as one line, without a traceback, and exits non-zero. Messages name the
    offending input and say how to fix it.
    """

    exit_code: int = 2


class InputError(InseasonError):
    """A path, option or file given by the user is wrong (missing, malformed, out of range)."""


class OutputError(InseasonError):
    """An output cannot be written (folder already used, not writable, disk full)."""


class RemoteError(InseasonError):
    """A remote service failed after retries (unreachable, HTTP error, timeout)."""
