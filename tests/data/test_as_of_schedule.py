"""The in-season truncation schedule: a share of whole-season examples, uniform or late-biased cut days."""

from __future__ import annotations

import numpy as np
import pytest

from inseason.data import AugmentConfig, decode_series, synthetic_series
from inseason.data.batches import SEASON_END, _first_day, _random_as_of, observed_as_of


@pytest.fixture(scope="module")
def store():
    return decode_series(synthetic_series(400, seed=3))


def _draw(store, augment: AugmentConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(drawn day, lowest day, highest day) of every row, as of the whole season."""
    rows = np.arange(len(store), dtype=np.int64)
    # 5 passes over the rows: enough draws for shares within a few percent
    rows = np.tile(rows, 5)
    as_of = np.full(rows.size, SEASON_END, np.int64)
    drawn = _random_as_of(store, rows, as_of, augment, np.random.default_rng(seed))
    high = np.maximum(observed_as_of(store, rows, as_of), 0)
    low = np.minimum(np.maximum(_first_day(store, rows), augment.min_as_of), high)
    return drawn, low, high


def test_the_old_schedule_draws_as_before(store):
    augment = AugmentConfig(whole_season=0.0, as_of_bias="uniform")
    drawn, low, high = _draw(store, augment)
    u = np.random.default_rng(0).random(drawn.size)  # the one draw of old: a uniform day in [low, high]
    np.testing.assert_array_equal(drawn, low + np.floor(u * (high - low + 1)).astype(np.int64))


@pytest.mark.parametrize("share", [0.25, 0.5, 0.75])
def test_a_share_of_examples_sees_the_whole_season(store, share):
    drawn, low, high = _draw(store, AugmentConfig(whole_season=share))
    whole = drawn == SEASON_END
    assert abs(whole.mean() - share) < 0.03
    cut = ~whole
    assert ((drawn[cut] >= low[cut]) & (drawn[cut] <= high[cut])).all()


def test_whole_season_one_is_no_truncation_and_zero_cuts_every_example(store):
    drawn, _, _ = _draw(store, AugmentConfig(whole_season=1.0))
    assert (drawn == SEASON_END).all()
    drawn, _, high = _draw(store, AugmentConfig(whole_season=0.0))
    assert (drawn <= high).all() and (drawn < SEASON_END).all()


def test_late_bias_moves_the_cut_days_towards_the_season_end(store):
    uniform, low, high = _draw(store, AugmentConfig(whole_season=0.0, as_of_bias="uniform"))
    late, _, _ = _draw(store, AugmentConfig(whole_season=0.0, as_of_bias="late"))
    span = np.maximum(high - low, 1)
    # the position within [low, high]: mean 1/2 when uniform, 2/3 with a density rising linearly
    assert abs(((uniform - low) / span).mean() - 0.5) < 0.03
    assert abs(((late - low) / span).mean() - 2 / 3) < 0.03
    assert ((late >= low) & (late <= high)).all()


def test_no_truncation_leaves_the_day(store):
    drawn, _, _ = _draw(store, AugmentConfig(as_of=False, whole_season=0.3, as_of_bias="late"))
    assert (drawn == SEASON_END).all()


def test_the_defaults_are_the_measured_schedule():
    # docs/defaults.md (Validation, epochs and in-season truncation) gives the measurement behind them
    augment = AugmentConfig()
    assert (augment.whole_season, augment.as_of_bias) == (0.0, "uniform")
