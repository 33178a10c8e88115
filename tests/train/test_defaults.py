"""Defaults that hold on real data: presets whose inputs fit the table's cadence, season and bands."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest
import yaml

from inseason.data import decode_series, feature_names, synthetic_series
from inseason.errors import InputError
from inseason.train import TRAIN_PRESETS, Predictor, load_bundle, train, train_config
from inseason.train.config import model_preset
from inseason.train.defaults import adapt_to_data, measure_cadence
from tests.data.cadence import (
    COMMON,
    MODIS_LIKE,
    composites,
    denser,
    ndvi_only,
    renamed,
    september_seasons,
    thinned,
)


@pytest.fixture(scope="module")
def base() -> pa.Table:
    """120 rows of the synthetic Sentinel-2 world: 5-day revisit, about a third of the dates clouded out."""
    return synthetic_series(120, seed=3)


def _store(table: pa.Table, season: str = "01-01"):
    return decode_series(table, season=season)


@pytest.mark.parametrize(
    ("make", "gap", "last_day_at_least", "obs"),
    [
        (lambda t: t, 5, 355, (45, 60)),  # Sentinel-2
        (lambda t: composites(t, 8), 8, 352, (38, 46)),  # 8-day composites
        (lambda t: renamed(composites(t, 16), MODIS_LIKE), 16, 336, (21, 24)),  # MODIS 16-day, 8 bands
        (lambda t: thinned(t, keep=0.4, seed=1), None, 340, (20, 36)),  # irregular, cloudier
    ],
    ids=["s2", "8day", "modis16", "irregular"],
)
def test_cadence_is_measured_from_the_dates(base, make, gap, last_day_at_least, obs):
    store = _store(make(base))
    cadence = measure_cadence(store)
    per_row = [np.diff(store.doy[a:b].astype(int)) for a, b in zip(store.offsets[:-1], store.offsets[1:], strict=True)]
    assert cadence.typical_gap == round(float(np.median([np.median(g) for g in per_row])))
    if gap is not None:  # a regular cadence is its period
        assert cadence.typical_gap == gap
    else:  # 26 % of a 5-day grid
        assert 10 <= cadence.typical_gap <= 20
    assert last_day_at_least <= cadence.last_day <= 364
    assert obs[0] <= cadence.obs_per_season <= obs[1]
    assert cadence.samples == 120


def test_cadence_ignores_rows_without_observations_and_same_day_repeats():
    table = synthetic_series(4, seed=0)
    store = _store(table)
    one_row = measure_cadence(store, rows=np.array([0]))
    days = store.doy[store.offsets[0] : store.offsets[1]].astype(int)
    gaps = np.diff(days)
    assert one_row.typical_gap == round(float(np.median(gaps))) and one_row.last_day == days.max()
    assert measure_cadence(store, rows=np.array([], np.int64)).samples == 0


@pytest.mark.parametrize(
    ("make", "bucket_days", "window_days"),
    [
        (lambda t: t, 5, 365),  # Sentinel-2: the preset's own values
        (denser, 5, 365),  # two satellites, 2-3 day gaps: not finer than 5 days (3 measured worse)
        (lambda t: composites(t, 8), 8, 368),  # 8-day composites: 46 slots
        (lambda t: renamed(composites(t, 16), MODIS_LIKE), 16, 368),  # MODIS: 23 slots, to the last composite
    ],
    ids=["s2", "two_satellites", "8day", "modis16"],
)
@pytest.mark.parametrize("model", ["tempcnn", "random_forest", "gradient_boosting"])
def test_season_presets_fit_buckets_to_the_cadence(base, make, bucket_days, window_days, model):
    config = adapt_to_data(train_config(preset=model_preset(model)), _store(make(base)))
    assert (config.adapter.kind, config.adapter.anchor) == ("bucketed", "season")
    assert (config.adapter.bucket_days, config.adapter.window_days) == (bucket_days, window_days)
    assert config.adapter.n_steps == window_days // bucket_days
    assert config.features.indices == ("NDVI",) and config.adapt == ()


@pytest.mark.parametrize(("make", "max_obs"), [(lambda t: t, 56), (lambda t: composites(t, 16), 24)], ids=["s2", "16"])
@pytest.mark.parametrize("model", ["ltae", "gru", "lstm", "transformer"])
def test_sequence_presets_keep_a_whole_season(base, make, max_obs, model):
    store = _store(make(base))
    config = adapt_to_data(train_config(preset=model_preset(model)), store)
    assert config.adapter.kind == "sequence" and config.adapter.max_obs == max_obs
    assert np.quantile(store.counts, 0.99) <= max_obs < np.quantile(store.counts, 0.99) + 8


def test_every_registered_model_gets_a_preset_and_arset_keeps_the_course_recipe(base):
    from inseason.models import list_models, model_info

    for name in list_models():
        preset = model_preset(name)
        assert preset["model"]["name"] == name
        assert preset["adapter"]["kind"] == model_info(name).adapter
        if name != "arset" and model_info(name).adapter == "bucketed":
            assert preset["adapter"]["anchor"] == "season", name
    modis = _store(renamed(composites(base, 16), MODIS_LIKE))
    arset = adapt_to_data(train_config(preset="arset"), modis)
    assert (arset.adapter.anchor, arset.adapter.window_days, arset.adapter.bucket_days) == ("as_of", 120, 5)
    assert "adapt" not in TRAIN_PRESETS["arset"]


def test_a_value_the_user_sets_is_never_adapted(base, tmp_path):
    modis = _store(renamed(composites(base, 16), MODIS_LIKE))
    by_set = train_config(preset="tempcnn", overrides={"adapter.bucket_days": 5})
    assert by_set.adapt == ("features.indices", "adapter.window_days")
    adapted = adapt_to_data(by_set, modis)
    assert (adapted.adapter.bucket_days, adapted.adapter.window_days) == (5, 355)
    (tmp_path / "c.yaml").write_text("adapter:\n  window_days: 200\nfeatures:\n  indices: [NDVI]\n")
    by_yaml = adapt_to_data(train_config(preset="tempcnn", path=tmp_path / "c.yaml"), modis)
    assert (by_yaml.adapter.bucket_days, by_yaml.adapter.window_days) == (16, 200)
    # a group set as a whole leaves every key under it; an explicit adapt list is the user's
    assert train_config(preset="ltae", overrides={"adapter": {"kind": "sequence"}}).adapt == ("features.indices",)
    assert train_config(preset="ltae", overrides={"adapt": []}).adapt == ()
    # the Python API's defaults adapt nothing
    assert train_config().adapt == () and adapt_to_data(train_config(), modis) == train_config()


def test_a_preset_index_the_bands_cannot_give_is_left_out_with_a_note(base, caplog):
    ndvi = _store(ndvi_only(base, name="ndvi"))
    with caplog.at_level(logging.WARNING, logger="inseason.train.defaults"):
        config = adapt_to_data(train_config(preset="tempcnn"), ndvi)
    assert config.features.indices == ()
    assert [r.getMessage() for r in caplog.records] == [
        "NDVI is not derived: the series table has an NDVI band (a preset's index: left out)"
    ]
    caplog.clear()
    blue_only = _store(renamed(base, {"B02": "blue", "B04": "red"}))
    with caplog.at_level(logging.WARNING, logger="inseason.train.defaults"):
        config = adapt_to_data(train_config(preset="ltae", overrides={"features.indices": ["NDVI"]}), blue_only)
    assert config.features.indices == ("NDVI",)  # asked for explicitly: kept, and refused with the bands' names
    with pytest.raises(InputError, match=r"feature NDVI needs bands \['B08'\] \(common names \['nir'\]\)"):
        feature_names(blue_only.bands, config.features, has_scl=False)
    config = adapt_to_data(train_config(preset="ltae"), blue_only)
    assert config.features.indices == ()
    assert "NDVI is not derived: the series table has no nir band (B08)" in caplog.text


def test_common_band_names_give_the_same_ndvi(base):
    s2 = _store(base)
    common = _store(renamed(base, COMMON))
    assert adapt_to_data(train_config(preset="tempcnn"), common).features.indices == ("NDVI",)
    names = feature_names(common.bands, train_config(preset="tempcnn").features, has_scl=False)
    assert names == [*COMMON.values(), "NDVI"]
    from inseason.data.features import FeatureConfig, compute_features

    features = FeatureConfig(indices=("NDVI", "NDMI", "NDRE", "NDWI"))
    a = compute_features(s2.values, None, bands=s2.bands, scales=s2.scales, config=features)[:, -4:]
    b = compute_features(common.values, None, bands=common.bands, scales=common.scales, config=features)[:, -4:]
    np.testing.assert_allclose(a, b)


def test_a_modis_table_trains_evaluates_and_repeats_from_its_config(base, tmp_path):
    """tempcnn by its name alone on an 8-band, 16-day table with common names: config.yaml records the adapted
    inputs, the bundle predicts with them, and the recorded config repeats the run exactly."""
    table = renamed(composites(base, 16), MODIS_LIKE)
    quick = {"epochs": 1, "patience": 0, "histograms": False, "model.params": {"filters": 8, "hidden": 16}}
    config = train_config(preset=model_preset("tempcnn"), overrides=quick)
    train(table, out=tmp_path / "run", config=config, quiet=True)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["adapt"] == [] and saved["features"]["indices"] == ["NDVI"]
    assert (saved["adapter"]["bucket_days"], saved["adapter"]["window_days"]) == (16, 368)
    bundle = load_bundle(tmp_path / "run")
    assert bundle.spec.adapter.n_steps == 23 and bundle.spec.features.indices == ("NDVI",)
    store = _store(table)
    rows = store.rows_of("test")
    proba = Predictor(bundle).predict_proba(store, rows=rows, as_of=120)
    assert proba.shape == (rows.size, 6) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    again = train_config(path=tmp_path / "run" / "config.yaml")
    assert again.adapt == () and adapt_to_data(again, store) == again
    assert again.model_dump() == config.model_copy(update={"adapt": ()}).model_dump() | {
        "adapter": saved["adapter"],
        "epochs": again.epochs,
        "patience": again.patience,
        "batch_size": again.batch_size,
        "season_start": "01-01",
    }
    assert again.batch_size == 16  # 240 training samples: 15 steps an epoch


def test_a_september_season_single_ndvi_table_trains_a_forest_on_the_whole_season(base, tmp_path):
    table = september_seasons(ndvi_only(base))
    config = train_config(preset=model_preset("random_forest"), overrides={"model.params": {"n_estimators": 20}})
    result = train(table, out=tmp_path / "rf", config=config, quiet=True)
    saved = yaml.safe_load((tmp_path / "rf" / "config.yaml").read_text())
    assert saved["season_start"] == "09-01" and saved["features"]["indices"] == []
    assert (saved["adapter"]["anchor"], saved["adapter"]["bucket_days"], saved["adapter"]["window_days"]) == (
        "season",
        5,
        365,
    )
    assert result.metrics["overall_accuracy"] >= 0.8  # measured 1.0: the whole season separates the classes


def test_the_ltae_preset_is_half_the_papers_width() -> None:
    """`ltae` trains at half the reference widths (measured better on every bench setting: docs/defaults.md):
    53 350 parameters on 13 channels and 6 classes, against the reference widths' 152 422."""
    from inseason.models import create_model

    params = model_preset("ltae")["model"]["params"]
    assert params == {"dropout": 0.5, "in_channels": 64, "d_model": 128, "n_head": 8, "mlp": [128, 64]}
    sizes = [
        sum(p.numel() for p in create_model("ltae", n_bands=13, n_steps=64, n_classes=6, **options).parameters())
        for options in ({}, params)
    ]
    assert sizes == [152_422, 53_350]
    assert train_config(preset="ltae").model.params["d_model"] == 128
