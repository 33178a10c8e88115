"""A synthetic series table built directly in memory: labelled, ragged, calendar-true, in seconds.

Benchmarks and unit tests of the training stack need a series table without running synth → extract →
series first. Each sample mixes the synthetic world's soil and canopy spectra with a per-class phenology
curve (planting day, green-up and senescence jittered per sample) observed on an irregular 5-day revisit
with cloud gaps, stored as int16 reflectance × 10 000 exactly like extracted Sentinel-2 series.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from inseason.errors import InputError
from inseason.labels import cdl_code
from inseason.season import season_start_day
from inseason.synth.spectra import GREEN, SOIL, SPECTRUM_INDEX
from inseason.tables import S2_BANDS, series_schema

#: Class name → (spectrum, day of green-up, days to peak, days of plateau, peak canopy fraction).
PHENOLOGY: dict[str, tuple[str, float, float, float, float]] = {
    "Corn": ("corn", 85.0, 55.0, 45.0, 0.95),
    "Soybeans": ("soybeans", 135.0, 50.0, 40.0, 0.95),
    "Rice": ("rice", 100.0, 60.0, 35.0, 0.85),
    "Cotton": ("cotton", 145.0, 65.0, 45.0, 0.75),
    "Grassland/Pasture": ("grass", 60.0, 70.0, 120.0, 0.6),
    "Deciduous Forest": ("forest", 75.0, 35.0, 170.0, 0.9),
}


#: South-west corner (EPSG:5070, metres) of the square that ``spread_m`` scatters fields over.
_SCATTER_CORNER = np.array([400_000.0, 1_200_000.0])


def _canopy(
    doy: npt.NDArray[np.float64], start: float, rise: float, plateau: float, peak: float
) -> npt.NDArray[np.float64]:
    """Canopy fraction on days ``doy``: a logistic green-up from ``start`` to ``peak``, a plateau, a senescence."""
    up = 1.0 / (1.0 + np.exp(-(doy - start - rise / 2) / (rise / 8)))
    down = 1.0 / (1.0 + np.exp((doy - start - rise - plateau - 15) / 6.0))
    return peak * up * down


def synthetic_series(
    n_samples: int,
    *,
    seed: int = 0,
    years: Sequence[int] = (2021,),
    classes: Sequence[str] = tuple(PHENOLOGY),
    splits: Sequence[tuple[str, float]] = (("train", 0.6), ("validation", 0.2), ("test", 0.2)),
    noise: float = 0.01,
    bands: Sequence[str] = S2_BANDS,
    pixels_per_field: int = 1,
    spread_m: float = 0.0,
    new_places_each_year: bool = False,
) -> pa.Table:
    """A series table (DESIGN §2 schema, 12 Sentinel-2 bands, int16) of ``n_samples`` rows per year.

    Deterministic from ``seed``. Classes are taken round-robin so every split holds every class; the split
    column is assigned by the given fractions after a seeded shuffle. Used by benchmarks and tests that need
    labelled series without building a world.

    Samples lie 30 m apart along a line from ``x = 0`` (EPSG:5070), sample ``i`` at the same place and in
    the same field every year; with ``pixels_per_field`` above 1, consecutive samples form one field (one
    class, one split). With ``spread_m`` the fields are instead scattered over a square of that side in
    the Mississippi Delta (its corner at x 400 000, y 1 200 000 in EPSG:5070), each field a row of pixels
    30 m apart, so fields have 2-D places for spatial blocks and maps. ``new_places_each_year`` draws each
    season's fields (ids and places) anew instead of observing the same places every season.

    Args:
        n_samples: Rows per year.
        seed: Seed of every random draw.
        years: Season years.
        classes: Class names, from `PHENOLOGY`.
        splits: ``(split name, fraction)`` pairs, fractions summing to 1.
        noise: Standard deviation of the reflectance noise.
        bands: Sentinel-2 bands to keep, in this order (a subset of `S2_BANDS`).
        pixels_per_field: Consecutive samples that make one field.
        spread_m: Side in metres of the square the fields are scattered over; 0 keeps them on a line.
        new_places_each_year: Give each season its own fields and places.

    Returns:
        The series table.

    Raises:
        InputError: An unknown or empty class list, ``n_samples`` or ``pixels_per_field`` below 1, bands that
            are not Sentinel-2 bands, or a negative ``spread_m``.
    """
    unknown = [c for c in classes if c not in PHENOLOGY]
    if unknown or not classes:
        raise InputError(f"synthetic classes {unknown or list(classes)} unknown: choose from {', '.join(PHENOLOGY)}")
    if n_samples < 1:
        raise InputError(f"n_samples={n_samples} must be at least 1")
    if pixels_per_field < 1 or spread_m < 0:
        raise InputError(f"pixels_per_field={pixels_per_field} must be at least 1 and spread_m={spread_m} not negative")
    if not bands or any(b not in S2_BANDS for b in bands):
        raise InputError(f"synthetic bands {list(bands)}: choose among {', '.join(S2_BANDS)}")
    band_index = [S2_BANDS.index(b) for b in bands]
    n_fields = -(-n_samples // pixels_per_field)
    places = np.random.default_rng([seed, 1])  # scattered places draw from their own stream: `rng` is unchanged
    origins = np.zeros((n_fields, 2))
    rng = np.random.default_rng(seed)
    grid = np.arange(0, 365, 5, dtype=np.int64)
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "sample_id",
            "year",
            "label",
            "label_code",
            "split",
            "dates",
            "values",
            "scl",
            "x",
            "y",
            "lon",
            "lat",
            "field_id",
        )
    }
    fractions = np.cumsum([f for _, f in splits])
    for season, year in enumerate(years):
        start_day = season_start_day(year)
        order = rng.permutation(n_fields)
        if spread_m > 0 and (season == 0 or new_places_each_year):
            origins = _SCATTER_CORNER + places.uniform(0, spread_m, size=(n_fields, 2))
        first_field = season * n_fields if new_places_each_year else 0
        for i in range(n_samples):
            field = i // pixels_per_field
            name = classes[field % len(classes)]
            spectrum, green_up, rise, plateau, peak = PHENOLOGY[name]
            offset = rng.integers(0, 5)
            seen = rng.random(grid.size) > 0.35
            doy = grid[seen] + offset
            doy = doy[doy < 365]
            jitter = rng.normal(0.0, 8.0)
            canopy = _canopy(
                doy.astype(np.float64),
                np.float64(green_up + jitter),
                np.float64(rise),
                np.float64(plateau + rng.normal(0, 6)),
                np.float64(peak * rng.uniform(0.85, 1.0)),
            )
            reflectance = (
                SOIL[None, :] * (1 - canopy[:, None]) + GREEN[SPECTRUM_INDEX[spectrum]][None, :] * canopy[:, None]
            )
            reflectance = reflectance + rng.normal(0.0, noise, reflectance.shape)
            values = np.clip(np.round(reflectance * 10_000), 1, 20_000).astype(np.int16)[:, band_index]
            split_index = int(np.searchsorted(fractions, (order[field] + 0.5) / n_fields))
            rows["sample_id"].append(int(year) * 1_000_000 + i)
            rows["year"].append(int(year))
            rows["label"].append(name)
            rows["label_code"].append(cdl_code(name))
            rows["split"].append(splits[min(split_index, len(splits) - 1)][0])
            rows["dates"].append((start_day + doy).astype("datetime64[D]"))
            rows["values"].append(values)
            rows["scl"].append(np.where(canopy > 0.3, 4, 5).astype(np.uint8))
            if spread_m > 0:
                x = float(origins[field, 0] + 30 * (i % pixels_per_field))
                y = float(origins[field, 1])
                rows["x"].append(x)
                rows["y"].append(y)
                rows["lon"].append(-90.9 + (x - _SCATTER_CORNER[0]) / 90_000)
                rows["lat"].append(33.4 + (y - _SCATTER_CORNER[1]) / 111_000)
            else:
                place = i + (season * n_samples if new_places_each_year else 0)
                rows["x"].append(float(place * 30))
                rows["y"].append(0.0)
                rows["lon"].append(-90.0 + place * 3e-4)
                rows["lat"].append(33.0)
            rows["field_id"].append(first_field + field)
    schema = series_schema(bands)
    n_rows = len(rows["label"])
    columns = {
        name: rows[name]
        for name in ("sample_id", "year", "label", "label_code", "field_id", "lon", "lat", "x", "y", "split")
    }
    columns["crs"] = ["EPSG:5070"] * n_rows
    columns["dates"] = [d.tolist() for d in rows["dates"]]
    columns["values"] = [v.tolist() for v in rows["values"]]
    columns["scl"] = [s.tolist() for s in rows["scl"]]
    return pa.Table.from_pydict({f.name: columns[f.name] for f in schema}, schema=schema)
