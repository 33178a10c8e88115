"""In-season curves rise with the as-of date, the predictor never sees the future, course windows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from inseason.errors import InputError
from inseason.evaluate.curves import course_windows, earliest_dates, in_season_curve
from inseason.evaluate.fake import FAKE_CLASSES, TemplatePredictor, fake_series
from inseason.evaluate.predictor import class_indices

CLASSES = list(FAKE_CLASSES)


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return fake_series(n_fields=4, pixels_per_field=4, years=(2021, 2022), seed=2)


def test_curve_rises_and_reaches_target(table: pa.Table) -> None:
    predictor = TemplatePredictor()
    curve = in_season_curve(
        predictor,
        table,
        classes=CLASSES,
        as_of=["04-01", "06-01", "08-01", "10-01"],
        groups=table.column("field_id").to_pylist(),
        n_boot=100,
    )
    oa = [row["overall_accuracy"] for row in curve.by_as_of_date]
    assert oa[0] < oa[1] < oa[-1] and oa[-1] > 0.85
    assert curve.probabilities.shape == (4, table.num_rows, 4)
    assert sorted(set(predictor.calls)) == [dt.date(y, m, 1) for y in (2021, 2022) for m in (4, 6, 8, 10)]
    assert all(name in curve.earliest_date for name in CLASSES)
    assert curve.earliest_date["Corn"] in ("06-01", "08-01")
    low, high = curve.by_as_of_date[-1]["intervals"]["overall_accuracy"]
    assert low <= oa[-1] <= high


class _Spy:
    """Records the last observation date it was given, to prove truncation."""

    def __init__(self) -> None:
        self.latest: list[tuple[dt.date, dt.date]] = []

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> np.ndarray:
        last = max(d for row in table.column("dates").to_pylist() for d in row)
        self.latest.append((as_of, last))
        return np.tile([1.0, 0, 0, 0], (table.num_rows, 1))


def test_predictor_sees_no_observation_after_as_of(table: pa.Table) -> None:
    spy = _Spy()
    in_season_curve(spy, table, classes=CLASSES, as_of=["05-01", "07-01"], n_boot=10)
    assert spy.latest and all(last <= as_of for as_of, last in spy.latest)


def test_earliest_dates_first_reach_and_no_support() -> None:
    rows = [
        {"as_of": "05-01", "per_class": [{"name": "a", "f1": 0.5}, {"name": "b", "f1": None}]},
        {"as_of": "06-01", "per_class": [{"name": "a", "f1": 0.81}, {"name": "b", "f1": None}]},
        {"as_of": "07-01", "per_class": [{"name": "a", "f1": 0.7}, {"name": "b", "f1": None}]},
    ]
    assert earliest_dates(rows, classes=["a", "b"], target_f1=0.8) == {"a": "06-01", "b": None}


def test_course_windows_protocol(table: pa.Table) -> None:
    predictor = TemplatePredictor()
    result = course_windows(predictor, table, classes=CLASSES, n_windows=3)
    assert [w["start_offset_days"] for w in result["windows"]] == [0, 15, 30]
    assert result["n"] == 3 * table.num_rows
    assert result["overall_accuracy"] == pytest.approx(np.mean([w["overall_accuracy"] for w in result["windows"]]))
    # each sample's third window starts 30 days after its first observation and lasts 120 days
    first = [min(row) for row in table.column("dates").to_pylist()]
    assert max(predictor.calls) == max(first) + dt.timedelta(days=30 + 119)
    assert min(predictor.calls) == min(first) + dt.timedelta(days=119)
    # the course's own figures under this protocol (REFERENCE), carried as data beside ours
    published = result["published"]
    assert (published["overall_accuracy"], published["macro_f1"]) == (0.756, 0.602)
    assert published["n_pixels"] == 14_904 and published["n_windows"] == 15
    assert published["window_accuracy_range"] == [0.59, 0.86] and "ARSET" in published["source"]
    published["window_accuracy_range"].append(1.0)  # a copy: the module's constant is untouched
    assert course_windows(predictor, table, classes=CLASSES, n_windows=1)["published"]["window_accuracy_range"] == [
        0.59,
        0.86,
    ]


def test_bad_inputs(table: pa.Table) -> None:
    with pytest.raises(InputError, match="not among the model's classes"):
        in_season_curve(TemplatePredictor(), table, classes=CLASSES[:3], n_boot=10)
    with pytest.raises(InputError, match="no test samples"):
        in_season_curve(TemplatePredictor(), table.slice(0, 0), classes=CLASSES, n_boot=10)
    with pytest.raises(InputError, match="'02-29' is not a month-day"):
        in_season_curve(TemplatePredictor(), table, classes=CLASSES, as_of=["02-29"], season_start="03-01", n_boot=10)
    wrong_width = lambda t, *, as_of: np.ones((t.num_rows, 3)) / 3  # noqa: E731
    with pytest.raises(InputError, match="label map does not match"):
        in_season_curve(wrong_width, table, classes=CLASSES, as_of=["07-01"], n_boot=10)


def test_targets_rule_scores_rows_against_their_window_label(table: pa.Table) -> None:
    """A label rule given as ``targets`` decides, date by date, what each row is scored against."""
    classes = list(FAKE_CLASSES)
    perfect = TemplatePredictor(classes)
    baseline = in_season_curve(perfect, table, classes=classes, as_of=["05-01", "09-01"], n_boot=20)
    calls: list[dt.date] = []

    def before_june_all_first_class(rows: pa.Table, *, as_of: dt.date) -> np.ndarray:
        calls.append(as_of)
        truth = class_indices(rows, classes=classes)
        return np.zeros_like(truth) if as_of.month < 6 else truth

    ruled = in_season_curve(
        perfect, table, classes=classes, as_of=["05-01", "09-01"], n_boot=20, targets=before_june_all_first_class
    )
    first = baseline.probabilities[0].argmax(axis=1)
    assert ruled.by_as_of_date[0]["overall_accuracy"] == pytest.approx(float(np.mean(first == 0)))
    assert ruled.by_as_of_date[1]["overall_accuracy"] == baseline.by_as_of_date[1]["overall_accuracy"]
    assert sorted({d.strftime("%m-%d") for d in calls}) == ["05-01", "09-01"]


def test_rows_with_their_own_end_days_get_what_one_call_per_row_gives(table: pa.Table) -> None:
    """predict_at groups the rows by end day in one sort; each row's probabilities are those of its own call."""
    from inseason.evaluate.curves import predict_at
    from inseason.season import days_since_epoch

    rng = np.random.default_rng(0)
    start = np.array([days_since_epoch(dt.date(y, 3, 1)) for y in table.column("year").to_pylist()])
    end_day = start + rng.integers(0, 200, table.num_rows)  # nearly every row its own day, as the course's windows
    grouped = predict_at(TemplatePredictor(), table, end_day=end_day, n_classes=len(CLASSES))
    for row in range(table.num_rows):
        alone = predict_at(TemplatePredictor(), table.slice(row, 1), end_day=end_day[row : row + 1], n_classes=4)
        np.testing.assert_allclose(grouped[row], alone[0])
