"""The ``scenes`` stage: STAC → scene manifest (DESIGN §2), filtered, de-duplicated, with AOI quality.

:func:`find_scenes` searches a STAC API (or walks a static catalog) for Sentinel-2 L2A items over an AOI
and a date range, drops scenes published twice after reprocessing, reads each scene's SCL over the AOI
only (in a bounded thread pool) and keeps the scenes whose valid share of the AOI is strictly greater than
``min_valid`` (the ARSET course keeps scenes with more than 30 % valid area). Scenes whose SCL cannot be
read are skipped with a recorded reason, never silently.

Collections (``collection``, one or more, each searched at the same ``stac`` source):

* Earth Search (``https://earth-search.aws.element84.com/v1``) ``sentinel-2-c1-l2a``: Collection 1, the ESA
  reprocessing of the whole archive to one processing baseline (05.xx), with the BOA offset kept in the
  pixels and declared in ``raster:bands``; the one to use where it covers the dates, but it has gaps (whole
  years of some tiles were missing while the reprocessing was published);
* Earth Search ``sentinel-2-l2a``: the older collection, every baseline as ESA first delivered it (00.01 to
  05.xx), with the offset removed from many items' pixels (``earthsearch:boa_offset_applied``); complete for
  the past years but missing recent items;
* Planetary Computer (``https://planetarycomputer.microsoft.com/api/stac/v1``) ``sentinel-2-l2a``: ESA's
  products as delivered, offset in the pixels from baseline 04.00; its blob hrefs must be signed.

With two collections (e.g. both Earth Search ones) the results merge: the same acquisition found in both
(same tile and sensing time) is kept once (`inseason.sources.stac.deduplicate`). The manifest records per
month how many scenes each collection has over the AOI (``inseason:collection_months``), so a collection's
gap shows.

The BOA offset of each kept scene is decided from its metadata and checked against its pixels
(`inseason.extract.offset`): where the blue band shows the offset was already removed although the metadata
says otherwise, the pixels win; the manifest records those scenes (``inseason:offset_from_pixels``) and one
warning names them.

Where tiles overlap, one AOI point can lie in two tiles' scenes of the same date: the manifest keeps both
scenes; extraction keeps one observation per point and date.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
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
from inseason.extract.offset import DARK_BANDS, OffsetCheck, OffsetFromPixels, check_offset, needs_check
from inseason.extract.quality import DEFAULT_SCL_MASK, AoiQuality, UnreadableScene, scl_valid_fraction
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
from inseason.sources.access import SIGN_CHOICES, SigningError, access_metadata, input_access
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
from inseason.storage import InputAccess, output_lock
from inseason.tables import SCENE_MANIFEST, with_metadata, write_table

log = logging.getLogger(__name__)

#: Written into every manifest's metadata (``inseason:note``).
OVERLAP_NOTE = (
    "Where MGRS tiles overlap the AOI, one point can lie in two tiles' scenes of the same date; "
    "the manifest keeps both scenes and extraction keeps one observation per point and date."
)
#: Earth Search's STAC API (both Sentinel-2 L2A collections).
EARTH_SEARCH_STAC = "https://earth-search.aws.element84.com/v1"
#: Microsoft Planetary Computer's STAC API (its hrefs need signing).
PLANETARY_COMPUTER_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"
#: The collections ``scenes`` knows by name: collection → where it is and when to use it.
COLLECTIONS: dict[str, str] = {
    "sentinel-2-c1-l2a": f"Earth Search ({EARTH_SEARCH_STAC}): Collection 1, one baseline for the whole archive, "
    "offset in the pixels; has gaps (whole years of some tiles)",
    "sentinel-2-l2a": f"Earth Search ({EARTH_SEARCH_STAC}): the older collection, baselines as first delivered, "
    f"offset removed from many items; misses recent items. Also Planetary Computer's ({PLANETARY_COMPUTER_STAC})",
}


class SkippedScene(TypedDict):
    """A scene left out of the manifest because it could not be used, and why (``inseason:skipped``)."""

    scene_id: str
    reason: str


class ManifestInfo(TypedDict):
    """What a manifest records in its schema metadata (:func:`manifest_info`); None where it lacks an entry."""

    #: The search: stac, collection (the first), collections, aoi (WKT), start, end, min_valid, max_cloud, scl_mask.
    query: dict[str, Any] | None
    #: found, duplicates, skipped, below_min_valid, kept, retried, offset_from_pixels.
    counts: dict[str, int] | None
    duplicates: list[DroppedScene] | None
    skipped: list[SkippedScene] | None
    note: str | None
    #: Collection → ``YYYY-MM`` → scenes found over the AOI (every month of the dates, 0 where none).
    collection_months: dict[str, dict[str, int]] | None
    #: Scenes whose BOA offset the pixels decided against the metadata.
    offset_from_pixels: list[OffsetFromPixels] | None


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
        collection: the STAC collections of the Sentinel-2 L2A items, each searched (a name or several; the
            module's notes say which to use when); scenes found in two are kept once.
        min_valid: the valid share of the AOI a scene must exceed (0 ≤ ``min_valid`` < 1).
        scl_mask: the SCL classes that are not usable (0…255).
        max_cloud: also drop items whose tile-wide ``eo:cloud_cover`` exceeds this percentage (0…100).
        workers: threads reading SCL windows at once (at least 1).
        quiet: no progress bar.
        timeout: seconds before a STAC API request times out.
        retries: retries of a failed STAC API request.
        backoff: seconds before the first retry, doubled per retry.
        no_sign_request: read the scenes' files anonymously (public S3 buckets), whatever the credentials; the
            manifest is still written with them.
        requester_pays: the scenes' S3 reads carry ``x-amz-request-payer: requester``.
        sign: how the scenes' hrefs are signed: ``auto`` (Planetary Computer's where the hrefs are on Azure Blob
            Storage), ``planetary-computer`` or ``none``. The access is recorded in the manifest
            (``inseason:input_access``), so ``extract`` and ``predict`` read the files the same way.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stac: str
    aoi: str | BaseGeometry
    start: dt.date
    end: dt.date
    out: str
    collection: tuple[str, ...] = ("sentinel-2-l2a",)
    min_valid: float = 0.3
    scl_mask: tuple[int, ...] = DEFAULT_SCL_MASK
    max_cloud: float | None = None
    workers: Annotated[int, AfterValidator(check_workers)] = 4
    quiet: bool = False
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5
    no_sign_request: bool = False
    requester_pays: bool = False
    sign: str = "auto"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_of(cls, value: Any, info: ValidationInfo) -> dt.date:
        """A date, a datetime's date or a ``YYYY-MM-DD`` text as a date, refused with the stage's message."""
        return _date(value, str(info.field_name))

    @field_validator("collection", mode="before")
    @classmethod
    def _collections(cls, value: Any) -> tuple[str, ...]:
        """One collection name or several, each once, in the order given; refused when empty."""
        names = [value] if isinstance(value, str) else list(value or [])
        out = tuple(dict.fromkeys(str(n).strip() for n in names))
        if not out or "" in out:
            raise InputError(
                f"collection {' '.join(repr(str(n)) for n in names) or '(none)'} is empty: pass a STAC collection "
                "name, e.g. --collection sentinel-2-l2a"
            )
        return out

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
        if self.sign not in SIGN_CHOICES:
            raise InputError(f"sign={self.sign!r} is not one of {', '.join(SIGN_CHOICES)}: pass --sign auto")
        if self.no_sign_request and self.requester_pays:
            raise InputError(
                "--no-sign-request and --requester-pays together: a requester-pays bucket needs signed requests; "
                "pass one of them"
            )
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
    collection: str | Sequence[str] = "sentinel-2-l2a",
    min_valid: float = 0.3,
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    max_cloud: float | None = None,
    workers: int = 4,
    quiet: bool = False,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 0.5,
    no_sign_request: bool = False,
    requester_pays: bool = False,
    sign: str = "auto",
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
        collection: the STAC collection of the Sentinel-2 L2A items, or several, each searched (scenes found
            in two are kept once).
        min_valid: the valid share of the AOI a scene must exceed (0 ≤ ``min_valid`` < 1).
        scl_mask: the SCL classes that are not usable (0…255).
        max_cloud: also drop items whose tile-wide ``eo:cloud_cover`` exceeds this percentage.
        workers: threads reading SCL windows at once.
        quiet: no progress bar.
        timeout: seconds before a STAC API request times out.
        retries: retries of a failed STAC API request.
        backoff: seconds before the first retry, doubled per retry.
        no_sign_request: read the scenes' files anonymously (public S3 buckets).
        requester_pays: the scenes' S3 reads carry ``x-amz-request-payer: requester``.
        sign: ``auto``, ``planetary-computer`` or ``none`` (how the scenes' hrefs are signed).

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
            collection=(collection,) if isinstance(collection, str) else tuple(collection),
            min_valid=min_valid,
            scl_mask=scl_mask,
            max_cloud=max_cloud,
            workers=workers,
            quiet=quiet,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            no_sign_request=no_sign_request,
            requester_pays=requester_pays,
            sign=sign,
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
    collections = request.collection

    counter = RetryCounter()
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    found_in: dict[str, list[dict[str, Any]]] = {}
    for name in collections:
        query = SearchQuery(collection=name, aoi=geom, start=first, end=last, max_cloud=request.max_cloud)
        found = search_items(
            stac, query, timeout=request.timeout, retries=request.retries, backoff=request.backoff, counter=counter
        )
        found = [it if it.get("collection") else {**it, "collection": name} for it in found]
        found_in[name] = found
        for item in found:
            if str(item.get("id")) not in seen:  # one id found in two collections of one API: once
                seen.add(str(item.get("id")))
                items.append(item)
    months = collection_months(found_in, first, last)
    if len(collections) > 1:
        log.info("scenes per month and collection over the AOI: %s", _months_line(months))
    describe = SearchQuery(
        collection=",".join(collections), aoi=geom, start=first, end=last, max_cloud=request.max_cloud
    ).describe()
    if not items:
        raise InputError(
            f"no scenes matched {describe} in {source}: widen the dates, check the AOI and the collection name"
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

    access = input_access(
        no_sign_request=request.no_sign_request,
        requester_pays=request.requester_pays,
        sign=request.sign,
        hrefs=[href for r in records for href in r.hrefs.values()],
    )
    fractions: dict[str, float] = {}
    checks: dict[str, OffsetCheck] = {}
    with counting_gdal_retries() as gdal_retries:
        qualities = list(
            _qualities(
                records, geom, mask, min_valid=min_valid, workers=request.workers, quiet=request.quiet, access=access
            )
        )
    read_again_count = gdal_retries.count
    for record, (result, check, again) in qualities:
        read_again_count += again
        if isinstance(result, UnreadableScene):
            reason = f"SCL unreadable ({record.hrefs['SCL']}): {result}"
            skipped.append(SkippedScene(scene_id=record.scene_id, reason=reason))
        else:
            fractions[record.scene_id] = result
            if check is not None:
                checks[record.scene_id] = check
    skipped.sort(key=lambda s: s["scene_id"])
    for skip in skipped:
        log.warning("skipped scene %s: %s", skip["scene_id"], skip["reason"])

    kept = [r for r in records if r.scene_id in fractions and fractions[r.scene_id] > min_valid]
    from_pixels = _offset_report(kept, checks)
    corrected = {f["scene_id"]: f["pixels"] for f in from_pixels}
    rows = []
    for r in kept:
        row = r.row(fractions[r.scene_id])
        if r.scene_id in corrected:
            row["boa_offset"] = corrected[r.scene_id]
        rows.append(row)
    rows.sort(key=lambda row: (row["datetime"], row["tile"], row["scene_id"]))
    counts = {
        "found": len(items),
        "duplicates": len(duplicates),
        "skipped": len(skipped),
        "below_min_valid": sum(1 for f in fractions.values() if f <= min_valid),
        "kept": len(rows),
        "retried": counter.value + read_again_count,  # API requests and SCL reads repeated after transient faults
        "offset_from_pixels": len(from_pixels),
    }
    if not rows:
        log.warning(
            "no scene has more than %.0f%% valid pixels over the AOI (%s): the manifest is empty; "
            "lower min_valid to keep cloudier scenes",
            100 * min_valid,
            describe,
        )
    else:
        log.info("scenes: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    metadata = {
        "query": json.dumps(
            {
                "stac": source,
                "collection": collections[0],
                "collections": list(collections),
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
        "collection_months": json.dumps(months, sort_keys=True),
        "offset_from_pixels": json.dumps(from_pixels, sort_keys=True),
        "footprint_crs": "EPSG:4326",
        "note": OVERLAP_NOTE,
        **access_metadata(access),
    }
    table = pa.Table.from_pylist(rows, schema=SCENE_MANIFEST)
    table = table.replace_schema_metadata(with_metadata(table.schema, **metadata).metadata)
    with output_lock(request.out, verb="scenes", file=True):
        write_table(table, request.out, metadata=metadata)
    return ScenesResult(table=table, path=request.out, scenes=table.num_rows, info=manifest_info(table))


def collection_months(
    found: Mapping[str, Sequence[Mapping[str, Any]]], start: dt.date, end: dt.date
) -> dict[str, dict[str, int]]:
    """How many items each collection has per month of the dates: every month listed, 0 where none.

    Args:
        found: collection → the items its search found (over the AOI, within the dates).
        start: the first date searched.
        end: the last date searched.

    Returns:
        Collection → ``YYYY-MM`` → items, months in order.
    """
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    out: dict[str, dict[str, int]] = {}
    for name, items in found.items():
        per = dict.fromkeys(months, 0)
        for item in items:
            text = str((item.get("properties") or {}).get("datetime") or "")[:7]
            if text in per:
                per[text] += 1
        out[name] = per
    return out


def _months_line(months: Mapping[str, Mapping[str, int]]) -> str:
    """``2022-01 c1 0 / l2a 12, ...``: the months with their counts per collection, for a log line."""
    names = list(months)
    keys = list(next(iter(months.values()), {}))
    return ", ".join(f"{m} " + " / ".join(f"{n} {months[n][m]}" for n in names) for m in keys)


def _offset_report(records: Sequence[SceneRecord], checks: Mapping[str, OffsetCheck]) -> list[OffsetFromPixels]:
    """The kept scenes whose pixels overrule their metadata's offset, with one warning naming them."""
    flipped = [
        checks[r.scene_id].flipped(r.scene_id)
        for r in records
        if r.scene_id in checks and checks[r.scene_id].verdict == "pixels"
    ]
    flipped.sort(key=lambda f: f["scene_id"])
    unsettled: list[SceneRecord] = []
    for r in records:
        check = checks.get(r.scene_id)
        if check is not None and check.verdict == "unread":
            log.warning("BOA offset of scene %s not checked against its pixels: %s", r.scene_id, check.reason)
        elif check is not None and r.offset_doubt and check.verdict in ("too few pixels", "undecidable"):
            unsettled.append(r)
            log.debug("BOA offset of scene %s in doubt, not settled: %s", r.scene_id, check.reason)
        elif check is not None and check.verdict != "pixels":
            log.debug("BOA offset of scene %s: %s (%s)", r.scene_id, check.verdict, check.reason)
    if unsettled:  # one line for them all: a cloudy season of a small AOI can hold many
        first = unsettled[0]
        log.warning(
            "BOA offset of %d scene(s) is in doubt (%s) and their pixels cannot settle it, e.g. %s: %s; kept the "
            "metadata's offset for %s",
            len(unsettled),
            first.offset_doubt,
            first.scene_id,
            checks[first.scene_id].reason,
            ", ".join(r.scene_id for r in unsettled[:5])
            + (f" and {len(unsettled) - 5} more" if len(unsettled) > 5 else ""),
        )
    if flipped:
        log.warning(
            "BOA offset taken from the pixels for %d scene(s) whose metadata gives an offset of -1000 DN but whose "
            "pixels were already corrected (the share of valid blue values below 1000 DN, impossible with the offset "
            "in): %s; the manifest uses 0, without it their reflectances would be 0.1 too low",
            len(flipped),
            ", ".join(f"{f['scene_id']} ({f['share']:.0%})" for f in flipped),
        )
    return flipped


