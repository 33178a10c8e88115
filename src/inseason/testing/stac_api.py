"""A minimal loopback STAC API over a static catalog, standing in for earth-search in tests.

Conformance: STAC API core, collections, ogcapi-features and item-search (OGC API Features core and
GeoJSON). Endpoints: ``/``, ``/conformance``, ``/collections``, ``/collections/{id}``,
``/collections/{id}/items`` (``limit``, ``bbox``, ``datetime``, paged), ``/collections/{id}/items/{item}``
and ``GET``/``POST /search`` with ``collections``, ``ids``, ``bbox`` (intersects the item's bbox),
``intersects`` (the item's geometry), ``datetime`` (instant, ``a/b``, ``../b``, ``a/..``) and ``limit``
(default 10, at most 1000). Other search parameters (``query``, ``filter``, ``sortby``...) are ignored, as
the API does not advertise them. Results are sorted by datetime then id.

Paging follows a ``next`` link, as pystac-client does: for ``GET`` its ``href`` holds every parameter plus
``token``; for ``POST`` it carries ``method: POST``, the whole ``body`` plus ``token`` and ``merge: false``
(pystac-client sends the link's body as it is). The token is the offset of the next page.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from inseason.testing.http_files import LoopbackServer, RangeFileServer, Reply, error_reply, json_reply

log = logging.getLogger(__name__)

CONFORMS_TO: tuple[str, ...] = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
GEOJSON = "application/geo+json"
JSON = "application/json"
_UTC = dt.UTC


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def _bad(description: str) -> _BadRequest:
    return _BadRequest(400, "BadRequest", description)


def _not_found(description: str) -> _BadRequest:
    return _BadRequest(404, "NotFound", description)


@dataclass(frozen=True)
class _Entry:
    """An item with what searches compare: its time span, bbox and geometry."""

    doc: dict[str, Any]
    id: str
    collection: str
    start: dt.datetime
    end: dt.datetime
    bbox: tuple[float, float, float, float]
    geometry: BaseGeometry


@dataclass(frozen=True)
class _Query:
    collections: frozenset[str] | None = None
    ids: frozenset[str] | None = None
    bbox: tuple[float, float, float, float] | None = None
    geometry: BaseGeometry | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def matches(self, e: _Entry) -> bool:
        if self.collections is not None and e.collection not in self.collections:
            return False
        if self.ids is not None and e.id not in self.ids:
            return False
        if self.bbox is not None:
            w, s, east, n = self.bbox
            if e.bbox[0] > east or e.bbox[2] < w or e.bbox[1] > n or e.bbox[3] < s:
                return False
        if self.start is not None and e.end < self.start:
            return False
        if self.end is not None and e.start > self.end:
            return False
        return self.geometry is None or self.geometry.intersects(e.geometry)


# ------------------------------------------------------------------------------------------ parsing


def parse_instant(text: str) -> dt.datetime:
    """An RFC 3339 datetime, in UTC.

    Args:
        text: the datetime (a naive one is taken as UTC).

    Returns:
        The instant, in UTC.

    Raises:
        _BadRequest: not an RFC 3339 datetime (answered as HTTP 400 with the message).
    """
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _bad(f"invalid datetime {text!r}: expected RFC 3339, e.g. 2021-04-05T10:30:00Z") from None
    return (when if when.tzinfo else when.replace(tzinfo=_UTC)).astimezone(_UTC)


def parse_datetime(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(start, end)`` of a STAC ``datetime`` parameter.

    Args:
        text: an instant, or an interval ``a/b`` whose ends may be open (``..`` or empty).

    Returns:
        The interval in UTC; ``None`` for an open end (an instant gives the same start and end).

    Raises:
        _BadRequest: a malformed datetime, both ends open, or an end before the start (answered as HTTP 400
            with the message).
    """
    parts = text.split("/")
    if len(parts) == 1:
        when = parse_instant(parts[0])
        return when, when
    if len(parts) != 2:
        raise _bad(f"invalid datetime {text!r}: expected an instant or an interval start/end")
    start, end = (None if p.strip() in ("", "..") else parse_instant(p) for p in parts)
    if start is None and end is None:
        raise _bad(f"invalid datetime {text!r}: both ends of the interval are open")
    if start is not None and end is not None and start > end:
        raise _bad(f"invalid datetime {text!r}: the interval ends before it starts")
    return start, end


