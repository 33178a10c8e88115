"""`inseason bench engines`: the same extract + series on the local engine and on Spark, in one run.

Both sides extract the same label points from the same scenes and build the same series table; the
result gives observation rows per second for each engine (extract and series together, Spark's session
start-up excluded), the start-up itself, and whether the two outputs are identical (every part file byte
for byte, and the series tables). Run it on larger worlds (``size``, ``max_scenes``) to see from which
job size Spark's start-up and per-task scheduling stop mattering.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Through the Spark engine, which says how to install PySpark (the ``spark`` extra) when it is missing.
from inseason.config import check_workers
from inseason.engines.spark import SparkSession, check_java, get_spark
from inseason.errors import InputError
from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.series.build import make_series
from inseason.sources.points import make_label_points
from inseason.synth import load_world, synth
from inseason.tables import SCENE_MANIFEST, read_table, write_table

__all__ = ["bench_engines", "bench_engines_markdown", "break_even_rows"]


def _echo(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    """Give back the batches unchanged: a first Spark job that only starts the Python workers."""
    yield from batches


def _run(points: Path, scenes: Path, out: Path, *, engine: str, workers: int, quiet: bool) -> dict[str, Any]:
    """Extract then build series with ``engine``; rows, seconds and output paths."""
    started = time.perf_counter()
    extracted = extract(points, scenes, out=out / "obs", engine=engine, workers=workers, quiet=quiet)
    series = make_series(
        out / "obs", points=points, out=out / "series.parquet", engine=engine, workers=workers, quiet=quiet
    )
    seconds = time.perf_counter() - started
    return {"observations": extracted.observations, "series": series.series, "seconds": seconds}


def _same_outputs(a: Path, b: Path) -> bool:
    """Whether two runs wrote the same part files (byte for byte) and the same series table."""
    parts_a = {p.relative_to(a): p.read_bytes() for p in sorted((a / "obs").glob("year=*/tile=*/part-*"))}
    parts_b = {p.relative_to(b): p.read_bytes() for p in sorted((b / "obs").glob("year=*/tile=*/part-*"))}
    table_a, table_b = pq.read_table(a / "series.parquet"), pq.read_table(b / "series.parquet")
    return parts_a == parts_b and table_a.equals(table_b, check_metadata=True)


def break_even_rows(local_rows_per_s: float, spark_rows_per_s: float, spark_startup_s: float) -> int | None:
    """Observation rows from which Spark (start-up, then rows at its rate) finishes before the local engine.

    Args:
        local_rows_per_s: the local engine's observation rows per second.
        spark_rows_per_s: Spark's observation rows per second, start-up excluded.
        spark_startup_s: Spark's start-up, seconds.

    Returns:
        The number of rows, or None when Spark is not faster per row on these cores: it then pays off only
        with more cores than the local engine has.
    """
    if spark_rows_per_s <= local_rows_per_s:
        return None
    return round(spark_startup_s / (1 / local_rows_per_s - 1 / spark_rows_per_s))


def bench_engines(
    *,
    world: str | Path | None = None,
    size: str = "large",
    workers: int = 2,
    years: Sequence[int] | None = None,
    stride: int = 15,
    max_scenes: int | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run extract + series with the local engine (``workers`` processes) and with Spark ``local[workers]``.

    ``world`` reuses a world made by ``inseason synth``; without it a world of ``size`` (and ``years``)
    is made in a temporary folder. A Spark session this function starts is stopped at the end.

    Args:
        world: a world made by ``inseason synth`` to reuse (None: make one in a temporary folder).
        size: the size of the world to make.
        workers: local processes, and the cores of Spark's ``local[workers]``.
        years: the seasons to use (None: the world's years).
        stride: every ``stride``-th label pixel is a label point.
        max_scenes: keep the first scenes by date (None: all).
        quiet: hide the progress bars.

    Returns:
        ``local_rows_per_s``, ``spark_rows_per_s`` (observation rows per second of extract + series),
        ``spark_startup_s`` (0 when a session was already running), ``spark_break_even_rows``
        (:func:`break_even_rows`), ``identical`` and the counts and seconds behind them.

    Raises:
        InputError: fewer than one worker, a ``stride`` or ``max_scenes`` below one, a ``world`` that is not a
            world folder, or years it does not hold, or no Java for a new Spark session; checked before any work.
            Spark that cannot start.
    """
    check_workers(workers)
    if stride < 1:
        raise InputError(f"bench engines: stride={stride}: use at least 1 (every k-th label pixel is a point)")
    if max_scenes is not None and max_scenes < 1:
        raise InputError(f"--max-scenes {max_scenes}: use at least 1 (or leave it out for all the scenes)")
    if SparkSession.getActiveSession() is None:
        check_java()  # before the local side runs, not after it
    given = load_world(world)[0] if world is not None else None  # a folder without a world: refused first
    if given is not None and years and not set(years) <= set(given["years"]):
        raise InputError(f"bench engines: the world holds the years {given['years']}, not {sorted(years)}")
    with tempfile.TemporaryDirectory(prefix="inseason-bench-engines-") as tmp:
        tmp_path = Path(tmp)
        if world is None:
            world = synth(
                tmp_path / "world", size=size, seed=1, years=tuple(years) if years else None, quiet=quiet
            ).path
        world = Path(world)
        info = given if given is not None else load_world(world)[0]
        seasons = sorted(int(y) for y in (years or info["years"]))
        points = make_label_points(
            cdl=world / "labels",
            aoi=world / "aoi.geojson",
            years=seasons,
            stride=stride,
            out=tmp_path / "points.parquet",
            quiet=True,
        )
        find_scenes(
            stac=world / "stac" / "catalog.json",
            aoi=world / "aoi.geojson",
            start=f"{seasons[0]}-01-01",
            end=f"{seasons[-1]}-12-31",
            out=tmp_path / "all.parquet",
            min_valid=0.0,
            quiet=True,
        )
        scenes = read_table(tmp_path / "all.parquet", SCENE_MANIFEST, what="scene manifest")
        scenes = scenes.sort_by([("datetime", "ascending"), ("scene_id", "ascending")])
        if max_scenes is not None:
            scenes = scenes.slice(0, max_scenes)
        write_table(scenes, tmp_path / "scenes.parquet")

        local = _run(
            tmp_path / "points.parquet",
            tmp_path / "scenes.parquet",
            tmp_path / "local",
            engine="local",
            workers=workers,
            quiet=quiet,
        )
        had_session = SparkSession.getActiveSession() is not None
        started = time.perf_counter()
        session = get_spark(master=None if had_session else f"local[{workers}]")
        session.range(1).mapInArrow(_echo, "id long").collect()  # the first job starts the Python workers
        startup = 0.0 if had_session else time.perf_counter() - started
        try:
            on_spark = _run(
                tmp_path / "points.parquet",
                tmp_path / "scenes.parquet",
                tmp_path / "spark",
                engine="spark",
                workers=workers,
                quiet=quiet,
            )
        finally:
            if not had_session:
                session.stop()
        identical = _same_outputs(tmp_path / "local", tmp_path / "spark")
    local_rate = local["observations"] / local["seconds"]
    spark_rate = on_spark["observations"] / on_spark["seconds"]
    return {
        "world": {"size": info["size"], "tiles": len(info["tiles"]), "years": seasons},
        "points": points.num_rows,
        "scenes": scenes.num_rows,
        "workers": workers,
        "observations": local["observations"],
        "series": local["series"],
        "local_seconds": round(local["seconds"], 3),
        "spark_seconds": round(on_spark["seconds"], 3),
        "local_rows_per_s": round(local_rate, 1),
        "spark_rows_per_s": round(spark_rate, 1),
        "spark_startup_s": round(startup, 3),
        "spark_break_even_rows": break_even_rows(local_rate, spark_rate, startup),
        "identical": identical and on_spark["observations"] == local["observations"],
    }


def bench_engines_markdown(result: dict[str, Any]) -> str:
    """The benchmark as a Markdown table (one row per engine), for READMEs and reports.

    Args:
        result: what :func:`bench_engines` returned.

    Returns:
        A summary line, the table and a line on when Spark pays off.
    """
    rows = [
        ("local", result["local_seconds"], result["local_rows_per_s"], "—"),
        (
            f"spark local[{result['workers']}]",
            result["spark_seconds"],
            result["spark_rows_per_s"],
            result["spark_startup_s"],
        ),
    ]
    lines = [
        f"{result['points']:,} points × {result['scenes']} scenes → {result['observations']:,} observations, "
        f"{result['series']:,} series; identical outputs: {'yes' if result['identical'] else 'NO'}",
        "",
        "| engine | seconds | rows/s | start-up s |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {seconds:,.2f} | {rate:,.0f} | {startup} |" for name, seconds, rate, startup in rows]
    rows_needed = result["spark_break_even_rows"]
    lines.append("")
    lines.append(
        f"Spark pays off from about {rows_needed:,} observation rows on these cores."
        if rows_needed is not None
        else f"Spark is slower per row than {result['workers']} local processes on the same cores: it pays off "
        "only with more cores than one machine has."
    )
    return "\n".join(lines)
