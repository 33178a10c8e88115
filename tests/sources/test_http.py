"""Retries of every transient HTTP fault (statuses, truncated bodies, resets, stalls), through the FaultProxy."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from inseason.errors import RemoteError
from inseason.sources.http import (
    RetryCounter,
    TimeoutSession,
    download,
    failure_reason,
    fetch,
    make_session,
    soap_fault,
    tls_failure,
)
from inseason.testing import FaultProxy, RangeFileServer

RangeFactory = Callable[..., RangeFileServer]
#: A read timeout that a stall (``stall_s`` 1.0) outlasts.
READ_TIMEOUT = 1.5  # well above a loopback answer on a loaded machine, below the stalls


def quick(retries: int = 3, *, counter: RetryCounter | None = None) -> tuple[TimeoutSession, list[float]]:
    """A session whose waits between tries are recorded, not slept."""
    waits: list[float] = []
    session = make_session(
        retries=retries, backoff=0.5, timeout=(5.0, READ_TIMEOUT), sleep=waits.append, counter=counter
    )
    return session, waits


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "served" / "blob.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(300_000))
    return path


@pytest.fixture
def files(range_server_factory: RangeFactory, blob: Path) -> RangeFileServer:
    return range_server_factory(blob.parent)


@pytest.mark.parametrize("kind", ["fail", "truncate", "reset", "stall"])
def test_one_fault_of_each_kind_is_retried_with_backoff(files: RangeFileServer, blob: Path, kind: str) -> None:
    session, waits = quick()
    with FaultProxy(files.url, every=2, stall_s=3.0, **{kind: 1.0}) as proxy:
        head = fetch(proxy.url + "blob.bin", session=session, method="HEAD")
        assert head.status_code == 200 and session.retried == 0  # request 1: no fault
        answer = fetch(proxy.url + "blob.bin", session=session)  # request 2 faults, 3 answers
        stats = proxy.stats
    assert answer.content == blob.read_bytes()
    assert stats.faults[kind] == 1 and stats.requests == 3
    assert session.retried == 1 and session.last_tries == 2 and waits == [0.5]


def test_faults_on_every_other_request_back_off_exponentially(files: RangeFileServer, blob: Path) -> None:
    session, waits = quick(retries=4)
    with FaultProxy(files.url, every=1, fail=1.0) as proxy:
        with pytest.raises(RemoteError) as info:
            fetch(proxy.url + "blob.bin", session=session, what="test fetch")
        assert proxy.stats.requests == 5
    assert str(info.value).startswith(f"test fetch {proxy.url}blob.bin failed after 5 tries: HTTP 503")
    assert waits == [0.5, 1.0, 2.0, 4.0] and session.retried == 4


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("fail", "HTTP 503"),
        ("truncate", "body cut short: 150000 of 300000 bytes"),
        ("reset", "connection failed"),
        ("stall", "timed out"),
    ],
)
def test_a_fault_on_every_try_is_one_line_naming_the_url_and_the_true_tries(
    files: RangeFileServer, kind: str, reason: str
) -> None:
    session, waits = quick(retries=3)
    with FaultProxy(files.url, stall_s=3.0, **{kind: 1.0}) as proxy:
        url = proxy.url + "blob.bin"
        with pytest.raises(RemoteError) as info:
            fetch(url, session=session, what="COG")
        requests_made = proxy.stats.requests
    message = str(info.value)
    assert message.startswith(f"COG {url} failed after 4 tries: {reason}") and "\n" not in message
    assert requests_made == 4 and len(waits) == 3 and session.retried == 3


def test_statuses_that_are_not_transient_are_tried_once(files: RangeFileServer) -> None:
    session, waits = quick()
    with pytest.raises(RemoteError) as info:
        fetch(files.url + "missing.bin", session=session)
    assert "failed: HTTP 404" in str(info.value) and "tries" not in str(info.value)
    assert files.stats().requests == 1 and waits == [] and session.retried == 0


def test_retry_after_is_honoured(files: RangeFileServer, blob: Path) -> None:
    session, waits = quick()
    files.fail_next(1, 429, retry_after=7)
    assert fetch(files.url + "blob.bin", session=session).content == blob.read_bytes()
    assert waits == [7.0] and session.retried == 1


def test_a_fifth_of_requests_faulted_gives_the_same_bytes_and_counts_the_retries(
    files: RangeFileServer, blob: Path
) -> None:
    counter = RetryCounter()
    session, _ = quick(retries=6, counter=counter)
    other, _ = quick(retries=6, counter=counter)  # two sessions of one stage share the counter
    data = blob.read_bytes()
    shares = {"fail": 0.05, "truncate": 0.05, "reset": 0.05, "stall": 0.05}
    with FaultProxy(files.url, **shares, stall_s=3.0, seed=11) as proxy:
        for i in range(60):
            first = (i * 7000) % 250_000
            got = fetch(
                proxy.url + "blob.bin",
                session=(session, other)[i % 2],
                headers={"Range": f"bytes={first}-{first + 9999}"},
            )
            assert got.status_code == 206 and got.content == data[first : first + 10000]
        stats = proxy.stats
    assert all(stats.faults[k] > 0 for k in shares), stats.faults
    assert counter.value == stats.faulted == session.retried and stats.requests == 60 + stats.faulted


def test_download_retries_truncated_bodies_and_never_lands_a_partial_file(
    files: RangeFileServer, blob: Path, tmp_path: Path
) -> None:
    session, waits = quick(retries=3)
    dest = tmp_path / "out" / "copy.bin"
    with FaultProxy(files.url, every=2, truncate=1.0, reset=1.0) as proxy:
        # requests 1 and 3 pass, 2 is truncated, 4 reset
        assert download(proxy.url + "blob.bin", dest, session=session) == dest
        assert dest.read_bytes() == blob.read_bytes() and session.retried == 0
        assert download(proxy.url + "blob.bin", dest, session=session) == dest
        assert proxy.stats.faults == {"fail": 0, "truncate": 1, "reset": 0, "stall": 0}
    assert dest.read_bytes() == blob.read_bytes() and session.retried == 1 and waits == [0.5]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.bin"]


def test_download_truncated_on_every_try_fails_and_leaves_nothing(files: RangeFileServer, tmp_path: Path) -> None:
    session, waits = quick(retries=2)
    dest = tmp_path / "out" / "copy.bin"
    with FaultProxy(files.url, truncate=1.0) as proxy:
        url = proxy.url + "blob.bin"
        with pytest.raises(RemoteError) as info:
            download(url, dest, session=session, what="CDL")
        assert proxy.stats.requests == 3
    assert str(info.value) == f"CDL {url} failed after 3 tries: body cut short: 150000 of 300000 bytes"
    assert waits == [0.5, 1.0] and session.retried == 2
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_download_with_a_plain_session_still_checks_the_length(files: RangeFileServer, tmp_path: Path) -> None:
    dest = tmp_path / "copy.bin"
    with (
        FaultProxy(files.url, truncate=1.0) as proxy,
        requests.Session() as plain,
        pytest.raises(RemoteError, match="failed after 2 tries: body cut short"),
    ):
        download(proxy.url + "blob.bin", dest, session=plain)
    assert not dest.exists()


RECORDED = Path(__file__).parent / "recorded"


def test_soap_fault_reads_both_forms_and_nothing_else() -> None:
    real = (RECORDED / "getcdlfile_fault_year.xml").read_bytes()  # CropScape's own answer (HTTP 500, 2019)
    assert soap_fault(real) == "Error: The year must be between 1997 and 2017."
    envelope = (RECORDED / "getcdlfile_fault_envelope.xml").read_text()
    assert soap_fault(envelope) == "Error: No CDL data is available for the year 2009 in the requested area."
    soap12 = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code>'
        "<env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang='en'>disk  full</env:Text>"
        "</env:Reason></env:Fault></env:Body></env:Envelope>"
    )
    assert soap_fault(soap12) == "disk full"
    assert soap_fault((RECORDED / "getcdlfile_2021_ok.xml").read_bytes()) is None
    assert soap_fault((RECORDED / "service_unavailable.html").read_bytes()) is None
    assert soap_fault(b"") is None and soap_fault(b"<faultstring>cut") is None


def _serve(status: int, body: bytes) -> tuple[Any, list[str]]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.mark.parametrize(
    ("body", "tries"),
    [((RECORDED / "getcdlfile_fault_year.xml").read_bytes(), 1), (b"<html>Internal Server Error</html>", 4)],
)
def test_a_500_fault_is_an_answer_and_a_plain_500_is_retried(body: bytes, tries: int) -> None:
    server, seen = _serve(500, body)
    try:
        session, waits = quick(retries=3)
        url = f"http://127.0.0.1:{server.server_address[1]}/GetCDLFile?year=2018"
        with pytest.raises(RemoteError, match="HTTP 500") as info:
            fetch(url, session=session, what="CropScape GetCDLFile")
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) == tries and session.retried == tries - 1 and len(waits) == tries - 1
    assert ("after" in str(info.value)) == (tries > 1)


def test_tls_failures_are_told_apart() -> None:
    def ssl_error(reason: str) -> requests.exceptions.SSLError:
        return requests.exceptions.SSLError(
            f"HTTPSConnectionPool(host='nassgeodata.gmu.edu', port=443): Max retries exceeded with url: /x "
            f"(Caused by SSLError({reason}))"
        )

    expired = ssl_error(
        "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "certificate has expired (_ssl.c:1006)')"
    )
    eof = ssl_error(
        "SSLEOFError(8, '[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol (_ssl.c:1006)')"
    )
    version = ssl_error("SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)')")
    assert tls_failure(expired) == ("certificate", "certificate has expired")
    assert tls_failure(eof) == ("broken", "EOF occurred in violation of protocol")
    assert tls_failure(version) == ("handshake", "wrong version number")
    assert tls_failure(requests.ConnectionError("reset")) is None
    assert failure_reason(expired).startswith("TLS certificate not trusted (certificate has expired); not retried")
    assert failure_reason(eof) == "TLS handshake broken off (EOF occurred in violation of protocol)"
    assert failure_reason(version).startswith("TLS handshake failed (wrong version number)")


def test_an_explicit_ca_bundle_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, env = tmp_path / "mine.pem", tmp_path / "env.pem"
    mine.write_text("x")
    env.write_text("y")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(env))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ignored.pem"))
    assert make_session().verify == str(env)  # REQUESTS_CA_BUNDLE first, SSL_CERT_FILE not even checked
    session = make_session(ca_bundle=mine, retries=0)
    assert session.verify == str(mine)
    sent: dict[str, Any] = {}

    def record(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.update(kwargs)
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(requests.Session, "send", lambda self, request, **kw: record(request, **kw))
    with pytest.raises(RemoteError):
        fetch("https://example.invalid/x", session=session)
    assert sent["verify"] == str(mine)  # requests alone would let $REQUESTS_CA_BUNDLE override it
