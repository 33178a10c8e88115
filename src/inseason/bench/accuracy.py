"""`inseason bench accuracy`: every model's default configuration on synthetic data made hard as real data is.

Each *setting* makes a seeded series table with train/validation/test splits that differs from the easy
synthetic world in one way real datasets do: few samples per class, 25+ classes with some near copies, a
single NDVI band, 8- and 16-day composites with MODIS band names, noisy training labels, a season across
1 January, a season held out. Every model of the registry is trained as ``inseason train --model NAME``
resolves it (its preset, else the inputs it is designed for) and scored on the test split at the season's
end, and its macro-F1 as of mid-season too (`IN_SEASON_DAY`): a default must also hold in season. The table
says which model the defaults should pick, and where the rule *no deep preset loses to the random forest*
(at the season's end) is broken.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inseason.data import decode_series, synthetic_series
from inseason.data.synthetic import procedural_phenology
from inseason.errors import InputError
from inseason.metrics import classification_metrics, mcnemar_p
from inseason.models import list_models, model_info
from inseason.progress import progress_bar
from inseason.storage import atomic_path
from inseason.tables import series_bands, series_schema
from inseason.train import TrainConfig, TrainRequest, run_train, train_config
from inseason.train.bundle import load_bundle
from inseason.train.config import model_preset
from inseason.train.predict import Predictor

__all__ = [
    "ALPHA",
    "BASELINE",
    "MODIS_BANDS",
    "SETTINGS",
    "AccuracyResult",
    "Setting",
    "as_band_names",
    "as_ndvi",
    "bench_accuracy",
    "bench_accuracy_markdown",
    "default_config",
    "is_recipe",
    "make_setting",
    "score_bundle",
]

#: The model every deep default is held to.
BASELINE = "random_forest"
#: A deep default *loses* to the forest where its macro-F1 is lower and McNemar's exact test on the same test
#: samples rejects equal accuracy at this level: a lower score by a sample or two is a tie, not a loss.
ALPHA = 0.05

#: MODIS-like band name → the Sentinel-2 band whose reflectance it takes.
MODIS_BANDS: dict[str, str] = {
    "red": "B04",
    "nir": "B08",
    "blue": "B02",
    "green": "B03",
    "swir1": "B11",
    "swir2": "B12",
}

#: Samples per year of the base setting at scale 1 (60 % train, 20 % validation, 20 % test).
_BASE_SAMPLES = 300
#: Training samples per class of the ``few`` setting, whatever the scale.
_FEW_PER_CLASS = 15
#: Classes of the ``many-classes`` setting.
_MANY_CLASSES = 26
_SPLITS = (("train", 0.6), ("validation", 0.2), ("test", 0.2))
#: Test samples per class at least, whatever the training size: at 5 per class one sample moved a setting's
#: macro-F1 by 3 points, more than the differences the bench is there to show.
_TEST_PER_CLASS = 50
_RESULT = "accuracy.json"
#: Day of season of the in-season score: the middle of the default as-of schedule (days 90 to 303), 15 July
#: for seasons starting 1 January. The synthetic phenologies follow the season's start, so it is the same stage
#: of growth in every setting.
IN_SEASON_DAY = 196


@dataclass(frozen=True)
class Setting:
    """One way the data is made hard: a name, what it changes, and the table it makes.

    Attributes:
        name: the setting's name in the table and the JSON.
        summary: what is hard about it, in a few words.
        make: ``make(n_samples, seed)``: the series table, ``n_samples`` the base size at this scale.
    """

    name: str
    summary: str
    make: Callable[[int, int], pa.Table]


def as_band_names(table: pa.Table, names: Mapping[str, str]) -> pa.Table:
    """A Sentinel-2 series table as an imported one with other band names: float32 reflectance, scale 1.

    Args:
        table: a series table of int16 Sentinel-2 reflectance × 10 000 (`synthetic_series`).
        names: new band name → the table's band it takes, in the new order.

    Returns:
        The table with the named bands only (its other metadata kept).

    Raises:
        InputError: a band of ``names`` is not in the table.
    """
    bands, scales = series_bands(table.schema)
    missing = [b for b in names.values() if b not in bands]
    if missing:
        raise InputError(f"bands {missing} are not in the series table's {bands}")
    index = [bands.index(b) for b in names.values()]
    scale = np.array([scales[i] for i in index], np.float32)
    values = [
        (np.asarray(v, np.float32).reshape(-1, len(bands))[:, index] * scale).tolist()
        for v in table.column("values").to_pylist()
    ]
    return _with_values(table, list(names), values)


def as_ndvi(table: pa.Table) -> pa.Table:
    """A Sentinel-2 series table as a single-band NDVI one (band ``NDVI``, float32), as NDVI datasets come.

    Args:
        table: a series table with bands ``B08`` and ``B04``.

    Returns:
        The table with one band, ``NDVI`` = (B08 − B04) / (B08 + B04).

    Raises:
        InputError: the table lacks B08 or B04.
    """
    bands, _ = series_bands(table.schema)
    if "B08" not in bands or "B04" not in bands:
        raise InputError(f"NDVI needs bands B08 and B04, the series table has {bands}")
    nir, red = bands.index("B08"), bands.index("B04")
    values = []
    for v in table.column("values").to_pylist():
        a = np.asarray(v, np.float64).reshape(-1, len(bands))
        ndvi = (a[:, nir] - a[:, red]) / np.maximum(a[:, nir] + a[:, red], 1e-9)
        values.append(ndvi.astype(np.float32)[:, None].tolist())
    return _with_values(table, ["NDVI"], values)


def _with_values(table: pa.Table, bands: list[str], values: list[Any]) -> pa.Table:
    """``table`` with new float32 ``values`` of ``bands``, the schema's other metadata kept."""
    schema = series_schema(bands, values=pa.float32())
    kept = {k: v for k, v in (table.schema.metadata or {}).items() if k not in (b"inseason:bands", b"inseason:scales")}
    schema = schema.with_metadata({**kept, **(schema.metadata or {})})
    columns = [
        pa.array(values, schema.field("values").type) if f.name == "values" else table.column(f.name) for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _sized(n: int, classes: int = 6) -> tuple[int, list[tuple[str, float]]]:
    """Samples and split fractions giving ``n``'s training and validation parts and a large test part.

    Train and validation keep the sizes of `_SPLITS` applied to ``n`` (what the setting makes hard); the
    test part holds at least `_TEST_PER_CLASS` samples per class, so scores are not a handful of samples.
    """
    train, validation = _SPLITS[0][1] * n, _SPLITS[1][1] * n
    total = round(train + validation + max(_SPLITS[2][1] * n, _TEST_PER_CLASS * classes))
    return total, [
        ("train", train / total),
        ("validation", validation / total),
        ("test", 1 - (train + validation) / total),
    ]


def _base(n: int, seed: int) -> pa.Table:
    total, splits = _sized(n)
    return synthetic_series(total, seed=seed, splits=splits, stratified=True)


def _few(n: int, seed: int) -> pa.Table:
    del n  # few is few at any scale
    total, splits = _sized(round(_FEW_PER_CLASS * 6 / _SPLITS[0][1]))
    return synthetic_series(total, seed=seed, splits=splits, stratified=True)


def _many_classes(n: int, seed: int) -> pa.Table:
    phenology = procedural_phenology(_MANY_CLASSES, seed=seed)
    total, splits = _sized(max(n * _MANY_CLASSES // 6, 5 * _MANY_CLASSES), _MANY_CLASSES)
    return synthetic_series(total, seed=seed, phenology=phenology, splits=splits, stratified=True)


def _one_band(n: int, seed: int) -> pa.Table:
    total, splits = _sized(n)
    return as_ndvi(synthetic_series(total, seed=seed, splits=splits, stratified=True))


def _composite(days: int) -> Callable[[int, int], pa.Table]:
    def make(n: int, seed: int) -> pa.Table:
        total, splits = _sized(n)
        table = synthetic_series(
            total, seed=seed, splits=splits, cadence_days=days, composite=True, cloud_fraction=0.1, stratified=True
        )
        return as_band_names(table, MODIS_BANDS)

    return make


def _noisy_labels(n: int, seed: int) -> pa.Table:
    total, splits = _sized(n)
    return synthetic_series(total, seed=seed, splits=splits, label_noise=0.2, noisy_splits=("train",), stratified=True)


def _across_new_year(n: int, seed: int) -> pa.Table:
    total, splits = _sized(n)
    return synthetic_series(total, seed=seed, splits=splits, season_start="09-01", stratified=True)


#: Green-up shift (days) of the held-out setting's seasons: two training years, a late third one to test.
_YEAR_SHIFTS = {2019: -4.0, 2020: 3.0, 2021: 12.0}


def _year_held_out(n: int, seed: int) -> pa.Table:
    years = tuple(_YEAR_SHIFTS)
    table = synthetic_series(max(n // 2, 60), seed=seed, years=years, shift_days=_YEAR_SHIFTS, stratified=True)
    year = table.column("year").to_numpy()
    split = np.asarray(table.column("split").to_pylist(), dtype=object)
    held = year == years[-1]
    split[held] = "test"
    split[~held & (split == "test")] = "train"
    return table.set_column(table.schema.get_field_index("split"), "split", pa.array(split.tolist(), pa.string()))


#: Every setting, in the table's order.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("base", "the synthetic world: 6 classes, 12 S2 bands, 5-day revisit", _base),
        Setting("few", f"{_FEW_PER_CLASS} training samples per class", _few),
        Setting("many-classes", f"{_MANY_CLASSES} procedural classes, some near copies", _many_classes),
        Setting("one-band", "a single NDVI band", _one_band),
        Setting("composite-8d", "8-day composites, MODIS band names", _composite(8)),
        Setting("modis-16d", "16-day composites, MODIS band names", _composite(16)),
        Setting("noisy-labels", "20 % of the training labels flipped", _noisy_labels),
        Setting("across-new-year", "seasons 09-01 to 08-31", _across_new_year),
        Setting("year-held-out", "train on 2019-2020, test on a late 2021", _year_held_out),
    )
}


def make_setting(name: str, *, scale: float = 1.0, seed: int = 0) -> pa.Table:
    """The series table of one setting, with train, validation and test splits.

    Args:
        name: a name of `SETTINGS`.
        scale: size relative to the default (1: 300 samples a year in the base setting).
        seed: the seed of the data.

    Returns:
        The series table.

    Raises:
        InputError: an unknown setting or a scale that leaves too few samples.
    """
    if name not in SETTINGS:
        raise InputError(f"unknown accuracy setting {name!r}: choose from {', '.join(SETTINGS)}")
    n = round(_BASE_SAMPLES * scale)
    if n < 30:
        raise InputError(f"--scale {scale} leaves {n} samples in the base setting: give at least {30 / _BASE_SAMPLES}")
    return SETTINGS[name].make(n, seed)


def default_config(name: str, *, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The configuration ``inseason train --model NAME`` gives: the model's preset (`model_preset`).

    Args:
        name: a registered model.
        overrides: dotted options applied last (e.g. ``{"epochs": 2}``).

    Returns:
        The config.

    Raises:
        InputError: an unknown model or option.
    """
    if name not in list_models():
        raise InputError(f"unknown model {name!r}: choose from {', '.join(list_models())}")
    return train_config(preset=model_preset(name), overrides={"model.name": name, **(overrides or {})})


@dataclass(frozen=True)
class AccuracyResult:
    """What the bench measured and what it concludes.

    Attributes:
        scores: setting → model → ``{"macro_f1", "oa", "seconds"}`` (test split, season's end) and
            ``macro_f1_in_season`` (as of day `IN_SEASON_DAY`); with several seeds the means, the seconds
            summed, ``macro_f1_sd`` and ``seeds``; and ``p_vs_forest`` (McNemar's exact p-value against
            `BASELINE`, at the season's end) where the forest ran too.
        pick: the model with the best mean macro-F1 over the settings (None: no model ran).
        losses: ``(setting, deep default, its macro-F1, the forest's)`` wherever a deep default loses to
            `BASELINE` (lower, with ``p_vs_forest`` below `ALPHA`; empty when the forest did not run).
        out: the folder holding the run folders (None: a temporary one, removed).
    """

    scores: dict[str, dict[str, dict[str, float]]]
    pick: str | None
    losses: list[tuple[str, str, float, float]] = field(default_factory=list)
    out: str | None = None

    def mean_macro_f1(self) -> dict[str, float]:
        """Each model's macro-F1 averaged over the settings it ran on, best first.

        Returns:
            Model → mean macro-F1.
        """
        return self._mean("macro_f1")

    def mean_in_season(self) -> dict[str, float]:
        """Each model's in-season macro-F1 (as of day `IN_SEASON_DAY`) averaged over the settings, best first.

        Returns:
            Model → mean in-season macro-F1 (models scored before it existed are left out).
        """
        return self._mean("macro_f1_in_season")

    def _mean(self, key: str) -> dict[str, float]:
        """Each model's ``key`` averaged over the settings it has it on, best first."""
        models = {m for by_model in self.scores.values() for m, score in by_model.items() if key in score}
        means = {m: float(np.mean([s[m][key] for s in self.scores.values() if m in s and key in s[m]])) for m in models}
        return dict(sorted(means.items(), key=lambda kv: -kv[1]))


def _score(run: Path, table: pa.Table) -> tuple[dict[str, float], list[int]]:
    """The score of ``run``'s bundle on the test rows, and its per-sample correctness at the season's end.

    Returns:
        ``{"macro_f1", "oa"}`` at the season's end and ``macro_f1_in_season`` as of day `IN_SEASON_DAY` of
        the season (rounded to 4 places); correctness is 1/0 per test row, in table order.
    """
    bundle = load_bundle(run)
    store = decode_series(table, season=bundle.season_start)
    rows = np.flatnonzero(pc.equal(table.column("split"), "test").to_numpy(zero_copy_only=False))
    predictor = Predictor(bundle)
    predicted = predictor.predict_proba(store, rows=rows).argmax(axis=1)
    truth = predictor.window_targets(store, rows=rows)
    metrics = classification_metrics(truth, predicted, classes=bundle.class_names)
    early = predictor.predict_proba(store, rows=rows, as_of=IN_SEASON_DAY).argmax(axis=1)
    early_truth = predictor.window_targets(store, rows=rows, as_of=IN_SEASON_DAY)
    in_season = classification_metrics(early_truth, early, classes=bundle.class_names)
    correct = (np.asarray(truth) == predicted).astype(int).tolist()
    score = {
        "macro_f1": round(float(metrics["macro_f1"] or 0.0), 4),
        "oa": round(float(metrics["overall_accuracy"] or 0.0), 4),
        "macro_f1_in_season": round(float(in_season["macro_f1"] or 0.0), 4),
    }
    return score, correct


def score_bundle(run: str | Path, table: pa.Table) -> dict[str, float]:
    """A bundle's macro-F1 and OA on a setting's test split at the season's end, and its in-season macro-F1.

    Args:
        run: the run folder or bundle.
        table: the setting's series table (`make_setting`).

    Returns:
        ``{"macro_f1", "oa", "macro_f1_in_season"}`` (as of day `IN_SEASON_DAY`), rounded to 4 places.
    """
    return _score(Path(run), table)[0]


def _run_one(
    name: str, table: pa.Table, run: Path, *, overrides: Mapping[str, Any]
) -> tuple[dict[str, float], list[int]]:
    """Train ``name``'s default config on ``table`` into ``run`` and score it (reusing a finished run's score).

    Returns:
        The score (``macro_f1``, ``oa``, ``macro_f1_in_season``, ``seconds``) and which test samples it got
        right at the season's end.
    """
    done = run / _RESULT
    if done.exists():
        saved = json.loads(done.read_text())
        if "correct" in saved and "macro_f1_in_season" in saved["score"]:
            return {k: float(v) for k, v in saved["score"].items()}, [int(c) for c in saved["correct"]]
        if "correct" in saved:  # scored before the in-season score existed: score the trained bundle again
            score, correct = _score(run, table)
            score = {**score, "seconds": float(saved["score"]["seconds"])}
            with atomic_path(done) as tmp:
                Path(tmp).write_text(json.dumps({"model": name, "score": score, "correct": correct}))
            return score, correct
        shutil.rmtree(run)  # scored before per-sample results were kept: train it again
    if run.exists():  # a run killed before it was scored: start it again
        shutil.rmtree(run)
    started = time.perf_counter()
    config = default_config(name, overrides=overrides)
    run_train(TrainRequest.of(series=table, out=run, config=config, quiet=True))
    score, correct = _score(run, table)
    score["seconds"] = round(time.perf_counter() - started, 1)
    with atomic_path(done) as tmp:
        Path(tmp).write_text(json.dumps({"model": name, "score": score, "correct": correct}))
    return score, correct


def _over_seeds(runs: list[dict[str, float]]) -> dict[str, float]:
    """One model's score on one setting: the run's, or with several seeds the means and macro-F1's spread.

    Args:
        runs: ``{"macro_f1", "oa", "macro_f1_in_season", "seconds"}`` of each seed.

    Returns:
        The score; with several seeds also ``macro_f1_sd`` (sample standard deviation) and ``seeds``.
    """
    if len(runs) == 1:
        return dict(runs[0])
    f1 = [r["macro_f1"] for r in runs]
    return {
        "macro_f1": round(float(np.mean(f1)), 4),
        "oa": round(float(np.mean([r["oa"] for r in runs])), 4),
        "macro_f1_in_season": round(float(np.mean([r["macro_f1_in_season"] for r in runs])), 4),
        "seconds": round(float(np.sum([r["seconds"] for r in runs])), 1),
        "macro_f1_sd": round(float(np.std(f1, ddof=1)), 4),
        "seeds": float(len(runs)),
    }


def is_recipe(name: str) -> bool:
    """Whether ``name`` is kept to reproduce a publication: a fixed recipe, or a published network unchanged.

    A recipe reproduces a course or paper as it was written: a preset that adapts nothing to the data (the
    ARSET course's 120-day window ending on the as-of date), or a network whose layers and parameter count
    are the publication's (`ModelInfo.reproduces`: the 349-parameter network of the ARSET slides). It is
    measured but not held to the forest rule that the project's own defaults must meet.

    Args:
        name: a registered model.

    Returns:
        Whether its preset's ``adapt`` list is empty or its class reproduces a publication.
    """
    return not model_preset(name).get("adapt") or model_info(name).reproduces is not None


def _verdict(scores: dict[str, dict[str, dict[str, float]]]) -> tuple[str | None, list[tuple[str, str, float, float]]]:
    """The model with the best mean macro-F1, and each (setting, deep default) losing to the forest.

    A loss is a lower macro-F1 whose McNemar p-value against the forest (``p_vs_forest``, same test samples)
    is below `ALPHA`; a score without a p-value counts as a loss when lower. Recipes (`is_recipe`) are exempt.
    """
    result = AccuracyResult(scores=scores, pick=None)
    means = result.mean_macro_f1()
    losses = []
    for setting, by_model in scores.items():
        if BASELINE not in by_model:
            continue
        forest = by_model[BASELINE]["macro_f1"]
        for model, score in by_model.items():
            if not model_info(model).neural or is_recipe(model) or score["macro_f1"] >= forest:
                continue
            if score.get("p_vs_forest", 0.0) < ALPHA:
                losses.append((setting, model, score["macro_f1"], forest))
    return (next(iter(means)) if means else None), losses


def bench_accuracy(
    *,
    models: Sequence[str] | None = None,
    settings: Sequence[str] | None = None,
    scale: float = 1.0,
    epochs: int | None = None,
    seed: int | Sequence[int] = 0,
    out: str | Path | None = None,
    quiet: bool = False,
) -> AccuracyResult:
    """Train every model's default configuration on every setting and score it on the test split.

    With several seeds each model runs once per seed (a new table and a new initialisation each time): its
    scores are the means over the seeds (``macro_f1_sd`` their standard deviation) and McNemar's test pools
    the test samples of every seed, so a difference must hold across seeds to count as a loss.

    Args:
        models: registry models (None: all of `inseason.models.list_models`).
        settings: names of `SETTINGS` (None: all).
        scale: data size relative to the default (1: 300 samples a year in the base setting).
        epochs: epochs of every network (None: each default's own).
        seed: the seed of the data and the training, or several (each a run of every setting and model).
        out: folder kept with one run folder per setting and model (``OUT/SETTING/MODEL``; with several
            seeds ``OUT/seed-S/SETTING/MODEL``); run again to resume after a kill (None: a temporary folder,
            removed).
        quiet: hide the progress bar.

    Returns:
        The scores, the model to pick and where a deep model loses to the forest.

    Raises:
        InputError: an unknown model or setting, a scale or epoch count out of range, or no or repeated seeds.
    """
    seeds = [seed] if isinstance(seed, int) else list(seed)
    if not seeds or len(set(seeds)) < len(seeds) or min(seeds) < 0:
        raise InputError(f"--seeds {','.join(map(str, seeds))}: give distinct seeds of at least 0")
    chosen_models = list(models) if models else list_models()
    unknown = [m for m in chosen_models if m not in list_models()]
    if unknown:
        raise InputError(f"unknown models {unknown}: choose from {', '.join(list_models())}")
    chosen_settings = list(settings) if settings else list(SETTINGS)
    unknown = [s for s in chosen_settings if s not in SETTINGS]
    if unknown:
        raise InputError(f"unknown accuracy settings {unknown}: choose from {', '.join(SETTINGS)}")
    if epochs is not None and epochs < 1:
        raise InputError(f"--epochs {epochs} must be at least 1")
    overrides: dict[str, Any] = {"histograms": False}
    if epochs is not None:
        overrides["epochs"] = epochs
    scores: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="inseason-accuracy-") as tmp:
        root = Path(out) if out is not None else Path(tmp)
        with progress_bar(quiet=quiet) as bar:
            task = bar.add_task("accuracy", total=len(chosen_models) * len(chosen_settings) * len(seeds))
            for setting in chosen_settings:
                runs: dict[str, list[dict[str, float]]] = {name: [] for name in chosen_models}
                correct: dict[str, list[int]] = {name: [] for name in chosen_models}
                for one_seed in seeds:
                    table = make_setting(setting, scale=scale, seed=one_seed)
                    seed_root = root if len(seeds) == 1 else root / f"seed-{one_seed}"
                    for name in chosen_models:
                        bar.update(task, description=f"{setting} {name} (seed {one_seed})")
                        score, right = _run_one(
                            name, table, seed_root / setting / name, overrides={**overrides, "seed": one_seed}
                        )
                        runs[name].append(score)
                        correct[name].extend(right)
                        bar.advance(task)
                scores[setting] = {name: _over_seeds(runs[name]) for name in chosen_models}
                if BASELINE in correct:
                    for name in chosen_models:
                        if name != BASELINE:
                            p = mcnemar_p(correct[name], correct[BASELINE])
                            scores[setting][name]["p_vs_forest"] = round(p, 4)
    pick, losses = _verdict(scores)
    return AccuracyResult(scores=scores, pick=pick, losses=losses, out=None if out is None else str(out))


def bench_accuracy_markdown(result: AccuracyResult) -> str:
    """The result as a Markdown table (models × settings, macro-F1 / OA), the pick and the rule's breaches.

    Args:
        result: a `bench_accuracy` result.

    Returns:
        Markdown text.
    """
    settings = list(result.scores)
    means = result.mean_macro_f1()
    recipes = ", ".join(r for r in means if is_recipe(r)) or "none"
    seeds = max((int(sc.get("seeds", 1)) for by_model in result.scores.values() for sc in by_model.values()), default=1)
    over = f", mean ± sd over {seeds} seeds, McNemar on their test samples pooled" if seeds > 1 else ""
    lines = [
        f"macro-F1 / overall accuracy on the test split at the season's end{over} (* loses to random_forest: "
        f"lower, McNemar p < {ALPHA}; ~ lower, not significantly; recipes exempt: {recipes})",
        "",
        "| model | " + " | ".join(settings) + " | mean macro-F1 |",
        "|---|" + "---:|" * (len(settings) + 1),
    ]
    for model in means:
        cells = []
        for setting in settings:
            score = result.scores[setting].get(model)
            if score is None:
                cells.append("")
                continue
            lost = any(s == setting and m == model for s, m, _, _ in result.losses)
            forest = result.scores[setting].get(BASELINE)
            lower = forest is not None and model != BASELINE and score["macro_f1"] < forest["macro_f1"]
            mark = " *" if lost else (" ~" if lower else "")
            spread = f" ± {score['macro_f1_sd']:.3f}" if "macro_f1_sd" in score else ""
            cells.append(f"{score['macro_f1']:.3f}{spread} / {score['oa']:.3f}{mark}")
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {means[model]:.3f} |")
    lines.append("")
    if result.pick is not None:
        lines.append(f"pick: {result.pick} (best mean macro-F1, {means[result.pick]:.3f})")
    if not any(BASELINE in by_model for by_model in result.scores.values()):
        lines.append(f"rule not checked: {BASELINE} did not run")
    elif result.losses:
        lines.append(f"rule broken ({len(result.losses)}): a deep default loses to {BASELINE} on")
        lines.extend(f"- {setting}: {model} {f1:.3f} < {forest:.3f}" for setting, model, f1, forest in result.losses)
    else:
        lines.append(f"rule holds: no deep default loses to {BASELINE} on any setting")
    in_season = result.mean_in_season()
    if in_season:
        lines += [
            "",
            f"in-season macro-F1 as of day {IN_SEASON_DAY} of the season (15 July for seasons starting 01-01)",
            "",
            "| model | " + " | ".join(settings) + " | mean |",
            "|---|" + "---:|" * (len(settings) + 1),
        ]
        for model, mean in in_season.items():
            cells = [
                f"{result.scores[s][model]['macro_f1_in_season']:.3f}"
                if "macro_f1_in_season" in result.scores[s].get(model, {})
                else ""
                for s in settings
            ]
            lines.append(f"| {model} | " + " | ".join(cells) + f" | {mean:.3f} |")
    return "\n".join(lines)
