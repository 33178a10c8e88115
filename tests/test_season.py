"""Seasons, month-days and the 1970 epoch (inseason.season)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from inseason.errors import InputError
from inseason.season import (
    EPOCH,
    date_of_day,
    day_of_season,
    days_since_epoch,
    parse_month_day,
    season_start,
    season_start_day,
    season_year,
)


def test_month_days_parse() -> None:
    assert parse_month_day("01-01") == (1, 1)
    assert parse_month_day("10-01") == (10, 1)
    assert parse_month_day("12-31") == (12, 31)


@pytest.mark.parametrize(
    "text",
    [
        "13-01",
        "02-30",
        "02-29",
        "00-00",
        "00-01",
        "4-1",
        "04-1",
        "April",
        "2021-04-01",
        "W01-1",
        "01-01 ",
        "0401",
        "",
        None,
    ],
)
def test_bad_month_days_are_refused_naming_what_they_are(text: str) -> None:
    with pytest.raises(InputError, match=rf"as-of date {text!r} is not a month-day like 01-01"):
        parse_month_day(text, what="as-of date")


def test_a_bad_season_start_names_the_season_start() -> None:
    with pytest.raises(InputError, match="season start '13-01' is not a month-day"):
        season_start(2021, "13-01")
    with pytest.raises(InputError, match="season start '10/01'"):
        season_year(dt.date(2021, 5, 1), "10/01")


def test_epoch_day_numbers_match_arrow_date32() -> None:
    assert days_since_epoch(EPOCH) == 0
    assert date_of_day(0) == dt.date(1970, 1, 1)
    stored = pa.array([dt.date(2021, 1, 1), dt.date(1960, 7, 4)], pa.date32()).cast(pa.int32()).to_pylist()
    assert stored == [days_since_epoch(dt.date(2021, 1, 1)), days_since_epoch(dt.date(1960, 7, 4))]
    assert days_since_epoch(dt.date(2021, 1, 1)) == 18628
    assert days_since_epoch(dt.date(1969, 12, 31)) == -1
    for day in (-365, 0, 18628, 19_000):
        assert days_since_epoch(date_of_day(day)) == day
    assert date_of_day(18628) == dt.date(2021, 1, 1)


def test_seasons_and_days_of_season() -> None:
    assert season_start(2022) == dt.date(2022, 1, 1)
    assert season_start(2022, "10-01") == dt.date(2021, 10, 1)
    assert season_start(2022, "03-01") == dt.date(2022, 3, 1)
    assert season_start_day(2021) == 18628
    assert season_start_day(2022, "10-01") == days_since_epoch(dt.date(2021, 10, 1))
    assert day_of_season(dt.date(2021, 1, 1), 2021) == 0
    assert day_of_season(dt.date(2021, 11, 15), 2022, "10-01") == 45
    assert day_of_season(dt.date(2021, 2, 1), 2021, "03-01") == -28
    assert season_year(dt.date(2021, 11, 15), "10-01") == 2022
    assert season_year(dt.date(2021, 9, 30), "10-01") == 2021
    assert season_year(dt.date(2021, 2, 28), "03-01") == 2020
    assert season_year(dt.date(2021, 12, 31)) == 2021


@pytest.mark.parametrize("start", ["00-00", "02-29", "W01-1", "1-01"])
def test_every_request_with_a_season_start_refuses_a_bad_one_alike(start: str) -> None:
    from inseason.evaluate.evaluation import EvaluatePredictorRequest
    from inseason.extract.stage import ExtractRequest
    from inseason.series.build import SeriesRequest
    from inseason.series.long_table import ImportRequest
    from inseason.train.config import train_config

    requests = [
        lambda: ExtractRequest.of(points="p", scenes="s", out="o", season_start=start),
        lambda: train_config(overrides={"season_start": start}),
        lambda: SeriesRequest.of(observations="o", points="p", out="s.parquet", season_start=start),
        lambda: ImportRequest.of(path="t.csv", out="s.parquet", season_start=start),
        lambda: EvaluatePredictorRequest.of(classes=("a",), season_start=start),
    ]
    for make in requests:
        with pytest.raises(InputError, match=rf"^season start '{start}' is not a month-day like 01-01"):
            make()