def parse_bbox(value: Any) -> tuple[float, float, float, float]:
    """A lon/lat bbox from ``"w,s,e,n"`` or a list.

    Args:
        value: ``"w,s,e,n"`` or a list of 4 numbers (or 6, with heights).

    Returns:
        ``(west, south, east, north)``.

    Raises:
        _BadRequest: not 4 (or 6) numbers, or west > east or south > north (answered as HTTP 400 with the message).
    """
    try:
        nums = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
        raise _bad(f"invalid bbox {value!r}: expected 4 numbers west,south,east,north") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or nums[0] > nums[2] or nums[1] > nums[3]:
        raise _bad(
            f"invalid bbox {value!r}: expected 4 numbers west,south,east,north with west <= east and south <= north"
        )
    return nums[0], nums[1], nums[2], nums[3]


def parse_intersects(value: Any) -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry.

    Args:
        value: a GeoJSON geometry or Feature, as a dict or its JSON text.

    Returns:
        The geometry, prepared for intersection tests.

    Raises:
        _BadRequest: not a GeoJSON geometry, or an empty one (answered as HTTP 400 with the message).
    """
    try:
        doc = json.loads(value) if isinstance(value, str) else value
        if doc.get("type") == "Feature":
            doc = doc["geometry"]
        geom = shape(doc)
    except Exception:
        raise _bad(f"invalid intersects {str(value)[:200]!r}: expected a GeoJSON geometry") from None
    if geom.is_empty:
        raise _bad("invalid intersects: the geometry is empty")
    shapely.prepare(geom)
    return geom


def _strings(value: Any, name: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise _bad(f"invalid {name} {value!r}: expected a list of strings")


def _int(value: Any, name: str, low: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} {value!r}: expected an integer") from None
    if number < low or (isinstance(value, float) and not value.is_integer()):
        raise _bad(f"invalid {name} {value!r}: expected an integer >= {low}")
    return number


def parse_search(params: dict[str, Any]) -> _Query:
    """The query of a search's parameters.

    Args:
        params: the parameters (GET: strings, POST: JSON values); ``token`` is the offset of the page.

    Returns:
        The query.

    Raises:
        _BadRequest: a malformed parameter, or bbox and intersects together (answered as HTTP 400 with the message).
    """
    if params.get("bbox") not in (None, "") and params.get("intersects") not in (None, ""):
        raise _bad("bbox and intersects cannot be used together")
    start = end = None
    if params.get("datetime") not in (None, ""):
        if not isinstance(params["datetime"], str):
            raise _bad(f"invalid datetime {params['datetime']!r}: expected a string")
        start, end = parse_datetime(params["datetime"])
    present = {k: v for k, v in params.items() if v not in (None, "")}
    return _Query(
        collections=_strings(present["collections"], "collections") if "collections" in present else None,
        ids=_strings(present["ids"], "ids") if "ids" in present else None,
        bbox=parse_bbox(present["bbox"]) if "bbox" in present else None,
        geometry=parse_intersects(present["intersects"]) if "intersects" in present else None,
        start=start,
        end=end,
        limit=min(_int(present.get("limit", DEFAULT_LIMIT), "limit", 1), MAX_LIMIT),
        offset=_int(present.get("token", 0), "token", 0),
    )


# ---------------------------------------------------------------------------------- the catalog


def _href_path(href: str, doc_path: Path) -> Path | None:
    """The local path of an href in the document at ``doc_path``; ``None`` for a remote URL."""
    parts = urlsplit(href)
    if parts.scheme == "file":
        return Path(unquote(parts.path)).resolve()
    if parts.scheme and len(parts.scheme) > 1:  # http, https, s3... (a one-letter scheme is a drive)
        return None
    return (doc_path.parent / href).resolve()


def load_catalog(
    path: Path,
) -> tuple[dict[str, Any], dict[str, tuple[dict[str, Any], Path]], list[tuple[dict[str, Any], Path, str | None]]]:
    """Walk a static catalog through its child and item links.

    Args:
        path: the root ``catalog.json``.

    Returns:
        ``(root document, {collection id: (doc, path)}, [(item, path, collection)])``.
    """
    collections: dict[str, tuple[dict[str, Any], Path]] = {}
    items: list[tuple[dict[str, Any], Path, str | None]] = []
    seen: set[Path] = set()

    def walk(doc_path: Path, collection: str | None) -> dict[str, Any]:
        seen.add(doc_path)
        doc: dict[str, Any] = json.loads(doc_path.read_text())
        if doc.get("type") == "Feature":
            items.append((doc, doc_path, doc.get("collection") or collection))
            return doc
        if doc.get("type") == "Collection":
            collections[doc["id"]] = (doc, doc_path)
            collection = doc["id"]
        for link in doc.get("links", []):
            if link.get("rel") in ("child", "item"):
                target = _href_path(link["href"], doc_path)
                if target is not None and target not in seen:
                    walk(target, collection)
        return doc

    root = walk(path.resolve(), None)
    return root, collections, items


class StacApiServer(LoopbackServer):
    """A STAC API over the static catalog at ``catalog`` (a ``catalog.json``, or the folder holding it).

    Items are loaded once, at construction. Asset hrefs are made absolute: a file under ``world_root``
    (default: the catalog's folder) becomes ``asset_base_url`` + its relative path when ``asset_base_url``
    is given (e.g. a :class:`RangeFileServer` over ``world_root``), else an absolute local path; remote
    hrefs are kept. Items' and collections' links point at this API.

    Args:
        catalog: a ``catalog.json``, or the folder holding it.
        asset_base_url: the URL the files under ``world_root`` are served at (None: local paths).
        world_root: the folder whose files ``asset_base_url`` serves (default: the catalog's folder).
        host: the address to bind.
        port: the port to bind (0: a free one).
        delay_s: seconds to wait before every response.

    Raises:
        ValueError: an item has no datetime.
    """

    def __init__(
        self,
        catalog: str | os.PathLike[str],
        *,
        asset_base_url: str | None = None,
        world_root: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_s: float = 0.0,
    ) -> None:
        super().__init__(host=host, port=port, delay_s=delay_s)
        path = Path(catalog)
        self.catalog_path = (path / "catalog.json" if path.is_dir() else path).resolve()
        self.world_root = Path(world_root).resolve() if world_root is not None else self.catalog_path.parent
        self.asset_base_url = asset_base_url.rstrip("/") + "/" if asset_base_url else None
        self._root, collections, items = load_catalog(self.catalog_path)
        self._collections = {cid: self._with_assets(doc, p) for cid, (doc, p) in collections.items()}
        entries = [self._entry(doc, p, cid) for doc, p, cid in items]
        self._items = sorted(entries, key=lambda e: (e.start, e.id))
        self._by_id = {(e.collection, e.id): e for e in self._items}
        log.debug(
            "StacApiServer: %d collections, %d items from %s",
            len(self._collections),
            len(self._items),
            self.catalog_path,
        )

    @property
    def collection_ids(self) -> list[str]:
        """The ids of the served collections."""
        return sorted(self._collections)

    def item_ids(self) -> list[str]:
        """Every item id, in the API's order.

        Returns:
            The ids, by datetime, then id.
        """
        return [e.id for e in self._items]

    # ------------------------------------------------------------------------------------ loading

    def _asset_href(self, href: str, doc_path: Path) -> str:
        local = _href_path(href, doc_path)
        if local is None:
            return href
        if self.asset_base_url and local.is_relative_to(self.world_root):
            return self.asset_base_url + quote(local.relative_to(self.world_root).as_posix())
        return str(local)

    def _with_assets(self, doc: dict[str, Any], doc_path: Path) -> dict[str, Any]:
        assets = {k: {**a, "href": self._asset_href(a["href"], doc_path)} for k, a in doc.get("assets", {}).items()}
        return {**doc, "assets": assets} if "assets" in doc else dict(doc)

    def _entry(self, doc: dict[str, Any], doc_path: Path, collection: str | None) -> _Entry:
        props = doc.get("properties", {})
        start = props.get("start_datetime") or props.get("datetime")
        end = props.get("end_datetime") or props.get("datetime")
        if not start or not end:
            raise ValueError(f"item {doc_path} has no datetime")
        geometry = shape(doc["geometry"]) if doc.get("geometry") else box(*doc["bbox"][:2], *doc["bbox"][-2:])
        bbox = tuple(doc["bbox"]) if doc.get("bbox") else geometry.bounds
        if len(bbox) == 6:
            bbox = (bbox[0], bbox[1], bbox[3], bbox[4])
        cid = collection or ""
        item = {**self._with_assets(doc, doc_path), "collection": cid} if cid else self._with_assets(doc, doc_path)
        return _Entry(
            item,
            doc["id"],
            cid,
            parse_instant(start),
            parse_instant(end),
            (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
            geometry,
        )

    # ---------------------------------------------------------------------------------- documents

    def _link(self, rel: str, path: str, media: str = JSON, **extra: Any) -> dict[str, Any]:
        return {"rel": rel, "href": self.url + path.lstrip("/"), "type": media, **extra}

    def _landing(self) -> dict[str, Any]:
        links = [
            self._link("self", ""),
            self._link("root", ""),
            self._link("data", "collections"),
            self._link("conformance", "conformance"),
            self._link("search", "search", GEOJSON, method="GET"),
            self._link("search", "search", GEOJSON, method="POST"),
        ]
        links += [
            self._link("child", f"collections/{quote(cid)}", title=self._collections[cid].get("title"))
            for cid in self.collection_ids
        ]
        return {
            "type": "Catalog",
            "stac_version": self._root.get("stac_version", "1.0.0"),
            "id": self._root.get("id", "inseason-stac-api"),
            "title": self._root.get("title", ""),
            "description": self._root.get("description", "A loopback STAC API for tests."),
            "conformsTo": list(CONFORMS_TO),
            "links": links,
        }

    def _collection(self, cid: str) -> dict[str, Any]:
        doc = self._collections[cid]
        base = f"collections/{quote(cid)}"
        kept = [
            lk
            for lk in doc.get("links", [])
            if lk.get("rel") in ("license", "about", "cite-as")
            and urlsplit(str(lk.get("href"))).scheme in ("http", "https")
        ]
        return {
            **doc,
            "links": [
                self._link("self", base),
                self._link("root", ""),
                self._link("parent", ""),
                self._link("items", f"{base}/items", GEOJSON),
                *kept,
            ],
        }

    def _feature(self, e: _Entry) -> dict[str, Any]:
        base = f"collections/{quote(e.collection)}"
        return {
            **e.doc,
            "links": [
                self._link("self", f"{base}/items/{quote(e.id)}", GEOJSON),
                self._link("parent", base),
                self._link("collection", base),
                self._link("root", ""),
            ],
        }

    def _page(self, q: _Query, next_link: Any) -> dict[str, Any]:
        """A FeatureCollection page of ``q``; ``next_link(offset)`` makes the link to the next page."""
        matched = [e for e in self._items if q.matches(e)]
        page = matched[q.offset : q.offset + q.limit]
        links = [self._link("root", "")]
        if q.offset + q.limit < len(matched):
            links.append(next_link(q.offset + q.limit))
        return {
            "type": "FeatureCollection",
            "features": [self._feature(e) for e in page],
            "links": links,
            "numberMatched": len(matched),
            "numberReturned": len(page),
            "context": {"matched": len(matched), "returned": len(page), "limit": q.limit},
        }

    # ------------------------------------------------------------------------------------ routing

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        """The API's answer to one request: a document, a page of items, or a JSON error.

        Args:
            method: the HTTP method (POST only for ``/search``).
            path: the request's path, percent-decoded.
            query: the query string, raw.
            headers: the request's headers (unused).
            body: the ``POST /search`` body (JSON).

        Returns:
            The reply; a bad request gets 400, an unknown collection, item or endpoint 404.
        """
        try:
            return self._route(method, [p for p in path.split("/") if p], query, body)
        except _BadRequest as exc:
            return error_reply(exc.status, exc.code, exc.description)

    def _route(self, method: str, parts: list[str], query: str, body: bytes) -> Reply:
        if parts == ["search"] and method == "POST":
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise _bad("the search body is not JSON") from None
            if not isinstance(params, dict):
                raise _bad("the search body must be a JSON object")
            q = parse_search(params)
            return json_reply(
                200,
                self._page(
                    q,
                    lambda offset: self._link(
                        "next", "search", GEOJSON, method="POST", body={**params, "token": str(offset)}, merge=False
                    ),
                ),
                GEOJSON,
            )
        if method not in ("GET", "HEAD"):
            return Reply(
                405,
                {"Allow": "GET, HEAD, POST" if parts == ["search"] else "GET, HEAD", "Content-Type": JSON},
                b'{"code": "MethodNotAllowed"}',
            )
        args = dict(parse_qsl(query, keep_blank_values=True))
        if not parts:
            return json_reply(200, self._landing())
        if parts == ["conformance"]:
            return json_reply(200, {"conformsTo": list(CONFORMS_TO)})
        if parts == ["collections"]:
            return json_reply(
                200,
                {
                    "collections": [self._collection(c) for c in self.collection_ids],
                    "links": [self._link("self", "collections"), self._link("root", "")],
                },
            )
        if parts == ["search"]:
            return json_reply(200, self._page(parse_search(args), self._get_next("search", args)), GEOJSON)
        if parts[0] == "collections" and len(parts) in (2, 3, 4):
            cid = parts[1]
            if cid not in self._collections:
                raise _not_found(f"collection {cid!r} not found")
            if len(parts) == 2:
                return json_reply(200, self._collection(cid))
            if parts[2] == "items" and len(parts) == 3:
                allowed = {k: v for k, v in args.items() if k in ("bbox", "datetime", "limit", "token")}
                q = parse_search({**allowed, "collections": cid})
                return json_reply(200, self._page(q, self._get_next(f"collections/{quote(cid)}/items", args)), GEOJSON)
            if parts[2] == "items":
                entry = self._by_id.get((cid, parts[3]))
                if entry is None:
                    raise _not_found(f"item {parts[3]!r} not found in collection {cid!r}")
                return json_reply(200, self._feature(entry), GEOJSON)
        raise _not_found(f"no such endpoint: /{'/'.join(parts)}")

    def _get_next(self, path: str, args: dict[str, str]) -> Any:
        return lambda offset: self._link(
            "next", f"{path}?{urlencode({**args, 'token': str(offset)})}", GEOJSON, method="GET"
        )


# ------------------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class WorldServers:
    """The servers of a world: its files (with Range requests) and a STAC API whose assets point at them."""

    files: RangeFileServer
    stac: StacApiServer


@contextmanager
def serve_world(
    world_dir: str | os.PathLike[str], *, host: str = "127.0.0.1", files_port: int = 0, stac_port: int = 0
) -> Iterator[WorldServers]:
    """Serve ``world_dir`` (files) and ``world_dir/stac/catalog.json`` (STAC API) until the block ends.

    Args:
        world_dir: a world made by ``inseason synth``.
        host: the address both servers bind.
        files_port: the file server's port (0: a free one).
        stac_port: the STAC API's port (0: a free one).

    Yields:
        Both servers, running; the STAC API's assets point at the file server.
    """
    world = Path(world_dir).resolve()
    with (
        RangeFileServer(world, host=host, port=files_port) as files,
        StacApiServer(
            world / "stac" / "catalog.json", asset_base_url=files.url, world_root=world, host=host, port=stac_port
        ) as stac,
    ):
        yield WorldServers(files, stac)
