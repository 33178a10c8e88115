"""A fault-injecting loopback reverse proxy: failures, truncated bodies, resets and stalls between client and server.

:class:`FaultProxy` listens on 127.0.0.1 and forwards every request (any method, its body and headers, ``Range``
included) to an upstream base URL — a :class:`~inseason.testing.RangeFileServer`, the STAC API stand-in, any
HTTP server — and sends the upstream's answer back, except on the requests it picks for a fault:

* ``fail``: an HTTP error status (503 by default) with a JSON body, never forwarded;
* ``truncate``: forwarded, the whole ``Content-Length`` announced, then the connection closes halfway through
  the body (a response without a body gets a ``reset`` instead);
* ``reset``: the connection closes without an answer, with a TCP reset (``SO_LINGER`` 0);
* ``stall``: nothing is sent for ``stall_s`` seconds (longer than the client's read timeout), then the
  connection closes without an answer.

Which requests fault is drawn by a ``random.Random(seed)``, one draw per request in arrival order, so a client
that sends the same sequence of requests meets the same faults; with ``every=N`` exactly every Nth request
faults instead, the kinds with a positive share taking turns (fail, truncate, reset, stall). Textual bodies
(JSON, XML, text) have every occurrence of the upstream base URL replaced by the proxy's, so links a client
follows (a STAC API's ``next`` pages) come back through the proxy too.

Example::

    with RangeFileServer(folder) as files, FaultProxy(files.url, truncate=0.2, seed=1) as proxy:
        requests.get(proxy.url_for(files.url + "a.tif"))   # may come back cut short
        proxy.stats.faults["truncate"]
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from inseason.testing.http_files import LoopbackServer, _Handler

__all__ = ["FAULT_KINDS", "FaultProxy", "FaultStats", "ProxyRecord"]

log = logging.getLogger(__name__)

#: The kinds of fault, in the order they take turns with ``every``.
FAULT_KINDS: tuple[str, ...] = ("fail", "truncate", "reset", "stall")
#: Headers of one connection, never forwarded (RFC 9110 §7.6.1), plus those the proxy sets itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)
_TEXTUAL = ("json", "xml", "text/", "javascript")


@dataclass(frozen=True)
class ProxyRecord:
    """One request through the proxy: its number (from 1), method, path with query, and the fault, if any."""

    seq: int
    method: str
    path: str
    fault: str | None


@dataclass(frozen=True)
class FaultStats:
    """A snapshot of a proxy's counters.

    ``requests`` counts every request received, ``forwarded`` those sent upstream (truncated ones included),
    ``faults`` the injected faults by kind (every kind present, zero or not), ``log`` every request in order.
    """

    requests: int = 0
    forwarded: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    log: tuple[ProxyRecord, ...] = ()

    @property
    def faulted(self) -> int:
        """The number of requests that met a fault, of any kind."""
        return sum(self.faults.values())


class _ProxyServer(LoopbackServer):
    """The serving half of :class:`FaultProxy` (a :class:`LoopbackServer` whose requests are forwarded)."""

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.proxy = proxy

    def _serve(self, h: _Handler) -> None:
        self.proxy._handle(h, self._stopping)


class FaultProxy:
    """A reverse proxy on 127.0.0.1 in front of ``upstream`` that injects faults into a share of requests.

    The shares are probabilities per request (their sum at most 1), drawn from a generator seeded with
    ``seed``; ``every=N`` faults exactly requests N, 2N, 3N… instead, the kinds with a positive share taking
    turns (``fail`` alone when every share is zero). Use it as a context manager, or call :meth:`start` and
    :meth:`stop`; the upstream must already be running.

    Args:
        upstream: the base URL to forward to (``http://host:port/`` with an optional path prefix).
        fail: the share of requests answered with HTTP ``status``.
        truncate: the share of requests whose body is cut off halfway and the connection closed.
        reset: the share of requests whose connection is reset without an answer.
        stall: the share of requests held ``stall_s`` seconds without an answer, then closed.
        status: the HTTP status of a ``fail``.
        stall_s: how long a ``stall`` holds the connection, seconds.
        seed: the seed of the generator that picks the faults.
        every: fault exactly every Nth request instead of drawing shares (None: draw).
        timeout: seconds the proxy waits on the upstream.

    Raises:
        ValueError: an upstream that is not ``http://``, a share outside [0, 1], shares summing above 1
            (without ``every``), ``every`` below 1, or a negative ``stall_s``.
    """

    def __init__(
        self,
        upstream: str,
        *,
        fail: float = 0.0,
        truncate: float = 0.0,
        reset: float = 0.0,
        stall: float = 0.0,
        status: int = 503,
        stall_s: float = 2.0,
        seed: int = 0,
        every: int | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"FaultProxy upstream {upstream!r} is not an http://host:port/ URL")
        self.shares = {"fail": fail, "truncate": truncate, "reset": reset, "stall": stall}
        over = every is None and sum(self.shares.values()) > 1.0 + 1e-9  # with every, shares only pick kinds
        if any(not 0.0 <= s <= 1.0 for s in self.shares.values()) or over:
            raise ValueError(f"FaultProxy shares {self.shares} must lie in [0, 1] and sum to at most 1")
        if every is not None and every < 1:
            raise ValueError(f"FaultProxy every={every}: expected None or an integer >= 1")
        if stall_s < 0:
            raise ValueError(f"FaultProxy stall_s={stall_s}: expected seconds >= 0")
        self.upstream = upstream if upstream.endswith("/") else upstream + "/"
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = urlsplit(self.upstream).path  # ends with "/"
        self.status = status
        self.stall_s = stall_s
        self.seed = seed
        self.every = every
        self.timeout = timeout
        self._turns = [k for k in FAULT_KINDS if self.shares[k] > 0] or ["fail"]
        self._lock = threading.Lock()
        self._server = _ProxyServer(self)
        self._url: str | None = None
        self.reset_stats()

    # ------------------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The proxy's base URL, standing for ``upstream`` (once started; kept after :meth:`stop` for messages)."""
        if self._url is None:
            raise RuntimeError("FaultProxy is not running: call start() first")
        return self._url

    def url_for(self, href: str) -> str:
        """``href`` on the upstream, rewritten to go through the proxy.

        Args:
            href: a URL under :attr:`upstream` (or a path relative to it).

        Returns:
            The same resource's URL through the proxy.

        Raises:
            ValueError: ``href`` is an absolute URL outside the upstream.
        """
        if href.startswith(self.upstream):
            return self.url + href[len(self.upstream) :]
        if urlsplit(href).scheme:
            raise ValueError(f"{href} is not under the proxied upstream {self.upstream}")
        return self.url + href.lstrip("/")

    def start(self) -> Self:
        """Bind and serve in a background thread.

        Returns:
            This proxy.
        """
        self._server.start()
        self._url = self._server.url + self._prefix.lstrip("/")
        log.debug("FaultProxy %s -> %s", self.url, self.upstream)
        return self

    def stop(self) -> None:
        """Stop serving (stalls are cut short), close connections and join every thread."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- stats

    @property
    def stats(self) -> FaultStats:
        """A snapshot of the counters: requests, forwarded requests, faults by kind, the request log."""
        with self._lock:
            return FaultStats(self._requests, self._forwarded, dict(self._faults), tuple(self._log))

    def reset_stats(self) -> None:
        """Zero the counters and restart the fault sequence from ``seed`` (request numbers start at 1 again)."""
        with self._lock:
            self._rng = random.Random(self.seed)
            self._requests = self._forwarded = 0
            self._faults = dict.fromkeys(FAULT_KINDS, 0)
            self._log: list[ProxyRecord] = []

    def _pick(self, method: str, path: str) -> str | None:
        """The fault of the next request (None: forward it as it is), counted."""
        with self._lock:
            self._requests += 1
            seq = self._requests
            kind: str | None = None
            if self.every is not None:
                if seq % self.every == 0:
                    kind = self._turns[(seq // self.every - 1) % len(self._turns)]
            else:
                draw = self._rng.random()
                total = 0.0
                for k in FAULT_KINDS:
                    total += self.shares[k]
                    if draw < total:
                        kind = k
                        break
            if kind is not None:
                self._faults[kind] += 1
            self._log.append(ProxyRecord(seq, method, path, kind))
            return kind

    def _recount(self, seq_kind: str, new_kind: str) -> None:
        with self._lock:
            self._faults[seq_kind] -= 1
            self._faults[new_kind] += 1
            last = self._log[-1]
            self._log[-1] = ProxyRecord(last.seq, last.method, last.path, new_kind)

    # ------------------------------------------------------------------------------------ serving

    def _handle(self, h: _Handler, stopping: threading.Event) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length > 0 else b""  # drained, so keep-alive stays in step
        kind = self._pick(h.command, h.path)
        if kind == "fail":
            doc = {"code": "InjectedFault", "description": f"fault injected by FaultProxy (HTTP {self.status})"}
            self._send(h, self.status, [("Content-Type", "application/json")], json.dumps(doc).encode())
            return
        if kind == "reset":
            self._reset(h)
            return
        if kind == "stall":
            stopping.wait(self.stall_s)
            h.close_connection = True
            return
        try:
            status, headers, payload = self._forward(h, body)
        except (OSError, http.client.HTTPException) as exc:
            log.debug("FaultProxy: upstream failed on %s %s: %s", h.command, h.path, exc)
            doc = {"code": "BadGateway", "description": f"upstream {self.upstream} failed: {exc}"}
            self._send(h, 502, [("Content-Type", "application/json")], json.dumps(doc).encode())
            return
        with self._lock:
            self._forwarded += 1
        if kind == "truncate":
            if h.command == "HEAD" or not payload:
                self._recount("truncate", "reset")
                self._reset(h)
                return
            self._send(h, status, headers, payload, cut=len(payload) // 2)
            return
        self._send(h, status, headers, payload)

    def _forward(self, h: _Handler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream; its status, end-to-end headers and whole body (rewritten if textual)."""
        path = h.path  # the proxy's URL keeps the upstream's path prefix: paths map one to one
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP_BY_HOP}
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            sent = body if body or h.command in ("POST", "PUT", "PATCH") else None
            conn.request(h.command, path, body=sent, headers=headers)
            response = conn.getresponse()
            payload = b"" if h.command == "HEAD" else response.read()
            status = response.status
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            if h.command == "HEAD":
                out.append(("Content-Length", response.getheader("Content-Length") or "0"))
        finally:
            conn.close()
        content_type = next((v for k, v in out if k.lower() == "content-type"), "").lower()
        if payload and status != 206 and any(t in content_type for t in _TEXTUAL):
            payload = payload.replace(self.upstream.encode(), self.url.encode())
        return status, out, payload

    def _send(
        self, h: _Handler, status: int, headers: list[tuple[str, str]], payload: bytes, *, cut: int | None = None
    ) -> None:
        h.log_request(status)
        h.send_response_only(status)
        if not any(k.lower() == "date" for k, _ in headers):
            h.send_header("Date", h.date_time_string())
        for key, value in headers:
            if key.lower() != "content-length":
                h.send_header(key, value)
        if h.command == "HEAD":
            h.send_header("Content-Length", next((v for k, v in headers if k.lower() == "content-length"), "0"))
        else:
            h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        try:
            if h.command != "HEAD":
                h.wfile.write(payload if cut is None else payload[:cut])
                h.wfile.flush()
        except (ConnectionError, TimeoutError):
            h.close_connection = True
            return
        if cut is not None:  # the rest never comes: the server closes the connection (FIN) after this
            h.close_connection = True

    @staticmethod
    def _reset(h: _Handler) -> None:
        """Close the client's connection at once with a TCP reset, unanswered."""
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.wfile.flush()
        h.rfile.close()
        h.wfile.close()
        with contextlib.suppress(OSError):
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
