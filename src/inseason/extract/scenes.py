"""The ``scenes`` stage: STAC → scene manifest (DESIGN §2), filtered, de-duplicated, with AOI quality.

:func:`find_scenes` searches a STAC API (or walks a static catalog) for Sentinel-2 L2A items over an AOI
and a date range, drops scenes published twice after reprocessing, reads each scene's SCL over the AOI
only (in a bounded thread pool) and keeps the scenes whose valid share of the AOI is strictly greater than
``min_valid`` (the ARSET course keeps scenes with more than 30 % valid area). Scenes whose SCL cannot be
read are skipped with a recorded reason, never silently.

Where tiles overlap, one AOI point can lie in two tiles' scenes of the same date: the manifest keeps both
scenes; extraction keeps one observation per point and date.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self, TypedDict

import pyarrow as pa
import shapely
from pydantic import AfterValidator, ConfigDict, ValidationInfo, field_validator, model_validator
from shapely.geometry.base import BaseGeometry

from inseason.config import StageRequest, check_workers
from inseason.engines.local import bounded_map
from inseason.errors import InputError, RemoteError
from inseason.extract.quality import DEFAULT_SCL_MASK, UnreadableScene, scl_valid_fraction
from inseason.extract.sample import (
    GDAL_RETRY_ENV,
    SCENE_BACKOFF_S,
    SCENE_RETRIES,
    check_scl_mask,
    counting_gdal_retries,
    is_transient,
    read_again,
)
from inseason.progress import progress_bar
from inseason.sources.aoi import read_aoi
from inseason.sources.http import RetryCounter
from inseason.sources.stac import (
    DroppedScene,
    SceneRecord,
    SearchQuery,
    deduplicate,
    is_url,
    scene_record,
    search_items,
)
from inseason.storage import output_lock
from inseason.tables import SCENE_MANIFEST, with_metadata, write_table

log = logging.getLogger(__name__)

#: Written into every manifest's metadata (``inseason:note``).
OVERLAP_NOTE = (
    "Where MGRS tiles overlap the AOI, one point can lie in two tiles' scenes of the same date; "
    "the manifest keeps both scenes and extraction keeps one observation per point and date."
)


class SkippedScene(TypedDict):
    """A scene left out of the manifest because it could not be used, and why (``inseason:skipped``)."""

    scene_id: str
    reason: str


class ManifestInfo(TypedDict):
    """What a manifest records in its schema metadata (:func:`manifest_info`); None where it lacks an entry."""

    #: The search: stac, collection, aoi (WKT), start, end, min_valid, max_cloud, scl_mask.
    query: dict[str, Any] | None
    #: found, duplicates, skipped, below_min_valid, kept.
    counts: dict[str, int] | None
    duplicates: list[DroppedScene] | None
    skipped: list[SkippedScene] | None
    note: str | None


class ScenesRequest(StageRequest):
    """What the ``scenes`` stage is asked to do: the STAC source, the AOI, the dates and the quality bar.

    Built alike by ``inseason scenes`` and :func:`find_scenes`; :func:`run_scenes` does the work.

    Attributes:
        stac: a STAC API URL or a local static catalog.
        aoi: a vector file (GeoJSON, GeoPackage, Shapefile), a ``"west,south,east,north"`` lon/lat string or
            a shapely geometry in lon/lat.
        start: the first date (inclusive); given as a date or ``YYYY-MM-DD``.
        end: the last date (inclusive), not before ``start``.
        out: the manifest file to write (a path or ``s3://`` URI).
        collection: the STAC collection of the Sentinel-2 L2A items.
        min_valid: the valid share of the AOI a scene must exceed (0 ≤ ``min_valid`` < 1).
        scl_mask: the SCL classes that are not usable (0…255).
        max_cloud: also drop items whose tile-wide ``eo:cloud_cover`` exceeds this percentage (0…100).
        workers: threads reading SCL windows at once (at least 1).
        quiet: no progress bar.
        timeout: seconds before a STAC API request times out.
        retries: retries of a failed STAC API request.
        backoff: seconds before the first retry, doubled per retry.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stac: str
    aoi: str | BaseGeometry
    start: dt.date
    end: dt.date
    out: str
    collection: str = "sentinel-2-l2a"
    min_valid: float = 0.3
    scl_mask: tuple[int, ...] = DEFAULT_SCL_MASK
    max_cloud: float | None = None
    workers: Annotated[int, AfterValidator(check_workers)] = 4
    quiet: bool = False
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_of(cls, value: Any, info: ValidationInfo) -> dt.date:
        """A date, a datetime's date or a ``YYYY-MM-DD`` text as a date, refused with the stage's message."""
        return _date(value, str(info.field_name))

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse dates in the wrong order and options out of range."""
        if self.start > self.end:
            raise InputError(f"start date {self.start} is after end date {self.end}: swap --start and --end")
        if not 0.0 <= self.min_valid < 1.0:
            raise InputError(
                f"min_valid={self.min_valid} must be at least 0 and below 1 (a share of the AOI, e.g. 0.3)"
            )
        if self.max_cloud is not None and not 0.0 <= self.max_cloud <= 100.0:
            raise InputError(f"max_cloud={self.max_cloud} must be a percentage between 0 and 100")
        check_scl_mask(self.scl_mask)
        return self


@dataclass(frozen=True)
class ScenesResult:
    """What the ``scenes`` stage wrote: the scene manifest and what its metadata records.

    Attributes:
        table: the manifest as written, sorted by (datetime, tile, scene_id), with its schema metadata.
        path: the manifest file written (a path or ``s3://`` URI).
        scenes: the number of scenes kept (rows).
        info: the query, the counts, the dropped duplicates, the skipped scenes and the overlap note, as the
            manifest's metadata records them (:func:`manifest_info`).
    """

    table: pa.Table
    path: str
    scenes: int
    info: ManifestInfo


def find_scenes(
    *,
    stac: str | os.PathLike[str],
    aoi: str | os.PathLike[str] | BaseGeometry,
    start: dt.date | str,
    end: dt.date | str,
    out: str | os.PathLike[str],
    collection: str = "sentinel-2-l2a",
    min_valid: float = 0.3,
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    max_cloud: float | None = None,
    workers: int = 4,
    quiet: bool = False,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 0.5,
) -> pa.Table:
    """Find the Sentinel-2 L2A scenes over an AOI and a date range and write the scene manifest.

    Reprocessed duplicates keep the newest processing baseline; a scene is kept when the share of AOI pixels
    whose SCL class is not in ``scl_mask`` is strictly greater than ``min_valid``. Scenes whose SCL cannot be
    read are skipped and recorded with the reason.

    Args:
        stac: a STAC API URL or a local static catalog.
        aoi: a vector file (GeoJSON, GeoPackage, Shapefile), a ``"west,south,east,north"`` lon/lat string or
            a shapely geometry in lon/lat.
        start: the first date (inclusive), a date or ``YYYY-MM-DD``.
        end: the last date (inclusive).
        out: the manifest file to write.
        collection: the STAC collection of the Sentinel-2 L2A items.
        min_valid: the valid share of the AOI a scene must exceed (0 ≤ ``min_valid`` < 1).
        scl_mask: the SCL classes that are not usable (0…255).
        max_cloud: also drop items whose tile-wide ``eo:cloud_cover`` exceeds this percentage.
        workers: threads reading SCL windows at once.
        quiet: no progress bar.
        timeout: seconds before a STAC API request times out.
        retries: retries of a failed STAC API request.
        backoff: seconds before the first retry, doubled per retry.

    Returns:
        The manifest as written, sorted by (datetime, tile, scene_id), whose schema metadata records the
        query, the counts, the dropped duplicates and the skipped scenes with their reasons (read them with
        :func:`manifest_info`; :func:`run_scenes` returns them with the manifest).

    Raises:
        InputError: an option is out of range, a date is not a date, the AOI or the STAC source cannot be
            read, or no scene matches the search.
        RemoteError: the STAC API fails after its retries.
    """
    return run_scenes(
        ScenesRequest.of(
            stac=str(stac),
            aoi=aoi if isinstance(aoi, BaseGeometry) else str(aoi),
            start=start,
            end=end,
            out=str(out),
            collection=collection,
            min_valid=min_valid,
            scl_mask=scl_mask,
            max_cloud=max_cloud,
            workers=workers,
            quiet=quiet,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
        )
    ).table


def run_scenes(request: ScenesRequest) -> ScenesResult:
    """Search for the scenes a request asks for, measure their AOI quality and write the scene manifest.

    Reprocessed duplicates keep the newest processing baseline; a scene is kept when the share of AOI pixels
    whose SCL class is not in the request's ``scl_mask`` is strictly greater than its ``min_valid``. Scenes
    whose SCL cannot be read are skipped and recorded with the reason.

    Args:
        request: the STAC source, AOI, dates and quality options (checked when it was built).

    Returns:
        The manifest as written, its path, the number of scenes kept and what its metadata records.

    Raises:
        InputError: the AOI or the STAC source cannot be read, or no scene matches the search.
        RemoteError: the STAC API fails after its retries.
    """
    first, last, min_valid = request.start, request.end, request.min_valid
    mask = tuple(sorted(set(request.scl_mask)))
    geom = read_aoi(request.aoi)
    stac = request.stac
    source = stac if is_url(stac) else str(Path(stac.removeprefix("file://")).resolve())
    query = SearchQuery(collection=request.collection, aoi=geom, start=first, end=last, max_cloud=request.max_cloud)

    counter = RetryCounter()
    items = search_items(
        stac, query, timeout=request.timeout, retries=request.retries, backoff=request.backoff, counter=counter
    )
    if not items:
        raise InputError(
            f"no scenes matched {query.describe()} in {source}: widen the dates, check the AOI and the collection name"
        )
    skipped: list[SkippedScene] = []
    records: list[SceneRecord] = []
    for item in items:
        try:
            records.append(scene_record(item))
        except (ValueError, KeyError, TypeError) as exc:
            skipped.append(SkippedScene(scene_id=str(item.get("id")), reason=f"unusable STAC item: {exc}"))
    records, duplicates = deduplicate(records)
    if duplicates:
        log.info(
            "dropped %d reprocessed duplicate scene(s): %s",
            len(duplicates),
            ", ".join(d["scene_id"] for d in duplicates),
        )

    fractions: dict[str, float] = {}
    with counting_gdal_retries() as gdal_retries:
        qualities = list(_qualities(records, geom, mask, workers=request.workers, quiet=request.quiet))
    read_again_count = gdal_retries.count
    for record, (result, again) in qualities:
        read_again_count += again
        if isinstance(result, UnreadableScene):
            reason = f"SCL unreadable ({record.hrefs['SCL']}): {result}"
            skipped.append(SkippedScene(scene_id=record.scene_id, reason=reason))
        else:
            fractions[record.scene_id] = result
    skipped.sort(key=lambda s: s["scene_id"])
    for skip in skipped:
        log.warning("skipped scene %s: %s", skip["scene_id"], skip["reason"])

    rows = [
        r.row(fractions[r.scene_id]) for r in records if r.scene_id in fractions and fractions[r.scene_id] > min_valid
    ]
    rows.sort(key=lambda row: (row["datetime"], row["tile"], row["scene_id"]))
    counts = {
        "found": len(items),
        "duplicates": len(duplicates),
        "skipped": len(skipped),
        "below_min_valid": sum(1 for f in fractions.values() if f <= min_valid),
        "kept": len(rows),
        "retried": counter.value + read_again_count,  # API requests and SCL reads repeated after transient faults
    }
    if not rows:
        log.warning(
            "no scene has more than %.0f%% valid pixels over the AOI (%s): the manifest is empty; "
            "lower min_valid to keep cloudier scenes",
            100 * min_valid,
            query.describe(),
        )
    else:
        log.info("scenes: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    metadata = {
        "query": json.dumps(
            {
                "stac": source,
                "collection": request.collection,
                "aoi": shapely.to_wkt(geom, rounding_precision=8),
                "start": first.isoformat(),
                "end": last.isoformat(),
                "min_valid": min_valid,
                "max_cloud": request.max_cloud,
                "scl_mask": list(mask),
            },
            sort_keys=True,
        ),
        "counts": json.dumps(counts, sort_keys=True),
        "duplicates": json.dumps(duplicates, sort_keys=True),
        "skipped": json.dumps(skipped, sort_keys=True),
        "footprint_crs": "EPSG:4326",
        "note": OVERLAP_NOTE,
    }
    table = pa.Table.from_pylist(rows, schema=SCENE_MANIFEST)
    table = table.replace_schema_metadata(with_metadata(table.schema, **metadata).metadata)
    with output_lock(request.out, verb="scenes", file=True):
        write_table(table, request.out, metadata=metadata)
    return ScenesResult(table=table, path=request.out, scenes=table.num_rows, info=manifest_info(table))


def manifest_info(table: pa.Table) -> ManifestInfo:
    """The query, counts, duplicates and skipped scenes recorded in a manifest's schema metadata.

    Args:
        table: a scene manifest as :func:`find_scenes` returns it or :func:`inseason.tables.read_table` reads it.

    Returns:
        Each record, None where the manifest lacks it.
    """
    meta = table.schema.metadata or {}

    def recorded(key: str) -> Any:
        raw = meta.get(f"inseason:{key}".encode())
        return json.loads(raw) if raw else None

    note = meta.get(b"inseason:note")
    return ManifestInfo(
        query=recorded("query"),
        counts=recorded("counts"),
        duplicates=recorded("duplicates"),
        skipped=recorded("skipped"),
        note=note.decode() if note else None,
    )


def _qualities(
    records: Sequence[SceneRecord], aoi: BaseGeometry, mask: Sequence[int], *, workers: int, quiet: bool
) -> Iterator[tuple[SceneRecord, tuple[float | UnreadableScene, int]]]:
    """Valid AOI share of every record's SCL and its reads repeated, in a bounded thread pool (the reads are I/O).

    A read that meets a transient fault (a body cut short, a busy server, a reset) is read again without
    GDAL's cache (`inseason.extract.sample.read_again`); one failing every time stops the search with a
    `RemoteError`, since a scene skipped for the network would be lost from the manifest without a trace.
    """

    def one(record: SceneRecord) -> tuple[float | UnreadableScene, int]:
        href = record.hrefs["SCL"]

        def read(fresh: bool) -> float:
            try:
                fresh_env = GDAL_RETRY_ENV if fresh else None
                return scl_valid_fraction(href, aoi, scl_mask=mask, gdal_options=fresh_env).valid_fraction
            except UnreadableScene as exc:
                if is_transient(href, str(exc)):
                    raise RemoteError(str(exc)) from None
                raise

        try:
            fraction, again = read_again(read, retries=SCENE_RETRIES, backoff=SCENE_BACKOFF_S, what=f"SCL {href}")
        except UnreadableScene as exc:
            return exc, 0
        return fraction, again

    with progress_bar(quiet=quiet) as bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scl") as pool:
        task = bar.add_task("scenes", total=len(records))
        with closing(bounded_map(pool, one, records, limit=2 * workers)) as qualities:  # cancels what is left
            for record, quality in qualities:
                bar.advance(task)
                yield record, quality


def _date(value: dt.date | str, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{what} date {value!r} is not a date: write it as YYYY-MM-DD") from None
