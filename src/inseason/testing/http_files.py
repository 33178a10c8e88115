"""A loopback HTTP file server with Range requests and byte counters, standing in for HTTPS object storage.

:class:`LoopbackServer` is the shared machinery of the test servers (a :class:`ThreadingHTTPServer` in a
background thread, request and byte counters, fault injection, clean shutdown); :class:`RangeFileServer`
serves the files under a folder the way S3 or a CDN does for GDAL's ``/vsicurl/``.

Range support: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` get ``206`` with ``Content-Range``; a range that
starts past the end gets ``416`` with ``Content-Range: bytes */size``. A multi-range request
(``bytes=0-9,20-29``) or a malformed header is answered with the whole file (``200``), which HTTP allows;
GDAL only sends single ranges unless ``GDAL_HTTP_MULTIRANGE=YES`` is set.

Azure Blob Storage with SAS tokens (Planetary Computer): a :class:`SasPolicy` given to a
:class:`RangeFileServer` makes it serve ``/{account}/{container}/...`` (Azurite's path style) only to requests
whose query holds a valid, unexpired token of that container (``se=...&sig=...``), answering others 403
``AuthenticationFailed`` as Azure does; :class:`SasTokenServer` hands out such tokens the way Planetary
Computer's token endpoint does.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import mimetypes
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

log = logging.getLogger(__name__)

#: Most recent requests kept in :attr:`ServerStats.log`.
LOG_SIZE = 10_000
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class RequestRecord:
    """One answered request: method, decoded path, raw query, status, ``Range`` header, body length."""

    method: str
    path: str
    query: str
    status: int
    range: str | None
    body_bytes: int


@dataclass(frozen=True)
class ServerStats:
    """A snapshot of a server's counters.

    ``bytes_sent`` counts response body bytes written to clients (headers excluded; a body cut short by a
    client that hung up counts what was written). ``log`` holds the last :data:`LOG_SIZE` requests.
    """

    requests: int = 0
    bytes_sent: int = 0
    requests_by_path: dict[str, int] = field(default_factory=dict)
    bytes_by_path: dict[str, int] = field(default_factory=dict)
    log: tuple[RequestRecord, ...] = ()


@dataclass
class Reply:
    """A response to send: a ``body``, or ``file = (path, offset, length)`` streamed from disk."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: tuple[Path, int, int] | None = None

    @property
    def length(self) -> int:
        """The body's length in bytes."""
        return self.file[2] if self.file is not None else len(self.body)


def json_reply(status: int, doc: Any, content_type: str = "application/json") -> Reply:
    """A JSON response.

    Args:
        status: the HTTP status.
        doc: the body, encoded as JSON.
        content_type: the ``Content-Type`` header.

    Returns:
        The reply.
    """
    return Reply(status, {"Content-Type": content_type}, json.dumps(doc).encode())


def error_reply(status: int, code: str, description: str) -> Reply:
    """A JSON error body shaped like stac-fastapi's: ``{"code": ..., "description": ...}``.

    Args:
        status: the HTTP status.
        code: the error's code (``NotFoundError``).
        description: what went wrong.

    Returns:
        The reply.
    """
    return json_reply(status, {"code": code, "description": description})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as GDAL and requests expect
    server_version = "inseason-testing/1"
    timeout = 60  # an idle keep-alive connection ends after this long
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s " + format, self.server.owner.__class__.__name__, self.address_string(), *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined by server_close()
    block_on_close = True

    def __init__(self, address: tuple[str, int], owner: LoopbackServer) -> None:
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on an idle keep-alive connection, so that it ends."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("%s: error while serving %s", self.owner.__class__.__name__, client_address, exc_info=True)


