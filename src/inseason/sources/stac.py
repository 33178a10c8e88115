"""Sentinel-2 L2A scenes from STAC: search an API or walk a static catalog, and turn items into rows.

Two kinds of source are read the same way:

* an ``http(s)://`` STAC API, searched with pystac-client (``intersects`` + ``datetime``, pagination by
  ``next`` links) over a :func:`~inseason.sources.http.make_session` session: every request has a timeout
  and is retried with exponential backoff on HTTP 429/5xx, connection errors and resets, timeouts (stalls)
  and truncated bodies, the retries counted in a :class:`~inseason.sources.http.RetryCounter`; when the
  last try fails a :class:`~inseason.errors.RemoteError` names the URL and the number of tries;
* a local static catalog (a ``catalog.json``/``collection.json`` path or the folder holding it, or an
  item-collection GeoJSON), walked with pystac and filtered by AOI and dates here.

Items become scene-manifest rows (:data:`inseason.tables.SCENE_MANIFEST`) with :func:`scene_record`. The
band → asset mapping (:func:`band_hrefs`) understands earth-search v1 keys (``red``, ``nir08``, ``scl``,
resolved through ``eo:bands`` names), Planetary-Computer-style keys (``B04``, ``B8A``, ``SCL``) and
earth-search v0 keys (also ``B04``…), and prefers COGs over JPEG 2000 copies (``red-jp2``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urljoin, urlparse

import pystac
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError, RemoteError
from inseason.sources.http import RetryCounter, TimeoutSession, failure_reason, make_session
from inseason.tables import S2_BANDS

log = logging.getLogger(__name__)

#: Every band a scene manifest maps to an href: the twelve L2A bands and the scene classification.
MANIFEST_BANDS: tuple[str, ...] = (*S2_BANDS, "SCL")
#: earth-search v1 asset keys (common names) → band, used when an asset carries no ``eo:bands`` name.
COMMON_KEYS: dict[str, str] = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}
#: Processing baseline that introduced ``BOA_ADD_OFFSET = -1000`` (from 2022-01-25).
OFFSET_BASELINE = "04.00"
#: Earth Search's newer collection (ESA's Collection-1 reprocessing): offsets as ESA writes them, stated in
#: ``raster:bands``; preferred when the same acquisition is found in both Earth Search collections.
C1_COLLECTION = "sentinel-2-c1-l2a"
#: Two records of one tile sensed this close together (seconds) are one acquisition (one pass).
SAME_PASS_SECONDS = 5.0
#: A product of an acquisition already kept is kept too when its footprint adds more than this share of its own
#: area to the kept footprints (the other part of a split datatake); else it is a duplicate.
NEW_AREA_SHARE = 0.01
_BASELINE_IN_ID = re.compile(r"_N(\d{2})(\d{2})_")
_BASELINE_SUFFIX = re.compile(r"_N\d{2}\.?\d{2}$")
_MGRS = re.compile(r"(?<![0-9])(\d{1,2}[C-X][A-Z]{2})(?![A-Z])")


@dataclass(frozen=True)
class SearchQuery:
    """What to look for: a collection, an AOI (lon/lat), an inclusive date range and an optional cloud cap."""

    collection: str
    aoi: BaseGeometry
    start: dt.date
    end: dt.date
    max_cloud: float | None = None

    @property
    def datetime_range(self) -> str:
        """The RFC 3339 interval of the inclusive date range, in UTC."""
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T23:59:59.999999Z"

    def describe(self) -> str:
        """One line naming the collection, the dates and the AOI's bounds, for messages.

        Returns:
            The line.
        """
        w, s, e, n = self.aoi.bounds
        return (
            f"collection {self.collection!r} between {self.start} and {self.end} over the AOI "
            f"({w:.5f},{s:.5f},{e:.5f},{n:.5f})"
        )


def is_url(source: str) -> bool:
    """Whether ``source`` is an ``http(s)://`` URL (a STAC API) rather than a local path.

    Args:
        source: a STAC API URL or a local catalog path.

    Returns:
        True for an ``http://`` or ``https://`` URL.
    """
    return urlparse(str(source)).scheme in ("http", "https")


# ---------------------------------------------------------------------------------------------- search


def search_items(
    stac: str | os.PathLike[str],
    query: SearchQuery,
    *,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 0.5,
    page_size: int = 100,
    counter: RetryCounter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Items of ``query`` from a STAC API URL or a local static catalog, as STAC item dicts.

    Items are filtered again here by date, AOI and ``max_cloud`` whatever the server did.

    Args:
        stac: a STAC API URL, or a local static catalog (a ``catalog.json``/``collection.json`` path or its
            folder, or an item-collection GeoJSON; ``file://`` allowed).
        query: the collection, AOI, dates and cloud cap to look for.
        timeout: seconds before an API request times out (connecting, or waiting for bytes).
        retries: retries of a failed API request (HTTP 429/5xx, connection errors and resets, timeouts,
            truncated bodies).
        backoff: seconds before the first retry, doubled per retry.
        page_size: items per page of the API search.
        counter: counts the retried API requests, for the caller's summary (None: not reported).
        sleep: waits between tries (tests pass a recorder).

    Returns:
        The items, sorted by id, each once, with absolute asset hrefs (local paths, URLs or ``s3://``).

    Raises:
        InputError: the URL is not a STAC API with item search, or the local catalog is missing, unreadable,
            or lacks the collection.
        RemoteError: the API fails after its retries or answers something that is not STAC.
    """
    source = str(stac)
    if is_url(source):
        session = make_session(
            retries=retries, backoff=backoff, timeout=timeout, sleep=sleep, counter=counter or RetryCounter()
        )
        with session:
            items = _search_api(source, query, session=session, page_size=page_size)
    else:
        items = _walk_static(Path(source.removeprefix("file://")), query)
    kept = {str(it.get("id")): it for it in items if _matches(it, query)}  # an id once, whatever the pages
    return [kept[key] for key in sorted(kept)]


