"""A fake test split, a template predictor and a fake evaluation built from them.

They serve tests, previews of the report, and as a worked example of the predictor contract. The series come
from the project's one synthetic generator (`inseason.data.synthetic.synthetic_series`), where each class
greens up on its own phenology. What this module adds is evaluation's side of it: the test split of the
classes and bands `TemplatePredictor` knows, and that predictor, which learns each class's typical NDVI
through the season from another draw of the same generator and compares a row's NDVI so far with it, so
its accuracy rises as the as-of date moves into the season, as a real model's should.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from inseason.evaluate.evaluation import evaluate_predictor
from inseason.evaluate.series_arrays import flatten_series
from inseason.season import days_since_epoch, season_start_day
from inseason.tables import series_bands

#: Classes of the fake test split (names of `inseason.data.synthetic.PHENOLOGY`, CDL codes 1, 5, 3, 2).
FAKE_CLASSES = ("Corn", "Soybeans", "Rice", "Cotton")
#: Bands of the fake test split: the template predictor reads only B04 and B08 (NDVI).
FAKE_BANDS = ("B02", "B03", "B04", "B08")
#: Side (m) of the square the fake fields are scattered over.
FAKE_SPREAD_M = 10_000.0
#: Seed of the generator draw the templates are learnt from, and its samples per class.
_TEMPLATE_SEED, _TEMPLATE_SAMPLES = 20_210_401, 40
#: Width in days of a template's day-of-season bins.
_TEMPLATE_DAYS = 5


def fake_series(
    *,
    n_fields: int = 6,
    pixels_per_field: int = 5,
    years: Sequence[int] = (2021,),
    seed: int = 0,
    fixed_locations: bool = False,
) -> pa.Table:
    """The fake test split: synthetic series of the classes and bands `TemplatePredictor` knows.

    ``n_fields`` fields per class and season, each a row of ``pixels_per_field`` pixels, scattered over
    `FAKE_SPREAD_M` metres (EPSG:5070), every row in the ``test`` split, every sample its own ``sample_id``.
    With ``fixed_locations`` the fields are at the same ``x``/``y`` with the same ``field_id`` every season
    (one place observed over several seasons, same crop); otherwise each season's fields are drawn anew.

    Args:
        n_fields: fields per class and season.
        pixels_per_field: samples (pixels) per field.
        years: seasons.
        seed: seed of the generator.
        fixed_locations: observe the same places every season.

    Returns:
        A series table (`inseason.data.synthetic.synthetic_series` with these options).
    """
    from inseason.data.synthetic import synthetic_series  # imported here: the training stack loads torch

    return synthetic_series(
        len(FAKE_CLASSES) * n_fields * pixels_per_field,
        seed=seed,
        years=years,
        classes=FAKE_CLASSES,
        splits=(("test", 1.0),),
        bands=FAKE_BANDS,
        pixels_per_field=pixels_per_field,
        spread_m=FAKE_SPREAD_M,
        new_places_each_year=not fixed_locations,
    )


def _ndvi(
    table: pa.Table, *, until_day: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Row, day of season and NDVI of each observation of ``table`` (dated up to ``until_day`` when given)."""
    bands, scales = series_bands(table.schema)
    flat = flatten_series(table)
    keep = np.ones(flat.day.size, dtype=bool) if until_day is None else flat.day <= until_day
    values = flat.values[keep].astype(np.float64) * np.asarray(scales)
    red, nir = values[:, bands.index("B04")], values[:, bands.index("B08")]
    years = table.column("year").to_numpy(zero_copy_only=False).astype(np.int64)
    first_day = np.array([season_start_day(int(y)) for y in years], dtype=np.int64)
    row = flat.row[keep].astype(np.int64)
    return row, flat.day[keep] - first_day[row], (nir - red) / (nir + red)


