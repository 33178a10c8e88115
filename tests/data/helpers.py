"""What the data tests share: a series table from days and values, and an input spec normalised on the training rows."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from inseason.data import AdapterConfig, FeatureConfig, InputSpec, fit_normalization
from inseason.tables import series_schema


def series_table(
    rows: list[tuple[list[int], list[list[float]]]], *, bands=("B04", "B08"), year: int = 2021
) -> pa.Table:
    """A float32 series table from (days of season, values) per row."""
    schema = series_schema(list(bands), values=pa.float32())
    start = dt.date(year, 1, 1)
    data = {f.name: [None] * len(rows) for f in schema}
    data["sample_id"] = list(range(len(rows)))
    data["year"] = [year] * len(rows)
    data["label"] = ["Corn"] * len(rows)
    data["label_code"] = [1] * len(rows)
    data["split"] = ["train"] * len(rows)
    data["dates"] = [[start + dt.timedelta(days=d) for d in days] for days, _ in rows]
    data["values"] = [values for _, values in rows]
    return pa.Table.from_pydict(data, schema=schema)


def input_spec(store, adapter: AdapterConfig, features: FeatureConfig | None = None) -> InputSpec:
    """The inputs of ``adapter`` and ``features`` (default: the bands), normalised on the store's training rows."""
    features = features or FeatureConfig()
    return InputSpec(
        adapter=adapter,
        features=features,
        normalization=fit_normalization(store, store.rows_of("train"), features=features),
    )
