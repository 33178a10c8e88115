"""As-of schedules: default every 15 days 1 April–31 October, resolved inside each season."""

from __future__ import annotations

import datetime as dt

import pytest

from inseason.errors import InputError
from inseason.evaluate.schedule import as_of_schedule, check_schedule, resolve_as_of


def test_default_schedule() -> None:
    dates = as_of_schedule()
    assert dates[:3] == ["04-01", "04-16", "05-01"] and dates[-1] == "10-28" and len(dates) == 15
    assert as_of_schedule(first="06-01", last="06-30", every_days=10) == ["06-01", "06-11", "06-21"]


def test_resolve_in_season_with_autumn_start() -> None:
    assert resolve_as_of("07-01", 2021) == dt.date(2021, 7, 1)
    assert resolve_as_of("11-15", 2022, start="10-01") == dt.date(2021, 11, 15)
    assert resolve_as_of("05-01", 2022, start="10-01") == dt.date(2022, 5, 1)


def test_bad_as_of_dates() -> None:
    with pytest.raises(InputError, match="outside season 2022"):
        resolve_as_of("02-15", 2022, start="03-01")
    with pytest.raises(InputError, match="not a month-day"):
        as_of_schedule(first="April")
    with pytest.raises(InputError, match="before it starts"):
        as_of_schedule(first="10-01", last="04-01")
    with pytest.raises(InputError, match="repeat"):
        check_schedule(["05-01", "05-01"], [2021])
    assert check_schedule(["07-01", "05-01"], [2021, 2022]) == ["05-01", "07-01"]
