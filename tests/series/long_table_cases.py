"""Seeded messy long-format tables for the import's golden tests (``tests/series/data/golden_*``).

Each case writes a table with many samples and every kind of row the import handles: ids as text or as
whole-number floats (what CSV readers make of integer ids with gaps), ISO dates mixed with timestamps,
missing ids, dates, labels and values, infinite values, repeated dates, SCL ranks, splits, samples spanning
two seasons, CDL codes through a label map, and columns it ignores. ``python -m tests.series.long_table_cases``
rewrites the golden outputs (only after a change meant to alter them).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DATA = Path(__file__).parent / "data"

#: case name → (file suffix, import options)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "text_ids": (".csv", {"bands": ["B04", "B08"]}),
    "float_ids_year": (".parquet", {}),
    "cdl_codes": (".parquet", {"label_map": "arset", "season_start": "09-01"}),
}


def messy_table(case: str, *, samples: int = 240, per_sample: int = 14, seed: int = 0) -> pa.Table:
    """The input table of ``case`` (seeded: the same table every time).

    Args:
        case: a name of `CASES`.
        samples: the number of samples.
        per_sample: observations a sample.
        seed: the seed.

    Returns:
        The long-format table.
    """
    rng = np.random.default_rng(seed)
    n = samples * per_sample
    sample = np.repeat(np.arange(samples), per_sample)
    spans_two = rng.random(samples) < 0.1  # a tenth of the samples run into the next season
    day = rng.integers(60, 300, n) + np.where(spans_two[sample] & (rng.random(n) < 0.3), 365, 0)
    repeat = rng.random(n) < 0.05  # the date of the row before: a duplicate date
    day = np.where(repeat, np.r_[day[:1], day[:-1]], day)
    dates = (np.datetime64("2020-01-01") + day.astype("timedelta64[D]")).astype(str).astype(object)
    stamped = rng.random(n) < 0.2
    dates[stamped] = [f"{d}T10:{i % 60:02d}:00Z" for i, d in enumerate(dates[stamped])]
    dates[rng.random(n) < 0.01] = None
    b04, b08 = rng.random(n).round(4), rng.random(n).round(4)
    b04[rng.random(n) < 0.02] = np.nan
    b08[rng.random(n) < 0.005] = np.inf
    crops = np.array(["Corn", "Soybeans", " Rice ", "Cotton", "Winter Wheat"], dtype=object)
    label = crops[sample % len(crops)].copy()
    label[rng.random(n) < 0.01] = None
    split = np.array(["train", "validation", "test"], dtype=object)[sample % 3]
    order = rng.permutation(n)  # rows in no order
    columns: dict[str, Any] = {}
    if case == "text_ids":
        ids = np.array([f"s{s:04d}" for s in sample], dtype=object)
        ids[rng.random(n) < 0.01] = None
        columns = {"Sample_ID": ids, "date": dates, "B04": b04, "B08": b08, "label": label, "split": split}
        columns["comment"] = np.where(rng.random(n) < 0.5, "cloudy", "")
        columns["lon"], columns["lat"] = -90 + sample / 1000, 33 + sample / 2000
    elif case == "float_ids_year":
        ids = (sample * 7 + 3).astype(np.float64)
        ids[rng.random(n) < 0.01] = np.nan
        year = np.where(day >= 365, 2021, 2020).astype(np.int64)
        columns = {"sample_id": ids, "date": dates, "year": year, "NDVI": b08 - b04, "label": label}
        columns["scl"] = rng.choice(np.array([4, 5, 6, 7, 11], dtype=np.int64), n)
        columns["field_id"] = sample // 2
    elif case == "cdl_codes":
        codes = np.array([1, 5, 3, 2, 24, 176], dtype=np.int64)[sample % 6].astype(np.float64)
        codes[rng.random(n) < 0.01] = np.nan
        columns = {"sample_id": sample, "date": dates, "red": b04, "nir": b08, "label": codes, "split": split}
    else:
        raise ValueError(case)
    table = pa.table({k: pa.array(np.asarray(v)[order].tolist()) for k, v in columns.items()})
    return table


def write_input(case: str, folder: Path) -> Path:
    """Write ``case``'s input table into ``folder`` (CSV or Parquet as `CASES` says) and return its path."""
    suffix = CASES[case][0]
    path = folder / f"{case}{suffix}"
    table = messy_table(case)
    if suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def report_of(result: Any) -> dict[str, Any]:
    """An import report as JSON-able values, the paths left out (they differ between runs)."""
    report = dataclasses.asdict(result)
    return {k: v for k, v in json.loads(json.dumps(report, default=list)).items() if k not in ("source", "out")}


def main() -> None:
    """Rewrite the golden outputs from the import as it is now."""
    import tempfile

    from inseason.series.long_table import import_series

    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for case, (_, options) in CASES.items():
            source = write_input(case, Path(tmp))
            out = DATA / f"golden_{case}.parquet"
            result = import_series(source, out=out, quiet=True, **options)
            (DATA / f"golden_{case}.json").write_text(json.dumps(report_of(result), indent=1, sort_keys=True) + "\n")
            print(case, result.rows, result.series, result.dropped)


if __name__ == "__main__":
    main()
