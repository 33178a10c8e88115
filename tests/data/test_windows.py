"""The ARSET "No Crop Growing" rule applied per model window, vectorised (training batches and targets)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inseason.data import (
    ADAPTER_PRESETS,
    AdapterConfig,
    BatchLoader,
    FeatureConfig,
    InputSpec,
    Normalization,
    WindowRule,
    build_batch,
    decode_series,
    not_growing,
    window_labels,
    window_rule_of,
)
from inseason.labels import NO_CROP_GROWING, no_crop_growing
from inseason.tables import series_schema

NCG = NO_CROP_GROWING
SEQUENCE = AdapterConfig(kind="sequence", max_obs=8)


def _table(rows: list[tuple[str, int, list[int], list[int]]], *, rules=("no_crop_growing",)) -> pa.Table:
    """A series table of (label, CDL code, days of season, SCL codes) rows, with an arset-like label map."""
    schema = series_schema(["B04", "B08"], values=pa.float32())
    start = dt.date(2021, 1, 1)
    data = {f.name: [None] * len(rows) for f in schema}
    data.update(
        sample_id=list(range(len(rows))),
        year=[2021] * len(rows),
        label=[r[0] for r in rows],
        label_code=[r[1] for r in rows],
        split=["train"] * len(rows),
        dates=[[start + dt.timedelta(days=d) for d in r[2]] for r in rows],
        values=[[[0.1, 0.3]] * len(r[2]) for r in rows],
        scl=[r[3] for r in rows],
    )
    table = pa.Table.from_pydict(data, schema=schema)
    label_map = json.dumps({"name": "arset", "rules": list(rules), "classes": []})
    return table.replace_schema_metadata({**table.schema.metadata, b"inseason:label_map": label_map.encode()})


def _spec(store, adapter=SEQUENCE) -> InputSpec:
    return InputSpec(
        adapter=adapter,
        features=FeatureConfig(),
        normalization=Normalization(mean=np.zeros(2, np.float32), std=np.ones(2, np.float32)),
        window_rule=window_rule_of(store, np.arange(len(store))),
    )


@pytest.mark.parametrize(
    ("scl", "mask", "expected"),
    [
        ([4, 5, 5], [1, 1, 1], True),  # harvested: the last two are bare soil
        ([5, 4, 5], [1, 1, 1], False),  # one of the last two is vegetation
        ([5, 5, 4], [1, 1, 1], False),
        ([4, 5, 8], [1, 1, 1], False),  # cloud (8) skipped: the last two valid are 4, 5
        ([4, 5, 3], [1, 1, 1], True),  # cloud shadow (3) counts as valid
        ([5, 0, 9], [1, 1, 1], True),  # a single valid value decides
        ([9, 8, 0], [1, 1, 1], False),  # no valid value: never relabelled
        ([5, 5, 4], [1, 1, 0], True),  # a masked-out step is not part of the window
        ([0, 0, 0], [0, 0, 0], False),  # an empty window
    ],
)
def test_not_growing_exact_cases(scl, mask, expected):
    result = not_growing(np.array([scl], np.uint8), np.array([mask], bool))
    assert result.tolist() == [expected]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 11), min_size=0, max_size=12), min_size=1, max_size=8))
def test_not_growing_matches_the_per_window_rule(windows):
    width = max(len(w) for w in windows) or 1
    scl = np.zeros((len(windows), width), np.uint8)
    mask = np.zeros((len(windows), width), bool)
    for i, w in enumerate(windows):
        scl[i, : len(w)], mask[i, : len(w)] = w, True
    assert not_growing(scl, mask).tolist() == [no_crop_growing(w) for w in windows]


def test_store_reads_the_rule_and_crop_classes_exclude_land_cover():
    table = _table([("Corn", 1, [100], [4]), ("Cultivated", 36, [100], [4]), ("Uncultivated", 176, [100], [5])])
    store = decode_series(table)
    assert store.label_rules == ("no_crop_growing",)
    assert window_rule_of(store, np.arange(3)) == WindowRule(crops=("Corn", "Cultivated"))
    assert window_rule_of(decode_series(_table([("Corn", 1, [100], [4])], rules=())), np.arange(1)) is None


def test_window_labels_as_of_dates():
    store = decode_series(
        _table(
            [
                ("Corn", 1, [100, 110, 120, 130], [4, 4, 5, 5]),  # harvested between day 110 and 120
                ("Soybeans", 5, [100, 110, 120, 130], [5, 5, 4, 4]),  # planted late
                ("Uncultivated", 176, [100, 110, 120, 130], [5, 5, 5, 5]),  # bare all along, but not a crop
                ("Rice", 3, [100, 110, 120, 130], [5, 4, 9, 5]),  # cloud at 120: last two valid are 4, 5
            ]
        )
    )
    spec = _spec(store)
    rows = np.arange(4)
    labels = {
        day: window_labels(store, rows, as_of=np.full(4, day), spec=spec).tolist() for day in (105, 115, 125, 135)
    }
    assert labels[105] == ["Corn", NCG, "Uncultivated", NCG]
    assert labels[115] == ["Corn", NCG, "Uncultivated", "Rice"]
    assert labels[125] == ["Corn", "Soybeans", "Uncultivated", "Rice"]
    assert labels[135] == [NCG, "Soybeans", "Uncultivated", "Rice"]
    assert window_labels(store, rows, as_of=None, spec=spec).tolist() == labels[135]
    batch = build_batch(store, rows, spec, as_of=np.full(4, 105))
    assert batch.relabelled.tolist() == [False, True, False, True]
    plain = InputSpec(adapter=SEQUENCE, features=spec.features, normalization=spec.normalization)
    assert window_labels(store, rows, as_of=np.full(4, 105), spec=plain).tolist() == store.labels.tolist()


def test_bucketed_windows_judge_the_observations_the_model_sees():
    # the window ends on day 118 (the last observation), so days 116 and 117 share a 5-day bucket that keeps
    # its first observation: the bucketed window hides the vegetation seen on day 117, the sequence does not
    store = decode_series(_table([("Corn", 1, [100, 110, 116, 117, 118], [5, 5, 5, 4, 5])]))
    arset = _spec(store, ADAPTER_PRESETS["arset"])
    sequence = _spec(store, AdapterConfig(kind="sequence", max_obs=8))
    assert window_labels(store, np.arange(1), as_of=np.array([130]), spec=arset).tolist() == [NCG]
    assert window_labels(store, np.arange(1), as_of=np.array([130]), spec=sequence).tolist() == ["Corn"]


def test_loader_targets_follow_the_window_rule():
    store = decode_series(
        _table(
            [("Corn", 1, [100, 110, 120, 130], [4, 4, 5, 5]), ("Uncultivated", 176, [100, 110, 120, 130], [5, 5, 5, 5])]
        )
    )
    spec = _spec(store)
    targets = np.array([0, 1])
    loader = BatchLoader(store, np.arange(2), targets, spec, batch_size=2, as_of=135, relabel_to=2)
    assert next(iter(loader))[3].tolist() == [2, 1]
    early = BatchLoader(store, np.arange(2), targets, spec, batch_size=2, as_of=115, relabel_to=2)
    assert next(iter(early))[3].tolist() == [0, 1]
    with pytest.raises(ValueError, match="relabel_to"):
        BatchLoader(store, np.arange(2), targets, spec, batch_size=2)