def _search_api(url: str, query: SearchQuery, *, session: TimeoutSession, page_size: int) -> list[dict[str, Any]]:
    from pystac_client import Client, ConformanceClasses
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO
    from pystac_client.warnings import DoesNotConformTo

    try:
        io = StacApiIO(timeout=session.timeout, max_retries=None)
        io.session.close()
        io.session = session  # pystac-client sends every request through it: its timeout, retries and count
        client = Client.open(url, stac_io=io, timeout=session.timeout)
        methods = {str(link.extra_fields.get("method") or "GET").upper() for link in client.get_links("search")}
        kwargs: dict[str, Any] = dict(
            collections=[query.collection],
            intersects=mapping(query.aoi),
            datetime=query.datetime_range,
            limit=page_size,
            method="POST" if "POST" in methods or not methods else "GET",
        )
        if query.max_cloud is not None and client.conforms_to(ConformanceClasses.QUERY):
            kwargs["query"] = {"eo:cloud_cover": {"lte": query.max_cloud}}
        search = client.search(**kwargs)
        items = [feature for page in search.pages_as_dicts() for feature in page.get("features", [])]
    except (NotImplementedError, DoesNotConformTo):
        raise InputError(
            f"{url} is not a STAC API with item search: pass the API's root URL, or the path of a local static catalog"
        ) from None
    except (APIError, OSError, ValueError) as exc:
        cause = exc.__cause__ or exc.__context__
        reason = failure_reason(cause) if cause is not None else " ".join(str(exc).split())[:300]
        status = getattr(exc, "status_code", None)
        if status is not None:
            reason = f"HTTP {status}" + (f": {reason}" if reason else "")
        tries = session.last_tries
        raise RemoteError(
            f"STAC API {url} failed{f' after {tries} tries' if tries > 1 else ''}: "
            f"{reason or type(exc).__name__}; check the URL and that the service is up, then run again"
        ) from None
    except pystac.STACError as exc:
        raise RemoteError(f"STAC API {url} answered something that is not STAC: {exc}") from None
    return [_absolute_item(it, None) for it in items]


