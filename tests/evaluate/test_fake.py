"""The fake test split is the synthetic generator's, shaped for evaluation: fields of pixels, places, bands."""

from __future__ import annotations

import datetime as dt

import numpy as np

from inseason.data.synthetic import synthetic_series
from inseason.evaluate.fake import FAKE_BANDS, FAKE_CLASSES, FAKE_SPREAD_M, TemplatePredictor, fake_series
from inseason.tables import series_bands


def test_fields_of_pixels_in_the_test_split() -> None:
    table = fake_series(n_fields=3, pixels_per_field=4, seed=2)
    assert table.num_rows == 48 and set(table.column("split").to_pylist()) == {"test"}
    assert series_bands(table.schema)[0] == list(FAKE_BANDS)
    labels, fields = table.column("label").to_pylist(), table.column("field_id").to_pylist()
    assert {name: labels.count(name) for name in FAKE_CLASSES} == dict.fromkeys(FAKE_CLASSES, 12)
    assert len(set(fields)) == 12 and all(len({lab for lab, f in zip(labels, fields) if f == g}) == 1 for g in fields)
    x, y = np.array(table.column("x").to_pylist()), np.array(table.column("y").to_pylist())
    assert len(set(zip(x, y))) == 48  # every pixel its own place
    assert x.min() >= 400_000 and x.max() < 400_000 + FAKE_SPREAD_M + 4 * 30 and y.max() < 1_200_000 + FAKE_SPREAD_M


def test_places_are_kept_or_drawn_anew_each_season() -> None:
    kept = fake_series(n_fields=2, pixels_per_field=2, years=(2020, 2021), fixed_locations=True)
    anew = fake_series(n_fields=2, pixels_per_field=2, years=(2020, 2021))
    for table, same in ((kept, True), (anew, False)):
        seasons = [table.filter(table.column("year").to_numpy() == year) for year in (2020, 2021)]
        for name in ("x", "y", "field_id"):
            assert (seasons[0].column(name).to_pylist() == seasons[1].column(name).to_pylist()) is same


def test_band_subset_keeps_the_generators_draws() -> None:
    full = synthetic_series(8, seed=5, pixels_per_field=2, spread_m=500.0)
    subset = synthetic_series(8, seed=5, pixels_per_field=2, spread_m=500.0, bands=("B08", "B04"))
    bands = series_bands(full.schema)[0]
    picked = [bands.index("B08"), bands.index("B04")]
    assert [np.array(v)[:, picked].tolist() for v in full.column("values").to_pylist()] == subset.column(
        "values"
    ).to_pylist()
    assert subset.column("x").to_pylist() == full.column("x").to_pylist()


def test_template_predictor_learns_the_season() -> None:
    table = fake_series(n_fields=4, pixels_per_field=2, seed=9)
    truth = np.array([list(FAKE_CLASSES).index(name) for name in table.column("label").to_pylist()])
    predictor = TemplatePredictor()
    early = predictor(table, as_of=dt.date(2021, 3, 1))
    late = predictor(table, as_of=dt.date(2021, 9, 1))
    assert np.allclose(early.sum(axis=1), 1.0) and np.allclose(late.sum(axis=1), 1.0)
    assert (early.argmax(axis=1) == truth).mean() < 0.5 < 0.8 < (late.argmax(axis=1) == truth).mean()
    assert predictor.calls == [dt.date(2021, 3, 1), dt.date(2021, 9, 1)]
