"""`inseason extract`: label points × scene manifest → observations dataset, resumable after any kill.

Planning happens once, here: each point is assigned to one tile (the one it lies deepest inside, so a
point in the overlap of two tiles gets one observation per date, not two), and each scene gets the points
of its tile and season. Workers then run :func:`~inseason.extract.sample.sample_scene` and write one part
file per scene; this process records finished scenes in the manifest.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Self, overload

import numpy as np
import pyarrow as pa
import rasterio
from pydantic import model_validator
from pyproj import Transformer
from rasterio.errors import RasterioError

from inseason.config import SeasonStart, StageRequest, Workers
from inseason.engines import EngineName, check_engine
from inseason.engines.local import default_workers, run_local
from inseason.errors import InputError, OutputError, RemoteError
from inseason.extract.sample import (
    DEFAULT_SCL_MASK,
    GDAL_COG_ENV,
    SceneTask,
    check_scl_mask,
    gdal_reason,
    is_transient,
    sample_scene,
)
from inseason.observations import (
    MANIFEST,
    SETTINGS,
    append_manifest,
    part_uri,
    read_manifest,
    remove_leftovers,
    write_part,
)
from inseason.progress import progress_bar
from inseason.season import DEFAULT_START, season_year
from inseason.sources.access import input_errors, input_path, manifest_access
from inseason.storage import (
    InputAccess,
    check_bucket,
    exists,
    gdal_env,
    is_s3,
    join_uri,
    list_files,
    output_lock,
    read_bytes,
    remove_stale_temporaries,
    write_bytes,
)
from inseason.tables import LABEL_POINTS, SCENE_MANIFEST, read_table

#: (tile, season, tiles imaged that date) → the points sampled in that tile's scenes of those dates.
PointKey = tuple[str, int, tuple[str, ...]]
PointSets = dict[PointKey, tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ExtractPlan:
    """Scenes to sample, the points of each scene (in the tile's CRS) and the points outside every tile."""

    tasks: list[SceneTask]
    keys: dict[str, PointKey]  # scene id → its point set
    points: PointSets
    unassigned: int  # points outside every tile
    access: InputAccess = field(default_factory=InputAccess)  # how the scenes' files are read (the scene manifest's)

    def points_of(self, task: SceneTask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(point_id, x, y)`` of the points to sample in ``task``'s scene.

        Args:
            task: a scene of the plan.

        Returns:
            The points' ids and their coordinates in the scene's CRS.
        """
        return self.points[self.keys[task.scene_id]]


def _fingerprint(*uris: str, options: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for uri in uris:
        digest.update(read_bytes(uri))
    return digest.hexdigest()[:16]


def _tile_grid(tile: str, rows: list[dict[str, Any]], access: InputAccess) -> tuple[int, rasterio.Affine, int, int]:
    """The 10 m grid of ``tile`` from the first of its scenes whose B02 opens.

    Unreadable scenes are skipped later, scene by scene; the grid's CRS must be the one the scene manifest
    gives. When every scene fails for a network fault, the error says so rather than blaming the manifest.
    """
    problems = []
    transient = 0
    for row in rows:
        href = dict(row["hrefs"]).get("B02")
        if href is None:
            problems.append(f"{row['scene_id']} has no B02 asset")
            continue
        try:
            with input_errors(href, access), rasterio.open(input_path(href, access)) as ds:
                epsg = ds.crs.to_epsg() if ds.crs is not None else None
                if epsg != row["epsg"]:
                    raise InputError(
                        f"scene manifest says EPSG:{row['epsg']} for {row['scene_id']} but its B02 "
                        f"({href}) is in {ds.crs}: rebuild the manifest with `inseason scenes`"
                    )
                return epsg, ds.transform, ds.width, ds.height
        except RasterioError as exc:
            reason = gdal_reason(exc)
            problems.append(f"{href}: {reason}")
            transient += is_transient(href, reason)
    if transient == len(problems):
        raise RemoteError(
            f"no scene of tile {tile} could be read for network faults, after retries ({problems[0]}): "
            "check the connection to the scenes' host and run the same command again"
        )
    raise InputError(
        f"no scene of tile {tile} in the scene manifest can be opened ({problems[0]}): "
        "check that its hrefs point at reachable files, or rebuild it with `inseason scenes`"
    )


def _check_lonlat(points: pa.Table, path: str) -> None:
    """Refuse points whose lon/lat are not degrees or whose ids repeat (each would be silently wrong)."""
    lon, lat = points.column("lon").to_numpy(), points.column("lat").to_numpy()
    if not (
        np.isfinite(lon).all() and np.isfinite(lat).all() and (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all()
    ):
        raise InputError(
            f"label points {path} have lon/lat outside EPSG:4326 degrees (projected coordinates "
            "in lon/lat?): rebuild them with `inseason labels`"
        )
    if len(np.unique(points.column("point_id").to_numpy())) != points.num_rows:
        raise InputError(f"label points {path} repeat point_id values: each point needs its own id")


def plan_extraction(
    points: pa.Table, scenes: pa.Table, *, season_start: str = DEFAULT_START, access: InputAccess | None = None
) -> ExtractPlan:
    """Assign points to scenes: each scene gets the points of its season that lie in its tile.

    Where tiles overlap, a point goes, on each date, to the tile imaged that date whose edge it lies
    farthest from, so it gets one observation per date, not one per tile. Reads one header per tile.

    Args:
        points: the label points table (``LABEL_POINTS``).
        scenes: the scene manifest (``SCENE_MANIFEST``).
        season_start: ``MM-DD`` on which a season starts: scenes from it on belong to the label year.
        access: how the scenes' files are read (None: as the manifest records,
            `inseason.sources.access.manifest_access`); the plan carries it to the workers.

    Returns:
        The scenes to sample, the points of each, the count of points outside every tile, and the access.

    Raises:
        InputError: no scene of a tile can be opened, a scene's B02 is not in the CRS its manifest row says,
            a server refused a read (credentials, signing, requester pays), or the manifest's access settings
            are unreadable.
    """
    access = access if access is not None else manifest_access(scenes)
    rows = sorted(scenes.to_pylist(), key=lambda r: (r["datetime"], r["tile"], r["scene_id"]))
    lon, lat = points.column("lon").to_numpy(), points.column("lat").to_numpy()
    pid, years = points.column("point_id").to_numpy(), points.column("year").to_numpy()
    xy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    depth: dict[str, np.ndarray] = {}  # metres inside the tile (negative outside)
    with gdal_env([h for r in rows for h in dict(r["hrefs"]).values()], access=access, **GDAL_COG_ENV):
        for tile in sorted({r["tile"] for r in rows}):
            tile_rows = [r for r in rows if r["tile"] == tile]
            epsg, transform, width, height = _tile_grid(tile, tile_rows, access)
            x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
            x, y = np.asarray(x, float), np.asarray(y, float)
            left, top = transform.c, transform.f
            right, bottom = left + width * transform.a, top + height * transform.e
            depth[tile] = np.minimum.reduce([x - left, right - x, y - bottom, top - y])
            xy[tile] = (x, y)
    inside_any = np.zeros(len(pid), bool)
    for d in depth.values():
        inside_any |= d > 0

    imaged: dict[tuple[dt.date, int], set[str]] = {}
    for row in rows:
        imaged.setdefault((row["date"], season_year(row["date"], season_start)), set()).add(row["tile"])
    point_sets: PointSets = {}
    keys: dict[str, PointKey] = {}
    tasks = []
    for row in rows:
        year = season_year(row["date"], season_start)
        group = tuple(sorted(imaged[(row["date"], year)]))
        key = (row["tile"], year, group)
        if key not in point_sets:
            stacked = np.stack([depth[t] for t in group])
            sel = (years == year) & (stacked.max(axis=0) > 0) & (np.argmax(stacked, axis=0) == group.index(row["tile"]))
            point_sets[key] = (pid[sel], xy[row["tile"]][0][sel], xy[row["tile"]][1][sel])
        if len(point_sets[key][0]):
            keys[row["scene_id"]] = key
            tasks.append(
                SceneTask(
                    scene_id=row["scene_id"],
                    date=row["date"],
                    tile=row["tile"],
                    year=year,
                    boa_offset=int(row["boa_offset"]),
                    epsg=int(row["epsg"]),
                    hrefs=dict(row["hrefs"]),
                )
            )
    used = {k: v for k, v in point_sets.items() if len(v[0])}
    return ExtractPlan(tasks=tasks, keys=keys, points=used, unassigned=int((~inside_any).sum()), access=access)


_POINTS: PointSets = {}
_OPTIONS: dict[str, Any] = {}


def _init_worker(points: PointSets, options: dict[str, Any]) -> None:
    _POINTS.clear()
    _POINTS.update(points)
    _OPTIONS.clear()
    _OPTIONS.update(options)


def _extract_scene(unit: tuple[SceneTask, PointKey]) -> dict[str, Any]:
    """Worker: sample one scene and write its part file; return its manifest entry."""
    task, key = unit
    point_id, x, y = _POINTS[key]
    result = sample_scene(task, point_id, x, y, scl_mask=_OPTIONS["scl_mask"], access=_OPTIONS["access"])
    entry: dict[str, Any] = {
        "scene_id": task.scene_id,
        "bytes_read": result.bytes_read,
        "blocks_read": result.blocks_read,
        "retried": result.retried,  # for the run's totals; not kept in the manifest
    }
    if result.skipped is not None:
        return {**entry, "status": "skipped", "reason": result.skipped, "transient": result.transient}
    assert result.table is not None
    write_part(
        part_uri(_OPTIONS["out"], task.year, task.tile, task.scene_id),
        result.table,
        scene_id=task.scene_id,
        bytes_read=result.bytes_read,
        blocks_read=result.blocks_read,
    )
    return {**entry, "status": "done", "observations": result.table.num_rows}


class ExtractRequest(StageRequest):
    """What the ``extract`` stage is asked to do: the label points, the scene manifest, the output and how to run.

    Built alike by ``inseason extract`` and :func:`extract`; :func:`run_extract` does the work.

    Attributes:
        points: the label points table (from ``inseason labels``): a path or ``s3://`` URI.
        scenes: the scene manifest (from ``inseason scenes``): a path or ``s3://`` URI.
        out: the observations folder or ``s3://`` prefix; run again to resume.
        scl_mask: the SCL classes whose observations are dropped (0…255).
        season_start: ``MM-DD`` on which a season starts: scenes from it on belong to the label year.
        workers: worker processes of the local engine (None: the cores; at least one).
        engine: ``"local"`` (a process pool) or ``"spark"``.
        spark_master: the master of a new Spark session, for ``engine="spark"``.
        dry_run: plan, sample one scene in memory to measure, and write nothing.
        quiet: no progress bar.
        allow_skips: finish without an error when scenes stay unread for network faults after every retry
            (they are recorded as skipped; a rerun reads them).
    """

    points: str
    scenes: str
    out: str
    scl_mask: tuple[int, ...] = DEFAULT_SCL_MASK
    season_start: SeasonStart = DEFAULT_START
    workers: Workers = None
    engine: EngineName = "local"
    spark_master: str | None = None
    dry_run: bool = False
    quiet: bool = False
    allow_skips: bool = False

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse SCL classes out of range."""
        check_scl_mask(self.scl_mask)
        return self


@dataclass(frozen=True)
class ExtractResult:
    """The totals of an extraction run, in the order ``inseason extract`` prints them.

    Attributes:
        scenes: the scenes of the plan (those with points to sample).
        resumed: scenes an earlier run had finished, not sampled again.
        done: scenes this run sampled and wrote.
        skipped: scenes that could not be read (recorded in the manifest with the reason).
        retried: reads repeated after a transient fault: HTTP requests GDAL repeated (a busy server, a reset)
            and files of a scene read again (a body cut short, a fault GDAL gave up on).
        observations: observations this run wrote.
        bytes_read: bytes this run read from the scenes' files.
        unassigned_points: points outside every tile.
        seconds: wall-clock seconds of the sampling.
    """

    scenes: int
    resumed: int
    done: int
    skipped: int
    retried: int
    observations: int
    bytes_read: int
    unassigned_points: int
    seconds: float


@dataclass(frozen=True)
class ExtractEstimate:
    """A dry run's estimate: the plan's size and its cost scaled from one scene sampled in memory.

    Attributes:
        scenes: the scenes of the plan.
        points: the points to sample, summed over the plan's point sets.
        unassigned_points: points outside every tile.
        estimated_bytes: the bytes the run would read (one scene's bytes times the scenes).
        estimated_seconds: the seconds the run would take on ``workers`` workers.
        workers: the worker processes the estimate assumes.
    """

    scenes: int
    points: int
    unassigned_points: int
    estimated_bytes: int
    estimated_seconds: float
    workers: int


@overload
def extract(
    points: str | os.PathLike[str],
    scenes: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    scl_mask: Sequence[int] = ...,
    season_start: str = ...,
    workers: int | None = ...,
    engine: str = ...,
    spark_master: str | None = ...,
    dry_run: Literal[False] = ...,
    quiet: bool = ...,
    allow_skips: bool = ...,
) -> ExtractResult: ...


@overload
def extract(
    points: str | os.PathLike[str],
    scenes: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    scl_mask: Sequence[int] = ...,
    season_start: str = ...,
    workers: int | None = ...,
    engine: str = ...,
    spark_master: str | None = ...,
    dry_run: Literal[True],
    quiet: bool = ...,
    allow_skips: bool = ...,
) -> ExtractEstimate: ...


@overload
def extract(
    points: str | os.PathLike[str],
    scenes: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    scl_mask: Sequence[int] = ...,
    season_start: str = ...,
    workers: int | None = ...,
    engine: str = ...,
    spark_master: str | None = ...,
    dry_run: bool,
    quiet: bool = ...,
    allow_skips: bool = ...,
) -> ExtractResult | ExtractEstimate: ...


def extract(
    points: str | os.PathLike[str],
    scenes: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    season_start: str = DEFAULT_START,
    workers: int | None = None,
    engine: str = "local",
    spark_master: str | None = None,
    dry_run: bool = False,
    quiet: bool = False,
    allow_skips: bool = False,
) -> ExtractResult | ExtractEstimate:
    """Extract the observations of every label point in every scene of the manifest into ``out``.

    ``engine="spark"`` runs the same per-scene function on Spark (the active session, or a new one on
    ``spark_master``) instead of a local process pool of ``workers``; the outputs are identical.

    Started again after a kill (or a Ctrl-C), it skips the scenes already written and goes on; it refuses
    to resume into a folder made from other inputs, or one another run is writing. Scenes that cannot be
    read are skipped and recorded in the manifest with the reason (a rerun tries them again); points
    outside every tile are counted. Reads that meet a network fault are retried with backoff, and the scenes
    still unread are read once more at the end of the run; if some remain, the run fails (all else is kept,
    a rerun resumes) unless ``allow_skips``.

    Args:
        points: the label points table (from ``inseason labels``).
        scenes: the scene manifest (from ``inseason scenes``).
        out: the observations folder or ``s3://`` prefix; run again to resume.
        scl_mask: the SCL classes whose observations are dropped (0…255).
        season_start: ``MM-DD`` on which a season starts: scenes from it on belong to the label year.
        workers: worker processes of the local engine (default: the cores).
        engine: ``"local"`` or ``"spark"``.
        spark_master: the master of a new Spark session, for ``engine="spark"``.
        dry_run: plan, sample one scene in memory to measure, and write nothing.
        quiet: no progress bar.
        allow_skips: finish without an error when scenes stay unread for network faults after every retry.

    Returns:
        The run's totals (:class:`ExtractResult`); for ``dry_run``, the estimate instead
        (:class:`ExtractEstimate`).

    Raises:
        InputError: an unknown engine (or Spark without PySpark), an unreadable or empty input table, points
            not in lon/lat degrees or with repeated ids, an SCL class out of range, fewer than one worker, or
            no scene covering the points in their seasons.
        OutputError: ``out`` holds observations of other inputs, or other files, another run writes there,
            or it cannot be written (not writable, disk full).
        RemoteError: scenes stayed unread for network faults after every retry (without ``allow_skips``).
    """
    return run_extract(
        ExtractRequest.of(
            points=str(points),
            scenes=str(scenes),
            out=str(out),
            scl_mask=scl_mask,
            season_start=season_start,
            workers=workers,
            engine=engine,
            spark_master=spark_master,
            dry_run=dry_run,
            quiet=quiet,
            allow_skips=allow_skips,
        )
    )


def run_extract(request: ExtractRequest) -> ExtractResult | ExtractEstimate:
    """Extract the observations a request asks for, or estimate the run's cost for a dry run.

    Resumable: the scenes already written are skipped, and a folder made from other inputs is refused.
    Scenes that cannot be read are skipped and recorded in the manifest with the reason.

    Args:
        request: the inputs, the output and how to run (checked when it was built).

    Returns:
        The run's totals, or for ``dry_run`` the estimate.

    Raises:
        InputError: Spark without PySpark, an unreadable or empty input table, points not in lon/lat degrees or
            with repeated ids, or no scene covering the points in their seasons.
        OutputError: ``out`` holds observations of other inputs, or other files.
    """
    check_engine(request.engine)
    points_path, scenes_path, root = request.points, request.scenes, request.out
    point_table = read_table(points_path, LABEL_POINTS, what="label points")
    scene_table = read_table(scenes_path, SCENE_MANIFEST, what="scene manifest")
    if point_table.num_rows == 0:
        raise InputError(f"label points table {points_path} is empty: nothing to extract")
    if scene_table.num_rows == 0:
        raise InputError(f"scene manifest {scenes_path} is empty: widen the dates or the AOI of `inseason scenes`")
    _check_lonlat(point_table, points_path)
    plan = plan_extraction(point_table, scene_table, season_start=request.season_start)
    if not plan.tasks:
        raise InputError(
            f"no scene of {scenes_path} covers the points of {points_path} in their seasons: "
            "check the AOI, the years and the season start"
        )
    options = {"scl_mask": sorted(request.scl_mask), "season_start": request.season_start}
    if request.dry_run:
        return _estimate(plan, options, request.workers or default_workers())

    settings = {
        "fingerprint": _fingerprint(points_path, scenes_path, options=options),
        **options,
        "points": points_path,
        "scenes": scenes_path,
        "unassigned_points": plan.unassigned,
    }
    if is_s3(root):
        check_bucket(root)
    _check_folder(root, str(settings["fingerprint"]))  # before anything is written, the folder included
    with _output_errors(root), output_lock(root, verb="extract"):
        _check_folder(root, str(settings["fingerprint"]))  # again, now that no other run can write here
        settings_uri = join_uri(root, SETTINGS)
        if not exists(settings_uri):
            write_bytes(settings_uri, json.dumps(settings, indent=1).encode())
        remove_leftovers(root)
        finished = _settle_manifest(root)
        result = _run(request, plan, finished, {**options, "out": root, "access": plan.access})
        remove_stale_temporaries(root)
    if result.unread and not request.allow_skips:
        first = result.unread[0]
        raise RemoteError(
            f"{len(result.unread)} of {result.totals.scenes} scenes could not be read for network faults, "
            f"even after retries ({first['scene_id']}: {first['reason']}): run the same command again to read "
            "them (the scenes done are kept), or pass --allow-skips to accept them as skipped".replace("\n", " ")
        )
    return result.totals


@dataclass(frozen=True)
class _RunOutcome:
    totals: ExtractResult
    unread: list[dict[str, Any]]  # manifest entries of the scenes skipped for transient faults


def _run(request: ExtractRequest, plan: ExtractPlan, finished: set[str], options: dict[str, Any]) -> _RunOutcome:
    """Sample the scenes not ``finished``, then once more those a transient fault kept unread; record each."""
    root = options["out"]
    todo = [(t, plan.keys[t.scene_id]) for t in plan.tasks if t.scene_id not in finished]
    resumed = len(plan.tasks) - len(todo)
    done = skipped = retried = observations = bytes_read = 0
    started = time.perf_counter()
    initargs = (plan.points, options)
    again: list[tuple[SceneTask, PointKey]] = []
    unread: list[dict[str, Any]] = []
    with progress_bar(quiet=request.quiet) as bar:
        task_id = bar.add_task("scenes", total=len(plan.tasks), completed=resumed)
        for last_pass, units in ((False, todo), (True, again)):
            for unit, entry in _engine(request, units, initargs):
                retried += entry.pop("retried")
                if entry["status"] == "skipped" and entry["transient"]:
                    if not last_pass:  # read once more at the end, recorded then: one manifest line a scene
                        again.append(unit)
                        continue
                    unread.append(entry)
                append_manifest(root, entry)
                if entry["status"] == "done":
                    done += 1
                else:
                    skipped += 1
                observations += entry.get("observations", 0)
                bytes_read += entry["bytes_read"]
                bar.update(
                    task_id,
                    advance=1,
                    description=f"scenes · {observations:,} obs · {bytes_read / 1e6:,.1f} MB",
                )
    totals = ExtractResult(
        scenes=len(plan.tasks),
        resumed=resumed,
        done=done,
        skipped=skipped,
        retried=retried + len(again),
        observations=observations,
        bytes_read=bytes_read,
        unassigned_points=plan.unassigned,
        seconds=round(time.perf_counter() - started, 3),
    )
    return _RunOutcome(totals, unread)


def _engine(
    request: ExtractRequest, units: list[tuple[SceneTask, PointKey]], initargs: tuple[Any, ...]
) -> Iterator[tuple[tuple[SceneTask, PointKey], dict[str, Any]]]:
    """``(unit, manifest entry)`` of every unit, sampled by the request's engine, as each finishes."""
    if not units:
        return iter(())
    if request.engine == "spark":
        from inseason.engines.spark import run_spark

        return iter(
            run_spark(_extract_scene, units, master=request.spark_master, initializer=_init_worker, initargs=initargs)
        )
    return run_local(_extract_scene, units, workers=request.workers, initializer=_init_worker, initargs=initargs)


def _check_folder(root: str, fingerprint: str) -> None:
    """Refuse an output folder that holds another extraction, or files that are not an extraction's."""
    settings_uri = join_uri(root, SETTINGS)
    if exists(settings_uri):
        if json.loads(read_bytes(settings_uri))["fingerprint"] != fingerprint:
            raise OutputError(
                f"{root} holds observations extracted from other inputs or options: choose another --out or delete it"
            )
    elif [f for f in list_files(root) if not os.path.basename(f).startswith(".")]:  # temporaries, the lock
        raise OutputError(f"output folder {root} is not empty and holds no extraction: choose another --out")


def _settle_manifest(root: str) -> set[str]:
    """Rewrite the manifest of a resumed folder as one line per finished scene, and return their ids.

    A kill between a part's rename and its manifest line loses the line: the part stands for it and gets its
    line back. Lines of skipped scenes go: this run reads those scenes again and records the outcome, so no
    scene has two lines.
    """
    finished = {k: v for k, v in read_manifest(root).items() if v["status"] == "done"}
    uri = join_uri(root, MANIFEST)
    text = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in finished.values()).encode()
    if (read_bytes(uri) if exists(uri) else b"") != text:
        write_bytes(uri, text)
    return set(finished)


@contextmanager
def _output_errors(root: str) -> Iterator[None]:
    """Turn a failed write into one line naming the folder (a full disk, a read-only folder)."""
    try:
        yield
    except (InputError, OutputError, RemoteError, RasterioError):
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            why = "the disk is full: free some space"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = "it is not writable: choose a writable --out"
        else:
            why = f"{exc.strerror or exc}: check the folder"
        raise OutputError(
            f"cannot write the observations to {root}: {why}, then run the same command again to resume"
        ) from None


def _estimate(plan: ExtractPlan, options: dict[str, Any], workers: int) -> ExtractEstimate:
    """Sample the first scene (in memory) and scale its cost to the whole plan."""
    task = plan.tasks[0]
    point_id, x, y = plan.points_of(task)
    started = time.perf_counter()
    result = sample_scene(task, point_id, x, y, scl_mask=options["scl_mask"], access=plan.access)
    seconds = time.perf_counter() - started
    n = len(plan.tasks)
    return ExtractEstimate(
        scenes=n,
        points=int(sum(len(p[0]) for p in plan.points.values())),
        unassigned_points=plan.unassigned,
        estimated_bytes=result.bytes_read * n,
        estimated_seconds=round(seconds * n / workers, 1),
        workers=workers,
    )