def manifest_info(table: pa.Table) -> ManifestInfo:
    """The query, counts, duplicates, skipped scenes, collection months and pixel offsets a manifest records.

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
        collection_months=recorded("collection_months"),
        offset_from_pixels=recorded("offset_from_pixels"),
    )


def _qualities(
    records: Sequence[SceneRecord],
    aoi: BaseGeometry,
    mask: Sequence[int],
    *,
    min_valid: float,
    workers: int,
    quiet: bool,
    access: InputAccess,
) -> Iterator[tuple[SceneRecord, tuple[float | UnreadableScene, OffsetCheck | None, int]]]:
    """Valid AOI share of every record's SCL, its offset check and its reads repeated, in a bounded thread pool.

    A read that meets a transient fault (a body cut short, a busy server, a reset) is read again without
    GDAL's cache (`inseason.extract.sample.read_again`); one failing every time stops the search with a
    `RemoteError`, since a scene skipped for the network would be lost from the manifest without a trace.
    A scene kept (valid share above ``min_valid``) whose offset is in doubt (`inseason.extract.offset.needs_check`)
    also has its dark band read over the same pixels; one that cannot be read keeps the metadata's offset
    (the check says why). A read the server refuses (credentials, signing) or whose href cannot be signed stops
    the search with one line saying what to change.
    """

    def retried(read: Any, href: str, what: str) -> tuple[Any, int]:
        def attempt(fresh: bool) -> Any:
            try:
                return read(GDAL_RETRY_ENV if fresh else None)
            except UnreadableScene as exc:
                if is_transient(href, str(exc)):
                    raise RemoteError(str(exc)) from None
                raise
            except SigningError as exc:  # the signer retried already: not a read fault to read again
                raise _NotRetried(exc) from None

        try:
            return read_again(attempt, retries=SCENE_RETRIES, backoff=SCENE_BACKOFF_S, what=f"{what} {href}")
        except _NotRetried as wrapped:
            raise wrapped.error from None

    def one(record: SceneRecord) -> tuple[float | UnreadableScene, OffsetCheck | None, int]:
        href = record.hrefs["SCL"]
        check_it = needs_check(record.boa_offset, record.processing_baseline)

        def scl(env: Mapping[str, object] | None) -> AoiQuality:
            return scl_valid_fraction(href, aoi, scl_mask=mask, gdal_options=env, keep_pixels=check_it, access=access)

        try:
            quality, again = retried(scl, href, "SCL")
        except UnreadableScene as exc:
            return exc, None, 0
        if not check_it or quality.valid_fraction <= min_valid:
            return quality.valid_fraction, None, again
        dark = next((record.hrefs[b] for b in DARK_BANDS if b in record.hrefs), href)

        def offset(env: Mapping[str, object] | None) -> OffsetCheck:
            return check_offset(record.hrefs, quality, record.boa_offset, gdal_options=env, access=access)

        try:
            check, more = retried(offset, dark, "dark band")
        except UnreadableScene as exc:
            reason = f"{dark} unreadable: {exc}; kept the metadata's offset {record.boa_offset}"
            return (
                quality.valid_fraction,
                OffsetCheck(record.boa_offset, record.boa_offset, "unread", None, 0, 0, reason),
                again,
            )
        return quality.valid_fraction, check, again + more

    with progress_bar(quiet=quiet) as bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scl") as pool:
        task = bar.add_task("scenes", total=len(records))
        with closing(bounded_map(pool, one, records, limit=2 * workers)) as qualities:  # cancels what is left
            for record, quality in qualities:
                bar.advance(task)
                yield record, quality


class _NotRetried(Exception):
    """Carries an error past `read_again` (which reads again on every `RemoteError`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _date(value: dt.date | str, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{what} date {value!r} is not a date: write it as YYYY-MM-DD") from None
