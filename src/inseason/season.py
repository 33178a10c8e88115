"""Time in one place: seasons, days of season, month-days and the 1970 epoch dates are stored from (DESIGN §3).

A season is named by its label year ``Y`` and starts on a configurable month-day: ``01-01`` (the default)
makes it the calendar year; a start in the second half of the year (``10-01`` for winter crops) makes
season ``Y`` start in the autumn of ``Y - 1``; a start in the first half (``03-01``) starts it in ``Y``.

Dates in tables and arrays are days since `EPOCH` (1970-01-01, how Arrow's ``date32`` stores them); the
models see the day of season, counted from the season's first day (0 on that day).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

import numpy as np
import numpy.typing as npt

from inseason.errors import InputError

DEFAULT_START = "01-01"

#: Day 0 of every stored date (Arrow ``date32``, the series tables' ``dates``, the observations' ``date``).
EPOCH: Final = dt.date(1970, 1, 1)

#: A non-leap year in which month-days are checked: ``02-29`` is refused, a season start must exist every year.
_REFERENCE_YEAR: Final = 2001
_MONTH_DAY: Final = re.compile(r"(\d\d)-(\d\d)", re.ASCII)


def parse_month_day(text: str, *, what: str = "month-day") -> tuple[int, int]:
    """``(month, day)`` of a month-day ``"MM-DD"`` (a season start, an as-of date).

    The one check of a month-day: every stage that takes a season start calls it (in its request's
    validator), so ``00-00``, ``2-1`` or an ISO week date is refused alike everywhere, whatever else the
    stage reads.

    Args:
        text: the month-day, such as ``"04-01"`` or ``"10-01"``.
        what: what the month-day is, named in the error (``"season start"``, ``"as-of date"``).

    Returns:
        The month and the day.

    Raises:
        InputError: ``text`` is not a month-day of every year (``02-29`` is refused).
    """
    match = _MONTH_DAY.fullmatch(text) if isinstance(text, str) else None
    try:
        if match is None:
            raise ValueError(text)
        date = dt.date(_REFERENCE_YEAR, int(match.group(1)), int(match.group(2)))
    except ValueError:
        raise InputError(f"{what} {text!r} is not a month-day like 01-01 or 10-01 (MM-DD)") from None
    return date.month, date.day


def days_since_epoch(date: dt.date) -> int:
    """Days from `EPOCH` to ``date``, how ``date32`` columns store a date.

    Args:
        date: a calendar date.

    Returns:
        The day number (negative before 1970).
    """
    return (date - EPOCH).days


def date_of_day(days: int) -> dt.date:
    """The calendar date of a day number counted from `EPOCH` (the inverse of `days_since_epoch`).

    Args:
        days: days since 1970-01-01.

    Returns:
        The date.
    """
    return EPOCH + dt.timedelta(days=int(days))


def season_start(year: int, start: str = DEFAULT_START) -> dt.date:
    """First day of season ``year``.

    Args:
        year: the season's label year.
        start: the month-day seasons start on.

    Returns:
        The date season ``year`` starts.

    Raises:
        InputError: ``start`` is not a month-day.
    """
    month, day = parse_month_day(start, what="season start")
    return dt.date(year - 1 if month >= 7 else year, month, day)


def season_start_day(year: int, start: str = DEFAULT_START) -> int:
    """First day of season ``year`` as days since `EPOCH`: subtract it from a day number to get the day of season.

    Args:
        year: the season's label year.
        start: the month-day seasons start on.

    Returns:
        The day number of the season's first day.

    Raises:
        InputError: ``start`` is not a month-day.
    """
    return days_since_epoch(season_start(year, start))


def day_of_season(date: dt.date, year: int, start: str = DEFAULT_START) -> int:
    """Days from the first day of season ``year`` to ``date`` (0 on the first day, negative before it).

    Args:
        date: a calendar date.
        year: the season's label year.
        start: the month-day seasons start on.

    Returns:
        The day of season.

    Raises:
        InputError: ``start`` is not a month-day.
    """
    return (date - season_start(year, start)).days


def season_year(date: dt.date, start: str = DEFAULT_START) -> int:
    """The season (label year) an acquisition on ``date`` belongs to.

    Args:
        date: the acquisition date.
        start: the month-day seasons start on.

    Returns:
        The season's label year.

    Raises:
        InputError: ``start`` is not a month-day.
    """
    year = date.year + 1 if parse_month_day(start, what="season start")[0] >= 7 else date.year
    return year if date >= season_start(year, start) else year - 1


def season_years(days: npt.NDArray[np.integer], start: str = DEFAULT_START) -> npt.NDArray[np.int16]:
    """The season (label year) of each day number, as `season_year` gives it for one date, without a Python loop.

    Args:
        days: day numbers counted from `EPOCH` (any integer dtype and shape).
        start: the month-day seasons start on.

    Returns:
        The season of each day, int16, in the shape of ``days``.

    Raises:
        InputError: ``start`` is not a month-day.
    """
    month = parse_month_day(start, what="season start")[0]
    calendar = (np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970).astype(
        np.int64
    )
    candidate = calendar + 1 if month >= 7 else calendar
    if candidate.size == 0:
        return np.zeros(candidate.shape, dtype=np.int16)
    low = int(candidate.min())
    years = range(low, int(candidate.max()) + 1)  # a table indexed by year: no sort of every day
    first_days = np.array([season_start_day(year, start) for year in years], dtype=np.int64)
    starts = first_days[candidate - low]
    return np.where(np.asarray(days, dtype=np.int64) >= starts, candidate, candidate - 1).astype(np.int16)
