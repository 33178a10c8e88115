"""CDL rasters: finding a year's file, reading the AOI window in any CRS, and CropScape over loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from shapely.geometry import box

from inseason.errors import InputError, RemoteError
from inseason.sources.cdl import (
    CONUS_BOUNDS,
    cropscape_bbox,
    fetch_cropscape,
    find_cdl_file,
    parse_cdl_file_response,
    read_label_window,
)
from inseason.sources.http import download, fetch, make_session
from inseason.sources.sampling import sample_stride

RECORDED = Path(__file__).parent / "recorded"


def quick(retries: int = 2, timeout: float | tuple[float, float] = (2.0, 5.0)) -> Any:
    """A session that retries at once (no backoff), for tests."""
    return make_session(retries=retries, backoff=0, timeout=timeout)


# ------------------------------------------------------------------------------------------ local files


def test_find_cdl_file_in_folders_and_files(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("CDL_2021.tif", "other_2021.tif", "CDL_2022.tif", "notes_2023.txt"):
        (flat / name).touch()
    assert find_cdl_file(flat, 2021) == flat / "CDL_2021.tif"

    national = tmp_path / "national"
    (national / "2021_30m_cdls").mkdir(parents=True)
    (national / "2021_30m_cdls" / "2021_30m_cdls.tif").touch()
    (national / "2021_30m_cdls" / "2021_30m_cdls.tif.ovr").touch()
    (national / "elevation_2021.tif").touch()
    assert find_cdl_file(national, 2021) == national / "2021_30m_cdls" / "2021_30m_cdls.tif"

    ambiguous = tmp_path / "ambiguous"
    ambiguous.mkdir()
    (ambiguous / "a_2021.tif").touch()
    (ambiguous / "b_2021.tiff").touch()
    with pytest.raises(InputError, match="several GeoTIFFs for 2021"):
        find_cdl_file(ambiguous, 2021)

    with pytest.raises(InputError, match=r"no GeoTIFF for 2023 \(years found: 2021, 2022\)"):
        find_cdl_file(flat, 2023)
    with pytest.raises(InputError, match="is for 2021, not 2022"):
        find_cdl_file(flat / "CDL_2021.tif", 2022)
    undated = flat / "clip.tif"
    undated.touch()
    assert find_cdl_file(undated, 2019) == undated
    with pytest.raises(InputError, match="does not exist"):
        find_cdl_file(tmp_path / "nowhere", 2021)


def test_window_reads_only_the_aoi_and_masks_pixel_centres(tiny_world: Path) -> None:
    path = tiny_world / "labels" / "CDL_2021.tif"
    aoi = box(-90.805, 33.395, -90.795, 33.402)
    window = read_label_window(path, aoi)
    with rasterio.open(path) as ds:
        full, t = ds.read(1), ds.transform
        assert window.shape[0] < ds.height / 2 and window.shape[1] < ds.width / 2
    col0 = round((window.transform.c - t.c) / t.a)
    row0 = round((window.transform.f - t.f) / t.e)
    h, w = window.shape
    assert np.array_equal(window.codes, full[row0 : row0 + h, col0 : col0 + w].astype(np.int32))
    rows, cols = np.indices(window.shape)
    x, y = window.xy(rows.ravel(), cols.ravel())
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True).transform(x, y)
    centre_inside = shapely.contains_xy(aoi, lon, lat).reshape(window.shape)
    # the AOI edges are straight in lon/lat but curved in Albers: compare away from the outline
    far = shapely.distance(aoi.exterior, shapely.points(lon, lat)).reshape(window.shape) > 0.0002
    assert np.array_equal(window.inside[far], (centre_inside & (window.codes != 0))[far])
    assert window.res_m == (30.0, 30.0)
    assert window.crs.to_epsg() == 5070


@pytest.mark.parametrize(("crs", "resolution"), [("EPSG:32615", 30.0), ("EPSG:32615", 10.0), ("EPSG:4326", None)])
def test_reprojected_raster_gives_the_original_labels(
    tiny_world: Path,
    world_aoi: Any,
    tmp_path: Path,
    reproject_raster: Any,
    values_at: Any,
    crs: str,
    resolution: float | None,
) -> None:
    original = tiny_world / "labels" / "CDL_2021.tif"
    warped = reproject_raster(original, tmp_path / "warped.tif", crs, resolution=resolution)
    window = read_label_window(warped, world_aoi)
    assert window.crs.equals(crs)
    sample = sample_stride(window.inside, 3, origin=window.grid_origin())
    assert len(sample.rows) > 100
    x, y = window.xy(sample.rows, sample.cols)
    codes = window.codes[sample.rows, sample.cols]
    assert np.array_equal(codes, values_at(original, x, y, crs=crs))
    if crs == "EPSG:4326":  # pixel size in metres is approximated at the window's latitude
        assert window.res_m[0] == pytest.approx(window.res_m[1], rel=0.25)


def test_bad_rasters_are_input_errors(tiny_world: Path, world_aoi: Any, tmp_path: Path) -> None:
    text = tmp_path / "CDL_2021.tif"
    text.write_text("not a tiff")
    with pytest.raises(InputError, match="cannot be read"):
        read_label_window(text, world_aoi)
    with rasterio.open(tiny_world / "labels" / "CDL_2021.tif") as ds:
        data, profile = ds.read(1), ds.profile
    no_crs = tmp_path / "nocrs.tif"
    with rasterio.open(no_crs, "w", **{**profile, "crs": None}) as dst:
        dst.write(data, 1)
    with pytest.raises(InputError, match="no CRS"):
        read_label_window(no_crs, world_aoi)
    floats = tmp_path / "floats.tif"
    with rasterio.open(floats, "w", **{**profile, "dtype": "float32", "nodata": None}) as dst:
        dst.write(data.astype("float32"), 1)
    with pytest.raises(InputError, match="must be integers"):
        read_label_window(floats, world_aoi)
    with pytest.raises(InputError, match="does not overlap"):
        read_label_window(tiny_world / "labels" / "CDL_2021.tif", box(-100.0, 40.0, -99.9, 40.1))


# -------------------------------------------------------------------------------------------- CropScape


def test_cropscape_bbox_rounds_outward_to_the_30m_grid(world_aoi: Any) -> None:
    bbox = cropscape_bbox(world_aoi)
    assert all(v % 30 == 0 for v in bbox)
    from inseason.sources.aoi import aoi_to_crs

    w, s, e, n = aoi_to_crs(world_aoi, "EPSG:5070").bounds
    assert bbox[0] <= w < bbox[0] + 30 and bbox[1] <= s < bbox[1] + 30
    assert bbox[2] - 30 < e <= bbox[2] and bbox[3] - 30 < n <= bbox[3]
    assert CONUS_BOUNDS[0] < bbox[0] < bbox[2] < CONUS_BOUNDS[2]


def test_recorded_answers_parse() -> None:
    url = "https://example.invalid/GetCDLFile?year=2021"
    ok = parse_cdl_file_response((RECORDED / "getcdlfile_2021_ok.xml").read_bytes(), url=url)
    assert ok == "https://nassgeodata.gmu.edu/webservice/nass_data_cache/CDL_2021_clip_20240612093015_1437210954.tif"
    # the real fault (HTTP 500, a bare faultstring) and a full SOAP envelope both name the year: the user's fix
    with pytest.raises(InputError, match=r'refused the year: "Error: The year must be between 1997 and 2017\."'):
        parse_cdl_file_response((RECORDED / "getcdlfile_fault_year.xml").read_bytes(), url=url, status=500)
    with pytest.raises(
        InputError, match=r"No CDL data is available for the year 2009.*\(HTTP 500\): choose a year"
    ) as info:
        parse_cdl_file_response((RECORDED / "getcdlfile_fault_envelope.xml").read_bytes(), url=url, status=500)
    assert url in str(info.value) and "--cdl FOLDER" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InputError, match=r"refused the AOI's box.*does not intersect the CDL coverage"):
        parse_cdl_file_response((RECORDED / "getcdlfile_error_bbox.xml").read_bytes(), url=url)
    other = b"<faultstring>java.lang.NullPointerException</faultstring>"
    with pytest.raises(RemoteError, match=r'answered with an error: "java.lang.NullPointerException" \(HTTP 500\)'):
        parse_cdl_file_response(other, url=url, status=500)
    with pytest.raises(RemoteError, match="Service Unavailable The server is temporarily unable"):
        parse_cdl_file_response((RECORDED / "service_unavailable.html").read_bytes(), url=url)
    with pytest.raises(RemoteError, match="an empty answer"):
        parse_cdl_file_response(b"", url=url)


def test_fetch_downloads_the_clip_and_caches_it(
    cropscape: Any, world_aoi: Any, tiny_world: Path, tmp_path: Path, values_at: Any
) -> None:
    bbox = cropscape_bbox(world_aoi)
    path = fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert path == tmp_path / "cropscape" / f"CDL_2021_{bbox[0]}_{bbox[1]}_{bbox[2]}_{bbox[3]}.tif"
    assert cropscape.count("GetCDLFile?year=2021&bbox=" + ",".join(map(str, bbox))) == 1
    assert cropscape.count("CDL_2021_clip_") == 1
    with rasterio.open(path) as ds:
        data = ds.read(1)
        rows, cols = np.indices(data.shape)
        x, y = rasterio.transform.xy(ds.transform, rows.ravel(), cols.ravel())
    assert np.array_equal(data.ravel(), values_at(tiny_world / "labels" / "CDL_2021.tif", np.array(x), np.array(y)))
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left

    before = len(cropscape.requests)
    again = fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert again == path
    assert len(cropscape.requests) == before  # a cache hit makes no request


def test_503_is_retried_then_succeeds(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.fail_next = [503, 503]
    path = fetch_cropscape(
        2022, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=quick(retries=3)
    )
    assert path.is_file()
    assert cropscape.count("GetCDLFile") == 3
    assert cropscape.count("CDL_2022_clip_") == 1


def test_429_on_the_download_is_retried(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    bbox = cropscape_bbox(world_aoi)
    fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path / "a", session=quick())
    tif_path = next(p for p in cropscape.requests if "_clip_" in p)
    cropscape.requests.clear()
    cropscape.fail_next = [429]
    out = download(cropscape.root + tif_path, tmp_path / "copy.tif", session=quick())
    assert out.read_bytes()[:2] in (b"II", b"MM")
    assert cropscape.requests == [tif_path, tif_path]


def test_503_past_the_retries_is_a_remote_error_naming_the_url(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.fail_next = [503] * 10
    bbox = cropscape_bbox(world_aoi)
    with pytest.raises(RemoteError) as info:
        fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path, session=quick(retries=2))
    message = str(info.value)
    assert f"{cropscape.url}/GetCDLFile?year=2021&bbox={bbox[0]},{bbox[1]},{bbox[2]},{bbox[3]}" in message
    assert "HTTP 503" in message and "after 3 tries" in message and "\n" not in message
    assert cropscape.count("GetCDLFile") == 3
    assert not (tmp_path / "cropscape").exists() or not any((tmp_path / "cropscape").iterdir())


def test_fault_for_a_year_is_read_at_once_and_quotes_the_service(
    cropscape: Any, world_aoi: Any, tmp_path: Path
) -> None:
    # the loopback service answers a year it has no recording for with the real fault (HTTP 500) of 2018
    session = quick(retries=3)
    with pytest.raises(InputError, match=r"The year must be between 1997 and 2017\.\" \(HTTP 500\)") as info:
        fetch_cropscape(2018, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=session)
    assert "GetCDLFile?year=2018" in str(info.value) and "\n" not in str(info.value)
    assert cropscape.count("GetCDLFile?year=2018") == 1 and session.retried == 0  # a refusal is not retried


def test_http_500_without_a_fault_is_still_retried(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.fail_next = [500, 500]  # the Apache error page, not a SOAP fault: a server in trouble
    session = quick(retries=3)
    path = fetch_cropscape(2021, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=session)
    assert path.is_file() and cropscape.count("GetCDLFile") == 3 and session.retried == 2
    cropscape.fail_next = [500] * 5
    with pytest.raises(RemoteError, match=r"failed after 2 tries: HTTP 500: <!DOCTYPE HTML"):
        fetch_cropscape(
            2022, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=quick(retries=1)
        )


def test_bbox_outside_the_coverage_quotes_the_service(cropscape: Any, tmp_path: Path) -> None:
    far = (1_000_020, 1_500_000, 1_003_020, 1_503_000)  # inside CONUS, outside the world's CDL
    with pytest.raises(InputError, match=r"refused the AOI's box.*does not intersect the CDL coverage"):
        fetch_cropscape(2021, far, base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert cropscape.count("GetCDLFile") == 1


def test_local_mistakes_make_no_request(cropscape: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the contiguous US"):
        cropscape_bbox(box(2.30, 48.85, 2.35, 48.87))  # Paris
    with pytest.raises(InputError, match="year 1990 has no CDL"):
        fetch_cropscape(1990, (0, 0, 30, 30), base_url=cropscape.url, cache_dir=tmp_path)
    with pytest.raises(InputError, match="is empty"):
        fetch_cropscape(2021, (30, 0, 0, 30), base_url=cropscape.url, cache_dir=tmp_path)
    assert cropscape.requests == []


def test_timeout_is_a_remote_error_naming_the_url(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.delay = 1.0
    with pytest.raises(RemoteError, match="timed out") as info:
        fetch_cropscape(
            2021,
            cropscape_bbox(world_aoi),
            base_url=cropscape.url,
            cache_dir=tmp_path,
            session=quick(retries=1, timeout=(1.0, 0.2)),
        )
    assert f"{cropscape.url}/GetCDLFile?year=2021" in str(info.value)
    assert cropscape.count("GetCDLFile") == 2


def test_dead_service_is_a_remote_error_naming_the_url(tmp_path: Path, world_aoi: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/axis2/services/CDLService"
    with pytest.raises(RemoteError, match="connection failed") as info:
        fetch_cropscape(2021, cropscape_bbox(world_aoi), base_url=url, cache_dir=tmp_path, session=quick(1))
    assert url in str(info.value)
    with pytest.raises(RemoteError, match=f"request {url}/x failed after 2 tries: connection failed"):
        fetch(url + "/x", session=quick(1))


def test_corrupt_download_is_not_cached(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.corrupt_tiff = True
    with pytest.raises(RemoteError, match="not a readable GeoTIFF"):
        fetch_cropscape(2021, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert not any((tmp_path / "cropscape").iterdir())


# ------------------------------------------------------------------------------------------------- TLS


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for 127.0.0.1, valid for two days, as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inseason test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ca.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TLSCropScape:
    """CropScape over HTTPS on loopback (a self-signed certificate): recorded answers and clips of the world's CDL.

    The first ``hang_ups`` connections are accepted and closed after the ClientHello (the handshake broken off,
    as a server under load or a flaky middlebox does); ``hung_up`` counts them.
    """

    def __init__(self, cropscape: Any, folder: Path) -> None:
        import ssl
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse

        folder.mkdir(parents=True, exist_ok=True)
        self.ca, key = _self_signed(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca, key)
        self.requests: list[str] = []
        self.hang_ups = 0
        self.hung_up = 0
        files: dict[str, bytes] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                service.requests.append(self.path)
                url = urlparse(self.path)
                if url.path.endswith("/GetCDLFile"):
                    query = parse_qs(url.query)
                    year, bbox = int(query["year"][0]), tuple(float(v) for v in query["bbox"][0].split(","))
                    body = (
                        (RECORDED / f"getcdlfile_{year}_ok.xml")
                        .read_text()
                        .replace("https://nassgeodata.gmu.edu", service.root)
                    )
                    tif = urlparse(body.split("<returnURL>")[1].split("</returnURL>")[0]).path
                    files[tif] = cropscape.clip(year, bbox)
                    self._send(200, body.encode(), "text/xml")
                elif url.path in files:
                    self._send(200, files[url.path], "image/tiff")
                else:
                    self._send(404, b"not found", "text/plain")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Any:
                sock, addr = self.socket.accept()
                sock.settimeout(10)
                if service.hung_up < service.hang_ups:
                    service.hung_up += 1
                    sock.recv(4096)  # the ClientHello
                    sock.close()
                    raise OSError("hung up mid-handshake")  # the server loop drops this connection
                try:
                    return context.wrap_socket(sock, server_side=True), addr
                except OSError:  # the client refused the certificate
                    sock.close()
                    raise

        self.server = Server(("127.0.0.1", 0), Handler)
        self.root = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.root + "/axis2/services/CDLService"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_cropscape(cropscape: Any, tmp_path: Path) -> Any:
    service = TLSCropScape(cropscape, tmp_path / "tls")
    yield service
    service.close()


def test_an_untrusted_certificate_is_named_with_its_fix_and_not_retried(
    tls_cropscape: Any, world_aoi: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    session = make_session(retries=3, backoff=0)
    with pytest.raises(RemoteError) as info:
        fetch_cropscape(
            2021, cropscape_bbox(world_aoi), base_url=tls_cropscape.url, cache_dir=tmp_path, session=session
        )
    message = str(info.value)
    assert message.startswith(f"CropScape GetCDLFile {tls_cropscape.url}/GetCDLFile?year=2021&bbox=")
    assert "failed: TLS certificate not trusted (self-signed certificate); not retried" in message
    assert message.endswith("--ca-bundle PATH (inseason labels) or REQUESTS_CA_BUNDLE=PATH / SSL_CERT_FILE=PATH")
    assert "\n" not in message and "connection failed" not in message
    assert session.retried == 0 and tls_cropscape.requests == []

    # the wrong bundle is named as such
    other, _ = _self_signed(tmp_path)
    with pytest.raises(RemoteError, match=f"the CA bundle {other} does not hold the CA that signed it; give"):
        fetch_cropscape(
            2021,
            cropscape_bbox(world_aoi),
            base_url=tls_cropscape.url,
            cache_dir=tmp_path,
            session=make_session(retries=1, backoff=0, ca_bundle=other),
        )


@pytest.mark.parametrize("how", ["argument", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_ca_bundle_makes_the_download_work(
    how: str, tls_cropscape: Any, world_aoi: Any, tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    if how == "argument":
        session = make_session(retries=1, backoff=0, ca_bundle=tls_cropscape.ca)
    else:
        monkeypatch.setenv(how, str(tls_cropscape.ca))
        session = make_session(retries=1, backoff=0)
    assert session.verify == str(tls_cropscape.ca)
    bbox = cropscape_bbox(world_aoi)
    path = fetch_cropscape(2021, bbox, base_url=tls_cropscape.url, cache_dir=tmp_path, session=session)
    assert [p.split("?")[0].rsplit("/", 1)[-1] for p in tls_cropscape.requests] == [
        "GetCDLFile",
        "CDL_2021_clip_20240612093015_1437210954.tif",
    ]  # both the XML answer and the GeoTIFF came over TLS
    with rasterio.open(path) as ds, rasterio.open(tiny_world / "labels" / "CDL_2021.tif") as full:
        assert ds.crs == full.crs and ds.read(1).any()


def test_a_missing_ca_bundle_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match=f"CA bundle {tmp_path / 'nope.pem'} does not exist"):
        make_session(ca_bundle=tmp_path / "nope.pem")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "gone.pem"))
    with pytest.raises(InputError, match=r"gone.pem \(from \$SSL_CERT_FILE\) does not exist"):
        make_session()


def test_a_handshake_broken_off_is_retried_and_counted(tls_cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    tls_cropscape.hang_ups = 2
    waits: list[float] = []
    session = make_session(retries=3, backoff=0.5, sleep=waits.append, ca_bundle=tls_cropscape.ca)
    path = fetch_cropscape(
        2022, cropscape_bbox(world_aoi), base_url=tls_cropscape.url, cache_dir=tmp_path, session=session
    )
    assert path.is_file()
    assert tls_cropscape.hung_up == 2 and session.retried == 2 and waits == [0.5, 1.0]
    assert sum("GetCDLFile" in r for r in tls_cropscape.requests) == 1

    tls_cropscape.hang_ups, tls_cropscape.hung_up = 10, 0  # broken off on every try: named as TLS, after the tries
    with pytest.raises(RemoteError, match=r"failed after 2 tries: TLS handshake broken off \(.*EOF"):
        fetch(
            tls_cropscape.url + "/GetCDLFile?year=2021&bbox=0,0,30,30",
            session=make_session(retries=1, backoff=0, ca_bundle=tls_cropscape.ca),
        )


def test_labels_command_takes_a_ca_bundle(
    tls_cropscape: Any, tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli.helpers import run_in_process

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    common = ("--aoi", str(tiny_world / "aoi.geojson"), "--years", "2021", "--cropscape-url", tls_cropscape.url)
    common += ("--retries", "1", "--stride", "20")
    refused = run_in_process(
        "--quiet", "labels", *common, "--out", str(tmp_path / "a.parquet"), "--cache-dir", str(tmp_path / "a")
    )
    assert refused.code == 2, refused.stderr
    assert "TLS certificate not trusted (self-signed certificate)" in refused.stderr
    assert "--ca-bundle PATH" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "a.parquet").exists() and tls_cropscape.requests == []

    missing = run_in_process("--quiet", "labels", *common, "--out", str(tmp_path / "m.parquet"), "--ca-bundle", "x.pem")
    assert missing.code == 2 and "CA bundle x.pem does not exist" in missing.stderr

    ok = run_in_process(
        "--quiet",
        "labels",
        *common,
        "--out",
        str(tmp_path / "b.parquet"),
        "--cache-dir",
        str(tmp_path / "b"),
        "--ca-bundle",
        str(tls_cropscape.ca),
    )
    assert ok.code in (0, None), ok.stderr
    table = pq.read_table(tmp_path / "b.parquet")
    assert table.num_rows > 0 and set(table.column("source").to_pylist()) == {"cropscape"}
