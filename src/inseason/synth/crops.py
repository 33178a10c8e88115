"""What grows where and when: rotations per field, planting and harvest dates, and daily canopy state.

Each managed field follows a rotation (corn↔soybeans, rice↔soybeans, cotton, winter wheat with or without
double-crop soybeans, …) drawn once, with a small chance per year of growing something else. Annual crops
are *cycles* with a planting date (crop window + the year's weather shift + the field's own offset) and a
harvest date; their green canopy follows a double-logistic curve of days after planting. Perennial covers
(grassland, forest, fallow weeds, water) follow the day of the year. :meth:`CropCalendar.state` returns,
for one date, each unit's green, senescent, water, lint and impervious fractions and its canopy spectrum.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from inseason.synth.landscape import COVER_CDL, Cover, Landscape
from inseason.synth.spectra import SPECTRUM_INDEX


@dataclass(frozen=True)
class CropModel:
    """Growth curve of an annual crop, in days after planting (double logistic green-up/senescence)."""

    code: int
    plant_window: tuple[int, int]  # day of the season year; negative: the previous autumn
    up: float
    k_up: float
    down: float
    k_down: float
    gmax: float
    harvest: int
    spectrum: str
    flood: bool = False  # rice: flooded from about three weeks after planting until draining
    lint: bool = False  # cotton: open bolls show white lint between defoliation and harvest


CROPS: dict[int, CropModel] = {
    1: CropModel(1, (78, 112), 38, 6, 102, 7, 0.92, 138, "corn"),
    2: CropModel(2, (115, 155), 58, 9, 128, 4, 0.78, 165, "cotton", lint=True),
    3: CropModel(3, (82, 130), 48, 7, 118, 6, 0.90, 135, "rice", flood=True),
    4: CropModel(4, (105, 140), 40, 6, 100, 6, 0.85, 130, "sorghum"),
    5: CropModel(5, (110, 150), 45, 6, 112, 5, 0.95, 140, "soybeans"),
    24: CropModel(24, (-82, -48), 135, 14, 195, 7, 0.85, 218, "wheat"),
}
#: Soybeans sown into wheat stubble: shorter cycle, planted days after the wheat harvest.
DOUBLE_CROP_SOY = CropModel(5, (4, 12), 38, 5, 98, 5, 0.9, 122, "soybeans")

#: name, share of fields, rotation of CDL codes.
MANAGEMENTS: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("corn-soybeans", 0.25, (1, 5)),
    ("soybeans", 0.15, (5,)),
    ("rice-soybeans", 0.12, (3, 5)),
    ("cotton", 0.12, (2, 2, 1)),
    ("wheat-double-crop", 0.08, (26, 5)),
    ("winter-wheat", 0.03, (24,)),
    ("sorghum-soybeans", 0.03, (4, 5)),
    ("fallow", 0.04, (61,)),
    ("pasture", 0.06, (176,)),
    ("aquaculture", 0.04, (92,)),
)
_ANNUAL = {1, 2, 3, 4, 5, 24, 26}
_DEVIATION = 0.05  # chance that a crop field grows another crop one year
_IMPERVIOUS = {
    Cover.DEVELOPED_OPEN: 0.2,
    Cover.DEVELOPED_LOW: 0.45,
    Cover.DEVELOPED_MEDIUM: 0.7,
    Cover.DEVELOPED_HIGH: 0.9,
    Cover.ROAD: 0.75,
}


def _sig(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


def grass_green(doy: float) -> float:
    """Green cover of pasture and lawns: dormant in winter, lush in early summer.

    Args:
        doy: the day of year.

    Returns:
        The green fraction.
    """
    return 0.3 + 0.45 * float(np.exp(-(((doy - 165) / 80) ** 2)))


def leaf_on(doy: float) -> float:
    """Deciduous leaf-on fraction by day of year (bud-break early April, leaf fall in November).

    Args:
        doy: the day of year.

    Returns:
        The leaf-on fraction, 0 to 1.
    """
    return float(_sig(np.array((doy - 95) / 8)) - _sig(np.array((doy - 310) / 10)))


@dataclass(frozen=True)
class CropCalendar:
    """Crops per field and year, their cycles, and each unit's canopy state on any date."""

    landscape: Landscape
    years: tuple[int, ...]  # label years of the world
    codes: np.ndarray  # (n_fields + 1, n_cal_years) CDL code of each field in each calendar year
    first_year: int  # calendar year of codes[:, 0]
    truth: pa.Table  # one row per field and label year
    cyc_unit: np.ndarray
    cyc_plant: np.ndarray  # proleptic ordinal day
    cyc_harvest: np.ndarray
    cyc_params: np.ndarray  # (n_cycles, 5): up, k_up, down, k_down, gmax
    cyc_flags: np.ndarray  # (n_cycles, 2) bool: flood, lint
    cyc_spectrum: np.ndarray

    def code_of(self, year: int) -> np.ndarray:
        """CDL code of every unit in ``year`` (fields from their rotation, other units from their cover).

        Args:
            year: a calendar year of the calendar.

        Returns:
            A uint8 code per unit id.
        """
        out = np.zeros(self.landscape.n_units, dtype=np.uint8)
        out[1 : self.landscape.n_fields + 1] = self.codes[1:, year - self.first_year]
        for cover, code in COVER_CDL.items():
            out[self.landscape.cover_unit(cover)] = code
        return out

    def state(self, date: dt.date) -> dict[str, np.ndarray]:
        """Fractions (green, senescent, water, lint, impervious) and canopy spectrum of every unit.

        Args:
            date: the acquisition date.

        Returns:
            Per unit id: ``green``, ``dry``, ``water``, ``lint`` and ``impervious`` fractions and the
            ``spectrum`` index (`inseason.synth.spectra.SPECTRUM_INDEX`) of its canopy.
        """
        n = self.landscape.n_units
        t = date.toordinal()
        doy = date.timetuple().tm_yday
        green, dry, water = np.zeros(n), np.zeros(n), np.zeros(n)
        lint, imp = np.zeros(n), np.zeros(n)
        spectrum = np.full(n, SPECTRUM_INDEX["weeds"], dtype=np.int16)

        # Annual crop cycles.
        tau = t - self.cyc_plant
        active = (tau >= 0) & (t <= self.cyc_harvest)
        up, k_up, down, k_down, gmax = self.cyc_params.T
        grown = gmax * _sig((tau - up) / k_up)
        g = np.where(active, np.clip(grown - gmax * _sig((tau - down) / k_down), 0, 1), 0.0)
        s = np.where(active, 0.9 * np.clip(grown - g, 0, 1) * (tau > up), 0.0)
        after = t - self.cyc_harvest
        residue = np.where(after > 0, 0.35 * np.exp(-after / 50.0), 0.0)
        flood, has_lint = self.cyc_flags.T
        w = np.where(active & flood & (tau > 20) & (self.cyc_harvest - t > 20), 0.75 * (1 - g), 0.0)
        li = np.where(active & has_lint & (t > self.cyc_plant + down), 0.45, 0.0)
        np.add.at(green, self.cyc_unit, g)
        np.add.at(dry, self.cyc_unit, s)
        np.maximum.at(dry, self.cyc_unit, residue)
        np.add.at(water, self.cyc_unit, w)
        np.add.at(lint, self.cyc_unit, li)
        order = np.argsort(g, kind="stable")
        spectrum[self.cyc_unit[order]] = self.cyc_spectrum[order]
        busy = np.zeros(n, dtype=bool)
        busy[self.cyc_unit[(tau >= -10) & (after < 30)]] = True

        # Fields that are perennial this year, and the other covers.
        nf = self.landscape.n_fields
        year_codes = self.codes[1:, min(max(date.year - self.first_year, 0), self.codes.shape[1] - 1)]
        field = np.arange(1, nf + 1)
        grass, fallow, pond = (year_codes == 176) & ~busy[field], (year_codes == 61) & ~busy[field], year_codes == 92
        green[field[grass]] = grass_green(doy)
        spectrum[field[grass]] = SPECTRUM_INDEX["grass"]
        green[field[fallow]] = 0.08 + 0.3 * float(np.exp(-(((doy - 200) / 45) ** 2)))
        dry[field[fallow]] = 0.25
        water[field[pond]], green[field[pond]] = 0.95, 0.05 * leaf_on(doy)
        weeds = ~busy[field] & ~grass & ~fallow & ~pond  # bare fields between cycles grow a few weeds
        green[field[weeds]] = np.maximum(green[field[weeds]], 0.06 * leaf_on(doy))

        unit = self.landscape.cover_unit
        water[unit(Cover.WATER)] = 1.0
        leaves = leaf_on(doy)
        for cover in (Cover.DECIDUOUS_FOREST, Cover.WOODY_WETLANDS):
            green[unit(cover)] = 0.25 + 0.65 * leaves
            dry[unit(cover)] = 0.6 * (0.75 - 0.65 * leaves)
            spectrum[unit(cover)] = SPECTRUM_INDEX["forest"]
        water[unit(Cover.WOODY_WETLANDS)] = 0.35 * (1 - leaves) if doy < 120 else 0.0
        green[unit(Cover.GRASS)] = grass_green(doy)
        spectrum[unit(Cover.GRASS)] = SPECTRUM_INDEX["grass"]
        for cover, fraction in _IMPERVIOUS.items():
            imp[unit(cover)] = fraction
            green[unit(cover)] = (1 - fraction) * grass_green(doy)
            spectrum[unit(cover)] = SPECTRUM_INDEX["grass"]
        return {"green": green, "dry": dry, "water": water, "lint": lint, "impervious": imp, "spectrum": spectrum}


