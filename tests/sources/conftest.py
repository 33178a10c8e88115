"""Fixtures of the label sources: a loopback CropScape service with recorded answers, vector label files, rasters."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window, from_bounds

RECORDED = Path(__file__).parent / "recorded"
RECORDED_HOST = "https://nassgeodata.gmu.edu"
SERVICE_PATH = "/axis2/services/CDLService"
UTM15 = "EPSG:32615"


# --------------------------------------------------------------------------------------- CropScape server


@dataclass
class CropScape:
    """A loopback stand-in for CropScape's CDLService, serving recorded answers and clips of a world's CDL.

    ``requests`` lists every request path (with query); ``fail_next`` holds HTTP statuses to answer (with the
    recorded 503 page) before behaving normally; ``delay`` makes every answer wait that many seconds.
    """

    world: Path
    server: ThreadingHTTPServer | None = None
    requests: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    delay: float = 0.0
    corrupt_tiff: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def root(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The service root to pass as ``cropscape_url`` / ``base_url``."""
        return self.root + SERVICE_PATH

    def count(self, pattern: str) -> int:
        return sum(1 for r in self.requests if pattern in r)

    def reset(self) -> None:
        self.requests.clear()
        self.fail_next.clear()
        self.delay = 0.0
        self.corrupt_tiff = False

    def clip(self, year: int, bbox: tuple[float, ...]) -> bytes | None:
        """The world's CDL for ``year`` clipped to ``bbox`` (EPSG:5070) as GeoTIFF bytes, ``None`` if disjoint."""
        with rasterio.open(self.world / "labels" / f"CDL_{year}.tif") as ds:
            win = from_bounds(*bbox, transform=ds.transform).round_offsets().round_lengths()
            win = win.intersection(Window(0, 0, ds.width, ds.height)) if _overlaps(win, ds) else None
            if win is None or win.width <= 0 or win.height <= 0:
                return None
            data = ds.read(1, window=win)
            profile = {
                "driver": "GTiff",
                "dtype": "uint8",
                "count": 1,
                "width": int(win.width),
                "height": int(win.height),
                "crs": ds.crs,
                "transform": ds.window_transform(win),
            }
        with MemoryFile() as mem:
            with mem.open(**profile) as out:  # no nodata set, as CropScape clips come
                out.write(data, 1)
            return mem.read()


def _overlaps(win: Window, ds: Any) -> bool:
    return (
        win.col_off < ds.width
        and win.row_off < ds.height
        and win.col_off + win.width > 0
        and win.row_off + win.height > 0
    )


def _handler(service: CropScape) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            with service.lock:
                service.requests.append(self.path)
                status = service.fail_next.pop(0) if service.fail_next else None
            if service.delay:
                time.sleep(service.delay)
            if status is not None:
                self._send(status, (RECORDED / "service_unavailable.html").read_bytes(), "text/html")
                return
            url = urlparse(self.path)
            if url.path == SERVICE_PATH + "/GetCDLFile":
                self._get_cdl_file(parse_qs(url.query))
            elif url.path in service.files:
                body = b"<html>not a tiff</html>" if service.corrupt_tiff else service.files[url.path]
                self._send(200, body, "image/tiff")
            else:
                self._send(404, b"<html><body><h1>Not Found</h1></body></html>", "text/html")

        def _get_cdl_file(self, query: dict[str, list[str]]) -> None:
            year = int(query["year"][0])
            bbox = tuple(float(v) for v in query["bbox"][0].split(","))
            recorded = RECORDED / f"getcdlfile_{year}_ok.xml"
            if not recorded.exists():
                self._send(500, (RECORDED / "getcdlfile_fault_year.xml").read_bytes(), "text/xml")
                return
            tiff = service.clip(year, bbox)
            if tiff is None:
                self._send(200, (RECORDED / "getcdlfile_error_bbox.xml").read_bytes(), "text/xml")
                return
            body = recorded.read_text().replace(RECORDED_HOST, service.root)
            path = urlparse(re.search(r"<returnURL>(.*?)</returnURL>", body).group(1)).path  # type: ignore[union-attr]
            service.files[path] = tiff
            self._send(200, body.encode(), "text/xml")

    return Handler


@pytest.fixture(scope="session")
def cropscape_service(tiny_world: Path) -> Iterator[CropScape]:
    """One loopback CropScape for the session (use the function-scoped ``cropscape`` fixture in tests)."""
    service = CropScape(world=tiny_world)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    service.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def cropscape(cropscape_service: CropScape) -> Iterator[CropScape]:
    """The loopback CropScape with its request log and failure injection reset."""
    cropscape_service.reset()
    yield cropscape_service
    cropscape_service.reset()


# ------------------------------------------------------------------------------------------- world helpers


