"""`Predictor.advance`/`classify`: an incremental network's state carried over as-of dates gives the
predictions of its whole-series pass, and reading a season in steps gives bit for bit the state of one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inseason.bench.predict import untrained_bundle
from inseason.data import SeriesStore, decode_series, synthetic_series
from inseason.errors import InputError
from inseason.train import Predictor, load_bundle


@pytest.fixture(scope="module")
def store() -> SeriesStore:
    return decode_series(synthetic_series(60, seed=4), season="01-01")


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    out = tmp_path_factory.mktemp("gru") / "bundle"
    return Predictor(load_bundle(untrained_bundle("gru-incremental", out, seed=5, params={"hidden": 16})))


def test_the_state_after_the_observations_up_to_a_day_predicts_what_the_network_predicts(store, predictor) -> None:
    assert predictor.incremental
    rows = np.arange(len(store))
    for day in (120, 200, 364):
        state = predictor.advance(store, rows, since=-1, until=day)
        assert state.shape == (rows.size, 16) and state.dtype == np.float32
        seen = store.end_positions(rows, np.full(rows.size, day)) > store.offsets[:-1]
        assert seen.any() and not state[~seen].any()  # nothing read, nothing moved
        got = predictor.classify(state[seen])
        expected = predictor.predict_proba(store, as_of=day, rows=rows[seen])
        np.testing.assert_allclose(got, expected, atol=2e-5)
        assert np.allclose(got.sum(axis=1), 1, atol=1e-5)


def test_a_season_read_in_steps_ends_in_the_state_of_one_pass(store, predictor) -> None:
    rows = np.arange(len(store))
    once = predictor.advance(store, rows, since=-1, until=300)
    state = None
    for since, until in ((-1, 90), (90, 91), (91, 200), (200, 300)):
        state = predictor.advance(store, rows, since=since, until=until, state=state)
    assert np.array_equal(state, once)  # the same numbers, not close ones
    # a subset of rows, one row alone included, gets the same numbers as in the whole batch
    for subset in (rows[::7], rows[3:4]):
        assert np.array_equal(predictor.advance(store, subset, since=-1, until=300), once[subset])


def test_a_network_that_is_not_incremental_is_refused(store, tmp_path: Path) -> None:
    bundle = load_bundle(untrained_bundle("gru", tmp_path / "bundle", seed=1, params={"hidden": 8}))
    predictor = Predictor(bundle)
    assert not predictor.incremental
    with pytest.raises(InputError, match="one-direction recurrent network"):
        predictor.advance(store, np.arange(3), since=-1, until=100)
    with pytest.raises(InputError, match="keeps no state"):
        predictor.classify(np.zeros((3, 8), np.float32))
