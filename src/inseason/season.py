"""Seasons: which season an acquisition date belongs to, and the day of season the models see (DESIGN §3).

A season is named by its label year ``Y`` and starts on a configurable month-day: ``01-01`` (the default)
makes it the calendar year; a start in the second half of the year (``10-01`` for winter crops) makes
season ``Y`` start in the autumn of ``Y - 1``; a start in the first half (``03-01``) starts it in ``Y``.
"""

from __future__ import annotations

import datetime as dt

from inseason.errors import InputError

DEFAULT_START = "01-01"


def _month_day(start: str) -> tuple[int, int]:
    try:
        parsed = dt.date.fromisoformat(f"2001-{start}")
    except ValueError:
        raise InputError(f"season start {start!r} is not a month-day like 01-01 or 10-01") from None
    return parsed.month, parsed.day


def season_start(year: int, start: str = DEFAULT_START) -> dt.date:
    """First day of season ``year``."""
    month, day = _month_day(start)
    return dt.date(year - 1 if month >= 7 else year, month, day)


def season_year(date: dt.date, start: str = DEFAULT_START) -> int:
    """The season (label year) an acquisition on ``date`` belongs to."""
    year = date.year + 1 if _month_day(start)[0] >= 7 else date.year
    return year if date >= season_start(year, start) else year - 1
