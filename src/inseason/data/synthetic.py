"""A synthetic series table built directly in memory: labelled, ragged, calendar-true, in seconds.

Benchmarks and unit tests of the training stack need a series table without running synth → extract →
series first. Each sample mixes the synthetic world's soil and canopy spectra with a per-class phenology
curve (planting day, green-up and senescence jittered per sample) observed on an irregular 5-day revisit
with cloud gaps, stored as int16 reflectance × 10 000 exactly like extracted Sentinel-2 series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from inseason.errors import InputError
from inseason.labels import cdl_code
from inseason.season import parse_month_day, season_start_day
from inseason.synth.spectra import GREEN, SOIL, SPECTRUM_INDEX
from inseason.tables import S2_BANDS, series_schema

#: A class's canopy spectrum: a name of `SPECTRUM_INDEX`, or a mix of them ``{name: weight}`` (weights sum to 1).
Spectrum = str | Mapping[str, float]

#: A class's phenology: (spectrum, day of green-up, days to peak, days of plateau, peak canopy fraction).
Phenology = tuple[Spectrum, float, float, float, float]

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


def _spectrum_of(spectrum: Spectrum) -> npt.NDArray[np.float32]:
    """The full-canopy reflectance (12 Sentinel-2 bands) of a spectrum name or mix."""
    if isinstance(spectrum, str):
        return np.asarray(GREEN[SPECTRUM_INDEX[spectrum]], np.float32)
    mix = np.zeros(GREEN.shape[1], np.float64)
    for name, weight in spectrum.items():
        mix += weight * GREEN[SPECTRUM_INDEX[name]]
    return mix.astype(np.float32)


def _check_phenology(phenology: Mapping[str, Phenology]) -> None:
    """Refuse a phenology table with an unknown spectrum, a mix whose weights do not sum to 1, or bad numbers."""
    for name, (spectrum, green_up, rise, plateau, peak) in phenology.items():
        names = [spectrum] if isinstance(spectrum, str) else list(spectrum)
        unknown = [n for n in names if n not in SPECTRUM_INDEX]
        if unknown or not names:
            raise InputError(
                f"synthetic class {name!r}: spectrum {unknown or names} unknown: mix {', '.join(SPECTRUM_INDEX)}"
            )
        if not isinstance(spectrum, str) and (
            any(w < 0 for w in spectrum.values()) or abs(sum(spectrum.values()) - 1) > 1e-4
        ):
            raise InputError(f"synthetic class {name!r}: spectrum weights {dict(spectrum)} must be ≥ 0 and sum to 1")
        if rise <= 0 or plateau < 0 or not 0 < peak <= 1 or not 0 <= green_up < 365:
            raise InputError(
                f"synthetic class {name!r}: green-up {green_up} (0-364), rise {rise} (> 0), plateau {plateau} "
                f"(≥ 0) and peak {peak} (0-1] out of range"
            )


def procedural_phenology(n_classes: int, *, seed: int = 0, similar: float = 0.3) -> dict[str, Phenology]:
    """``n_classes`` class phenologies drawn at random: green-up day, rise, plateau, peak and a spectrum mix.

    Each class mixes two of the synthetic world's canopy spectra; a fraction ``similar`` of the classes are
    near copies of an earlier class (green-up within a week, the same spectra with weights 0.15 apart), so
    some pairs are hard to tell apart, as crop types with close calendars are.

    Args:
        n_classes: Classes to draw (at least 2).
        seed: Seed of the draws.
        similar: Fraction of the classes (0-1) that are near copies of an earlier one.

    Returns:
        Class name (``"Class 01"``, ...) → phenology, for `synthetic_series`'s ``phenology``.

    Raises:
        InputError: ``n_classes`` below 2 or ``similar`` outside 0-1.
    """
    if n_classes < 2 or not 0 <= similar <= 1:
        raise InputError(f"procedural_phenology: n_classes={n_classes} must be ≥ 2 and similar={similar} in 0-1")
    rng = np.random.default_rng([seed, 3])
    spectra = list(SPECTRUM_INDEX)
    drawn: list[tuple[str, str, float, float, float, float, float]] = []
    for k in range(n_classes):
        if k >= 2 and rng.random() < similar:
            a, b, weight, green_up, rise, plateau, peak = drawn[int(rng.integers(0, k))]
            weight = float(np.clip(weight + rng.choice([-0.15, 0.15]), 0.0, 1.0))
            green_up = float(np.clip(green_up + rng.uniform(-7, 7), 20, 220))
            plateau = float(max(plateau + rng.uniform(-10, 10), 10))
        else:
            a, b = (str(x) for x in rng.choice(spectra, size=2, replace=False))
            weight = float(rng.uniform(0.5, 1.0))
            green_up = float(rng.uniform(30, 200))
            rise = float(rng.uniform(30, 75))
            plateau = float(rng.uniform(20, 150))
            peak = float(rng.uniform(0.55, 0.95))
        drawn.append((a, b, weight, green_up, rise, plateau, peak))
    width = len(str(n_classes))
    return {
        f"Class {k + 1:0{width}d}": ({a: round(w, 6), b: round(1 - w, 6)}, g, r, p, pk)
        for k, (a, b, w, g, r, p, pk) in enumerate(drawn)
    }


def _code_of(name: str) -> int | None:
    """The CDL code of a class name, None (no source code) for a name CDL does not have."""
    try:
        return cdl_code(name)
    except InputError:
        return None


def _flip_labels(
    rows: dict[str, list[Any]],
    classes: Sequence[str],
    codes: Mapping[str, int | None],
    *,
    label_noise: float,
    splits: Sequence[str],
    seed: int,
) -> None:
    """Flip a fraction ``label_noise`` of the labels of rows in ``splits`` to another class, in place."""
    rng = np.random.default_rng([seed, 2])  # its own stream: the series do not change with the noise
    names = list(dict.fromkeys(classes))
    for i, split in enumerate(rows["split"]):
        if split in splits and rng.random() < label_noise:
            others = [c for c in names if c != rows["label"][i]]
            rows["label"][i] = others[int(rng.integers(0, len(others)))]
            rows["label_code"][i] = codes[rows["label"][i]]


def _split_ranks(order: npt.NDArray[np.int64], n_classes: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each field's rank in the shuffled ``order`` among the fields of its class, and its class's field count."""
    klass = np.arange(order.size) % n_classes
    rank = np.empty(order.size, np.int64)
    count = np.empty(order.size, np.int64)
    for k in range(n_classes):
        members = np.flatnonzero(klass == k)
        rank[members[np.argsort(order[members])]] = np.arange(members.size)
        count[members] = members.size
    return rank, count


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
    phenology: Mapping[str, Phenology] | None = None,
    cadence_days: int = 5,
    composite: bool = False,
    cloud_fraction: float = 0.35,
    season_start: str | None = None,
    shift_days: Mapping[int, float] | None = None,
    label_noise: float = 0.0,
    noisy_splits: Sequence[str] = ("train",),
    stratified: bool = False,
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

    The other options make the data hard in the ways real data is (each default keeps the table above):
    ``phenology`` replaces the six classes (e.g. `procedural_phenology`'s 25+), ``cadence_days`` and
    ``composite`` observe on an 8- or 16-day composite grid instead of a jittered 5-day revisit,
    ``season_start`` moves the season (recorded as ``inseason import --season-start`` records it),
    ``shift_days`` moves every green-up of a year (weather), and ``label_noise`` flips that fraction of the
    labels of ``noisy_splits`` to another class.

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
        phenology: Class name → phenology (spectrum or spectrum mix, green-up day, rise, plateau, peak) to
            draw ``classes`` from instead of `PHENOLOGY`; ``classes`` then defaults to all of them.
        cadence_days: Days between observation dates (a revisit, or a composite period).
        composite: Dates on the fixed grid of composite periods (no per-sample jitter of the revisit).
        cloud_fraction: Chance (0-1) that a date is lost to clouds.
        season_start: Month-day the seasons start (None: 01-01, not recorded); when given, the table records
            it in ``inseason:season_start`` metadata.
        shift_days: Season year → days added to every green-up of that year (an early or late spring).
        label_noise: Fraction (0-1) of the rows of ``noisy_splits`` whose label is flipped to another class.
        noisy_splits: Splits whose labels ``label_noise`` flips (the test split keeps the truth).
        stratified: Split each class's fields by the fractions (every split holds every class that has as many
            fields as splits), instead of all fields together.

    Returns:
        The series table.

    Raises:
        InputError: An unknown or empty class list, ``n_samples`` or ``pixels_per_field`` below 1, bands that
            are not Sentinel-2 bands, a negative ``spread_m``, or a harder-data option out of its range.
    """
    table: Mapping[str, Phenology] = PHENOLOGY if phenology is None else phenology
    if phenology is not None:
        _check_phenology(phenology)
        if tuple(classes) == tuple(PHENOLOGY):
            classes = tuple(phenology)
    unknown = [c for c in classes if c not in table]
    if unknown or not classes:
        raise InputError(f"synthetic classes {unknown or list(classes)} unknown: choose from {', '.join(table)}")
    if cadence_days < 1 or not 0 <= cloud_fraction < 1 or not 0 <= label_noise <= 1:
        raise InputError(
            f"cadence_days={cadence_days} must be at least 1, cloud_fraction={cloud_fraction} in [0, 1) and "
            f"label_noise={label_noise} in [0, 1]"
        )
    if label_noise > 0 and len(classes) < 2:
        raise InputError("label_noise needs at least two classes to flip between")
    start = "01-01" if season_start is None else season_start
    parse_month_day(start, what="season start")
    spectra = {name: _spectrum_of(table[name][0]) for name in classes}
    codes = {name: _code_of(name) for name in classes}
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
    grid = np.arange(0, 365, cadence_days, dtype=np.int64)
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
        start_day = season_start_day(year, start)
        shift = 0.0 if shift_days is None else float(shift_days.get(int(year), 0.0))
        order = rng.permutation(n_fields)
        rank, count = _split_ranks(order, len(classes)) if stratified else (order, np.full(n_fields, n_fields))
        if spread_m > 0 and (season == 0 or new_places_each_year):
            origins = _SCATTER_CORNER + places.uniform(0, spread_m, size=(n_fields, 2))
        first_field = season * n_fields if new_places_each_year else 0
        for i in range(n_samples):
            field = i // pixels_per_field
            name = classes[field % len(classes)]
            _, green_up, rise, plateau, peak = table[name]
            offset = rng.integers(0, cadence_days)
            if composite:
                offset = np.int64(0)
            seen = rng.random(grid.size) > cloud_fraction
            doy = grid[seen] + offset
            doy = doy[doy < 365]
            jitter = rng.normal(0.0, 8.0)
            canopy = _canopy(
                doy.astype(np.float64),
                np.float64(green_up + shift + jitter),
                np.float64(rise),
                np.float64(plateau + rng.normal(0, 6)),
                np.float64(peak * rng.uniform(0.85, 1.0)),
            )
            reflectance = SOIL[None, :] * (1 - canopy[:, None]) + spectra[name][None, :] * canopy[:, None]
            reflectance = reflectance + rng.normal(0.0, noise, reflectance.shape)
            values = np.clip(np.round(reflectance * 10_000), 1, 20_000).astype(np.int16)[:, band_index]
            split_index = int(np.searchsorted(fractions, (rank[field] + 0.5) / count[field]))
            rows["sample_id"].append(int(year) * 1_000_000 + i)
            rows["year"].append(int(year))
            rows["label"].append(name)
            rows["label_code"].append(codes[name])
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
    if label_noise > 0:
        _flip_labels(rows, classes, codes, label_noise=label_noise, splits=noisy_splits, seed=seed)
    schema = series_schema(bands)
    if season_start is not None:
        schema = schema.with_metadata({**(schema.metadata or {}), b"inseason:season_start": start.encode()})
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
