"""Calendar as-of dates of an in-season evaluation: month-days (``"04-01"``) resolved in each row's season.

A month-day is resolved to the date with that month and day that falls inside season ``year`` (DESIGN §3:
the season starts on a configurable month-day and lasts a year, so every month-day falls in it once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from inseason.errors import InputError
from inseason.season import DEFAULT_START, parse_month_day, season_start

#: Any non-leap year, used to step month-days.
_REFERENCE_YEAR = 2001


def as_of_schedule(*, first: str = "04-01", last: str = "10-31", every_days: int = 15) -> list[str]:
    """Month-days from ``first`` to ``last`` (inclusive) every ``every_days`` days.

    The default is the 1 April to 31 October schedule of DESIGN §3.

    Args:
        first: the first month-day (``"MM-DD"``).
        last: the last month-day.
        every_days: days between dates.

    Returns:
        The month-days, in order.

    Raises:
        InputError: a step below 1, a malformed month-day, or ``last`` before ``first``.
    """
    if every_days < 1:
        raise InputError(f"as-of step of {every_days} days: use a step of at least 1 day")
    start = dt.date(_REFERENCE_YEAR, *parse_month_day(first, what="as-of date"))
    end = dt.date(_REFERENCE_YEAR, *parse_month_day(last, what="as-of date"))
    if end < start:
        raise InputError(f"as-of schedule ends ({last}) before it starts ({first}): swap them")
    days = range(0, (end - start).days + 1, every_days)
    return [(start + dt.timedelta(days=d)).strftime("%m-%d") for d in days]


def season_as_of_schedule(start: str = DEFAULT_START, *, every_days: int = 15) -> list[str]:
    """The default as-of month-days of seasons starting on ``start``: `as_of_schedule` moved with the season.

    Every ``every_days`` days from day 90 to day 303 of the season: 1 April to 31 October when seasons start
    1 January (`as_of_schedule`'s default), 30 November to 1 July when they start 1 September, 30 August to
    30 March when they start 1 June.

    Args:
        start: month-day the seasons start.
        every_days: days between dates.

    Returns:
        The month-days, in season order.

    Raises:
        InputError: a step below 1 or a season start that is not a month-day.
    """
    if every_days < 1:
        raise InputError(f"as-of step of {every_days} days: use a step of at least 1 day")
    year = _REFERENCE_YEAR + 1  # a non-leap season between non-leap years
    first = season_start(year, start)
    reference = dt.date(_REFERENCE_YEAR, 1, 1)
    lo, hi = (dt.date(_REFERENCE_YEAR, 4, 1) - reference).days, (dt.date(_REFERENCE_YEAR, 10, 31) - reference).days
    return [(first + dt.timedelta(days=d)).strftime("%m-%d") for d in range(lo, hi + 1, every_days)]


def season_end(year: int, *, start: str = DEFAULT_START) -> dt.date:
    """Last day of season ``year``.

    Args:
        year: the season.
        start: month-day the seasons start.

    Returns:
        The day before season ``year + 1`` starts.
    """
    return season_start(year + 1, start) - dt.timedelta(days=1)


def resolve_as_of(month_day: str, year: int, *, start: str = DEFAULT_START) -> dt.date:
    """The date with this month-day inside season ``year``.

    A season is a year long, so each month-day (but ``02-29``) falls in it once: in the calendar year before
    ``year`` (a season starting in the autumn), in ``year``, or in the year after (a season starting in spring
    or summer, whose last months are the next calendar year's).

    Args:
        month_day: ``"MM-DD"``.
        year: the season.
        start: month-day the seasons start.

    Returns:
        The date.

    Raises:
        InputError: a malformed month-day (``02-29`` included: it is not a day of every season).
    """
    month, day = parse_month_day(month_day, what="as-of date")  # never 02-29, so it is a day of every year
    first = season_start(year, start)
    dates = [dt.date(candidate, month, day) for candidate in (year - 1, year, year + 1)]
    return next(date for date in dates if first <= date <= season_end(year, start=start))


def check_month_days(month_days: Sequence[str]) -> None:
    """Refuse as-of month-days that are missing, repeated or not month-days, before any season is read.

    Args:
        month_days: as-of month-days (``"MM-DD"``).

    Raises:
        InputError: no month-days, a repeated one, or one that is not a month-day.
    """
    if not month_days:
        raise InputError("no as-of dates given: give at least one month-day like 07-01")
    if len(set(month_days)) != len(month_days):
        raise InputError(f"as-of dates {list(month_days)} repeat a date: give each once")
    for month_day in month_days:
        parse_month_day(month_day, what="as-of date")


def check_schedule(month_days: Sequence[str], years: Sequence[int], *, start: str = DEFAULT_START) -> list[str]:
    """``month_days`` in season order, after checking each resolves in every season of ``years``.

    Args:
        month_days: as-of month-days, each given once.
        years: the seasons of the rows.
        start: month-day the seasons start.

    Returns:
        The month-days sorted in season order.

    Raises:
        InputError: no month-days, a repeated one, or one that is not a month-day.
    """
    check_month_days(month_days)
    for year in years:
        for month_day in month_days:
            resolve_as_of(month_day, year, start=start)
    first_year = min(years)
    return sorted(month_days, key=lambda month_day: resolve_as_of(month_day, first_year, start=start))
