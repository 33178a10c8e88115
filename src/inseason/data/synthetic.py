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
) -> pa.Table:
    """A series table (DESIGN §2 schema, 12 Sentinel-2 bands, int16) of ``n_samples`` rows per year.

    Deterministic from ``seed``. Classes are taken round-robin so every split holds every class; the split
    column is assigned by the given fractions after a seeded shuffle. Used by benchmarks and tests that need
    labelled series without building a world.

    Args:
        n_samples: Rows per year.
        seed: Seed of every random draw.
        years: Season years.
        classes: Class names, from `PHENOLOGY`.
        splits: ``(split name, fraction)`` pairs, fractions summing to 1.
        noise: Standard deviation of the reflectance noise.

    Returns:
        The series table.

    Raises:
        InputError: An unknown or empty class list, or ``n_samples`` below 1.
    """
    unknown = [c for c in classes if c not in PHENOLOGY]
    if unknown or not classes:
        raise InputError(f"synthetic classes {unknown or list(classes)} unknown: choose from {', '.join(PHENOLOGY)}")
    if n_samples < 1:
        raise InputError(f"n_samples={n_samples} must be at least 1")
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
    for year in years:
        start_day = season_start_day(year)
        order = rng.permutation(n_samples)
        for i in range(n_samples):
            name = classes[i % len(classes)]
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
            values = np.clip(np.round(reflectance * 10_000), 1, 20_000).astype(np.int16)
            split_index = int(np.searchsorted(fractions, (order[i] + 0.5) / n_samples))
            rows["sample_id"].append(int(year) * 1_000_000 + i)
            rows["year"].append(int(year))
            rows["label"].append(name)
            rows["label_code"].append(cdl_code(name))
            rows["split"].append(splits[min(split_index, len(splits) - 1)][0])
            rows["dates"].append((start_day + doy).astype("datetime64[D]"))
            rows["values"].append(values)
            rows["scl"].append(np.where(canopy > 0.3, 4, 5).astype(np.uint8))
            rows["x"].append(float(i * 30))
            rows["y"].append(0.0)
            rows["lon"].append(-90.0 + i * 3e-4)
            rows["lat"].append(33.0)
            rows["field_id"].append(i)
    schema = series_schema(S2_BANDS)
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
