"""`inseason bench series`: observations → series out of core, with DuckDB capped far below the data size.

A synthetic observations dataset (random reflectances on a 5-day calendar, the layout `inseason extract`
writes) is grouped into series twice in one run, in child processes: once with DuckDB's memory capped at
``memory_limit`` and once uncapped. Both tables must be identical; the capped run's peak resident memory
(less that of a process that only imports the code) is reported next to the dataset's size in memory, so
the table shows the grouping did not need the data to fit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from inseason.engines.local import sigterm_as_exit
from inseason.errors import InputError
from inseason.observations import SETTINGS, part_path, write_part
from inseason.progress import progress_bar
from inseason.series.build import check_memory_limit
from inseason.tables import LABEL_POINTS, OBSERVATIONS, S2_BANDS, write_table

__all__ = ["PEAK_MB", "bench_series", "make_observations", "python_child"]

#: Python expression of a process's peak memory in MB: its own high-water mark (VmHWM, reset by exec), not
#: ru_maxrss, which on Linux keeps the forking parent's size.
PEAK_MB = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"

# Every child first ties its life to this process's (``die_with_parent``), so a killed benchmark leaves none.
_WATCH = """
import sys
from inseason.engines.local import die_with_parent
die_with_parent(int(sys.argv[1]))
"""

_CHILD = f"""
import json, sys, time
from inseason.series.build import make_series
if __name__ == "__main__":
    obs, points, out, limit = sys.argv[2:6]
    started = time.perf_counter()
    summary = make_series(obs, points=points, out=out, memory_limit=limit, threads=1, quiet=True)
    print(json.dumps({{"seconds": time.perf_counter() - started, "series": summary.series,
                      "peak_rss_mb": {PEAK_MB}}}))
"""


def make_observations(
    root: Path, *, points: int, dates: int, year: int = 2022, seed: int = 0, quiet: bool = True
) -> tuple[Path, Path, int, int]:
    """Write an observations dataset of ``points`` × ``dates`` candidate observations and its label points.

    Dates are 5 days apart from 1 March, one part file per date, a fifth of the observations lost to clouds.

    Args:
        root: the folder to write both under (created).
        points: the number of label points.
        dates: the number of dates.
        year: the season year.
        seed: the seed of the random reflectances, classes and clouds.
        quiet: hide the progress bar.

    Returns:
        (observations folder, points table, observations, bytes in memory).
    """
    rng = np.random.default_rng(seed)
    obs, points_path = root / "observations", root / "points.parquet"
    obs.mkdir(parents=True)
    (obs / SETTINGS).write_text(json.dumps({"fingerprint": "bench", "synthetic": True}))
    ids = np.arange(points, dtype=np.int64)
    x, y = rng.uniform(0, 10_000, points), rng.uniform(0, 10_000, points)
    write_table(
        pa.table(
            {
                "point_id": ids,
                "x": x,
                "y": y,
                "lon": -90.8 + x * 1e-5,
                "lat": 33.4 + y * 1e-5,
                "year": pa.array(np.full(points, year), pa.int16()),
                "label_code": pa.array(rng.choice([1, 5, 2], points), pa.int32()),
                "label": pa.array(rng.choice(["Corn", "Soybeans", "Cotton"], points)),
                "field_id": pa.array(ids // 20),
                "source": pa.array(["bench"] * points),
            },
            schema=LABEL_POINTS,
        ),
        points_path,
        metadata={"crs": "EPSG:5070"},
    )
    nbytes = rows = 0
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("observations", total=dates)
        for k in range(dates):
            date = dt.date(year, 3, 1) + dt.timedelta(days=5 * k)
            keep = rng.random(points) < 0.8  # clouds
            n = int(keep.sum())
            scene = f"S2B_15SYS_{date:%Y%m%d}_0_L2A"
            table = pa.table(
                {
                    "point_id": ids[keep],
                    "scene_id": pa.array([scene] * n),
                    "date": pa.array([date] * n, pa.date32()),
                    **{b: pa.array(rng.integers(1, 6000, n, dtype=np.int16)) for b in S2_BANDS},
                    "scl": pa.array(rng.choice(np.array([4, 5, 3, 10], np.uint8), n)),
                    "tile": pa.array(["15SYS"] * n),
                },
                schema=OBSERVATIONS,
            )
            nbytes, rows = nbytes + table.nbytes, rows + n
            write_part(part_path(obs, year, "15SYS", scene), table, scene_id=scene, bytes_read=0)
            bar.advance(task)
    return obs, points_path, rows, nbytes


_BASELINE = f"""
import json
import inseason.series.build
print(json.dumps({{"peak_rss_mb": {PEAK_MB}}}))
"""


def python_child(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a child Python process that dies with this one; its output is captured.

    The child calls `die_with_parent` first, so killing this process (SIGKILL included) ends the child too;
    an exception here (Ctrl-C, SIGTERM under `sigterm_as_exit`) kills it before propagating.

    Args:
        script: the Python code; its own arguments start at ``sys.argv[2]``.
        *args: the script's arguments.

    Returns:
        The finished process, with its stdout and stderr as text.
    """
    return subprocess.run(
        [sys.executable, "-c", _WATCH + script, str(os.getpid()), *args], capture_output=True, text=True, check=False
    )


