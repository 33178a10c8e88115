"""As-of schedules: default every 15 days 1 April–31 October, resolved inside each season."""

from __future__ import annotations

import datetime as dt

import pytest

from inseason.errors import InputError
from inseason.evaluate.schedule import as_of_schedule, check_schedule, resolve_as_of, season_as_of_schedule


def test_default_schedule() -> None:
    dates = as_of_schedule()
    assert dates[:3] == ["04-01", "04-16", "05-01"] and dates[-1] == "10-28" and len(dates) == 15
    assert as_of_schedule(first="06-01", last="06-30", every_days=10) == ["06-01", "06-11", "06-21"]


def test_resolve_in_season_with_a_spring_start_reaches_into_the_next_year() -> None:
    """Issue 19: a season starting 1 March ends in February of the next calendar year; its winter is in it."""
    assert resolve_as_of("02-15", 2022, start="03-01") == dt.date(2023, 2, 15)
    assert resolve_as_of("03-01", 2022, start="03-01") == dt.date(2022, 3, 1)
    assert check_schedule(["01-15", "12-01", "03-10"], [2022], start="03-01") == ["03-10", "12-01", "01-15"]


def test_resolve_in_season_with_autumn_start() -> None:
    assert resolve_as_of("07-01", 2021) == dt.date(2021, 7, 1)
    assert resolve_as_of("11-15", 2022, start="10-01") == dt.date(2021, 11, 15)
    assert resolve_as_of("05-01", 2022, start="10-01") == dt.date(2022, 5, 1)


def test_bad_as_of_dates() -> None:
    with pytest.raises(InputError, match="'02-29' is not a month-day"):
        resolve_as_of("02-29", 2024, start="03-01")  # not a day of every season
    with pytest.raises(InputError, match="not a month-day"):
        as_of_schedule(first="April")
    with pytest.raises(InputError, match="before it starts"):
        as_of_schedule(first="10-01", last="04-01")
    with pytest.raises(InputError, match="repeat"):
        check_schedule(["05-01", "05-01"], [2021])
    assert check_schedule(["07-01", "05-01"], [2021, 2022]) == ["05-01", "07-01"]


@pytest.mark.parametrize("start", ["01-01", "03-01", "06-01", "07-01", "09-01", "10-01", "12-31"])
def test_default_schedule_follows_the_season(start: str) -> None:
    """Issue 19: the default dates were 1 April–31 October whatever the season, so a September season was
    scored first on 13 September; they now sit on the same days of season, and every one resolves."""
    dates = season_as_of_schedule(start)
    assert check_schedule(dates, [2015, 2016], start=start) == dates  # in season order, inside every season
    assert len(dates) == 15  # none left out, whatever the start
    first = resolve_as_of(dates[0], 2015, start=start)
    assert (first - resolve_as_of(start, 2015, start=start)).days == 90
    if start == "01-01":
        assert dates == as_of_schedule()
    if start == "09-01":
        assert dates[:2] == ["11-30", "12-15"] and dates[-1] == "06-28" and len(dates) == 15
