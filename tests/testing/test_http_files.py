"""The loopback file server: Range requests, counters, faults, GDAL's /vsicurl/ and clean shutdown."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from affine import Affine
from rasterio.windows import Window

from inseason.testing import RangeFileServer, RangeNotSatisfiable, parse_range

Factory = Callable[..., RangeFileServer]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A folder with a 10,000-byte file, an empty file, a sub-folder and a secret next to it."""
    (tmp_path / "www" / "sub").mkdir(parents=True)
    (tmp_path / "www" / "data.bin").write_bytes(np.random.default_rng(3).bytes(10_000))
    (tmp_path / "www" / "sub" / "empty.bin").write_bytes(b"")
    (tmp_path / "www" / "sub" / "name with space.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("do not serve")
    (tmp_path / "www" / "escape.txt").symlink_to(tmp_path / "secret.txt")
    return tmp_path / "www"


def raw_get(srv: RangeFileServer, path: str, method: str = "GET") -> http.client.HTTPResponse:
    """A request whose path is sent exactly as written (no ``..`` normalisation by the client)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request(method, path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


# ------------------------------------------------------------------------------------------ parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-50", (950, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=10-10", (10, 10)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=0-9,20-29", None),
        ("bytes=9-0", None),
        ("items=0-9", None),
        ("bytes=a-b", None),
        ("bytes=-", None),
        (" bytes = 5 - 6 ", (5, 6)),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", 1000), ("bytes=1000-1001", 1000), ("bytes=-0", 1000), ("bytes=0-", 0), ("bytes=-1", 0)],
)
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


# ---------------------------------------------------------------------------------------------- serving


def test_full_get_and_head(range_server_factory: Factory, root: Path) -> None:
    srv = range_server_factory(root)
    assert srv.url == f"http://127.0.0.1:{srv.port}/"
    data = (root / "data.bin").read_bytes()
    resp = requests.get(srv.url + "data.bin", timeout=10)
    assert resp.status_code == 200 and resp.content == data
    assert resp.headers["Content-Length"] == "10000" and resp.headers["Accept-Ranges"] == "bytes"
    assert "Content-Range" not in resp.headers
    head = requests.head(srv.url + "data.bin", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == "10000" and head.headers["Accept-Ranges"] == "bytes"
    assert requests.get(srv.url_for("sub/name with space.txt"), timeout=10).text == "hello"
    assert requests.get(srv.url_for(root / "sub" / "empty.bin"), timeout=10).content == b""
    assert srv.stats().bytes_sent == 10_000 + 5


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=9000-", 9000, 9999),
        ("bytes=-50", 9950, 9999),
        ("bytes=1234-1234", 1234, 1234),
        ("bytes=9990-20000", 9990, 9999),
    ],
)
def test_range_requests(range_server_factory: Factory, root: Path, header: str, first: int, last: int) -> None:
    srv = range_server_factory(root)
    data = (root / "data.bin").read_bytes()
    resp = requests.get(srv.url + "data.bin", headers={"Range": header}, timeout=10)
    assert resp.status_code == 206
    assert resp.content == data[first : last + 1]
    assert resp.headers["Content-Range"] == f"bytes {first}-{last}/10000"
    assert resp.headers["Content-Length"] == str(last - first + 1)
    assert srv.stats().bytes_sent == last - first + 1
    assert srv.stats().log[-1].range == header


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=20000-20010", "bytes=-0"])
def test_unsatisfiable_range(range_server_factory: Factory, root: Path, header: str) -> None:
    srv = range_server_factory(root)
    resp = requests.get(srv.url + "data.bin", headers={"Range": header}, timeout=10)
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == "bytes */10000"


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=50-10", "lines=1-2"])
def test_multi_or_malformed_range_gets_whole_file(range_server_factory: Factory, root: Path, header: str) -> None:
    srv = range_server_factory(root)
    resp = requests.get(srv.url + "data.bin", headers={"Range": header}, timeout=10)
    assert resp.status_code == 200 and resp.content == (root / "data.bin").read_bytes()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/missing.bin", 404),
        ("/", 404),
        ("/sub", 404),
        ("/sub/", 404),
        ("/../secret.txt", 403),
        ("/sub/../../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/escape.txt", 403),
    ],
)
def test_refused_paths(range_server_factory: Factory, root: Path, path: str, status: int) -> None:
    srv = range_server_factory(root)
    assert raw_get(srv, path).status == status


def test_only_get_and_head(range_server_factory: Factory, root: Path) -> None:
    srv = range_server_factory(root)
    resp = requests.post(srv.url + "data.bin", data=b"x", timeout=10)
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, HEAD"


# ------------------------------------------------------------------------------------------- counters


def test_counters_add_up_under_concurrency(range_server_factory: Factory, root: Path) -> None:
    srv = range_server_factory(root)
    data = (root / "data.bin").read_bytes()
    ranges = [(i * 37 % 9000, i * 37 % 9000 + i) for i in range(1, 81)]

    def fetch(r: tuple[int, int]) -> int:
        resp = requests.get(srv.url + "data.bin", headers={"Range": f"bytes={r[0]}-{r[1]}"}, timeout=10)
        assert resp.status_code == 206 and resp.content == data[r[0] : r[1] + 1]
        return len(resp.content)

    with ThreadPoolExecutor(8) as pool:
        received = sum(pool.map(fetch, ranges))
    requests.get(srv.url + "sub/name%20with%20space.txt", timeout=10)
    requests.get(srv.url + "missing", timeout=10)
    stats = srv.stats()
    assert stats.requests == 82 and len(stats.log) == 82
    assert stats.requests_by_path == {"/data.bin": 80, "/sub/name with space.txt": 1, "/missing": 1}
    assert stats.bytes_by_path["/data.bin"] == received == sum(b - a + 1 for a, b in ranges)
    assert stats.bytes_by_path["/sub/name with space.txt"] == 5
    assert stats.bytes_sent == sum(stats.bytes_by_path.values()) == sum(r.body_bytes for r in stats.log)
    srv.reset_stats()
    assert srv.stats().requests == 0 and srv.stats().bytes_sent == 0 and srv.stats().log == ()


# ---------------------------------------------------------------------------------------- faults, delay


def test_fail_next_then_recover(range_server_factory: Factory, root: Path) -> None:
    srv = range_server_factory(root)
    srv.fail_next(2, 503, retry_after=0)
    srv.fail_next(1, 429)
    got = [requests.get(srv.url + "data.bin", headers={"Range": "bytes=0-9"}, timeout=10) for _ in range(4)]
    assert [r.status_code for r in got] == [503, 503, 429, 206]
    assert got[0].headers["Retry-After"] == "0" and "Retry-After" not in got[2].headers
    assert got[0].json()["code"] == "InjectedFault"
    assert srv.stats().requests == 4


def test_retries_of_a_client_get_through(range_server_factory: Factory, root: Path) -> None:
    from urllib3 import Retry

    srv = range_server_factory(root)
    srv.fail_next(3, 502)
    with requests.Session() as session:
        session.mount(
            "http://",
            requests.adapters.HTTPAdapter(max_retries=Retry(total=5, backoff_factor=0, status_forcelist=[502])),
        )
        resp = session.get(srv.url + "data.bin", headers={"Range": "bytes=-10"}, timeout=10)
    assert resp.status_code == 206 and resp.content == (root / "data.bin").read_bytes()[-10:]
    assert [r.status for r in srv.stats().log] == [502, 502, 502, 206]


def test_delay(range_server_factory: Factory, root: Path) -> None:
    srv = range_server_factory(root, delay_s=0.3)
    t0 = time.monotonic()
    requests.head(srv.url + "data.bin", timeout=10)
    assert time.monotonic() - t0 >= 0.3
    srv.delay_s = 0
    t0 = time.monotonic()
    requests.head(srv.url + "data.bin", timeout=10)
    assert time.monotonic() - t0 < 0.3


# ------------------------------------------------------------------------------------------- lifecycle


def test_lifecycle(root: Path) -> None:
    srv = RangeFileServer(root)
    with pytest.raises(RuntimeError):
        srv.url  # noqa: B018 - not running yet
    with srv:
        port = srv.port
        with pytest.raises(RuntimeError):
            srv.start()
        session = requests.Session()  # an idle keep-alive connection must not hold stop() up
        assert session.get(srv.url + "data.bin", timeout=10).status_code == 200
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 2
    session.close()
    srv.stop()  # a no-op
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/data.bin", timeout=2)
    with pytest.raises(NotADirectoryError):
        RangeFileServer(root / "data.bin")


def test_stop_cuts_delays_short(root: Path) -> None:
    srv = RangeFileServer(root, delay_s=30).start()
    worker = threading.Thread(target=lambda: requests.head(srv.url + "data.bin", timeout=60))
    worker.start()
    while srv.stats().requests == 0:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.stop()
    worker.join()
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------------------ GDAL


def test_gdal_reads_a_window_over_vsicurl(range_server_factory: Factory, tmp_path: Path) -> None:
    data = np.random.default_rng(7).integers(0, 10_000, (1024, 1024), dtype=np.uint16)
    path = tmp_path / "cog.tif"
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=1024,
        height=1024,
        count=1,
        dtype="uint16",
        crs="EPSG:32615",
        transform=Affine(10, 0, 600_000, 0, -10, 4_200_000),
        compress="deflate",
        blocksize=256,
    ) as dst:
        dst.write(data, 1)
    size = path.stat().st_size
    srv = range_server_factory(tmp_path)
    window = Window(300, 500, 16, 16)
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(f"/vsicurl/{srv.url}cog.tif") as remote:
        got = remote.read(1, window=window)
        assert remote.profile["blockxsize"] == 256
    with rasterio.open(path) as local:
        np.testing.assert_array_equal(got, local.read(1, window=window))
    np.testing.assert_array_equal(got, data[500:516, 300:316])
    stats = srv.stats()
    assert 0 < stats.bytes_sent < size / 4
    assert set(stats.requests_by_path) == {"/cog.tif"}  # no sibling probing with EMPTY_DIR
    # GDAL sends HEAD, then single ranges (the header, then the tile) and gets 206s
    assert next(r.method for r in stats.log) == "HEAD"
    gets = [r for r in stats.log if r.method == "GET"]
    assert gets and all(r.status == 206 and r.range and "," not in r.range for r in gets)
    assert stats.bytes_sent == sum(r.body_bytes for r in gets)