def _walk_static(path: Path, query: SearchQuery) -> list[dict[str, Any]]:
    if path.is_dir():
        for name in ("catalog.json", "collection.json"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise InputError(
                f"STAC folder {path} holds no catalog.json or collection.json: pass a STAC API URL or a static catalog"
            )
    if not path.is_file():
        raise InputError(
            f"STAC catalog {path} does not exist: pass a STAC API URL (http://…) or the path of a static catalog.json"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"STAC catalog {path} is not readable JSON: {exc}") from None
    if data.get("type") == "FeatureCollection":
        return [
            _absolute_item(it, path)
            for it in data.get("features", [])
            if it.get("collection") in (None, query.collection)
        ]
    try:
        root = pystac.read_file(str(path.resolve()))
    except (pystac.STACError, OSError, ValueError, KeyError) as exc:
        raise InputError(f"STAC catalog {path} is not a readable STAC catalog: {exc}") from None
    if isinstance(root, pystac.Item):
        items: Iterable[pystac.Item] = [root]
    elif isinstance(root, pystac.Collection) and root.id == query.collection:
        items = root.get_items(recursive=True)
    elif isinstance(root, pystac.Catalog):
        collections = [c for c in root.get_all_collections() if c.id == query.collection]
        if not collections:
            found = sorted(c.id for c in root.get_all_collections())
            raise InputError(
                f"STAC catalog {path} has no collection {query.collection!r} (it has "
                f"{', '.join(found) or 'none'}): pass --collection"
            )
        items = (it for c in collections for it in c.get_items(recursive=True))
    else:
        raise InputError(f"STAC file {path} is a {type(root).__name__}, not a catalog, collection or item")
    out = []
    for item in items:
        if _date_in(item.datetime, query):  # cheap filter before turning every item into a dict
            data = item.to_dict(include_self_link=False, transform_hrefs=False)
            for key, asset in item.assets.items():
                data["assets"][key]["href"] = asset.get_absolute_href() or asset.href
            out.append(_absolute_item(data, None))
    return out


def _absolute_item(item: dict[str, Any], base: Path | None) -> dict[str, Any]:
    """``item`` with every asset href absolute (``file://`` becomes a plain path).

    A relative href is resolved against ``base``'s folder (a local item file) or the item's own ``self`` link
    (an API answer).
    """
    self_href = next(
        (
            str(lk.get("href"))
            for lk in item.get("links") or []
            if lk.get("rel") == "self" and is_url(str(lk.get("href")))
        ),
        None,
    )
    for asset in (item.get("assets") or {}).values():
        href = str(asset.get("href", "")).removeprefix("file://")
        if href and not urlparse(href).scheme and not os.path.isabs(href):
            if base is not None:
                href = str((base.parent / href).resolve())
            elif self_href is not None:
                href = urljoin(self_href, href)
        elif href and not urlparse(href).scheme:
            href = os.path.normpath(href)
        asset["href"] = href
    return item


def _item_datetime(item: Mapping[str, Any]) -> dt.datetime | None:
    props = item.get("properties") or {}
    text = props.get("datetime") or props.get("start_datetime")
    if not text:
        return None
    when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _date_in(when: dt.datetime | None, query: SearchQuery) -> bool:
    if when is None:
        return False
    day = (when if when.tzinfo is None else when.astimezone(dt.UTC)).date()
    return query.start <= day <= query.end


def _matches(item: Mapping[str, Any], query: SearchQuery) -> bool:
    if item.get("collection") not in (None, query.collection):
        return False
    if not _date_in(_item_datetime(item), query):
        return False
    geometry = item.get("geometry")
    if geometry is None:
        bbox = item.get("bbox")
        if not bbox:
            return False
        geom: BaseGeometry = shapely.box(*bbox[:2], *bbox[-2:]) if len(bbox) == 6 else shapely.box(*bbox)
    else:
        geom = shape(geometry)
    if not geom.intersects(query.aoi):
        return False
    cloud = (item.get("properties") or {}).get("eo:cloud_cover")
    return query.max_cloud is None or cloud is None or float(cloud) <= query.max_cloud


# ------------------------------------------------------------------------------------------ item → row


def band_hrefs(item: Mapping[str, Any]) -> dict[str, str]:
    """Band name (B01…B12, B8A, SCL) → absolute href of that band's asset in ``item``.

    An asset's band comes from its key when the key is a band name (Planetary Computer, earth-search v0),
    else from its single ``eo:bands`` name (earth-search v1), else from an earth-search v1 common-name key
    (``scl``, ``nir08``). When two assets give the same band, a GeoTIFF beats a JPEG 2000 copy.

    Args:
        item: a STAC item dict.

    Returns:
        The hrefs of the bands found, in `MANIFEST_BANDS` order.
    """
    found: dict[str, tuple[int, str]] = {}
    for key, asset in (item.get("assets") or {}).items():
        band = _asset_band(key, asset)
        if band is None or not asset.get("href"):
            continue
        rank = _asset_rank(key, asset)
        if band not in found or rank < found[band][0]:
            found[band] = (rank, str(asset["href"]))
    return {band: found[band][1] for band in MANIFEST_BANDS if band in found}


def _asset_band(key: str, asset: Mapping[str, Any]) -> str | None:
    upper = key.upper()
    if upper in MANIFEST_BANDS:
        return upper
    bands = asset.get("eo:bands") or []
    if len(bands) == 1 and isinstance(bands[0], Mapping):
        name = str(bands[0].get("name", "")).upper()
        if name in MANIFEST_BANDS:
            return name
        if re.fullmatch(r"B\d", name) and f"B0{name[1]}" in MANIFEST_BANDS:
            return f"B0{name[1]}"
    return COMMON_KEYS.get(key.lower())


def _asset_rank(key: str, asset: Mapping[str, Any]) -> int:
    media = str(asset.get("type", "")).lower()
    href = str(asset.get("href", "")).lower()
    if "jp2" in media or key.lower().endswith("jp2") or href.endswith(".jp2"):
        return 2
    if "tiff" in media or href.endswith((".tif", ".tiff")):
        return 0
    return 1


def processing_baseline(item: Mapping[str, Any]) -> str:
    """The item's processing baseline as ``NN.NN``, empty when the item does not say.

    Read from ``s2:processing_baseline``, ``sentinel:processing_baseline``, ``sentinel2:processing_baseline``
    (Earth Search's ``sentinel-s2-l2a``) or ``processing:version``, else from the ``_Nxxyy_`` field of the
    product id.

    Args:
        item: a STAC item dict.

    Returns:
        The baseline (e.g. ``05.09``), or ``""``.
    """
    props = item.get("properties") or {}
    for key in (
        "s2:processing_baseline",
        "sentinel:processing_baseline",
        "sentinel2:processing_baseline",
        "processing:version",
    ):
        value = props.get(key)
        if value not in (None, ""):
            text = str(value)
            if re.fullmatch(r"\d+(\.\d+)?", text):
                major, _, minor = text.partition(".")
                return f"{int(major):02d}.{(minor or '0').ljust(2, '0')[:2]}"
            return text
    for key in ("s2:product_uri", "sentinel:product_id", "s2:product_id", "sentinel2:product_title"):
        match = _BASELINE_IN_ID.search(str(props.get(key, "")))
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return ""


@dataclass(frozen=True)
class OffsetDecision:
    """What an item's metadata says about the BOA offset still in its pixels, and which field said it.

    ``source`` is ``earthsearch:boa_offset_applied`` (or ``sentinel:…``: the item says the offset was removed
    from its pixels), ``raster:bands`` (the reflectance assets' ``offset``), ``processing baseline`` (no
    ``offset`` stated: ``04.00`` and later carry one) or ``none`` (the item tells nothing: 0). ``doubt`` is
    empty, or says why the metadata's answer is known to be unreliable for this kind of item (check it against
    the pixels).
    """

    offset: int
    source: str
    doubt: str = ""


def offset_decision(item: Mapping[str, Any]) -> OffsetDecision:
    """The BOA offset the item's metadata states, where it was read and whether it is known to be doubtful.

    Earth Search's ``earthsearch:boa_offset_applied: true`` wins over ``raster:bands`` (its maintainers: the
    flag is the truth where the two disagree, the ``offset: -0.1`` stays in ``raster:bands``). Items of
    baseline ``04.00`` or later flagged ``false`` get the ``raster:bands`` offset (``-1000``) with a ``doubt``:
    public reports list such items (2022, 2025) whose pixels were already corrected.

    Args:
        item: a STAC item dict.

    Returns:
        The decision.
    """
    props = item.get("properties") or {}
    for flag in ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied"):
        if props.get(flag) is True:
            return OffsetDecision(0, flag)
    baseline = processing_baseline(item)
    flagged_false = any(
        props.get(flag) is False for flag in ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")
    )
    doubt = ""
    if flagged_false and baseline >= OFFSET_BASELINE and baseline[:1].isdigit():
        doubt = (
            f"baseline {baseline} flagged boa_offset_applied false: Earth Search items like this are reported with "
            "the offset already removed from their pixels"
        )
    assets = item.get("assets") or {}
    for key, asset in sorted(assets.items(), key=lambda kv: (_asset_rank(*kv), kv[0])):
        band = _asset_band(key, asset)
        if band in (None, "SCL"):
            continue
        bands = asset.get("raster:bands") or []
        if bands and isinstance(bands[0], Mapping) and bands[0].get("offset") is not None:
            scale = float(bands[0].get("scale") or 0.0001)
            offset = round(float(bands[0]["offset"]) / scale)
            return OffsetDecision(-1000 if offset <= -500 else 0, "raster:bands", doubt)
    if baseline and baseline[:1].isdigit():
        return OffsetDecision(-1000 if baseline >= OFFSET_BASELINE else 0, "processing baseline", doubt)
    return OffsetDecision(0, "none")


def boa_offset(item: Mapping[str, Any]) -> int:
    """The BOA offset (DN units) to add before dividing by 10 000: ``-1000`` or ``0``, as the metadata says.

    Taken from ``raster:bands[0].offset`` of a reflectance asset (``-0.1`` at scale ``0.0001`` is
    ``-1000``); where the item carries none, from the processing baseline (``04.00`` and later: ``-1000``).
    Items that say the offset was already removed from the data (``earthsearch:boa_offset_applied`` or
    ``sentinel:boa_offset_applied`` true) get ``0``. :func:`offset_decision` also tells which field decided
    and whether the answer is known to be doubtful.

    Args:
        item: a STAC item dict.

    Returns:
        ``-1000`` or ``0``.
    """
    return offset_decision(item).offset


def mgrs_tile(item: Mapping[str, Any]) -> str:
    """The item's MGRS tile (``15SYS``) from its properties, else from its id; empty when unknown.

    Args:
        item: a STAC item dict.

    Returns:
        The tile, or ``""``.
    """
    props = item.get("properties") or {}
    if props.get("s2:mgrs_tile"):
        return str(props["s2:mgrs_tile"]).removeprefix("T")
    for prefix in ("mgrs", "sentinel"):
        zone, band, square = (props.get(f"{prefix}:{k}") for k in ("utm_zone", "latitude_band", "grid_square"))
        if zone is not None and band and square:
            return f"{int(zone):02d}{band}{square}"
    code = str(props.get("grid:code", ""))
    if code.startswith("MGRS-"):
        return code[5:]
    match = _MGRS.search(str(item.get("id", "")).replace("_T", "_"))
    return match.group(1) if match else ""


def scene_epsg(item: Mapping[str, Any], tile: str) -> int:
    """The scene's EPSG code (``proj:epsg``, ``proj:code``, else the UTM zone of the MGRS tile).

    Args:
        item: a STAC item dict.
        tile: the item's MGRS tile (:func:`mgrs_tile`), used when the item has no projection.

    Returns:
        The EPSG code, or 0 when neither the item nor the tile tells it.
    """
    props = item.get("properties") or {}
    if props.get("proj:epsg"):
        return int(props["proj:epsg"])
    code = str(props.get("proj:code", ""))
    if code.upper().startswith("EPSG:"):
        return int(code.split(":")[1])
    for asset in (item.get("assets") or {}).values():
        if asset.get("proj:epsg"):
            return int(asset["proj:epsg"])
    match = re.fullmatch(r"(\d{1,2})([C-X])[A-Z]{2}", tile)
    if match:
        return (32600 if match.group(2) >= "N" else 32700) + int(match.group(1))
    return 0


class SceneRow(TypedDict):
    """One row of the scene manifest (:data:`inseason.tables.SCENE_MANIFEST`), as ``pa.Table.from_pylist`` takes it."""

    scene_id: str
    datetime: dt.datetime
    date: dt.date
    tile: str
    platform: str
    processing_baseline: str
    epsg: int
    footprint: bytes
    hrefs: list[tuple[str, str]]  # band → href, as the map column's (key, value) pairs
    cloud_cover_tile: float | None
    valid_fraction_aoi: float | None
    boa_offset: int
    collection: str | None


class DroppedScene(TypedDict):
    """A duplicate left out of the manifest, the scene kept in its place and why (``inseason:duplicates``).

    ``reason`` is ``reprocessed`` (an older baseline, or the same baseline published earlier), ``other
    collection`` (the same acquisition in the collection not preferred) or ``covered`` (the same baseline and
    publication, its footprint inside the kept products').
    """

    scene_id: str
    kept: str
    reason: str


@dataclass(frozen=True)
class SceneRecord:
    """One STAC item as a scene-manifest row (``valid_fraction_aoi`` is filled in later from the SCL)."""

    scene_id: str
    datetime: dt.datetime
    tile: str
    platform: str
    processing_baseline: str
    epsg: int
    footprint: bytes
    hrefs: dict[str, str]
    cloud_cover_tile: float | None
    boa_offset: int
    datatake: str
    created: str
    collection: str = ""
    offset_source: str = ""
    offset_doubt: str = ""

    @property
    def date(self) -> dt.date:
        """Acquisition date (UTC)."""
        return self.datetime.date()

    def row(self, valid_fraction_aoi: float | None) -> SceneRow:
        """The manifest row, with ``valid_fraction_aoi``.

        Args:
            valid_fraction_aoi: the scene's valid share of the AOI (None when not measured).

        Returns:
            The row, in the column order of the scene manifest.
        """
        return SceneRow(
            scene_id=self.scene_id,
            datetime=self.datetime,
            date=self.date,
            tile=self.tile,
            platform=self.platform,
            processing_baseline=self.processing_baseline,
            epsg=self.epsg,
            footprint=self.footprint,
            hrefs=list(self.hrefs.items()),
            cloud_cover_tile=self.cloud_cover_tile,
            valid_fraction_aoi=valid_fraction_aoi,
            boa_offset=self.boa_offset,
            collection=self.collection or None,
        )


def scene_record(item: Mapping[str, Any]) -> SceneRecord:
    """Turn a STAC item dict into a :class:`SceneRecord`.

    Args:
        item: a STAC item dict with absolute asset hrefs.

    Returns:
        The record, its ``valid_fraction_aoi`` still to be measured.

    Raises:
        ValueError: the item has no id, no datetime or no SCL asset (the message names what is missing).
    """
    scene_id = str(item.get("id") or "")
    when = _item_datetime(item)
    if not scene_id or when is None:
        raise ValueError("item has no id or no datetime")
    hrefs = band_hrefs(item)
    if "SCL" not in hrefs:
        raise ValueError(f"item has no SCL asset (assets: {', '.join(sorted(item.get('assets') or {}))})")
    props = item.get("properties") or {}
    tile = mgrs_tile(item)
    geometry = item.get("geometry")
    footprint = shapely.to_wkb(shape(geometry) if geometry else shapely.box(*item["bbox"][:4]))
    cloud = props.get("eo:cloud_cover")
    datatake = str(props.get("s2:datatake_id") or props.get("sentinel:datatake_id") or "")
    offset = offset_decision(item)
    return SceneRecord(
        scene_id=scene_id,
        datetime=when.astimezone(dt.UTC),
        tile=tile,
        platform=str(props.get("platform", "")).lower(),
        processing_baseline=processing_baseline(item),
        epsg=scene_epsg(item, tile),
        footprint=footprint,
        hrefs=hrefs,
        cloud_cover_tile=None if cloud is None else float(cloud),
        boa_offset=offset.offset,
        datatake=datatake,
        created=str(props.get("created") or props.get("updated") or ""),
        collection=str(item.get("collection") or ""),
        offset_source=offset.source,
        offset_doubt=offset.doubt,
    )


def deduplicate(records: Sequence[SceneRecord]) -> tuple[list[SceneRecord], list[DroppedScene]]:
    """Drop scenes published twice (reprocessing, or both Earth Search collections); keep split products.

    Records of one acquisition share the tile and either the datatake id (its ``_Nxx.yy`` baseline suffix
    ignored: a reprocessed copy may carry another) or, when one has no datatake id or they come from different
    collections, the sensing time within `SAME_PASS_SECONDS`. Within an acquisition the newest processing
    baseline ranks first, then the `C1_COLLECTION`, then the newest ``created``. Going down that ranking a
    record is kept when it is the first, or when its footprint adds more than `NEW_AREA_SHARE` of its own area
    to the kept ones (the other part of a pass delivered as two partial products: both are kept, their
    observations merge per point); otherwise it is dropped in favour of the kept record it overlaps most.

    Args:
        records: the scenes found.

    Returns:
        The kept records (input order) and, for each dropped one sorted by id, ``{"scene_id", "kept",
        "reason"}``.
    """
    groups = _acquisitions(records)
    keep: set[str] = set()
    dropped: list[DroppedScene] = []
    for group in groups:
        ranked = sorted(group, key=_rank, reverse=True)
        kept: list[tuple[SceneRecord, BaseGeometry]] = []
        union: BaseGeometry | None = None
        for rec in ranked:
            geom = _footprint(rec)
            if union is None or geom.difference(union).area > NEW_AREA_SHARE * geom.area:
                kept.append((rec, geom))
                union = geom if union is None else union.union(geom)
                keep.add(rec.scene_id)
                continue
            winner = max(kept, key=lambda kg: kg[1].intersection(geom).area)[0]
            dropped.append(DroppedScene(scene_id=rec.scene_id, kept=winner.scene_id, reason=_drop_reason(rec, winner)))
    return [r for r in records if r.scene_id in keep], sorted(dropped, key=lambda d: d["scene_id"])


def datatake_key(datatake: str) -> str:
    """A datatake id without its processing-baseline suffix (``GS2B_20180521T100029_006297_N02.06`` → ``…_006297``).

    Args:
        datatake: an ``s2:datatake_id``.

    Returns:
        The id with a trailing ``_Nxx.yy`` (or ``_Nxxyy``) removed.
    """
    return _BASELINE_SUFFIX.sub("", datatake.strip())


def _acquisitions(records: Sequence[SceneRecord]) -> list[list[SceneRecord]]:
    """Records grouped by acquisition (tile + datatake, or tile + sensing time), in input order."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    by_take: dict[tuple[str, str], int] = {}
    by_tile: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        take = datatake_key(rec.datatake)
        if take:
            first = by_take.setdefault((rec.tile, take), i)
            if first != i:
                union(i, first)
        by_tile.setdefault(rec.tile, []).append(i)
    for members in by_tile.values():
        members.sort(key=lambda i: records[i].datetime)
        for a, i in enumerate(members):
            for j in members[a + 1 :]:
                if (records[j].datetime - records[i].datetime).total_seconds() > SAME_PASS_SECONDS:
                    break
                ri, rj = records[i], records[j]
                if not ri.datatake or not rj.datatake or ri.collection != rj.collection:
                    union(i, j)
    groups: dict[int, list[SceneRecord]] = {}
    for i, rec in enumerate(records):
        groups.setdefault(find(i), []).append(rec)
    return list(groups.values())


def _rank(rec: SceneRecord) -> tuple[tuple[float, str], bool, str, str]:
    return _baseline_key(rec.processing_baseline), rec.collection == C1_COLLECTION, rec.created, rec.scene_id


def _footprint(rec: SceneRecord) -> BaseGeometry:
    geom = shapely.from_wkb(rec.footprint)
    return geom if geom.is_valid else shapely.make_valid(geom)


def _drop_reason(rec: SceneRecord, kept: SceneRecord) -> str:
    if rec.collection != kept.collection:
        return "other collection"
    if rec.processing_baseline != kept.processing_baseline or rec.created != kept.created:
        return "reprocessed"
    return "covered"


def _baseline_key(baseline: str) -> tuple[float, str]:
    try:
        return float(baseline), baseline
    except ValueError:
        return -1.0, baseline