class LoopbackServer:
    """An HTTP server on ``host:port`` (port 0: a free one) in a background thread.

    Subclasses implement :meth:`respond`. Every server counts requests and body bytes (:meth:`stats`),
    can fail the next requests on purpose (:meth:`fail_next`) and slow every response (:attr:`delay_s`).
    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        host: the address to bind.
        port: the port to bind (0: a free one).
        delay_s: seconds to wait before every response.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay_s: float = 0.0) -> None:
        self.host = host
        self.requested_port = port
        #: Seconds to wait before every response (may be changed while running).
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._faults: collections.deque[tuple[int, float | None]] = collections.deque()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset_stats()

    # ------------------------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` (only while running)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Self:
        """Bind and serve in a background thread.

        Returns:
            This server.

        Raises:
            RuntimeError: the server is already running.
        """
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.url}")
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.debug("%s serving at %s", type(self).__name__, self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join every thread; a no-op when not running."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # cuts delays short
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()  # joins the handler threads
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ faults and stats

    def fail_next(self, n: int = 1, status: int = 503, *, retry_after: float | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (and a ``Retry-After`` header if given).

        Args:
            n: how many requests fail.
            status: their HTTP status.
            retry_after: the ``Retry-After`` header's seconds, or None for no header.
        """
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def stats(self) -> ServerStats:
        """A snapshot of the counters.

        Returns:
            The requests and body bytes, in all and by path, and the request log.
        """
        with self._lock:
            return ServerStats(
                self._requests, self._bytes, dict(self._req_by_path), dict(self._bytes_by_path), tuple(self._log)
            )

    def reset_stats(self) -> None:
        """Zero the counters and clear the request log."""
        with self._lock:
            self._requests = self._bytes = 0
            self._req_by_path: collections.Counter[str] = collections.Counter()
            self._bytes_by_path: collections.Counter[str] = collections.Counter()
            self._log: collections.deque[RequestRecord] = collections.deque(maxlen=LOG_SIZE)

    def _count_bytes(self, path: str, n: int) -> None:
        with self._lock:
            self._bytes += n
            self._bytes_by_path[path] += n

    # ----------------------------------------------------------------------------------- serving

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        """The reply to one request; subclasses implement it.

        Args:
            method: the HTTP method.
            path: the request's path, percent-decoded.
            query: the query string, raw.
            headers: the request's headers (a `http.client.HTTPMessage`).
            body: the request's body (empty without one).

        Returns:
            The reply to send.
        """
        raise NotImplementedError

    def _serve(self, h: _Handler) -> None:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            body = _read_chunked(h.rfile)  # uploads of the AWS SDKs stream their bodies in chunks
        else:
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length) if length > 0 else b""  # always drained, so keep-alive stays in step
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        with self._lock:
            self._requests += 1
            self._req_by_path[path] += 1
            fault = self._faults.popleft() if self._faults else None
        if self.delay_s > 0:
            self._stopping.wait(self.delay_s)
        if fault is not None:
            status, retry_after = fault
            reply = error_reply(status, "InjectedFault", f"fault injected by the test server (HTTP {status})")
            if retry_after is not None:
                reply.headers["Retry-After"] = f"{retry_after:g}"
        else:
            try:
                reply = self.respond(h.command, path, parts.query, h.headers, body)
            except Exception as exc:  # a bug in a test server must not hang the client
                log.exception("%s failed on %s %s", type(self).__name__, h.command, h.path)
                reply = error_reply(500, "InternalServerError", f"{type(exc).__name__}: {exc}")
        self._send(h, path, parts.query, reply)

    def _send(self, h: _Handler, path: str, query: str, reply: Reply) -> None:
        head_only = h.command == "HEAD"
        with self._lock:
            self._log.append(
                RequestRecord(
                    h.command, path, query, reply.status, h.headers.get("Range"), 0 if head_only else reply.length
                )
            )
        h.send_response(reply.status)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(reply.length))
        h.end_headers()
        if head_only or reply.length == 0:
            return
        try:
            if reply.file is None:
                self._count_bytes(path, len(reply.body))
                h.wfile.write(reply.body)
                return
            file, offset, remaining = reply.file
            with open(file, "rb") as f:
                f.seek(offset)
                while remaining > 0:
                    chunk = f.read(min(_CHUNK, remaining))
                    if not chunk:
                        raise OSError(f"{file} shrank while being served")
                    self._count_bytes(path, len(chunk))
                    h.wfile.write(chunk)
                    remaining -= len(chunk)
        except (ConnectionError, TimeoutError):
            log.debug("%s: client left during %s %s", type(self).__name__, h.command, path)
            h.close_connection = True


def _read_chunked(stream: Any) -> bytes:
    """A request body sent with ``Transfer-Encoding: chunked``, decoded (chunk extensions and trailers dropped)."""
    parts: list[bytes] = []
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline().strip():  # trailers, up to the empty line
                pass
            return b"".join(parts)
        parts.append(stream.read(size))
        stream.readline()  # the CRLF after the chunk


