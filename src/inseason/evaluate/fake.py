"""A small fake series table, a phenology-template predictor and a fake evaluation built from them: for
tests, for previewing the report, and as a worked example of the predictor contract.

Each class greens up around its own day of the year; the predictor compares a row's NDVI so far with each
class's template, so its accuracy rises as the as-of date moves into the season, as a real model's should.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from inseason.evaluate.evaluation import evaluate_predictor
from inseason.evaluate.series_arrays import flatten_series
from inseason.season import days_since_epoch
from inseason.tables import series_bands, series_schema

#: Fake classes: name → (CDL code, day of year of peak greenness).
FAKE_CLASSES: dict[str, tuple[int, int]] = {
    "Corn": (1, 185),
    "Soybeans": (5, 225),
    "Rice": (3, 205),
    "Cotton": (2, 240),
}
FAKE_BANDS = ("B02", "B03", "B04", "B08")
_CLEAR, _SHADOW, _CIRRUS = 4, 3, 10


def greenness(day_of_year: np.ndarray, peak: float) -> np.ndarray:
    """Vegetation fraction 0..1 of a crop peaking on ``peak`` (a bell curve 45 days wide)."""
    return np.exp(-0.5 * ((np.asarray(day_of_year, dtype=np.float64) - peak) / 45.0) ** 2)


def fake_series(
    *,
    n_fields: int = 6,
    pixels_per_field: int = 5,
    years: Sequence[int] = (2021,),
    seed: int = 0,
    fixed_locations: bool = False,
) -> pa.Table:
    """A series table (int16 reflectance × 10 000, bands B02 B03 B04 B08) of ``n_fields`` fields per class
    and year, 5-day revisits from March to October with cloudy dates dropped, per-field planting shifts.

    Every row has its own ``sample_id`` and every field-year its own ``field_id`` (as connected
    components of a yearly label raster would). With ``fixed_locations`` the pixels are at the same
    ``x``/``y`` every year (one place observed over several seasons, same crop); otherwise each year's
    fields are drawn anew.
    """
    rng = np.random.default_rng(seed)
    places = np.random.default_rng([seed, 1])
    origins = places.uniform([400_000, 1_200_000], [410_000, 1_210_000], size=(len(FAKE_CLASSES), n_fields, 2))
    offsets = places.uniform(0, 200, size=(len(FAKE_CLASSES), n_fields, pixels_per_field, 2))
    schema = series_schema(FAKE_BANDS, crs="EPSG:5070")
    rows: dict[str, list[Any]] = {name: [] for name in schema.names}
    field_id = 0
    for year in years:
        start = dt.date(year, 3, 1)
        all_days = np.arange(0, 245, 5)
        for c, (name, (code, peak)) in enumerate(FAKE_CLASSES.items()):
            for f in range(n_fields):
                field_id += 1
                shift = rng.normal(0, 4)
                fx, fy = rng.uniform(400_000, 410_000), rng.uniform(1_200_000, 1_210_000)
                for p in range(pixels_per_field):
                    kept = all_days[rng.random(all_days.size) > 0.3]
                    dates = [start + dt.timedelta(days=int(d)) for d in kept]
                    doy = np.array([d.timetuple().tm_yday for d in dates])
                    veg = greenness(doy, peak + shift) + rng.normal(0, 0.06, doy.size)
                    reflectance = np.stack(
                        [0.06 - 0.03 * veg, 0.08 + 0.02 * veg, 0.10 - 0.07 * veg, 0.20 + 0.30 * veg], axis=1
                    )
                    scl = rng.choice([_CLEAR, _CLEAR, _CLEAR, _SHADOW, _CIRRUS], size=doy.size)
                    rows["sample_id"].append(len(rows["sample_id"]) + 1)
                    rows["year"].append(year)
                    rows["label"].append(name)
                    rows["label_code"].append(code)
                    rows["field_id"].append(field_id)
                    x, y = fx + rng.uniform(0, 200), fy + rng.uniform(0, 200)
                    if fixed_locations:
                        x, y = (float(v) for v in origins[c, f] + offsets[c, f, p])
                    rows["x"].append(x)
                    rows["y"].append(y)
                    rows["lon"].append(-90.9 + (x - 400_000) / 90_000)
                    rows["lat"].append(33.4 + (y - 1_200_000) / 111_000)
                    rows["crs"].append("EPSG:5070")
                    rows["split"].append("test")
                    rows["dates"].append(dates)
                    rows["values"].append(np.round(reflectance * 10_000).astype(np.int16).tolist())
                    rows["scl"].append(scl.astype(np.uint8).tolist())
    return pa.Table.from_pydict(rows, schema=schema)


class TemplatePredictor:
    """Predicts the class whose greenness template best matches a row's NDVI so far (see module doc);
    rows without observations get uniform probabilities. Records each call's ``as_of`` in ``calls``.
    """

    def __init__(self, classes: Sequence[str] = tuple(FAKE_CLASSES), *, sharpness: float = 40.0) -> None:
        self.classes = list(classes)
        self.sharpness = sharpness
        self.calls: list[dt.date] = []

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> np.ndarray:
        """Class probabilities ``[rows, classes]`` from observations dated up to ``as_of``."""
        self.calls.append(as_of)
        bands, scales = series_bands(table.schema)
        flat = flatten_series(table)
        keep = flat.day <= days_since_epoch(as_of)
        values = flat.values[keep].astype(np.float64) * np.asarray(scales)
        red, nir = values[:, bands.index("B04")], values[:, bands.index("B08")]
        ndvi = (nir - red) / (nir + red)
        years = table.column("year").to_numpy(zero_copy_only=False).astype(np.int64)
        jan1 = np.array([days_since_epoch(dt.date(int(y), 1, 1)) for y in years])
        row = flat.row[keep]
        doy = flat.day[keep] - jan1[row] + 1
        veg = (0.1 - 0.3 * ndvi) / (0.23 * ndvi - 0.37)  # inverts the fake reflectance model
        error = np.zeros((table.num_rows, len(self.classes)))
        for k, name in enumerate(self.classes):
            error[:, k] = np.bincount(
                row, weights=(veg - greenness(doy, FAKE_CLASSES[name][1])) ** 2, minlength=table.num_rows
            )
        logits = -self.sharpness * error
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)


def fake_evaluation(
    *, seed: int = 0, n_boot: int = 200, n_fields: int = 6, pixels_per_field: int = 5, years: Sequence[int] = (2021,)
) -> dict[str, Any]:
    """A complete evaluation dict (see `inseason.evaluate.evaluation`) of `TemplatePredictor` on
    `fake_series` (``n_fields``, ``pixels_per_field`` and ``years`` as there; the default is 120 samples,
    30 per class), with a config, a leakage audit and the course-window protocol filled in.
    ``fake_evaluation(n_fields=1, pixels_per_field=1)`` (4 samples) gives a too-small test set whose
    ``sample_size`` carries a warning.
    """
    table = fake_series(n_fields=n_fields, pixels_per_field=pixels_per_field, years=years, seed=seed)
    return evaluate_predictor(
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