def _world_aoi(world: Path) -> shapely.Geometry:
    return shapely.geometry.shape(json.loads((world / "aoi.geojson").read_text())["features"][0]["geometry"])


def _reproject_raster(src_path: Path, dst_path: Path, crs: str, *, resolution: float | None = None) -> Path:
    """A nearest-neighbour copy of a label raster in another CRS (nodata 0 kept)."""
    with rasterio.open(src_path) as src:
        kwargs = {"resolution": resolution} if resolution else {}
        transform, width, height = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds, **kwargs
        )
        profile = src.profile.copy()
        profile.update(crs=crs, transform=transform, width=width, height=height, tiled=False, nodata=0)
        profile.pop("blockxsize", None)
        profile.pop("blockysize", None)
        with rasterio.open(dst_path, "w", **profile) as dst:
            reproject(
                rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.nearest, src_nodata=0, dst_nodata=0
            )
    return dst_path


def _values_at(raster: Path, x: np.ndarray, y: np.ndarray, crs: str | None = None) -> np.ndarray:
    """Raster values at coordinates (given in ``crs``, default the raster's), by index arithmetic."""
    with rasterio.open(raster) as ds:
        if crs is not None:
            x, y = Transformer.from_crs(crs, ds.crs.to_wkt(), always_xy=True).transform(x, y)
        rows, cols = rasterio.transform.rowcol(ds.transform, x, y)
        data = ds.read(1)
    return data[np.asarray(rows), np.asarray(cols)]


@pytest.fixture(scope="session")
def fields_2021(tiny_world: Path) -> dict[str, Any]:
    """The world's field polygons (EPSG:5070) with their 2021 CDL code and name."""
    from inseason.labels import cdl_class

    fields = pq.read_table(tiny_world / "truth" / "fields.parquet").to_pydict()
    crops = pq.read_table(tiny_world / "truth" / "crops.parquet").to_pydict()
    code = {f: c for f, y, c in zip(crops["field_id"], crops["year"], crops["cdl_code"]) if y == 2021}
    ids = np.array(fields["field_id"], dtype=np.int64)
    codes = np.array([code[int(i)] for i in ids], dtype=np.int64)
    return {
        "field_id": ids,
        "geometry": shapely.from_wkb(np.array(fields["geometry"], dtype=object)),
        "cdl": codes,
        "crop": np.array([cdl_class(int(c)).name for c in codes], dtype=object),
    }


def _write_vector(
    path: Path,
    geoms: np.ndarray,
    columns: dict[str, np.ndarray],
    crs: str | None,
    *,
    src_crs: str = "EPSG:5070",
    masks: dict[str, np.ndarray] | None = None,
    geometry_type: str | None = "Polygon",
) -> Path:
    """Write polygons (given in ``src_crs``) with attribute ``columns`` to ``path`` in ``crs`` via pyogrio."""
    import pyogrio.raw

    if crs is not None and crs != src_crs:
        t = Transformer.from_crs(src_crs, crs, always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    names = list(columns)
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geoms),
        [columns[n] for n in names],
        names,
        field_mask=[None if masks is None else masks.get(n) for n in names],
        crs=crs,
        geometry_type=geometry_type,
        promote_to_multi=False,
    )
    return path


@pytest.fixture(scope="session")
def vector_files(fields_2021: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 2021 fields as GeoPackage (EPSG:5070), GeoJSON (EPSG:4326) and Shapefile (UTM 15N)."""
    folder = tmp_path_factory.mktemp("vectors")
    cols = {"crop": fields_2021["crop"], "cdl": fields_2021["cdl"], "parcel": fields_2021["field_id"] + 1000}
    return {
        "gpkg": _write_vector(folder / "fields.gpkg", fields_2021["geometry"], cols, "EPSG:5070"),
        "geojson": _write_vector(folder / "fields.geojson", fields_2021["geometry"], cols, "EPSG:4326"),
        "shp": _write_vector(folder / "fields.shp", fields_2021["geometry"], cols, UTM15),
    }


# Helpers handed to tests as fixtures (test modules do not import conftest).


@pytest.fixture(scope="session")
def world_aoi(tiny_world: Path) -> shapely.Geometry:
    """The tiny world's AOI (lon/lat polygon)."""
    return _world_aoi(tiny_world)


@pytest.fixture(scope="session")
def reproject_raster() -> Any:
    """``reproject_raster(src, dst, crs, resolution=None)``: a nearest-neighbour copy in another CRS."""
    return _reproject_raster


@pytest.fixture(scope="session")
def values_at() -> Any:
    """``values_at(raster, x, y, crs=None)``: raster values at coordinates."""
    return _values_at


@pytest.fixture(scope="session")
def write_vector() -> Any:
    """``write_vector(path, geoms, columns, crs, src_crs=…, masks=…, geometry_type=…)`` via pyogrio."""
    return _write_vector
