"""Tests of the long-format import (inseason.series.long_table.import_series)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inseason.errors import InputError
from inseason.labels import resolve_label_map
from inseason.series.long_table import ImportRequest, ImportResult, import_series, run_import
from inseason.tables import series_bands

D = dt.date

CLEAN = """sample_id,date,B04,B08,label,lon,lat,field_id
a,2021-04-01,0.1,0.3,Corn,-90.5,33.1,7
a,2021-05-01,0.1,0.5,Corn,-90.5,33.1,7
a,2021-06-01,0.05,0.6,Corn,-90.5,33.1,7
b,2021-04-03,0.2,0.25,Rice,-90.6,33.2,8
b,2021-05-13,0.1,0.4,Rice,-90.6,33.2,8
"""

# the same observations shuffled, with timestamps, a NaN row, an exact duplicate and an extra text column
MESSY = """Label,SAMPLE_ID,date,B08,B04,comment,lon,lat,field_id
Rice,b,2021-05-13T10:20:00Z,0.4,0.1,late,-90.6,33.2,8
Corn,a,2021-06-01,0.6,0.05,,-90.5,33.1,7
Corn,a,2021-05-20,NaN,0.1,cloud,-90.5,33.1,7
Corn,a,2021-04-01,0.3,0.1,,-90.5,33.1,7
Rice,b,2021-04-03,0.25,0.2,,-90.6,33.2,8
Corn,a,2021-05-01,0.5,0.1,,-90.5,33.1,7
Corn,a,2021-05-01,0.5,0.1,,-90.5,33.1,7
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unsorted_rows_with_nan_import_to_the_same_series_as_a_clean_sorted_file(tmp_path: Path) -> None:
    clean = import_series(
        _write(tmp_path, "clean.csv", CLEAN), out=tmp_path / "clean.parquet", bands=["B04", "B08"], quiet=True
    )
    messy = import_series(
        _write(tmp_path, "messy.csv", MESSY), out=tmp_path / "messy.parquet", bands=["B04", "B08"], quiet=True
    )
    a, b = pq.read_table(tmp_path / "clean.parquet"), pq.read_table(tmp_path / "messy.parquet")
    assert a.equals(b)
    assert clean.dropped == {} and clean.series == 2 and clean.observations == 5
    assert messy.dropped == {"missing value": 1, "duplicate date": 1}
    assert messy.ignored_columns == ("comment",) and messy.rows == 7
    rows = a.to_pylist()
    assert [r["sample_id"] for r in rows] == ["a", "b"]
    assert rows[0]["dates"] == [D(2021, 4, 1), D(2021, 5, 1), D(2021, 6, 1)]
    np.testing.assert_allclose(rows[0]["values"], [[0.1, 0.3], [0.1, 0.5], [0.05, 0.6]], rtol=1e-6)
    assert (rows[0]["label"], rows[0]["year"], rows[0]["field_id"], rows[0]["lon"]) == ("Corn", 2021, 7, -90.5)
    assert rows[1]["label_code"] is None and rows[1]["scl"] is None
    assert a.schema.field("values").type == pa.list_(pa.list_(pa.float32(), 2))
    assert series_bands(a.schema) == (["B04", "B08"], [1.0, 1.0])


def test_a_single_ndvi_column_and_integer_ids_and_labels_with_a_year_column(tmp_path: Path) -> None:
    text = "sample_id,year,date,NDVI,label,scl\n" + "\n".join(
        [
            "5,2022,2022-03-01,0.3,1,4",
            "5,2021,2021-07-01,0.8,5,4",
            "5,2021,2021-03-01,0.2,5,8",
            "5,2021,2021-03-01,0.25,5,4",
            "2,2021,2021-05-05,0.4,1,5",
        ]
    )
    report = import_series(_write(tmp_path, "t.csv", text), out=tmp_path / "s.parquet", quiet=True)
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.schema.field("sample_id").type == pa.int64()
    rows = table.to_pylist()
    assert [(r["sample_id"], r["year"], r["label"], r["label_code"]) for r in rows] == [
        (2, 2021, "1", 1),
        (5, 2021, "5", 5),
        (5, 2022, "1", 1),
    ]
    np.testing.assert_allclose(
        rows[1]["values"], [[0.25], [0.8]], rtol=1e-6
    )  # vegetation (4) beats cloud (8) on one date
    assert rows[1]["scl"] == [4, 4]
    assert report.bands == ("NDVI",) and report.dropped == {"duplicate date": 1}