def _date(year: int, day: float) -> dt.date:
    """The date ``day`` days after 1 January of ``year`` (rounded; negative: the previous year)."""
    return dt.date(year, 1, 1) + dt.timedelta(days=round(day))


def make_calendar(rng: np.random.Generator, landscape: Landscape, years: tuple[int, ...]) -> CropCalendar:
    """Draw rotations, weather shifts and planting dates for every field over ``years``.

    Args:
        rng: the generator of the draws.
        landscape: the world's fields and covers.
        years: the label years of the world (the calendar starts a year earlier for winter crops).

    Returns:
        The crop calendar.
    """
    nf = landscape.n_fields
    first, last = min(years) - 1, max(years)
    cal_years = list(range(first, last + 1))
    # Wet springs delay everything: one shift per year (2019's floods are on record).
    shift = {y: (18.0 if y == 2019 else float(rng.normal(0, 6))) for y in cal_years}

    names = [m[0] for m in MANAGEMENTS]
    weights = np.array([m[1] for m in MANAGEMENTS])
    management = rng.choice(len(MANAGEMENTS), size=nf, p=weights / weights.sum())
    if nf >= len(MANAGEMENTS):  # every management appears at least once, even in a tiny world
        management[rng.permutation(nf)[: len(MANAGEMENTS)]] = np.arange(len(MANAGEMENTS))
    phase = rng.integers(0, 6, size=nf)
    field_offset = rng.uniform(0, 1, size=nf)  # where in the crop's window this farmer plants

    codes = np.zeros((nf + 1, len(cal_years)), dtype=np.uint8)
    for f in range(nf):
        rotation = MANAGEMENTS[management[f]][2]
        for j, y in enumerate(cal_years):
            code = rotation[(phase[f] + y) % len(rotation)]
            if code in _ANNUAL and rng.random() < _DEVIATION:
                code = int(rng.choice([1, 2, 3, 5]))
            codes[f + 1, j] = code

    cycles: list[tuple[int, int, int, CropModel]] = []
    rows: list[dict[str, object]] = []
    for f in range(nf):
        last_harvest = -(10**9)
        for j, y in enumerate(cal_years):
            code = int(codes[f + 1, j])
            crops = []
            if code in CROPS:
                crops.append(CROPS[code])
            elif code == 26:
                crops.append(CROPS[24])
            planted: list[tuple[dt.date, dt.date]] = []
            for model in crops:
                lo, hi = model.plant_window
                # autumn-sown wheat follows the previous year's weather
                weather = shift[y - 1] if lo < 0 and y - 1 in shift else shift[y]
                day = lo + (hi - lo) * field_offset[f] + weather + rng.normal(0, 2)
                plant = max(_date(y, day).toordinal(), last_harvest + 7)
                harvest = plant + model.harvest + int(rng.integers(-4, 5))
                cycles.append((f + 1, plant, harvest, model))
                planted.append((dt.date.fromordinal(plant), dt.date.fromordinal(harvest)))
                last_harvest = harvest
            if code == 26:
                model = DOUBLE_CROP_SOY
                plant = last_harvest + int(rng.integers(*model.plant_window))
                harvest = plant + model.harvest + int(rng.integers(-4, 5))
                cycles.append((f + 1, plant, harvest, model))
                planted.append((dt.date.fromordinal(plant), dt.date.fromordinal(harvest)))
                last_harvest = harvest
            if y in years:
                first_c, second_c = (24, 5) if code == 26 else (code, None)
                rows.append(
                    {
                        "field_id": f + 1,
                        "year": y,
                        "cdl_code": code,
                        "management": names[management[f]],
                        "first_crop": first_c,
                        "second_crop": second_c,
                        "planting_date": planted[0][0] if planted else None,
                        "harvest_date": planted[0][1] if planted else None,
                        "second_planting_date": planted[1][0] if len(planted) > 1 else None,
                        "second_harvest_date": planted[1][1] if len(planted) > 1 else None,
                        "weather_shift_days": round(shift[y], 1),
                    }
                )

    schema = pa.schema(
        [
            ("field_id", pa.int64()),
            ("year", pa.int16()),
            ("cdl_code", pa.int32()),
            ("management", pa.string()),
            ("first_crop", pa.int32()),
            ("second_crop", pa.int32()),
            ("planting_date", pa.date32()),
            ("harvest_date", pa.date32()),
            ("second_planting_date", pa.date32()),
            ("second_harvest_date", pa.date32()),
            ("weather_shift_days", pa.float32()),
        ]
    )
    truth = pa.Table.from_pylist(rows, schema=schema)
    return CropCalendar(
        landscape=landscape,
        years=tuple(years),
        codes=codes,
        first_year=first,
        truth=truth,
        cyc_unit=np.array([c[0] for c in cycles], dtype=np.int64),
        cyc_plant=np.array([c[1] for c in cycles], dtype=np.int64),
        cyc_harvest=np.array([c[2] for c in cycles], dtype=np.int64),
        cyc_params=np.array([[c[3].up, c[3].k_up, c[3].down, c[3].k_down, c[3].gmax] for c in cycles]).reshape(-1, 5),
        cyc_flags=np.array([[c[3].flood, c[3].lint] for c in cycles], dtype=bool).reshape(-1, 2),
        cyc_spectrum=np.array([SPECTRUM_INDEX[c[3].spectrum] for c in cycles], dtype=np.int16),
    )
