"""`synthetic_series`'s options for harder data: each changes what it says, and the defaults change nothing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from inseason.data import synthetic_series
from inseason.data.store import recorded_season_start
from inseason.data.synthetic import PHENOLOGY, procedural_phenology
from inseason.errors import InputError
from inseason.labels import cdl_code
from inseason.season import season_start_day
from inseason.tables import S2_BANDS


def _fingerprint(table) -> str:
    return hashlib.sha256(repr(table.to_pydict()).encode() + repr(table.schema.metadata).encode()).hexdigest()


def _days(table, row: int) -> np.ndarray:
    return np.array(table.column("dates")[row].values.cast("int32").to_numpy())


def _ndvi(table, row: int) -> np.ndarray:
    values = np.asarray(table.column("values")[row].as_py(), np.float64)
    nir, red = values[:, S2_BANDS.index("B08")], values[:, S2_BANDS.index("B04")]
    return (nir - red) / (nir + red)


def test_defaults_give_the_table_they_gave_before_the_options() -> None:
    # fingerprints taken before the options were added: existing tests and benchmarks see the same data
    assert _fingerprint(synthetic_series(60)) == "a16a95bc9d96cf8df99fdb938e3edfb42b2b7cbf23ab59e93aa32ec526c768f4"
    scattered = synthetic_series(
        50, seed=3, years=(2020, 2021), pixels_per_field=3, spread_m=5000.0, new_places_each_year=True
    )
    assert _fingerprint(scattered) == "e8a1e0742bece398d820925d52a54d80fc51ee8089a563aa7badecdb7f91ec46"
    explicit = synthetic_series(
        60, cadence_days=5, composite=False, cloud_fraction=0.35, shift_days={2021: 0.0}, label_noise=0.0
    )
    assert _fingerprint(explicit) == _fingerprint(synthetic_series(60))


@pytest.mark.parametrize("days", [8, 16])
def test_composites_fall_on_the_period_grid(days: int) -> None:
    table = synthetic_series(30, cadence_days=days, composite=True, cloud_fraction=0.0)
    start = season_start_day(2021)
    for row in range(table.num_rows):
        offsets = _days(table, row) - start
        assert offsets.tolist() == list(range(0, 365, days))  # no clouds: every period, on the grid


def test_cloud_fraction_drops_that_share_of_dates() -> None:
    table = synthetic_series(200, cadence_days=8, composite=True, cloud_fraction=0.25)
    kept = np.mean([len(d) for d in table.column("dates").to_pylist()]) / len(range(0, 365, 8))
    assert kept == pytest.approx(0.75, abs=0.03)


def test_a_season_across_new_year_is_recorded_and_dated_from_its_start() -> None:
    table = synthetic_series(40, season_start="09-01", years=(2021,))
    assert recorded_season_start(table.schema) == "09-01"
    assert recorded_season_start(synthetic_series(6).schema) is None
    start = season_start_day(2021, "09-01")  # season 2021 runs 2020-09-01 .. 2021-08-31
    every = np.concatenate([_days(table, r) for r in range(table.num_rows)])
    assert every.min() >= start and every.max() < start + 365
    years = {d.year for r in table.column("dates").to_pylist() for d in r}
    assert years == {2020, 2021}
    assert set(table.column("year").to_pylist()) == {2021}


def test_shift_days_moves_green_up_of_that_year_only() -> None:
    years = (2020, 2021)
    plain = synthetic_series(60, years=years, noise=0.0)
    shifted = synthetic_series(60, years=years, noise=0.0, shift_days={2021: 30.0})

    def first_green(table, year: int) -> float:
        days = []
        for row in range(table.num_rows):
            if table.column("year")[row].as_py() != year:
                continue
            green = np.flatnonzero(_ndvi(table, row) > 0.5)
            days.append(_days(table, row)[green[0]] if green.size else np.nan)
        return float(np.nanmean(days))

    assert first_green(shifted, 2020) == first_green(plain, 2020)
    assert first_green(shifted, 2021) - first_green(plain, 2021) == pytest.approx(30, abs=5)


def test_label_noise_flips_that_share_of_training_labels_only() -> None:
    plain = synthetic_series(600)
    noisy = synthetic_series(600, label_noise=0.2)
    assert noisy.column("values").equals(plain.column("values"))  # the series are the same draws
    split = np.array(plain.column("split").to_pylist())
    changed = np.array(plain.column("label").to_pylist()) != np.array(noisy.column("label").to_pylist())
    assert changed[split == "train"].mean() == pytest.approx(0.2, abs=0.05)
    assert not changed[split != "train"].any()
    codes = dict(zip(noisy.column("label").to_pylist(), noisy.column("label_code").to_pylist()))
    assert all(codes[name] == cdl_code(name) for name in codes)  # a flipped label takes its class's code


def test_procedural_phenology_has_many_classes_some_close() -> None:
    phenology = procedural_phenology(26, seed=0)
    assert len(phenology) == 26 and list(phenology)[:2] == ["Class 01", "Class 02"]
    assert phenology == procedural_phenology(26, seed=0)
    assert phenology != procedural_phenology(26, seed=1)
    greens = sorted(p[1] for p in phenology.values())
    assert min(np.diff(greens)) < 7  # some classes green up within a week of another
    for spectrum, green_up, rise, plateau, peak in phenology.values():
        assert isinstance(spectrum, dict) and sum(spectrum.values()) == pytest.approx(1, abs=1e-4)
        assert 0 <= green_up < 365 and rise > 0 and plateau >= 0 and 0 < peak <= 1
    table = synthetic_series(130, phenology=phenology, stratified=True)
    labels = table.column("label").to_pylist()
    assert set(labels) == set(phenology) and labels.count("Class 01") == 5
    assert table.column("label_code").null_count == table.num_rows  # no CDL code for a made-up class
    split = table.column("split").to_pylist()
    for part in ("train", "validation", "test"):  # stratified: 5 fields a class split 3 / 1 / 1
        assert sorted(lab for lab, s in zip(labels, split) if s == part) == sorted(
            list(phenology) * {"train": 3, "validation": 1, "test": 1}[part]
        )
    plain = synthetic_series(130, phenology=phenology).column("split").to_pylist()
    assert any(  # unstratified, some class misses a split
        {lab for lab, s in zip(labels, plain) if s == part} != set(phenology) for part in ("validation", "test")
    )


def test_stratified_keeps_the_series_and_the_split_shares() -> None:
    plain = synthetic_series(600)
    strat = synthetic_series(600, stratified=True)
    assert strat.column("values").equals(plain.column("values")) and strat.column("label").equals(plain.column("label"))
    split = np.array(strat.column("split").to_pylist())
    labels = np.array(strat.column("label").to_pylist())
    for name in PHENOLOGY:
        assert [int(np.sum((labels == name) & (split == s))) for s in ("train", "validation", "test")] == [60, 20, 20]


def test_a_phenology_mix_changes_the_spectrum() -> None:
    corn = {"Corn": PHENOLOGY["Corn"]}
    mixed = {"Corn": ({"corn": 0.5, "forest": 0.5}, *PHENOLOGY["Corn"][1:])}
    a = synthetic_series(6, phenology=corn, noise=0.0)
    b = synthetic_series(6, phenology=mixed, noise=0.0)
    assert a.column("dates").equals(b.column("dates")) and not a.column("values").equals(b.column("values"))
    assert a.column("label_code").to_pylist() == [1] * 6  # a CDL name keeps its code


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"cadence_days": 0}, "cadence_days=0"),
        ({"cloud_fraction": 1.0}, "cloud_fraction=1.0"),
        ({"label_noise": 1.5}, "label_noise=1.5"),
        ({"season_start": "13-01"}, "season start '13-01'"),
        ({"phenology": {"X": ("moss", 80.0, 50.0, 40.0, 0.9)}}, "spectrum ['moss'] unknown"),
        ({"phenology": {"X": ({"corn": 0.5, "rice": 0.2}, 80.0, 50.0, 40.0, 0.9)}}, "sum to 1"),
        ({"phenology": {"X": ("corn", 80.0, 50.0, 40.0, 1.5)}}, "peak 1.5"),
        ({"phenology": {"X": ("corn", 80.0, 50.0, 40.0, 0.9)}, "label_noise": 0.1}, "two classes"),
    ],
)
def test_bad_options_are_refused_in_one_line(options: dict, words: str) -> None:
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")) as caught:
        synthetic_series(12, **options)
    assert "\n" not in str(caught.value)


def test_procedural_phenology_refuses_too_few_classes() -> None:
    with pytest.raises(InputError, match="n_classes=1"):
        procedural_phenology(1)
