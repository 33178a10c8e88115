"""`inseason bench accuracy`: each setting makes the data it names; the table, the pick and the forest rule."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from inseason.bench.accuracy import (
    BASELINE,
    IN_SEASON_DAY,
    MODIS_BANDS,
    SETTINGS,
    AccuracyResult,
    _over_seeds,
    _sized,
    _verdict,
    as_ndvi,
    bench_accuracy,
    bench_accuracy_markdown,
    default_config,
    is_recipe,
    make_setting,
)
from inseason.data import synthetic_series
from inseason.data.store import recorded_season_start
from inseason.errors import InputError
from inseason.metrics import mcnemar_p
from inseason.models import list_models, model_info
from inseason.season import season_start_day
from inseason.tables import S2_BANDS, series_bands
from inseason.train import TrainRequest

#: setting → (classes, bands, typical days between dates, recorded season start).
SHAPES = {
    "base": (6, list(S2_BANDS), 5, None),
    "few": (6, list(S2_BANDS), 5, None),
    "many-classes": (26, list(S2_BANDS), 5, None),
    "one-band": (6, ["NDVI"], 5, None),
    "composite-8d": (6, list(MODIS_BANDS), 8, None),
    "modis-16d": (6, list(MODIS_BANDS), 16, None),
    "noisy-labels": (6, list(S2_BANDS), 5, None),
    "across-new-year": (6, list(S2_BANDS), 5, "09-01"),
    "year-held-out": (6, list(S2_BANDS), 5, None),
}


def _column(table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_pylist(), dtype=object)


def test_the_settings_are_the_ones_asked_for() -> None:
    assert list(SETTINGS) == list(SHAPES)


@pytest.mark.parametrize("name", list(SHAPES))
def test_each_setting_has_its_shape(name: str) -> None:
    classes, bands, cadence, start = SHAPES[name]
    table = make_setting(name, scale=0.3, seed=1)
    assert series_bands(table.schema)[0] == bands
    assert recorded_season_start(table.schema) == start
    labels, split = _column(table, "label"), _column(table, "split")
    assert len(set(labels)) == classes
    for part in ("train", "validation", "test"):  # every class in every split: scores are defined
        assert len(set(labels[split == part])) == classes, part
    gaps = np.concatenate([np.diff(np.array(d, "datetime64[D]").astype(np.int64)) for d in _column(table, "dates")])
    assert int(np.median(gaps)) == cadence
    width = len(table.column("values")[0].as_py()[0])
    assert width == len(bands)
    assert make_setting(name, scale=0.3, seed=1).equals(table)  # seeded


def test_few_has_about_fifteen_training_samples_per_class_at_any_scale() -> None:
    for scale in (0.3, 2.0):
        table = make_setting("few", scale=scale)
        labels, split = _column(table, "label"), _column(table, "split")
        counts = [int(np.sum((labels == c) & (split == "train"))) for c in set(labels)]
        assert counts == [15] * 6


def test_across_new_year_dates_span_two_calendar_years_within_one_season() -> None:
    table = make_setting("across-new-year", scale=0.3)
    days = np.concatenate([np.array(d, "datetime64[D]").astype(np.int64) for d in _column(table, "dates")])
    start = season_start_day(2021, "09-01")
    assert days.min() >= start and days.max() < start + 365
    assert {d.year for r in _column(table, "dates") for d in r} == {2020, 2021}


def test_year_held_out_tests_on_the_third_year_only() -> None:
    table = make_setting("year-held-out", scale=0.3)
    year, split = _column(table, "year"), _column(table, "split")
    assert set(year[split == "test"]) == {2021}
    assert set(year[split != "test"]) == {2019, 2020}
    assert set(split[year != 2021]) == {"train", "validation"}


def test_noisy_labels_flip_training_labels_only() -> None:
    noisy = make_setting("noisy-labels", scale=1.0)
    plain = make_setting("base", scale=1.0)
    assert noisy.column("values").equals(plain.column("values"))
    split = _column(noisy, "split")
    changed = _column(noisy, "label") != _column(plain, "label")
    assert changed[split == "train"].mean() == pytest.approx(0.2, abs=0.06)
    assert not changed[split != "train"].any()


def test_as_ndvi_and_modis_values() -> None:
    table = synthetic_series(6, bands=("B04", "B08"))
    ndvi = as_ndvi(table)
    raw = np.asarray(table.column("values")[0].as_py(), np.float64)
    expected = (raw[:, 1] - raw[:, 0]) / (raw[:, 1] + raw[:, 0])
    np.testing.assert_allclose(np.asarray(ndvi.column("values")[0].as_py())[:, 0], expected, rtol=1e-6)
    assert series_bands(ndvi.schema) == (["NDVI"], [1.0])
    modis = make_setting("modis-16d", scale=0.3)
    total, splits = _sized(90)
    s2 = synthetic_series(total, splits=splits, cadence_days=16, composite=True, cloud_fraction=0.1, stratified=True)
    red = np.asarray(modis.column("values")[0].as_py())[:, 0]
    np.testing.assert_allclose(red, np.asarray(s2.column("values")[0].as_py())[:, 3] * 1e-4, rtol=1e-6)
    assert pc.max(pc.list_flatten(pc.list_flatten(modis.column("values")))).as_py() < 2.0  # reflectance, not × 10 000


@pytest.mark.parametrize("name", list_models())
def test_every_model_default_is_a_valid_training_request(name: str, tmp_path) -> None:
    config = default_config(name)
    assert config.model.name == name and config.adapter.kind == model_info(name).adapter
    TrainRequest.of(series=make_setting("one-band", scale=0.2), out=tmp_path / name, config=config)


def test_verdict_picks_the_best_mean_and_lists_deep_losses_only() -> None:
    deep = next(m for m in list_models() if model_info(m).neural and not is_recipe(m))
    classical = next(m for m in list_models() if not model_info(m).neural and m != BASELINE)

    def score(f1: float) -> dict[str, float]:
        return {"macro_f1": f1, "oa": f1, "seconds": 1.0}

    scores = {
        "a": {BASELINE: score(0.8), deep: score(0.9), classical: score(0.7)},
        "b": {BASELINE: score(0.8), deep: score(0.75), classical: score(0.6)},
    }
    pick, losses = _verdict(scores)
    assert pick == deep  # mean 0.825 against the forest's 0.8
    assert losses == [("b", deep, 0.75, 0.8)]  # the classical model below the forest is no breach
    text = bench_accuracy_markdown(AccuracyResult(scores=scores, pick=pick, losses=losses))
    assert f"pick: {deep}" in text and f"- b: {deep} 0.750 < 0.800" in text and "0.750 / 0.750 *" in text
    assert _verdict({"a": {deep: score(0.5)}}) == (deep, [])
    no_forest = bench_accuracy_markdown(AccuracyResult(scores={"a": {deep: score(0.5)}}, pick=deep))
    assert f"rule not checked: {BASELINE} did not run" in no_forest


def test_the_in_season_table_gives_each_model_its_mid_season_macro_f1() -> None:
    deep = next(m for m in list_models() if model_info(m).neural and not is_recipe(m))

    def score(f1: float, early: float | None) -> dict[str, float]:
        both = {"macro_f1": f1, "oa": f1, "seconds": 1.0}
        return both if early is None else {**both, "macro_f1_in_season": early}

    scores = {
        "a": {BASELINE: score(0.9, 0.5), deep: score(0.8, 0.7)},
        "b": {BASELINE: score(0.9, 0.6), deep: score(0.9, None)},
    }
    result = AccuracyResult(scores=scores, pick=None)
    assert result.mean_in_season() == {deep: 0.7, BASELINE: 0.55}  # a model's mean over the settings it has
    text = bench_accuracy_markdown(result)
    assert f"in-season macro-F1 as of day {IN_SEASON_DAY} of the season" in text
    assert f"| {deep} | 0.700 |  | 0.700 |" in text and f"| {BASELINE} | 0.500 | 0.600 | 0.550 |" in text
    older = bench_accuracy_markdown(AccuracyResult(scores={"a": {deep: score(0.8, None)}}, pick=None))
    assert "in-season macro-F1" not in older  # runs scored before it existed: no such table


def test_a_lower_score_the_test_cannot_tell_apart_is_a_tie_and_recipes_are_exempt() -> None:
    deep = next(m for m in list_models() if model_info(m).neural and not is_recipe(m))
    assert is_recipe("arset") and not is_recipe("tempcnn")  # the course's fixed recipe adapts nothing
    assert is_recipe("arset-slide")  # the slides' 349-parameter network, on the adapted season grid
    assert [m for m in list_models() if model_info(m).reproduces] == ["arset", "arset-slide"]

    def score(f1: float, p: float) -> dict[str, float]:
        return {"macro_f1": f1, "oa": f1, "seconds": 1.0, "p_vs_forest": p}

    scores = {
        "a": {BASELINE: score(0.99, 1.0), deep: score(0.98, 0.45), "arset": score(0.5, 0.0)},
        "b": {BASELINE: score(0.99, 1.0), deep: score(0.90, 0.001)},
    }
    _, losses = _verdict(scores)
    assert losses == [("b", deep, 0.90, 0.99)]  # a: 0.98 is not significantly lower; arset: a recipe
    text = bench_accuracy_markdown(AccuracyResult(scores=scores, pick=None, losses=losses))
    assert "0.980 / 0.980 ~" in text and "0.900 / 0.900 *" in text and "recipes exempt: arset" in text


def test_bench_trains_scores_and_resumes(tmp_path) -> None:
    out = tmp_path / "runs"
    result = bench_accuracy(
        models=["random_forest", "tempcnn"], settings=["base", "one-band"], scale=0.2, epochs=1, out=out, quiet=True
    )
    assert list(result.scores) == ["base", "one-band"]
    for by_model in result.scores.values():
        assert list(by_model) == ["random_forest", "tempcnn"]
        assert set(by_model["random_forest"]) == {"macro_f1", "oa", "macro_f1_in_season", "seconds"}
        assert set(by_model["tempcnn"]) == {"macro_f1", "oa", "macro_f1_in_season", "seconds", "p_vs_forest"}
        assert 0 <= by_model["tempcnn"]["p_vs_forest"] <= 1
        for score in by_model.values():
            assert 0 <= score["macro_f1"] <= 1 and 0 <= score["oa"] <= 1 and score["seconds"] > 0
    assert result.scores["base"]["random_forest"]["oa"] > 0.5  # six distinct phenologies: far above chance
    assert result.pick in ("random_forest", "tempcnn") and result.out == str(out)
    kept = json.loads((out / "base" / "tempcnn" / "accuracy.json").read_text())
    assert kept["score"] == {k: v for k, v in result.scores["base"]["tempcnn"].items() if k != "p_vs_forest"}
    tested = (make_setting("base", scale=0.2).column("split").to_numpy(zero_copy_only=False) == "test").sum()
    assert len(kept["correct"]) == tested and set(kept["correct"]) <= {0, 1}  # per sample, for McNemar
    assert sum(kept["correct"]) == round(kept["score"]["oa"] * tested)
    assert (out / "base" / "tempcnn" / "model.json").exists()
    (out / "one-band" / "random_forest" / "accuracy.json").unlink()  # as if killed before it was scored
    again = bench_accuracy(
        models=["random_forest", "tempcnn"], settings=["base", "one-band"], scale=0.2, epochs=1, out=out, quiet=True
    )
    assert again.scores["base"] == result.scores["base"]  # reused, seconds and all
    # scored before the in-season score existed: the trained bundle is scored again, not retrained
    older = out / "base" / "tempcnn" / "accuracy.json"
    saved = json.loads(older.read_text())
    del saved["score"]["macro_f1_in_season"]
    older.write_text(json.dumps(saved))
    trained = (out / "base" / "tempcnn" / "model.json").stat().st_mtime_ns
    rescored = bench_accuracy(models=["tempcnn"], settings=["base"], scale=0.2, epochs=1, out=out, quiet=True)
    assert rescored.scores["base"]["tempcnn"] == {
        k: v for k, v in result.scores["base"]["tempcnn"].items() if k != "p_vs_forest"
    }
    assert (out / "base" / "tempcnn" / "model.json").stat().st_mtime_ns == trained
    rerun = again.scores["one-band"]["random_forest"]
    assert (rerun["macro_f1"], rerun["oa"]) == (
        result.scores["one-band"]["random_forest"]["macro_f1"],
        result.scores["one-band"]["random_forest"]["oa"],
    )  # retrained from scratch, same seed: the same score


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"models": ["tempcnn", "nope"]}, "unknown models ['nope']"),
        ({"settings": ["base", "sahara"]}, "unknown accuracy settings ['sahara']"),
        ({"scale": 0.01}, "--scale 0.01 leaves 3 samples"),
        ({"epochs": 0}, "--epochs 0 must be at least 1"),
    ],
)
def test_bad_options_are_refused_in_one_line(options: dict, words: str, tmp_path) -> None:
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")) as caught:
        bench_accuracy(**{"models": ["random_forest"], "settings": ["base"], **options}, out=tmp_path, quiet=True)
    assert "\n" not in str(caught.value)


def test_cli_quick_prints_a_full_table_then_the_same_scores_as_json(tmp_path) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    runner = CliRunner()
    out = tmp_path / "runs"
    args = ["bench", "accuracy", "--quick", "--models", "random_forest,tempcnn", "--out", str(out)]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    season_end, in_season = table.stdout.split("in-season macro-F1 as of day")
    rows = {line.split("|")[1].strip(): line for line in season_end.splitlines() if line.startswith("| ")}
    early = {line.split("|")[1].strip(): line for line in in_season.splitlines() if line.startswith("| ")}
    assert all(name in rows["model"] and name in early["model"] for name in SETTINGS)
    for model in ("random_forest", "tempcnn"):
        assert rows[model].count(" / ") == len(SETTINGS)  # a macro-F1 / OA cell in every setting
        assert early[model].count("|") == len(SETTINGS) + 3  # an in-season macro-F1 in every setting, a mean
    assert "pick: " in table.stdout and ("rule holds" in table.stdout or "rule broken" in table.stdout)
    again = runner.invoke(app, [*args, "--json"])  # every run is reused from --out
    assert again.exit_code == 0, again.output
    scores = json.loads(again.stdout)
    assert list(scores) == list(SETTINGS)
    for setting, by_model in scores.items():
        assert set(by_model) == {"random_forest", "tempcnn"}
        kept = json.loads((out / setting / "tempcnn" / "accuracy.json").read_text())["score"]
        assert by_model["tempcnn"] == {**kept, "p_vs_forest": by_model["tempcnn"]["p_vs_forest"]}
        f1 = f"{by_model['tempcnn']['macro_f1']:.3f} / {by_model['tempcnn']['oa']:.3f}"
        assert f1 in rows["tempcnn"] and f"{by_model['tempcnn']['macro_f1_in_season']:.3f}" in early["tempcnn"]


@pytest.mark.parametrize("name", ["few", "base", "many-classes"])
def test_the_test_split_is_large_whatever_the_training_size(name: str) -> None:
    table = make_setting(name, scale=0.3)
    labels, split = _column(table, "label"), _column(table, "split")
    per_class = [int(np.sum((labels == c) & (split == "test"))) for c in set(labels)]
    assert min(per_class) >= 48  # about _TEST_PER_CLASS each, the stratified rounding aside


def test_scores_over_several_seeds_are_means_with_their_spread() -> None:
    runs = [
        {"macro_f1": 0.9, "oa": 0.8, "macro_f1_in_season": 0.5, "seconds": 2.0},
        {"macro_f1": 0.7, "oa": 0.6, "macro_f1_in_season": 0.4, "seconds": 3.0},
    ]
    assert _over_seeds(runs) == {
        "macro_f1": 0.8,
        "oa": 0.7,
        "macro_f1_in_season": 0.45,
        "seconds": 5.0,
        "macro_f1_sd": 0.1414,
        "seeds": 2.0,
    }
    assert _over_seeds(runs[:1]) == runs[0]  # one seed: the run's own score


def test_several_seeds_run_apart_and_pool_their_test_samples(tmp_path) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    out = tmp_path / "runs"
    options = {"models": ["random_forest", "tempcnn"], "settings": ["base"], "scale": 0.2, "epochs": 1}
    result = bench_accuracy(**options, seed=[0, 1], out=out, quiet=True)

    def kept_of(model: str) -> dict[int, dict]:
        return {s: json.loads((out / f"seed-{s}" / "base" / model / "accuracy.json").read_text()) for s in (0, 1)}

    kept, forest = kept_of("tempcnn"), kept_of("random_forest")
    assert kept[0]["correct"] != kept[1]["correct"] or kept[0]["score"] != kept[1]["score"]  # two seeds, two runs
    score = result.scores["base"]["tempcnn"]
    f1 = [kept[s]["score"]["macro_f1"] for s in (0, 1)]
    assert score["macro_f1"] == round(sum(f1) / 2, 4) and score["seeds"] == 2
    assert score["macro_f1_sd"] == round(abs(f1[0] - f1[1]) / 2**0.5, 4)
    pooled = mcnemar_p(kept[0]["correct"] + kept[1]["correct"], forest[0]["correct"] + forest[1]["correct"])
    assert score["p_vs_forest"] == round(pooled, 4)
    text = bench_accuracy_markdown(result)
    assert "mean ± sd over 2 seeds" in text and f"{score['macro_f1']:.3f} ± {score['macro_f1_sd']:.3f} / " in text
    again = CliRunner().invoke(
        app, ["bench", "accuracy", "--models", "random_forest,tempcnn", "--settings", "base", "--scale", "0.2",
              "--epochs", "1", "--seeds", "0,1", "--out", str(out), "--json"]
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == result.scores  # every run reused from --out


@pytest.mark.parametrize("seeds", [[], [1, 1], [-1]])
def test_no_repeated_or_negative_seeds(seeds: list[int], tmp_path) -> None:
    with pytest.raises(InputError, match="give distinct seeds of at least 0"):
        bench_accuracy(models=["random_forest"], settings=["base"], seed=seeds, out=tmp_path, quiet=True)