@lru_cache(maxsize=8)
def _templates(classes: tuple[str, ...]) -> npt.NDArray[np.float64]:
    """Each class's mean NDVI per day-of-season bin ``[classes, bins]``, from a draw of the fake generator."""
    from inseason.data.synthetic import synthetic_series  # imported here: the training stack loads torch

    reference = synthetic_series(
        len(classes) * _TEMPLATE_SAMPLES,
        seed=_TEMPLATE_SEED,
        classes=classes,
        bands=("B04", "B08"),
        splits=(("test", 1.0),),
    )
    row, day, ndvi = _ndvi(reference)
    label = np.array([classes.index(name) for name in reference.column("label").to_pylist()])[row]
    n_bins = 366 // _TEMPLATE_DAYS + 1
    cell = label * n_bins + np.clip(day // _TEMPLATE_DAYS, 0, n_bins - 1)
    total = np.bincount(cell, weights=ndvi, minlength=len(classes) * n_bins).reshape(len(classes), n_bins)
    count = np.bincount(cell, minlength=len(classes) * n_bins).reshape(len(classes), n_bins)
    bins = np.arange(n_bins)
    templates = np.empty((len(classes), n_bins))
    for k in range(len(classes)):
        seen = count[k] > 0
        templates[k] = np.interp(bins, bins[seen], total[k, seen] / count[k, seen])
    return templates


class TemplatePredictor:
    """Predicts the class whose NDVI template best matches a row's NDVI so far (see the module docstring).

    Rows without observations get uniform probabilities. Records each call's ``as_of`` in ``calls``.
    """

    def __init__(self, classes: Sequence[str] = FAKE_CLASSES, *, sharpness: float = 40.0) -> None:
        """Templates for ``classes`` (names of `inseason.data.synthetic.PHENOLOGY`).

        Args:
            classes: the classes to tell apart, in output order.
            sharpness: how steeply probabilities fall with a class's summed squared NDVI error.
        """
        self.classes = list(classes)
        self.sharpness = sharpness
        self.calls: list[dt.date] = []
        self._templates = _templates(tuple(self.classes))

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> npt.NDArray[np.float64]:
        """Class probabilities ``[rows, classes]`` from observations dated up to ``as_of``.

        Args:
            table: series rows (bands B04 and B08 at least).
            as_of: the last date of observation to use.

        Returns:
            The probabilities, each row summing to 1.
        """
        self.calls.append(as_of)
        row, day, ndvi = _ndvi(table, until_day=days_since_epoch(as_of))
        bins = np.clip(day // _TEMPLATE_DAYS, 0, self._templates.shape[1] - 1)
        error = np.zeros((table.num_rows, len(self.classes)))
        for k in range(len(self.classes)):
            error[:, k] = np.bincount(row, weights=(ndvi - self._templates[k, bins]) ** 2, minlength=table.num_rows)
        logits = -self.sharpness * error
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        result: npt.NDArray[np.float64] = probabilities / probabilities.sum(axis=1, keepdims=True)
        return result


def fake_evaluation(
    *, seed: int = 0, n_boot: int = 200, n_fields: int = 6, pixels_per_field: int = 5, years: Sequence[int] = (2021,)
) -> dict[str, Any]:
    """A complete evaluation dict of `TemplatePredictor` on `fake_series`.

    The dict is the one `inseason.evaluate.evaluation` defines, with a config, a leakage audit and the
    course-window protocol filled in. The default is 120 samples, 30 per class;
    ``fake_evaluation(n_fields=1, pixels_per_field=1)`` (4 samples) gives a too-small test set whose
    ``sample_size`` carries a warning.

    Args:
        seed: seed of the series and of the bootstrap.
        n_boot: bootstrap replicates.
        n_fields: fields per class and season (`fake_series`).
        pixels_per_field: samples per field.
        years: seasons.

    Returns:
        The evaluation dict.
    """
    table = fake_series(n_fields=n_fields, pixels_per_field=pixels_per_field, years=years, seed=seed)
    result = evaluate_predictor(
        TemplatePredictor(),
        table,
        classes=list(FAKE_CLASSES),
        n_boot=n_boot,
        importance_repeats=2,
        course_protocol=True,
        n_viewer_samples=12,
        seed=seed,
        title="Fake evaluation (template predictor)",
        config={"model": {"name": "template", "sharpness": 40.0}, "seed": seed},
        leakage_audit={
            "split_by": "field",
            "buffer_m": 300,
            "train_test_min_distance_m": 312.5,
            "shared_fields": 0,
            "passed": True,
        },
    )
    return result.evaluation
