"""The season-anchored tempcnn knows calendar time: its accuracy does not fall at the end of the season."""

from __future__ import annotations

import pytest

from inseason.data import decode_series
from inseason.train import TRAIN_PRESETS, Predictor, load_bundle, train, train_config

MID_SEASON, LATE_SEASON = 240, 270  # 29 August, 28 September (days of season from 1 January)


def _accuracy(run, series_table, as_of) -> float:
    bundle = load_bundle(run)
    store = decode_series(series_table)
    rows = store.rows_of("validation")
    predicted = Predictor(bundle).predict_proba(store, rows=rows, as_of=as_of).argmax(axis=1)
    return float((predicted == bundle.class_index(store.labels[rows])).mean())


def test_tempcnn_preset_is_season_anchored():
    config = train_config(preset="tempcnn")
    assert (config.adapter.kind, config.adapter.anchor, config.adapter.window_days) == ("bucketed", "season", 365)
    assert config.adapter.n_steps == 73
    assert train_config(preset="arset").adapter.anchor == "as_of"
    assert TRAIN_PRESETS["arset"]["adapter"].get("anchor", "as_of") == "as_of"


@pytest.fixture(scope="module")
def season_run(series_table, run_overrides, tmp_path_factory):
    out = tmp_path_factory.mktemp("season") / "tempcnn"
    overrides = {
        **run_overrides,
        "adapter.anchor": "season",
        "adapter.window_days": 365,
        "epochs": 6,
        "histograms": False,
    }
    train(series_table, out=out, overrides=overrides, quiet=True)
    return out


def test_season_end_accuracy_holds_with_the_season_anchor(season_run, trained_run, series_table):
    season = {day: _accuracy(season_run, series_table, day) for day in (MID_SEASON, LATE_SEASON, None)}
    as_of = {day: _accuracy(trained_run[0], series_table, day) for day in (LATE_SEASON, None)}
    # measured: season anchor 0.94 / 1.00 / 0.98 (29 Aug, 28 Sep, season end; one of the 48 validation samples
    # flips after 28 Sep); as-of anchor falls far more. Allowed: one sample, not a fall.
    one_sample = 1 / 48
    assert season[None] >= season[LATE_SEASON] - one_sample and season[LATE_SEASON] >= season[MID_SEASON]
    assert season[None] >= 0.9
    assert season[None] >= as_of[None] + 0.3