class RangeNotSatisfiable(Exception):
    """The single byte range asked for starts past the end of the file (HTTP 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` a ``Range`` header asks of a ``size``-byte file.

    Args:
        header: the ``Range`` header, or None without one.
        size: the file's size, bytes.

    Returns:
        ``(first, last)``, or ``None`` for "send the whole file" (no header, a malformed one, another unit,
        several ranges).

    Raises:
        RangeNotSatisfiable: the single range asked for lies past the end.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text.isdigit() or first_text == "") or not (last_text.isdigit() or last_text == ""):
        return None
    if first_text == "":  # suffix range: the last n bytes
        if last_text == "":
            return None
        n = int(last_text)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - n), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(int(last_text) if last_text else size - 1, size - 1)


class RangeFileServer(LoopbackServer):
    """Serves the files under ``root`` over HTTP/1.1 with Range requests, like object storage.

    ``GET``/``HEAD`` only (others get 405), no directory listings (404), paths that escape ``root`` (``..``,
    symlinks pointing outside) get 403. ``srv.url + "a/b.tif"`` is the URL of ``root/a/b.tif``.

    With ``sas``, files are served only to requests carrying a valid token of their container
    (:class:`SasPolicy`); the others get 403 with Azure's ``AuthenticationFailed`` error body.

    Args:
        root: the folder to serve.
        host: the address to bind.
        port: the port to bind (0: a free one).
        delay_s: seconds to wait before every response.
        sas: require SAS tokens of this policy (None: serve every request).

    Raises:
        NotADirectoryError: ``root`` is not a folder.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_s: float = 0.0,
        sas: SasPolicy | None = None,
    ) -> None:
        super().__init__(host=host, port=port, delay_s=delay_s)
        self.sas = sas
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"RangeFileServer root {self.root} is not a folder")

    def url_for(self, path: str | os.PathLike[str]) -> str:
        """The URL of a file under the root.

        Args:
            path: the file, absolute or relative to the root.

        Returns:
            Its URL on this server (running).
        """
        rel = Path(path).resolve().relative_to(self.root) if Path(path).is_absolute() else Path(path)
        return self.url + quote(rel.as_posix())

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        """The file (or the byte range) at ``path``, or the error status saying why not.

        Args:
            method: the HTTP method (only GET and HEAD are served).
            path: the request's path, percent-decoded.
            query: the query string (read for a SAS token when the server has a :class:`SasPolicy`).
            headers: the request's headers (``Range`` is read).
            body: the request's body (ignored).

        Returns:
            200 with the whole file, 206 with a range, or 403, 404, 405 or 416.
        """
        if method not in ("GET", "HEAD"):
            return Reply(405, {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, b"method not allowed\n")
        if self.sas is not None:
            refusal = self.sas.check(path, query)
            if refusal is not None:
                return azure_error(403, "AuthenticationFailed", refusal)
        parts = PurePosixPath(path).parts[1:]  # without the leading "/"
        if any(p in ("..", "") or "\\" in p or "\0" in p for p in parts):
            return Reply(403, {"Content-Type": "text/plain"}, b"forbidden\n")
        file = self.root.joinpath(*parts).resolve()
        if not file.is_relative_to(self.root):
            return Reply(403, {"Content-Type": "text/plain"}, b"forbidden\n")
        if not file.is_file():
            return Reply(404, {"Content-Type": "text/plain"}, b"not found\n")
        st = file.stat()
        size = st.st_size
        common = {
            "Accept-Ranges": "bytes",
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "ETag": f'"{st.st_mtime_ns:x}-{size:x}"',
        }
        try:
            wanted = parse_range(headers.get("Range"), size)
        except RangeNotSatisfiable:
            return Reply(
                416,
                {**common, "Content-Range": f"bytes */{size}", "Content-Type": "text/plain"},
                b"range not satisfiable\n",
            )
        common["Content-Type"] = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if wanted is None:
            return Reply(200, common, file=(file, 0, size))
        first, last = wanted
        return Reply(
            206, {**common, "Content-Range": f"bytes {first}-{last}/{size}"}, file=(file, first, last - first + 1)
        )


def azure_error(status: int, code: str, message: str) -> Reply:
    """An error answer shaped like Azure Blob Storage's (an XML ``<Error>`` with a code and a message).

    Args:
        status: the HTTP status.
        code: Azure's error code (``AuthenticationFailed``).
        message: the message.

    Returns:
        The reply.
    """
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    ).encode()
    return Reply(status, {"Content-Type": "application/xml", "x-ms-error-code": code}, body)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SasPolicy:
    """SAS tokens of a stand-in for Azure Blob Storage: each signs one container until its expiry.

    A token is ``se=EXPIRY&sp=rl&sr=c&sig=SIGNATURE`` where the signature is an HMAC-SHA256, under ``key``, of
    ``account/container/EXPIRY``: a token of another container, an altered expiry or an expired token is
    refused, as Azure refuses them.

    Args:
        key: the secret both the file server and the token server know.
        clock: the current time in seconds since the epoch (for the expiry check).
    """

    key: bytes = b"inseason-loopback-sas"
    clock: Callable[[], float] = time.time

    def _signature(self, account: str, container: str, expiry: str) -> str:
        digest = hmac.new(self.key, f"{account}/{container}/{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, account: str, container: str, expires: float) -> str:
        """A token of ``account``/``container`` valid until ``expires``.

        Args:
            account: the storage account.
            container: the container.
            expires: the expiry, seconds since the epoch.

        Returns:
            The token, a query string without ``?``.
        """
        expiry = _iso(expires)
        return f"se={quote(expiry)}&sp=rl&sr=c&sig={self._signature(account, container, expiry)}"

    def check(self, path: str, query: str) -> str | None:
        """Why a request of ``path`` with ``query`` is refused, or None when its token is valid.

        Args:
            path: the request's path, ``/{account}/{container}/...``.
            query: its raw query string.

        Returns:
            Azure's words for the refusal, or None.
        """
        segments = [s for s in path.split("/") if s]
        params = parse_qs(query)
        if len(segments) < 3 or "sig" not in params or "se" not in params:
            return "Server failed to authenticate the request. No SAS token was given."
        account, container = segments[0], segments[1]
        expiry = params["se"][0]
        if not hmac.compare_digest(params["sig"][0], self._signature(account, container, expiry)):
            return "Signature did not match."
        try:
            expires = dt.datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return "Signed expiry time is not a valid date."
        if expires <= self.clock():
            return f"Signed expiry time [{expiry}] must be after the current time."
        return None


class SasTokenServer(LoopbackServer):
    """Planetary Computer's SAS token endpoint on loopback: ``GET {sas_url}/{account}/{container}``.

    Answers ``{"msft:expiry": "...Z", "token": "se=...&sig=..."}`` with a token of ``policy`` valid for
    ``lifetime_s`` seconds; with ``subscription_key`` set, a request without that
    ``Ocp-Apim-Subscription-Key`` header gets 401. Faults come from :meth:`LoopbackServer.fail_next`; the
    requests are counted by path (:meth:`LoopbackServer.stats`).

    Args:
        policy: the tokens' policy (share it with the :class:`RangeFileServer`).
        lifetime_s: how long a token is valid, seconds.
        subscription_key: the key requests must carry (None: none needed).
        host: the address to bind.
        port: the port to bind (0: a free one).
    """

    #: The path of the endpoint, under the server's URL.
    PATH = "api/sas/v1/token"

    def __init__(
        self,
        policy: SasPolicy,
        *,
        lifetime_s: float = 3600.0,
        subscription_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.policy = policy
        self.lifetime_s = lifetime_s
        self.subscription_key = subscription_key

    @property
    def sas_url(self) -> str:
        """The endpoint's URL, as ``PC_SDK_SAS_URL`` takes it (only while running)."""
        return self.url + self.PATH

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        """A token of the container the path names, or the error saying why not.

        Args:
            method: the HTTP method (GET only).
            path: ``/api/sas/v1/token/{account}/{container}``.
            query: the query string (ignored).
            headers: the request's headers (``Ocp-Apim-Subscription-Key`` is read).
            body: the request's body (ignored).

        Returns:
            200 with the token, 401 without the subscription key, 404 for another path, 405 for another method.
        """
        if method != "GET":
            return error_reply(405, "MethodNotAllowed", "only GET")
        parts = [s for s in path.split("/") if s]
        prefix = self.PATH.split("/")
        if parts[: len(prefix)] != prefix or len(parts) != len(prefix) + 2:
            return error_reply(404, "NotFound", f"no token endpoint at {path}")
        if self.subscription_key is not None and headers.get("Ocp-Apim-Subscription-Key") != self.subscription_key:
            return error_reply(401, "Unauthorized", "Access denied due to missing or invalid subscription key")
        account, container = parts[-2:]
        expires = self.policy.clock() + self.lifetime_s
        return json_reply(200, {"msft:expiry": _iso(expires), "token": self.policy.token(account, container, expires)})