def _baseline_rss_mb() -> float:
    """Peak memory of a process that only imports the series code (Python, pyarrow, DuckDB)."""
    done = python_child(_BASELINE)
    if done.returncode != 0:
        raise RuntimeError(f"the baseline process failed: {done.stderr.strip()[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def _run_child(obs: Path, points: Path, out: Path, limit: str) -> dict[str, Any]:
    """Build the series in a child process with DuckDB capped at ``limit``; its seconds, series and peak memory."""
    done = python_child(_CHILD, str(obs), str(points), str(out), limit)
    if done.returncode != 0:
        raise RuntimeError(f"make_series with memory_limit={limit} failed: {done.stderr.strip()[-2000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def bench_series(
    *, points: int = 200_000, dates: int = 50, memory_limit: str = "96MB", seed: int = 0, quiet: bool = False
) -> dict[str, Any]:
    """Build the series of a synthetic observations dataset with DuckDB capped at ``memory_limit``, and uncapped.

    Args:
        points: the number of label points.
        dates: the number of dates.
        memory_limit: DuckDB's memory cap of the capped run (``96MB``).
        seed: the seed of the synthetic observations.
        quiet: hide the progress bar.

    Returns:
        The dataset's sizes, each run's seconds, series and peak memory, whether both tables are identical,
        and the capped run's working memory as a share of the data's size in memory.

    Raises:
        InputError: ``points`` or ``dates`` below one, or a ``memory_limit`` that is not a size or percentage.
        RuntimeError: a child run failed (its stderr is quoted).
    """
    memory_limit = check_memory_limit(memory_limit)
    if points < 1 or dates < 1:
        raise InputError(f"bench series needs --points and --dates of at least 1 (got {points} and {dates})")
    with sigterm_as_exit():  # SIGTERM: the child is killed and the temporary folder removed
        return _bench_series(points=points, dates=dates, memory_limit=memory_limit, seed=seed, quiet=quiet)


def _bench_series(*, points: int, dates: int, memory_limit: str, seed: int, quiet: bool) -> dict[str, Any]:
    """`bench_series` once its inputs are checked."""
    with tempfile.TemporaryDirectory(prefix="inseason-bench-series-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        obs, points_path, rows, nbytes = make_observations(root, points=points, dates=dates, seed=seed, quiet=quiet)
        generate_s = time.perf_counter() - started
        capped = _run_child(obs, points_path, root / "capped.parquet", memory_limit)
        uncapped = _run_child(obs, points_path, root / "uncapped.parquet", "64GB")
        identical = pq.read_table(root / "capped.parquet").equals(
            pq.read_table(root / "uncapped.parquet"), check_metadata=True
        )
        on_disk = sum(p.stat().st_size for p in obs.rglob("*.parquet"))
    baseline = _baseline_rss_mb()
    return {
        "observations": rows,
        "points": points,
        "dates": dates,
        "observations_in_memory_mb": round(nbytes / 1e6, 1),
        "observations_on_disk_mb": round(on_disk / 1e6, 1),
        "generate_s": round(generate_s, 2),
        "memory_limit": memory_limit,
        "capped": {k: round(v, 2) if isinstance(v, float) else v for k, v in capped.items()},
        "uncapped": {k: round(v, 2) if isinstance(v, float) else v for k, v in uncapped.items()},
        "capped_rows_per_s": round(rows / capped["seconds"], 1),
        "identical": identical,
        "baseline_rss_mb": round(baseline, 1),
        # memory the capped grouping needed beyond the imports, as a share of the data's size in memory
        "working_memory_over_data": round((capped["peak_rss_mb"] - baseline) * 1.048576 / (nbytes / 1e6), 3),
    }