def test_without_a_year_column_a_series_crossing_new_year_stays_whole(tmp_path: Path) -> None:
    text = "sample_id,date,NDVI,label\nw,2020-10-15,0.2,wheat\nw,2021-01-10,0.4,wheat\nw,2021-05-01,0.7,wheat\n"
    import_series(_write(tmp_path, "w.csv", text), out=tmp_path / "s.parquet", season_start="10-01", quiet=True)
    rows = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert len(rows) == 1 and rows[0]["year"] == 2021
    assert rows[0]["dates"] == [D(2020, 10, 15), D(2021, 1, 10), D(2021, 5, 1)]
    meta = pq.read_schema(tmp_path / "s.parquet").metadata
    assert meta[b"inseason:season_start"] == b"10-01"


def test_parquet_input_with_timestamps_and_a_cdl_label_map(tmp_path: Path) -> None:
    table = pa.table(
        {
            "sample_id": pa.array([1, 1, 2, 3], pa.int64()),
            "date": pa.array([dt.datetime(2021, 5, 1, 23, tzinfo=dt.UTC)] * 4, pa.timestamp("ms", tz="UTC")),
            "B8A": pa.array([1.0, None, 2.0, 3.0]),
            "label": pa.array([5, 5, 26, 141], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    report = import_series(tmp_path / "in.parquet", out=tmp_path / "s.parquet", label_map="arset", quiet=True)
    out = pq.read_table(tmp_path / "s.parquet")
    assert [(r["sample_id"], r["label"], r["dates"]) for r in out.to_pylist()] == [
        (1, "Soybeans", [D(2021, 5, 1)]),
        (3, "Uncultivated", [D(2021, 5, 1)]),
    ]
    assert report.dropped == {"missing value": 1}
    assert report.label_map is not None and report.label_map["dropped"] == {
        "Dbl Crop WinWht/Soybeans (dropped by the label map)": 1
    }
    assert json.loads(out.schema.metadata[b"inseason:label_map"])["name"] == "arset"


def test_conflicting_labels_name_the_rows_and_write_nothing(tmp_path: Path) -> None:
    text = "sample_id,date,NDVI,label\na,2021-05-01,0.2,Corn\na,2021-06-01,0.4,Rice\nb,2021-06-01,0.4,Rice\n"
    with pytest.raises(InputError, match=r"1 sample\(s\) have conflicting label values at rows 1, 2"):
        import_series(_write(tmp_path, "t.csv", text), out=tmp_path / "s.parquet", quiet=True)
    assert not (tmp_path / "s.parquet").exists()


def test_conflicts_after_dropped_rows_name_the_rows_of_the_file(tmp_path: Path) -> None:
    """Rows dropped before the check (missing values) do not shift the rows named."""
    dropped = "".join(f"c,2021-0{m}-01,,Corn\n" for m in range(1, 6))
    text = f"sample_id,date,NDVI,label\n{dropped}a,2021-05-01,0.2,Corn\nb,2021-06-01,0.4,Rice\na,2021-06-01,0.4,Rice\n"
    with pytest.raises(InputError, match=r"1 sample\(s\) have conflicting label values at rows 6, 8:"):
        import_series(_write(tmp_path, "t.csv", text), out=tmp_path / "s.parquet", quiet=True)


def test_nan_ids_and_label_codes_are_missing_values(tmp_path: Path) -> None:
    """Whole-number float ids and codes (a Parquet table's, with NaN for the gaps) drop their NaN rows."""
    nan = float("nan")
    table = pa.table(
        {
            "sample_id": [1.0, 1.0, nan, 2.0],
            "date": ["2021-05-01", "2021-06-01", "2021-06-01", "2021-06-01"],
            "NDVI": [0.2, 0.4, 0.4, 0.5],
            "label": [1.0, 1.0, 5.0, nan],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    report = import_series(tmp_path / "t.parquet", out=tmp_path / "s.parquet", quiet=True)
    assert report.dropped == {"missing sample_id": 1, "missing label": 1}
    out = pq.read_table(tmp_path / "s.parquet")
    assert [(r["sample_id"], r["label"], len(r["dates"])) for r in out.to_pylist()] == [(1, "1", 2)]


def test_dates_that_do_not_parse_name_the_rows(tmp_path: Path) -> None:
    text = "sample_id,date,NDVI,label\na,2021-05-01,0.2,Corn\na,05/13/2021,0.4,Corn\na,soon,0.4,Corn\n"
    with pytest.raises(InputError, match=r"dates that do not parse at rows 2, 3 \(e\.g\. '"):
        import_series(_write(tmp_path, "t.csv", text), out=tmp_path / "s.parquet", quiet=True)
    assert not (tmp_path / "s.parquet").exists()


def test_bands_choose_columns_and_bad_choices_are_refused(tmp_path: Path) -> None:
    text = "sample_id,date,NDVI,EVI,elevation,label\na,2021-05-01,0.2,0.1,30,Corn\n"
    path = _write(tmp_path, "t.csv", text)
    report = import_series(path, out=tmp_path / "s.parquet", bands=["EVI", "NDVI"], quiet=True)
    assert report.bands == ("EVI", "NDVI") and report.ignored_columns == ("elevation",)
    np.testing.assert_allclose(pq.read_table(tmp_path / "s.parquet")["values"].to_pylist(), [[[0.1, 0.2]]], rtol=1e-6)
    with pytest.raises(InputError, match=r"no band columns \['B04'\]"):
        import_series(path, out=tmp_path / "x.parquet", bands=["B04"], quiet=True)
    with pytest.raises(InputError, match=r"band columns \['label'\] .* are not numeric"):
        import_series(path, out=tmp_path / "x.parquet", bands=["label"], quiet=True)


def test_missing_columns_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"lacks columns \['label'\]"):
        import_series(
            _write(tmp_path, "t.csv", "sample_id,date,NDVI\na,2021-05-01,0.2\n"), out=tmp_path / "s.parquet", quiet=True
        )
    with pytest.raises(InputError, match="does not exist"):
        import_series(tmp_path / "nope.csv", out=tmp_path / "s.parquet", quiet=True)
    with pytest.raises(InputError, match=r"must be .csv, .tsv or .parquet"):
        import_series(_write(tmp_path, "t.xlsx", "x"), out=tmp_path / "s.parquet", quiet=True)


# ---------------------------------------------------------------------------------- request and result


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--label-map", "no-such-map"], {"label_map": "no-such-map"}),
        (["--bands", "B04,B99"], {"bands": ["B04", "B99"]}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    path, out = _write(tmp_path, "t.csv", CLEAN), tmp_path / "s.parquet"
    with pytest.raises(InputError) as info:
        import_series(path, out=out, quiet=True, **options)
    result = CliRunner().invoke(app, ["--quiet", "import", str(path), "--out", str(out), *flags])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        run_import(ImportRequest.of(path=path, out=out, quiet=True, **options))
    assert not out.exists()
    with pytest.raises(InputError, match=r"^invalid ImportRequest option bands\b"):
        ImportRequest.of(path=path, out=out, bands=5)


def test_an_import_request_round_trips(tmp_path: Path) -> None:
    for label_map in ("arset", resolve_label_map("cdl-major:3"), None):
        request = ImportRequest.of(
            path=str(tmp_path / "t.csv"),
            out=str(tmp_path / "s.parquet"),
            bands=["B08", "B04"],
            season_start="10-01",
            label_map=label_map,
            quiet=True,
        )
        assert request.path == tmp_path / "t.csv" and request.bands == ("B08", "B04")
        assert ImportRequest.of(**request.model_dump()) == request


def test_the_import_result_holds_what_was_written(tmp_path: Path) -> None:
    path, out = _write(tmp_path, "t.csv", MESSY), tmp_path / "s.parquet"
    result = run_import(ImportRequest.of(path=path, out=out, quiet=True))
    assert isinstance(result, ImportResult)
    table = pq.read_table(out)
    assert (result.source, result.out, result.rows) == (str(path), str(out), len(MESSY.splitlines()) - 1)
    assert list(result.bands) == series_bands(table.schema)[0] == ["B08", "B04"]
    assert result.ignored_columns == ("comment",)
    assert result.series == table.num_rows == 2 and result.samples == 2
    assert result.observations == sum(len(d) for d in table.column("dates").to_pylist()) == 5
    assert result.dropped == {"missing value": 1, "duplicate date": 1} and result.label_map is None
    assert "label_map" not in result.as_dict()
    mapped = run_import(ImportRequest.of(path=path, out=tmp_path / "m.parquet", label_map="cdl", quiet=True))
    assert mapped.label_map is not None and mapped.label_map["counts"] == {"Corn": 1, "Rice": 1}
    assert list(mapped.as_dict()) == [
        "source",
        "out",
        "rows",
        "bands",
        "ignored_columns",
        "dropped",
        "label_map",
        "observations",
        "series",
        "samples",
    ]


def test_infinite_values_are_dropped_like_missing_ones_and_counted_apart(tmp_path: Path) -> None:
    text = CLEAN + "a,2021-07-01,inf,0.3,Corn,-90.5,33.1,7\nb,2021-07-02,0.1,-inf,Rice,-90.6,33.2,8\n"
    text += "b,2021-07-03,NaN,-inf,Rice,-90.6,33.2,8\n"
    clean = import_series(_write(tmp_path, "clean.csv", CLEAN), out=tmp_path / "clean.parquet", quiet=True)
    report = import_series(_write(tmp_path, "inf.csv", text), out=tmp_path / "inf.parquet", quiet=True)
    assert report.dropped == {"missing value": 1, "infinite value": 2}
    assert report.rows == 8 and report.observations == clean.observations == 5
    table = pq.read_table(tmp_path / "inf.parquet")
    assert table.equals(pq.read_table(tmp_path / "clean.parquet").replace_schema_metadata(table.schema.metadata))
    values = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in table.column("values").to_pylist()])
    assert np.isfinite(values).all()


@pytest.mark.parametrize("year_column", [False, True])
def test_a_bad_season_start_is_refused_with_or_without_a_year_column(tmp_path: Path, year_column: bool) -> None:
    text = CLEAN.replace("field_id\n", "field_id,year\n", 1).replace(",7\n", ",7,2021\n").replace(",8\n", ",8,2021\n")
    path = _write(tmp_path, "in.csv", text if year_column else CLEAN)
    assert ("year" in path.read_text().splitlines()[0]) is year_column
    with pytest.raises(InputError, match=r"^season start '00-00' is not a month-day like 01-01 or 10-01 \(MM-DD\)$"):
        import_series(path, out=tmp_path / "s.parquet", season_start="00-00", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_sample_spanning_several_seasons_becomes_one_series_per_season_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # sample m: two and a half September-August seasons of one label; sample s: one season; no year column
    rows = ["sample_id,date,NDVI,label"]
    rows += [f"m,{day},0.5,soy" for day in ("2013-10-01", "2014-03-01", "2014-10-05", "2015-02-01", "2015-12-01")]
    rows += [f"s,{day},0.4,maize" for day in ("2014-09-15", "2015-01-10")]
    path = _write(tmp_path, "multi.csv", "\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="inseason.series.long_table"):
        report = import_series(path, out=tmp_path / "s.parquet", season_start="09-01", quiet=True)
    table = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert [(r["sample_id"], r["year"], r["dates"]) for r in table] == [
        ("m", 2014, [D(2013, 10, 1), D(2014, 3, 1)]),
        ("m", 2015, [D(2014, 10, 5), D(2015, 2, 1)]),
        ("m", 2016, [D(2015, 12, 1)]),
        ("s", 2015, [D(2014, 9, 15), D(2015, 1, 10)]),
    ]
    assert (report.series, report.samples) == (4, 2)
    assert (report.samples_across_seasons, report.series_of_samples_across_seasons) == (1, 3)
    assert report.as_dict()["samples_across_seasons"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith("samples with dates in more than one season starting 09-01: 1 (m); each is")
    # with the calendar year as the season, sample s (Sep-Jan) is split too
    calendar = import_series(path, out=tmp_path / "c.parquet", quiet=True)
    assert (calendar.samples_across_seasons, calendar.series) == (2, 5)


def test_the_split_series_train_without_a_date_outside_their_season(tmp_path: Path) -> None:
    """Every imported series lies inside its season, which is what train checks (issue #19)."""
    from inseason.data import decode_series

    rows = ["sample_id,date,NDVI,label"]
    days = [dt.date(2013, 9, 1) + dt.timedelta(days=16 * i) for i in range(60)]  # 2.6 years of 16-day composites
    rows += [f"{sample},{day},0.5,{'soy' if sample % 2 else 'maize'}" for sample in range(4) for day in days]
    report = import_series(
        _write(tmp_path, "modis.csv", "\n".join(rows) + "\n"),
        out=tmp_path / "s.parquet",
        season_start="09-01",
        quiet=True,
    )
    assert (report.series, report.samples_across_seasons) == (12, 4)
    store = decode_series(pq.read_table(tmp_path / "s.parquet"), season="09-01")
    assert store.doy.min() >= 0 and store.doy.max() <= 365
