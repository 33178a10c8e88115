"""Tests of observations → series (inseason.series.build): truth of the tiny world and exact small cases."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import shapely

from inseason.errors import InputError
from inseason.labels import resolve_label_map
from inseason.observations import part_path, read_observations, write_part
from inseason.series.build import SeriesRequest, SeriesResult, check_memory_limit, make_series, run_series
from inseason.tables import LABEL_POINTS, OBSERVATIONS, S2_BANDS, series_bands, with_metadata, write_table


def _points(rows: list[tuple[int, int, int, str]]) -> pa.Table:
    """Label points (point_id, year, code, name) at made-up places."""
    n = len(rows)
    return pa.table(
        {
            "point_id": [r[0] for r in rows],
            "x": [float(r[0]) * 100 for r in rows],
            "y": [0.0] * n,
            "lon": [-90.0] * n,
            "lat": [33.0] * n,
            "year": [r[1] for r in rows],
            "label_code": [r[2] for r in rows],
            "label": [r[3] for r in rows],
            "field_id": [r[0] // 2 for r in rows],
            "source": ["cdl:test"] * n,
        },
        schema=with_metadata(LABEL_POINTS, crs="EPSG:5070"),
    )


def _obs(rows: list[tuple[int, str, dt.date, int, int]], bands: tuple[str, ...] = S2_BANDS) -> pa.Table:
    """Observations (point_id, scene_id, date, scl, value of every band)."""
    columns = {
        "point_id": pa.array([r[0] for r in rows], pa.int64()),
        "scene_id": pa.array([r[1] for r in rows], pa.string()),
        "date": pa.array([r[2] for r in rows], pa.date32()),
    }
    columns.update({b: pa.array([r[4] for r in rows], pa.int16()) for b in bands})
    columns["scl"] = pa.array([r[3] for r in rows], pa.uint8())
    columns["tile"] = pa.array(["15SYS"] * len(rows), pa.string())
    return pa.table(columns)


def _dataset(root: Path, parts: dict[tuple[int, str, str], pa.Table]) -> Path:
    root.mkdir()
    (root / "_extract.json").write_text("{}")
    for (year, tile, scene), table in parts.items():
        if table.schema.names == OBSERVATIONS.names:
            write_part(part_path(root, year, tile, scene), table, scene_id=scene, bytes_read=0)
        else:  # a foreign band set: write as it is
            path = part_path(root, year, tile, scene)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
    return root


D = dt.date


def test_series_match_the_observations_and_the_generator_truth(tiny_observations, tmp_path: Path) -> None:
    out = tmp_path / "series.parquet"
    summary = make_series(tiny_observations.observations, points=tiny_observations.points, out=out, quiet=True)
    table = pq.read_table(out)
    points = pq.read_table(tiny_observations.points)
    obs = read_observations(tiny_observations.observations)
    assert summary.series == table.num_rows == points.num_rows == 124
    assert summary.observations == obs.num_rows == 6467
    assert summary.duplicates_dropped == 0
    assert series_bands(table.schema) == (list(S2_BANDS), [1e-4] * 12)
    keys = list(zip(table["sample_id"].to_pylist(), table["year"].to_pylist()))
    assert keys == sorted(keys)
    by_point = {p["point_id"]: p for p in points.to_pylist()}
    first = obs.filter(pc.equal(obs["point_id"], 0))
    rows = table.to_pylist()
    assert rows[0]["dates"] == first["date"].to_pylist()
    assert [v[3] for v in rows[0]["values"]] == first["B04"].to_pylist()
    assert rows[0]["scl"] == first["scl"].to_pylist()

    fields = pq.read_table(tiny_observations.world / "truth" / "fields.parquet")
    geoms = shapely.from_wkb(fields["geometry"].to_numpy(zero_copy_only=False))
    field_ids = fields["field_id"].to_numpy()
    crops = {
        (c["field_id"], c["year"]): c
        for c in pq.read_table(tiny_observations.world / "truth" / "crops.parquet").to_pylist()
    }
    scene_dates = set(pq.read_table(tiny_observations.world / "truth" / "scenes.parquet")["date"].to_pylist())
    checked = 0
    for row in rows:
        point = by_point[row["sample_id"]]
        assert (row["label"], row["label_code"], row["year"]) == (point["label"], point["label_code"], point["year"])
        assert row["crs"] == "EPSG:5070" and row["split"] is None
        assert all(a < b for a, b in zip(row["dates"], row["dates"][1:]))
        assert set(row["dates"]) <= scene_dates and {d.year for d in row["dates"]} == {row["year"]}
        assert len(row["values"]) == len(row["dates"]) == len(row["scl"])
        hit = shapely.contains_xy(geoms, row["x"], row["y"])
        if row["label_code"] in (1, 2, 3, 5) and hit.any():  # single crops: greenest date inside the season
            crop = crops[(int(field_ids[hit][0]), row["year"])]
            v = np.array(row["values"], dtype=float)
            ndvi = (v[:, 7] - v[:, 3]) / (v[:, 7] + v[:, 3])
            assert crop["planting_date"] <= row["dates"][int(np.argmax(ndvi))] <= crop["harvest_date"]
            checked += 1
    assert checked == 56


def test_chunking_and_memory_cap_do_not_change_the_table(tiny_observations, tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    make_series(tiny_observations.observations, points=tiny_observations.points, out=a, quiet=True)
    make_series(
        tiny_observations.observations,
        points=tiny_observations.points,
        out=b,
        quiet=True,
        batch_rows=7,
        memory_limit="64MB",
        threads=1,
    )
    assert pq.read_table(a).equals(pq.read_table(b))
    assert pq.read_table(a).schema.metadata == pq.read_table(b).schema.metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]  # no spill or temp left


def test_arset_label_map_drops_double_crops_and_is_recorded(tiny_observations, tmp_path: Path) -> None:
    out = tmp_path / "series.parquet"
    summary = make_series(
        tiny_observations.observations, points=tiny_observations.points, out=out, label_map="arset", quiet=True
    )
    table = pq.read_table(out)
    assert summary.classes == {
        "Corn": 13,
        "Cotton": 7,
        "Cultivated": 15,
        "Rice": 7,
        "Soybeans": 36,
        "Uncultivated": 35,
    }
    assert table.num_rows == 113  # 124 points less 11 double-crop points
    assert summary.label_map["report"]["dropped"] == {"Dbl Crop WinWht/Soybeans (dropped by the label map)": 11}
    label_map = json.loads(table.schema.metadata[b"inseason:label_map"])
    assert [c["name"] for c in label_map["classes"]] == [
        "Uncultivated",
        "Cultivated",
        "No Crop Growing",
        "Soybeans",
        "Rice",
        "Corn",
        "Cotton",
    ]
    assert label_map["rules"] == ["no_crop_growing"]


def test_duplicate_dates_keep_the_best_scl_then_the_smallest_scene(tmp_path: Path) -> None:
    day = D(2021, 5, 1)
    root = _dataset(
        tmp_path / "obs",
        {
            (2021, "15SYS", "S2B_b"): _obs([(1, "S2B_b", day, 3, 30), (2, "S2B_b", day, 4, 70)]),
            (2021, "15SYT", "S2A_a"): _obs(
                [(1, "S2A_a", day, 4, 40), (2, "S2A_a", day, 4, 80), (1, "S2A_a", D(2021, 4, 1), 5, 10)]
            ),
        },
    )
    write_table(
        _points([(1, 2021, 1, "Corn"), (2, 2021, 5, "Soybeans")]),
        tmp_path / "points.parquet",
        metadata={"crs": "EPSG:5070"},
    )
    summary = make_series(root, points=tmp_path / "points.parquet", out=tmp_path / "s.parquet", quiet=True)
    rows = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert summary.duplicates_dropped == 2
    assert [r["dates"] for r in rows] == [[D(2021, 4, 1), day], [day]]
    assert [[v[0] for v in r["values"]] for r in rows] == [[10, 40], [80]]  # scl 4 beats 3; S2A_a < S2B_b
    assert [r["scl"] for r in rows] == [[5, 4], [4]]


def test_observations_outside_the_season_are_dropped_and_counted(tmp_path: Path) -> None:
    root = _dataset(
        tmp_path / "obs",
        {
            (2021, "15SYS", "s1"): _obs([(1, "s1", D(2020, 12, 31), 4, 1), (1, "s1", D(2021, 6, 1), 4, 2)]),
        },
    )
    write_table(_points([(1, 2021, 1, "Corn")]), tmp_path / "points.parquet", metadata={"crs": "EPSG:5070"})
    summary = make_series(root, points=tmp_path / "points.parquet", out=tmp_path / "s.parquet", quiet=True)
    assert summary.dropped["outside_season"] == 1
    assert pq.read_table(tmp_path / "s.parquet")["dates"].to_pylist() == [[D(2021, 6, 1)]]


def test_mixed_band_sets_are_refused_naming_the_part_and_nothing_is_written(tmp_path: Path) -> None:
    root = _dataset(
        tmp_path / "obs",
        {
            (2021, "15SYS", "s1"): _obs([(1, "s1", D(2021, 6, 1), 4, 2)]),
            (2021, "15SYS", "s2"): _obs([(1, "s2", D(2021, 6, 6), 4, 2)], bands=("B02", "B03")),
        },
    )
    write_table(_points([(1, 2021, 1, "Corn")]), tmp_path / "points.parquet", metadata={"crs": "EPSG:5070"})
    with pytest.raises(InputError, match=r"mixes band sets: .*part-s2\.parquet has \['B02', 'B03'\]"):
        make_series(root, points=tmp_path / "points.parquet", out=tmp_path / "s.parquet", quiet=True)
    assert not (tmp_path / "s.parquet").exists()


def test_observations_of_unknown_points_are_refused(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "obs", {(2021, "15SYS", "s1"): _obs([(9, "s1", D(2021, 6, 1), 4, 2)])})
    write_table(_points([(1, 2021, 1, "Corn")]), tmp_path / "points.parquet", metadata={"crs": "EPSG:5070"})
    with pytest.raises(InputError, match=r"point ids missing from the label points \(e\.g\. \[9\]\)"):
        make_series(root, points=tmp_path / "points.parquet", out=tmp_path / "s.parquet", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obs", "points.parquet"]


def test_a_folder_that_is_no_observations_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an observations dataset"):
        make_series(tmp_path, points=tmp_path / "p.parquet", out=tmp_path / "s.parquet", quiet=True)


# ---------------------------------------------------------------------------------- request and result


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--partitions", "0"], {"partitions": 0}),
        (["--engine", "dask"], {"engine": "dask"}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tiny_observations: Any, tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    obs, points, out = tiny_observations.observations, tiny_observations.points, tmp_path / "series.parquet"
    with pytest.raises(InputError) as info:
        make_series(obs, points=points, out=out, quiet=True, **options)
    result = CliRunner().invoke(
        app, ["--quiet", "series", str(obs), "--points", str(points), "--out", str(out), *flags]
    )
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        SeriesRequest.of(observations=str(obs), points=str(points), out=str(out), **options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("4GB", "4GB"),
        ("4 gb", "4GB"),
        (" 512mib ", "512MiB"),
        ("1.5GiB", "1.5GiB"),
        ("100kb", "100KB"),
        ("2TiB", "2TiB"),
        ("80%", "80%"),
        ("12.5 %", "12.5%"),
        ("100%", "100%"),
    ],
)
def test_a_memory_limit_is_normalised_and_duckdb_reads_it(given: str, normalised: str) -> None:
    import duckdb

    assert check_memory_limit(given) == normalised
    assert (
        SeriesRequest.of(observations="o", points="p", out="s.parquet", memory_limit=given).memory_limit == normalised
    )
    with duckdb.connect(config={"memory_limit": normalised}) as connection:
        assert connection.sql("SELECT current_setting('memory_limit')").fetchall()[0][0].endswith(("iB", "bytes"))


@pytest.mark.parametrize(
    "given",
    ["lots", "4", "4 G", "GB", "0GB", "0%", "150%", "-1GB", "1e3MB", "4  GB", "4GB;", "1GB'; SELECT '1", "４GB", ""],
)
def test_a_memory_limit_that_is_not_a_size_is_refused(given: str) -> None:
    message = f"--memory-limit must be a size like 4GB (got {given!r})"
    with pytest.raises(InputError) as info:
        check_memory_limit(given)
    assert str(info.value) == message
    with pytest.raises(InputError) as info:
        SeriesRequest.of(observations="o", points="p", out="s.parquet", memory_limit=given)
    assert str(info.value) == message


def test_a_series_request_round_trips() -> None:
    for label_map in ("cdl-major:4", resolve_label_map("arset"), None):
        request = SeriesRequest.of(
            observations="s3://bucket/obs",
            points="points.parquet",
            label_map=label_map,
            out="s3://bucket/series.parquet",
            season_start="10-01",
            memory_limit="512MB",
            threads=2,
            batch_rows=1024,
            engine="spark",
            spark_master="local[2]",
            workers=3,
            partitions=5,
            quiet=True,
        )
        assert request.label_map == label_map and request.engine == "spark"
        assert SeriesRequest.of(**request.model_dump()) == request
    with pytest.raises(InputError, match=r"^batch_rows=0 must be at least 1$"):
        SeriesRequest.of(observations="obs", points="points.parquet", out="s.parquet", batch_rows=0)


def test_the_series_result_holds_what_was_written(tiny_observations: Any, tmp_path: Path) -> None:
    out = tmp_path / "series.parquet"
    request = SeriesRequest.of(
        observations=str(tiny_observations.observations),
        points=str(tiny_observations.points),
        label_map="cdl-major:4",
        out=str(out),
        quiet=True,
    )
    result = run_series(request)
    assert isinstance(result, SeriesResult) and result.out == str(out)
    table = pq.read_table(out)
    assert list(result.bands) == series_bands(table.schema)[0]
    assert result.series == table.num_rows
    assert result.observations == sum(len(d) for d in table.column("dates").to_pylist())
    assert result.observations_read == read_observations(tiny_observations.observations).num_rows
    assert result.classes == dict(sorted(Counter(table.column("label").to_pylist()).items()))
    assert result.label_map == json.loads(table.schema.metadata[b"inseason:label_map"])
    points = pq.read_metadata(tiny_observations.points).num_rows
    assert result.series + result.points_without_observations + sum(result.label_map["report"]["dropped"].values()) == (
        points
    )
    assert list(result.as_dict()) == [
        "out",
        "bands",
        "series",
        "observations",
        "duplicates_dropped",
        "observations_read",
        "dropped",
        "points_without_observations",
        "classes",
        "label_map",
    ]


# ---------------------------------------------------------------------------------- hostile input, leftovers, lock


def test_a_hostile_memory_limit_is_refused_and_nothing_is_written(tiny_observations: Any, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned.csv"
    hostile = f"1GB'; COPY (SELECT 1 AS x) TO '{pwned}'; SELECT '1"
    out = tmp_path / "out" / "series.parquet"
    with pytest.raises(InputError, match=r"^--memory-limit must be a size like 4GB \(got "):
        make_series(tiny_observations.observations, points=tiny_observations.points, out=out, memory_limit=hostile)
    assert list(tmp_path.iterdir()) == []


def test_paths_holding_a_quote_and_a_space_work_end_to_end(
    tiny_observations: Any, tiny_series: Path, tmp_path: Path
) -> None:
    import shutil

    obs = tmp_path / "it's obs"
    shutil.copytree(tiny_observations.observations, obs)
    points = tmp_path / "o'brien points" / "label points.parquet"
    points.parent.mkdir()
    shutil.copy(tiny_observations.points, points)
    out = tmp_path / "out 'x\" dir" / "the series'.parquet"
    summary = make_series(obs, points=points, out=out, quiet=True, memory_limit="64MB", threads=1)
    assert summary.series == 124
    assert pq.read_table(out).equals(pq.read_table(tiny_series))
    assert sorted(p.name for p in out.parent.iterdir()) == ["the series'.parquet"]


def test_points_without_finite_coordinates_are_refused_before_writing(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "obs", {(2021, "15SYS", "s1"): _obs([(1, "s1", D(2021, 6, 1), 4, 2)])})
    points = _points([(1, 2021, 1, "Corn"), (2, 2021, 1, "Corn"), (3, 2021, 1, "Corn")])
    points = points.set_column(3, "lon", pa.array([-90.0, float("nan"), float("inf")]))
    write_table(points, tmp_path / "points.parquet", metadata={"crs": "EPSG:5070"})
    with pytest.raises(InputError, match=r"have 2 point\(s\) without finite lon/lat \(point_id \[2, 3\]\)"):
        make_series(root, points=tmp_path / "points.parquet", out=tmp_path / "s.parquet", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obs", "points.parquet"]


@pytest.mark.parametrize("start", ["00-00", "02-29", "W01-1", "1-01", "01-01 "])
def test_a_bad_season_start_is_refused_by_the_request(start: str) -> None:
    with pytest.raises(InputError, match=rf"^season start {re.escape(repr(start))} is not a month-day like 01-01"):
        SeriesRequest.of(observations="o", points="p", out="s.parquet", season_start=start)


def test_leftovers_of_killed_runs_of_this_table_are_removed_and_nothing_else(
    tiny_observations: Any, tiny_series: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited: what it left is a leftover
    spill = tmp_path / f".series.parquet.spill-{pid}"
    spill.mkdir()
    (spill / "duckdb_temp_block-1.block").write_bytes(b"x" * 10)
    (tmp_path / f".series.parquet.tmp-{pid}").write_bytes(b"half")
    others = [f".other.parquet.tmp-{pid}", ".other.parquet.spill-1", "notes.txt"]
    for name in others:
        (tmp_path / name).write_text("keep me")
    out = tmp_path / "series.parquet"
    make_series(tiny_observations.observations, points=tiny_observations.points, out=out, quiet=True)
    assert pq.read_table(out).equals(pq.read_table(tiny_series))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "series.parquet"])


def test_a_second_run_writing_the_same_table_is_refused(tiny_observations: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    from inseason.errors import OutputError

    out = tmp_path / "series.parquet"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from inseason.storage import output_lock\n"
            "with output_lock(sys.argv[1], verb='series', file=True):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.read()\n",
            str(out),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=rf"inseason series, pid {holder.pid} "):
            make_series(tiny_observations.observations, points=tiny_observations.points, out=out, quiet=True)
        assert not out.exists()
        other = make_series(
            tiny_observations.observations, points=tiny_observations.points, out=tmp_path / "other.parquet", quiet=True
        )
        assert other.series == 124  # another table of the same folder is not held
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert make_series(tiny_observations.observations, points=tiny_observations.points, out=out, quiet=True).series
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.parquet", "series.parquet"]
