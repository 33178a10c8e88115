"""The fault-injecting proxy: faithful forwarding, seeded shares, and faults that really happen on the wire."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from inseason.testing import RangeFileServer
from inseason.testing.faults import FAULT_KINDS, FaultProxy
from inseason.testing.http_files import LoopbackServer, Reply

RangeFactory = Callable[..., RangeFileServer]


class EchoServer(LoopbackServer):
    """Answers every request with its method, path, query, headers and body as JSON (status from ``?status=``)."""

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        status = int(query.removeprefix("status=")) if query.startswith("status=") else 200
        doc = {"method": method, "path": path, "query": query, "headers": dict(headers.items()), "body": body.hex()}
        return Reply(status, {"Content-Type": "application/json", "X-Echo": "yes"}, json.dumps(doc).encode())


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "blob.bin"
    path.write_bytes(os.urandom(100_000))
    return path


def test_forwarding_keeps_status_headers_range_and_body(range_server_factory: RangeFactory, blob: Path) -> None:
    files = range_server_factory(blob.parent.parent)
    data = blob.read_bytes()
    with FaultProxy(files.url) as proxy, requests.Session() as s:
        href = proxy.url_for(files.url_for(blob))
        assert href == proxy.url + "sub/blob.bin"
        direct = s.get(files.url_for(blob))
        whole = s.get(href)
        assert whole.status_code == 200 and whole.content == data
        for key in ("ETag", "Last-Modified", "Accept-Ranges", "Content-Type", "Content-Length"):
            assert whole.headers[key] == direct.headers[key]
        part = s.get(href, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
        past = s.get(href, headers={"Range": f"bytes={len(data)}-"})
        assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
        head = s.head(href)
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data)) and head.content == b""
        assert s.get(proxy.url + "sub/missing.bin").status_code == 404
        stats = proxy.stats
        assert (stats.requests, stats.forwarded, stats.faulted) == (5, 5, 0)
    ranges = [r.range for r in files.stats().log if r.path == "/sub/blob.bin"]
    assert ranges == [None, None, "bytes=1000-1999", f"bytes={len(data)}-", None]


def test_forwarding_keeps_method_body_query_and_headers() -> None:
    with EchoServer() as echo, FaultProxy(echo.url + "api/") as proxy, requests.Session() as s:
        assert proxy.url.endswith("/api/")
        answer = s.post(proxy.url + "search?x=1", data=b"\x00payload\xff", headers={"X-Token": "abc"})
        doc = answer.json()
        assert answer.status_code == 200 and answer.headers["X-Echo"] == "yes"
        assert (doc["method"], doc["path"], doc["query"]) == ("POST", "/api/search", "x=1")
        assert bytes.fromhex(doc["body"]) == b"\x00payload\xff"
        assert doc["headers"]["X-Token"] == "abc"
        assert doc["headers"]["Host"] == echo.url.removeprefix("http://").rstrip("/")
        failed = s.put(proxy.url + "x?status=418", data=b"")
        assert failed.status_code == 418 and failed.json()["method"] == "PUT"
        # textual bodies are rewritten: the upstream's own URL comes back as the proxy's
        assert echo.url + "api/" not in answer.text


def _statuses(proxy: FaultProxy, n: int) -> list[int]:
    out = []
    with requests.Session() as s:
        for i in range(n):
            out.append(s.get(proxy.url + f"r{i}").status_code)
    return out


def test_fail_share_is_honoured_and_seeded() -> None:
    with EchoServer() as echo:
        with FaultProxy(echo.url, fail=0.2, status=502, seed=7) as proxy:
            first = _statuses(proxy, 200)
            stats = proxy.stats
        with FaultProxy(echo.url, fail=0.2, status=502, seed=7) as proxy:
            again = _statuses(proxy, 200)
        with FaultProxy(echo.url, fail=0.2, status=502, seed=8) as proxy:
            other = _statuses(proxy, 200)
    failed = first.count(502)
    assert set(first) == {200, 502}
    assert stats.faults == {"fail": failed, "truncate": 0, "reset": 0, "stall": 0}
    assert stats.requests == 200 and stats.forwarded == 200 - failed
    assert 22 <= failed <= 60  # 40 expected; binomial sd 5.7
    assert again == first and other != first
    assert [r.seq for r in stats.log if r.fault] == [i + 1 for i, code in enumerate(first) if code == 502]


def test_every_nth_request_faults_with_kinds_in_turn() -> None:
    with EchoServer() as echo, FaultProxy(echo.url, every=3, fail=1.0, status=500) as proxy:
        codes = _statuses(proxy, 10)
        assert codes == [200, 200, 500, 200, 200, 500, 200, 200, 500, 200]
    with EchoServer() as echo, FaultProxy(echo.url, every=2, fail=0.1, truncate=0.1, reset=0.1) as proxy:
        with requests.Session() as s:
            for i in range(12):
                with contextlib.suppress(requests.RequestException):
                    s.get(proxy.url + f"r{i}")
        log = proxy.stats.log
    assert [r.fault for r in log] == [None, "fail", None, "truncate", None, "reset"] * 2


def test_mixed_shares_draw_every_kind_in_proportion() -> None:
    shares = {"fail": 0.1, "truncate": 0.1, "reset": 0.1, "stall": 0.1}
    with EchoServer() as echo, FaultProxy(echo.url, **shares, seed=3, stall_s=0.0) as proxy:
        with requests.Session() as s:
            for i in range(300):
                with contextlib.suppress(requests.RequestException):
                    s.get(proxy.url + f"r{i}", timeout=5)
        stats = proxy.stats
    assert set(stats.faults) == set(FAULT_KINDS)
    assert all(14 <= n <= 48 for n in stats.faults.values()), stats.faults  # 30 expected each; sd 5
    assert Counter(r.fault for r in stats.log if r.fault) == stats.faults


def test_truncation_announces_the_whole_length_and_cuts_the_body(
    range_server_factory: RangeFactory, blob: Path
) -> None:
    files = range_server_factory(blob.parent.parent)
    data = blob.read_bytes()
    with FaultProxy(files.url, truncate=1.0) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", int(proxy.url.split(":")[2].split("/")[0]), timeout=5)
        conn.request("GET", "/sub/blob.bin")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Length") == str(len(data))
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        conn.close()
        assert cut.value.partial == data[: len(data) // 2]
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(proxy.url + "sub/blob.bin", headers={"Range": "bytes=0-9999"}, timeout=5)
        assert proxy.stats.faults["truncate"] == 2 and proxy.stats.forwarded == 2


def test_reset_and_stall_leave_the_client_without_an_answer(range_server_factory: RangeFactory, blob: Path) -> None:
    files = range_server_factory(blob.parent.parent)
    with FaultProxy(files.url, reset=1.0) as proxy:
        with pytest.raises(requests.ConnectionError):
            requests.get(proxy.url + "sub/blob.bin", timeout=5)
        assert proxy.stats.faults["reset"] == 1 and proxy.stats.forwarded == 0
    with FaultProxy(files.url, stall=1.0, stall_s=1.0) as proxy:
        with pytest.raises(requests.ReadTimeout):
            requests.get(proxy.url + "sub/blob.bin", timeout=(5, 0.2))
        assert proxy.stats.faults["stall"] == 1 and proxy.stats.forwarded == 0
    assert files.stats().requests == 0  # neither reached the upstream


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        FaultProxy("http://127.0.0.1:9/", fail=0.6, reset=0.6)
    with pytest.raises(ValueError, match="not an http"):
        FaultProxy("s3://bucket/")
    with pytest.raises(ValueError, match="every=0"):
        FaultProxy("http://127.0.0.1:9/", every=0)


def test_the_factory_fixture_starts_proxies_and_url_for_refuses_foreign_hrefs(
    range_server_factory: RangeFactory, fault_proxy_factory: Callable[..., FaultProxy], blob: Path
) -> None:
    files = range_server_factory(blob.parent.parent)
    proxy = fault_proxy_factory(files.url, every=1, fail=1.0, status=500)
    assert requests.get(proxy.url_for("sub/blob.bin"), timeout=5).status_code == 500
    with pytest.raises(ValueError, match="not under the proxied upstream"):
        proxy.url_for("http://example.com/sub/blob.bin")
