"""Tests of splits and the leakage audit (inseason.series.split, inseason.series.audit)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from inseason.errors import InputError
from inseason.series.audit import audit_split
from inseason.series.long_table import import_series
from inseason.series.normalize import band_values
from inseason.series.split import (
    RANDOM_WARNING,
    SplitRequest,
    SplitResult,
    buffer_keep,
    group_assignment,
    random_assignment,
    run_split,
    split_series,
)

SHARES = np.array([0.7, 0.15, 0.15])


@pytest.mark.parametrize(
    ("by", "options"),
    [("field", {}), ("block", {"block_size": 600.0, "buffer": 400.0}), ("block", {"block_size": 900.0, "folds": 3})],
)
def test_field_and_block_splits_of_the_tiny_world_are_leak_free(
    tiny_series: Path, tmp_path: Path, by: str, options: dict
) -> None:
    out = tmp_path / "split.parquet"
    audit = split_series(tiny_series, by=by, out=out, seed=3, quiet=True, **options).audit
    table = pq.read_table(out)
    assert audit["leak_free"] and audit["leaks"] == [] and audit["definition_leaks"] == []
    for key in ("samples_in_several_splits", "fields_in_several_splits", "places_in_several_splits"):
        assert audit[key]["count"] == 0
    assert table.column("split").null_count == 0
    assert sum(audit["samples"].values()) == table.num_rows == 124 - audit["dropped_by_buffer"]
    assert audit_split(table) == {k: v for k, v in audit.items() if k not in ("dropped_by_buffer", "warnings")}
    if options.get("buffer"):
        assert audit["buffer_respected"] and min(d["min"] for d in audit["distances_m"].values()) >= 400.0
        assert audit["dropped_by_buffer"] > 0
    if options.get("folds"):
        assert sorted(audit["samples"]) == ["fold-0", "fold-1", "fold-2"]
    saved = json.loads((tmp_path / "split.audit.json").read_text())
    assert saved["leak_free"] is True and saved["method"] == by
    assert "**Verdict:** no leakage found" in (tmp_path / "split.audit.md").read_text()
    assert json.loads(table.schema.metadata[b"inseason:audit"])["leak_free"] is True


def test_a_random_split_warns_and_its_audit_reports_the_leak(
    tiny_series: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = split_series(tiny_series, by="random", out=tmp_path / "split.parquet", seed=3, quiet=True)
    audit = result.audit
    assert (
        RANDOM_WARNING in caplog.text and audit["warnings"] == [RANDOM_WARNING] and result.warnings == (RANDOM_WARNING,)
    )
    assert not audit["leak_free"] and audit["definition_leaks"] == []
    assert "fields_in_several_splits" in audit["leaks"] and audit["fields_in_several_splits"]["count"] > 0
    assert audit["distances_m"]["train-test"]["min"] == 0.0  # the same place in another year
    assert "LEAKS: fields in several splits" in (tmp_path / "split.audit.md").read_text().replace("_", " ")


def test_a_year_split_reports_the_same_places_in_train_and_test(tiny_series: Path, tmp_path: Path) -> None:
    audit = split_series(tiny_series, by="year", out=tmp_path / "split.parquet", quiet=True).audit
    assert audit["samples"] == {"train": 62, "test": 62}
    assert audit["class_counts"]["test"]["Soybeans"] == 19
    assert audit["leaks"] == ["places_in_several_splits"] and audit["places_in_several_splits"]["count"] == 62


def test_splits_are_deterministic_from_the_seed(tiny_series: Path, tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        split_series(tiny_series, by="field", out=tmp_path / f"{name}.parquet", seed=seed, quiet=True)
    a, _b, c = (pq.read_table(tmp_path / f"{n}.parquet") for n in "abc")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert a.column("split").to_pylist() != c.column("split").to_pylist()


def test_normalisation_statistics_come_from_the_training_split_only(tiny_series: Path, tmp_path: Path) -> None:
    split_series(tiny_series, by="field", out=tmp_path / "split.parquet", seed=1, quiet=True)
    table = pq.read_table(tmp_path / "split.parquet")
    stats = json.loads(table.schema.metadata[b"inseason:normalization"])["train"]
    train = table.filter(pc.equal(table.column("split"), "train"))
    values = band_values(train.column("values"), 12)
    assert stats["observations"] == len(values)
    assert stats["median"] == [float(v) for v in np.median(values, axis=0)]
    assert stats["iqr"] == pytest.approx(list(np.percentile(values, 75, axis=0) - np.percentile(values, 25, axis=0)))


def test_a_year_split_that_puts_one_sample_in_two_splits_is_refused(tmp_path: Path) -> None:
    text = "sample_id,year,date,NDVI,label\n" + "\n".join(
        f"{s},{y},{y}-06-01,0.5,Corn" for s in ("a", "b") for y in (2020, 2021)
    )
    (tmp_path / "t.csv").write_text(text)
    import_series(tmp_path / "t.csv", out=tmp_path / "s.parquet", quiet=True)
    with pytest.raises(InputError, match=r"leaks by its own definition \(samples_in_several_splits\)"):
        split_series(tmp_path / "s.parquet", by="year", out=tmp_path / "split.parquet", quiet=True)
    assert not (tmp_path / "split.parquet").exists()
    audit = split_series(
        tmp_path / "s.parquet", by="year", out=tmp_path / "split.parquet", allow_leakage=True, quiet=True
    ).audit
    assert audit["samples_in_several_splits"] == {"count": 2, "examples": ["a", "b"]}


def test_bad_options_are_refused(tiny_series: Path, tmp_path: Path) -> None:
    out = tmp_path / "split.parquet"
    with pytest.raises(InputError, match="unknown split method 'fields'"):
        split_series(tiny_series, by="fields", out=out, quiet=True)
    with pytest.raises(InputError, match="summing to 1"):
        split_series(tiny_series, by="field", out=out, fractions=(0.5, 0.2, 0.2), quiet=True)
    with pytest.raises(InputError, match="--folds needs --by field, --by block or --by random"):
        split_series(tiny_series, by="year", out=out, folds=3, quiet=True)
    with pytest.raises(InputError, match="does not exist"):
        split_series(tmp_path / "none.parquet", by="field", out=out, quiet=True)
    assert not out.exists()


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.sampled_from("abc"), min_size=1, max_size=60), seed=st.integers(0, 2**16), stratify=st.booleans()
)
def test_random_assignment_puts_each_sample_in_exactly_one_split(labels: list[str], seed: int, stratify: bool) -> None:
    arr = np.array(labels)
    first = random_assignment(arr, fractions=SHARES, seed=seed, stratify=stratify)
    assert first.shape == arr.shape and set(first.tolist()) <= {0, 1, 2}
    assert np.array_equal(first, random_assignment(arr, fractions=SHARES, seed=seed, stratify=stratify))
    if stratify:
        for c in set(labels):
            n = labels.count(c)
            assert abs((first[arr == c] == 0).sum() - 0.7 * n) <= 1


@settings(max_examples=40, deadline=None)
@given(
    groups=st.lists(st.integers(0, 12), min_size=1, max_size=80),
    seed=st.integers(0, 2**16),
    labels=st.data(),
    stratify=st.booleans(),
)
def test_group_assignment_never_splits_a_group(
    groups: list[int], seed: int, labels: st.DataObject, stratify: bool
) -> None:
    cls = np.array(labels.draw(st.lists(st.sampled_from("xy"), min_size=len(groups), max_size=len(groups))))
    g = np.array(groups)
    split = group_assignment(g, cls, shares=SHARES, seed=seed, stratify=stratify)
    assert set(split.tolist()) <= {0, 1, 2}
    for group in set(groups):
        assert len(set(split[g == group].tolist())) == 1
    assert np.array_equal(split, group_assignment(g, cls, shares=SHARES, seed=seed, stratify=stratify))


@settings(max_examples=40, deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1000), st.integers(0, 2)), min_size=1, max_size=60),
    buffer=st.floats(1, 300),
)
def test_buffer_keeps_no_pair_of_splits_closer_than_the_buffer(
    points: list[tuple[float, float, int]], buffer: float
) -> None:
    xy = np.array([(x, y) for x, y, _ in points])
    split = np.array([s for _, _, s in points])
    keep = buffer_keep(xy, split, [2, 1, 0], buffer)
    assert keep[split == 2].all()  # the test split is never thinned
    kx, ks = xy[keep], split[keep]
    for a in range(3):
        for b in range(a + 1, 3):
            if (ks == a).any() and (ks == b).any():
                assert cdist(kx[ks == a], kx[ks == b]).min() >= buffer


# ---------------------------------------------------------------------------------- request and result


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--by", "fields"], {"by": "fields"}),
        (["--fractions", "0.7,0.7,0.1"], {"fractions": (0.7, 0.7, 0.1)}),
        (["--by", "year", "--folds", "3"], {"by": "year", "folds": 3}),
        (["--block-size", "-5"], {"block_size": -5.0}),
        (["--buffer", "-1"], {"buffer": -1.0}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tiny_series: Path, tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    out = tmp_path / "split.parquet"
    with pytest.raises(InputError) as info:
        split_series(tiny_series, out=out, quiet=True, **options)
    result = CliRunner().invoke(app, ["--quiet", "split", str(tiny_series), "--out", str(out), *flags])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        SplitRequest.of(series=tiny_series, out=out, **options)
    assert list(tmp_path.iterdir()) == []


def test_a_split_request_round_trips(tmp_path: Path) -> None:
    request = SplitRequest.of(
        series=str(tmp_path / "series.parquet"),
        by="year",
        out=str(tmp_path / "split.parquet"),
        seed=7,
        fractions=[0.6, 0.2, 0.2],
        block_size=500,
        buffer=60,
        stratify=False,
        years={"train": [2020, 2021], "test": [2022]},
        allow_leakage=True,
        quiet=True,
    )
    assert request.series == tmp_path / "series.parquet" and request.years == {"train": (2020, 2021), "test": (2022,)}
    assert isinstance(request.block_size, int) and request.fractions == (0.6, 0.2, 0.2)  # as given, as recorded
    assert SplitRequest.of(**request.model_dump()) == request
    folds = SplitRequest.of(series="s.parquet", by="field", out="f.parquet", folds=3)
    assert SplitRequest.of(**folds.model_dump()) == folds


def test_the_split_result_holds_what_was_written(tiny_series: Path, tmp_path: Path) -> None:
    out = tmp_path / "split.parquet"
    request = SplitRequest.of(series=tiny_series, by="block", out=out, block_size=600.0, buffer=400.0, quiet=True)
    result = run_split(request)
    assert isinstance(result, SplitResult) and result.out == out
    assert (result.audit_json, result.audit_md) == (tmp_path / "split.audit.json", tmp_path / "split.audit.md")
    assert json.loads(result.audit_json.read_text()) == json.loads(json.dumps(result.audit, default=str))
    assert result.audit_md.read_text().startswith("#")
    table = pq.read_table(out)
    assert result.samples == dict(Counter(table.column("split").to_pylist())) == result.audit["samples"]
    assert result.dropped_by_buffer == 124 - table.num_rows > 0
    assert result.warnings == () and result.audit["warnings"] == []
    assert json.loads(table.schema.metadata[b"inseason:audit"]) == json.loads(result.audit_json.read_text())


def test_a_buffer_that_drops_most_samples_is_refused_unless_allowed(tiny_series: Path, tmp_path: Path) -> None:
    out = tmp_path / "split.parquet"
    with pytest.raises(InputError) as info:
        split_series(tiny_series, by="block", block_size=600.0, buffer=100_000.0, out=out, quiet=True)
    message = str(info.value)
    assert re.fullmatch(
        rf"the block split of {re.escape(str(tiny_series))} leaves (train|train and validation) empty \(samples: "
        r"train 0, validation \d+, test \d+; (\d+) of 124 dropped by the buffer; 0 in no split\): use a smaller "
        r"--buffer than 100000.0 m, or pass --allow-empty to write it anyway",
        message,
    ), message
    assert list(tmp_path.iterdir()) == []
    result = split_series(
        tiny_series, by="block", block_size=600.0, buffer=100_000.0, out=out, quiet=True, allow_empty=True
    )
    kept = sum(result.samples.values())
    assert result.dropped_by_buffer == 124 - kept > 62 and pq.read_metadata(out).num_rows == kept
    assert f"{result.dropped_by_buffer} of 124 dropped by the buffer" in message


def test_a_year_split_on_seasons_the_table_lacks_is_refused_and_writes_nothing(
    tiny_series: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        InputError,
        match=r"^the year split of .* leaves train and test empty \(samples: train 0, validation 0, test 0; 0 of "
        r"124 dropped by the buffer; 124 in no split\): give --train-years/--validation-years/--test-years among "
        r"the seasons \[2021, 2022\], or pass --allow-empty to write it anyway$",
    ):
        split_series(tiny_series, by="year", years={"train": [2030]}, out=tmp_path / "split.parquet", quiet=True)
    with pytest.raises(InputError, match=r"leaves validation empty \(samples: train 62, validation 0, test 62;"):
        split_series(
            tiny_series,
            by="year",
            years={"train": [2021], "validation": [2030], "test": [2022]},
            out=tmp_path / "split.parquet",
            quiet=True,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_split_replaces_leftovers_of_a_killed_split_and_leaves_no_lock(tiny_series: Path, tmp_path: Path) -> None:
    for name in (".split.parquet.tmp-4242", ".split.audit.json.tmp-4242", ".split.audit.md.tmp-4242"):
        (tmp_path / name).write_text("half")
    (tmp_path / ".other.parquet.tmp-4242").write_text("not ours")
    split_series(tiny_series, by="year", out=tmp_path / "split.parquet", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.parquet.tmp-4242",
        "split.audit.json",
        "split.audit.md",
        "split.parquet",
    ]
