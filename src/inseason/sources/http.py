"""HTTP for every remote source: a requests session with timeouts and retries, and clear failures.

Every request made through :func:`make_session` has a timeout (connect, read) and is retried with exponential
backoff on every transient fault: HTTP 429 and 5xx answers (a ``Retry-After`` header is honoured), connection
errors and resets, connect and read timeouts (a stalled server), and bodies cut short (fewer bytes than the
``Content-Length``, a broken chunked encoding). The retries are made by the session itself
(:class:`TimeoutSession`), so they cover a body read in full as well as the answer's head, and every retried
request is counted (:attr:`TimeoutSession.retried`, a :class:`RetryCounter` that a stage can share between
sessions and report). When the last try fails, :func:`fetch` and :func:`download` raise a one-line
:class:`~inseason.errors.RemoteError` naming the URL, the true number of tries and what went wrong. Nothing
here knows about a particular service: the CropScape client (:mod:`inseason.sources.cdl`) and the STAC code
share it.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from inseason.errors import OutputError, RemoteError
from inseason.storage import atomic_path

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "RetryCounter",
    "TimeoutSession",
    "TruncatedBody",
    "download",
    "failure_reason",
    "fetch",
    "make_session",
    "url_with",
]

log = logging.getLogger(__name__)

#: HTTP statuses worth retrying: rate limiting and server-side failures.
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
#: Default (connect, read) timeout in seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
_USER_AGENT = "inseason (+https://github.com/inseason)"


class TruncatedBody(requests.exceptions.ChunkedEncodingError):
    """A body shorter (or longer) than its ``Content-Length``: the connection broke mid-body.

    Args:
        got: the bytes received.
        expected: the bytes the ``Content-Length`` announced.
    """

    def __init__(self, got: int, expected: int) -> None:
        super().__init__(f"body cut short: {got} of {expected} bytes")
        self.got, self.expected = got, expected


#: Faults that a later try may not meet: connection errors, resets and refusals, timeouts, broken bodies.
_TRANSIENT: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: ...except those that the same request meets every time.
_PERMANENT: tuple[type[BaseException], ...] = (requests.exceptions.SSLError, requests.exceptions.InvalidHeader)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, _PERMANENT)


class RetryCounter:
    """A thread-safe count of retried requests, shared by the sessions of a stage so its summary can report it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, n: int = 1) -> None:
        """Count ``n`` more retried requests.

        Args:
            n: how many.
        """
        with self._lock:
            self._value += n

    @property
    def value(self) -> int:
        """The retried requests counted so far."""
        with self._lock:
            return self._value

    def __repr__(self) -> str:
        return f"RetryCounter({self.value})"


class TimeoutSession(requests.Session):
    """A ``requests.Session`` with a default timeout and retries with backoff of every transient fault.

    Each request (``send``, which ``request`` and pystac-client both go through) is tried up to ``retries + 1``
    times while it fails with a connection error or reset, a timeout, a body cut short, or (for the
    ``methods`` listed) an HTTP status in ``statuses``; before retry *n* it waits ``Retry-After`` or
    ``backoff × 2^(n-1)`` seconds (at most ``backoff_max``) through ``sleep``. A request without
    ``stream=True`` has its whole body read within the tries; a streamed body is checked by its reader
    (:func:`download`). After the last try the final answer is returned as is, or its exception raised.

    Args:
        timeout: the default timeout, seconds or ``(connect, read)``.
        retries: retries of a failed request.
        backoff: seconds before the first retry, doubled per retry (0: retry at once).
        backoff_max: the longest wait between retries, seconds.
        statuses: HTTP statuses that are retried.
        methods: HTTP methods that are retried (others are tried once).
        sleep: waits the given seconds between tries (tests pass a recorder).
        counter: counts the retried requests (a fresh one when None); share one between sessions to total them.
    """

    def __init__(
        self,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 0,
        *,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        statuses: tuple[int, ...] = RETRY_STATUSES,
        methods: tuple[str, ...] = ("GET", "HEAD", "POST"),
        sleep: Callable[[float], None] = time.sleep,
        counter: RetryCounter | None = None,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.statuses = frozenset(statuses)
        self.methods = frozenset(m.upper() for m in methods)
        self.sleep = sleep
        self.counter = counter if counter is not None else RetryCounter()
        self._local = threading.local()

    @property
    def retried(self) -> int:
        """The retried requests counted so far (by this session's :attr:`counter`)."""
        return self.counter.value

    @property
    def last_tries(self) -> int:
        """How many tries the last request of this thread made (0 before the first)."""
        return int(getattr(self._local, "tries", 0))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request, with the session's timeout unless the call gives one, and its retries.

        Args:
            method: the HTTP method.
            url: the URL.
            *args: the other arguments of ``requests.Session.request``.
            **kwargs: its keyword arguments; ``timeout`` defaults to the session's.

        Returns:
            The response, as ``requests.Session.request`` returns it.
        """
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send a prepared request, retrying transient faults (see the class).

        Args:
            request: the prepared request.
            **kwargs: the arguments of ``requests.Session.send``; ``timeout`` defaults to the session's.

        Returns:
            The response: a success, an error status that is not retried, or the last retried one.
        """
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if getattr(self._local, "inner", False):  # a redirect hop, or a caller that retries itself
            return super().send(request, **kwargs)
        retryable = (request.method or "GET").upper() in self.methods
        tries = 0
        self._local.inner = True
        try:
            while True:
                tries += 1
                self._local.tries = tries
                last = tries > self.retries or not retryable
                try:
                    response = super().send(request, **kwargs)
                    if not kwargs.get("stream"):
                        check_length(response)
                except Exception as exc:
                    if last or not _transient(exc):
                        raise
                    self.pause(tries, None, request.url, failure_reason(exc))
                    continue
                if last or response.status_code not in self.statuses:
                    return response
                wait = retry_after(response)
                response.close()
                self.pause(tries, wait, request.url, f"HTTP {response.status_code}")
        finally:
            self._local.inner = False

    @contextmanager
    def single_tries(self) -> Iterator[None]:
        """Within the block, requests of this thread are tried once: for a caller that retries on its own.

        Yields:
            Nothing.
        """
        before = getattr(self._local, "inner", False)
        self._local.inner = True
        try:
            yield
        finally:
            self._local.inner = before

    def pause(self, tries: int, wait: float | None, url: str | None, reason: str) -> None:
        """Count a retry and wait before it: ``wait`` seconds, else the backoff of try ``tries`` (at most the cap).

        Args:
            tries: the tries made so far.
            wait: the seconds the server asked for (``Retry-After``), or None.
            url: the URL, for the log.
            reason: why the try failed, for the log.
        """
        delay = min(self.backoff * 2 ** (tries - 1) if wait is None else wait, self.backoff_max)
        self.counter.add()
        log.info("retrying %s in %.2g s (try %d of %d failed: %s)", url, delay, tries, self.retries + 1, reason)
        if delay > 0:
            self.sleep(delay)


def make_session(
    *,
    retries: int = 4,
    backoff: float = 0.5,
    backoff_max: float = 30.0,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    statuses: tuple[int, ...] = RETRY_STATUSES,
    methods: tuple[str, ...] = ("GET", "HEAD", "POST"),
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    counter: RetryCounter | None = None,
) -> TimeoutSession:
    """A :class:`TimeoutSession` with a default ``timeout`` and ``retries`` retries with exponential backoff.

    Retries cover connection errors and resets, connect and read timeouts, bodies cut short and the HTTP
    ``statuses`` (429 and 5xx by default) for the listed ``methods``; the waits are ``backoff × 2^(n-1)``
    seconds, capped at ``backoff_max`` (``backoff=0`` retries at once, as tests do). After the last retry the
    final answer is returned as is, so :func:`fetch` can report its status and body.

    Args:
        retries: retries of a failed request (connection, read, body, status).
        backoff: seconds before the first retry, doubled per retry.
        backoff_max: the longest wait between retries, in seconds.
        timeout: the default timeout, seconds or ``(connect, read)``.
        statuses: HTTP statuses that are retried.
        methods: HTTP methods that are retried.
        headers: extra headers of every request (a User-Agent is set).
        sleep: waits between tries (tests pass a recorder, or use ``backoff=0``).
        counter: counts the retried requests; pass one shared counter to total a stage's sessions.

    Returns:
        The session, plain adapters (no urllib3 retries: the session retries) mounted for both schemes.
    """
    session = TimeoutSession(
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        backoff_max=backoff_max,
        statuses=statuses,
        methods=methods,
        sleep=sleep,
        counter=counter,
    )
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = _USER_AGENT
    session.headers.update(headers or {})
    return session


def check_length(response: requests.Response) -> None:
    """Raise :class:`TruncatedBody` when a read body's length differs from its ``Content-Length``.

    Bodies of ``HEAD`` requests, of 204 and 304 answers and content-encoded bodies (decoded here, so their
    length differs) are not checked.

    Args:
        response: a response whose body was read (not streamed).

    Raises:
        TruncatedBody: the body is shorter or longer than announced.
    """
    announced = response.headers.get("Content-Length", "")
    if (
        not announced.isdigit()
        or response.headers.get("Content-Encoding", "identity").lower() != "identity"
        or (response.request is not None and response.request.method == "HEAD")
        or response.status_code in (204, 304)
    ):
        return
    got = len(response.content)
    if got != int(announced):
        raise TruncatedBody(got, int(announced))


def retry_after(response: requests.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (a number or an HTTP date), None without one.

    Args:
        response: the answer.

    Returns:
        The seconds, at least 0, or None.
    """
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def url_with(url: str, params: Mapping[str, Any] | None = None) -> str:
    """``url`` with ``params`` encoded into its query string, as it will be requested (for messages).

    Args:
        url: the URL.
        params: the query parameters; none leaves ``url`` as it is.

    Returns:
        The full URL.
    """
    if not params:
        return url
    return requests.Request("GET", url, params=dict(params)).prepare().url or url


def _tries(session: requests.Session, tries: int | None = None) -> str:
    tries = tries if tries is not None else getattr(session, "last_tries", 1)
    return f" after {tries} tries" if tries and tries > 1 else ""


def failure_reason(exc: BaseException) -> str:
    """A few words on why a request failed, for one-line messages that name the URL themselves.

    Args:
        exc: the exception of the failed request (a ``requests`` exception, or anything else).

    Returns:
        ``"body cut short: 50 of 100 bytes"``, ``"timed out"``, ``"connection failed: reset by the server"``…,
        or the exception's type name for something that is not an HTTP failure.
    """
    if isinstance(exc, TruncatedBody):
        return str(exc)
    text = " ".join(str(exc.args[0] if exc.args else exc).split())
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        match = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", text)
        if match:
            got, more = int(match.group(1)), int(match.group(2))
            return f"body cut short: {got} of {got + more} bytes"
        return "body cut short (the connection broke mid-body)"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        lower = text.lower() + " " + repr(exc).lower()
        if "timed out" in lower or "timeout" in lower:
            return "timed out"
        if "reset" in lower:
            return "connection failed: reset by the server"
        if "refused" in lower:
            return "connection failed: refused"
        if "remotedisconnected" in lower or "aborted" in lower:
            return "connection failed: closed without an answer"
        return "connection failed"
    return type(exc).__name__


def _excerpt(response: requests.Response, limit: int = 200) -> str:
    try:
        text = " ".join(response.text.split())
    except Exception:
        return ""
    return text[:limit] + ("…" if len(text) > limit else "")


def fetch(
    url: str,
    *,
    session: requests.Session | None = None,
    params: Mapping[str, Any] | None = None,
    method: str = "GET",
    what: str = "request",
    ok_statuses: tuple[int, ...] = (),
    **kwargs: Any,
) -> requests.Response:
    """Request ``url`` and return the response; raise ``RemoteError`` naming the URL when it fails.

    A failure is a transient fault (connection error or reset, timeout, body cut short) after the session's
    retries, or an HTTP status ≥ 400 that is not in ``ok_statuses`` (the message quotes the start of the body);
    the message says how many tries were made. ``what`` names the request in messages
    ("CropScape GetCDLFile", "STAC search"). Without ``session`` a fresh :func:`make_session` is used.

    Args:
        url: the URL.
        session: the session to send it with (its retries and timeout).
        params: query parameters.
        method: the HTTP method.
        what: the request's name in messages.
        ok_statuses: statuses ≥ 400 returned rather than raised (e.g. 500 for a SOAP fault to quote).
        **kwargs: further arguments of ``requests.Session.request`` (``stream=True``, ``data=``…).

    Returns:
        The response.

    Raises:
        RemoteError: the request fails after the retries, or answers an HTTP error not in ``ok_statuses``.
    """
    session = session or make_session()
    shown = url_with(url, params)
    try:
        response = session.request(method, url, params=params, **kwargs)
    except requests.RequestException as exc:
        raise RemoteError(f"{what} {shown} failed{_tries(session)}: {failure_reason(exc)}") from exc
    if response.status_code >= 400 and response.status_code not in ok_statuses:
        body = _excerpt(response)
        raise RemoteError(
            f"{what} {shown} failed{_tries(session)}: HTTP {response.status_code}" + (f": {body}" if body else "")
        )
    return response


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    session: requests.Session | None = None,
    what: str = "download",
    chunk_size: int = 1 << 20,
    attempts: int | None = None,
) -> Path:
    """Stream ``url`` into ``dest`` atomically (temporary name, then rename) and return ``dest``.

    The whole download — request and body — is one try: a transient fault (a retried status, a connection
    reset, a stall, a body shorter than its ``Content-Length``) anywhere in it is retried with the session's
    backoff and counted in its :attr:`~TimeoutSession.retried`, up to ``attempts`` tries (default: the
    session's ``retries + 1``, 2 for a plain ``requests.Session``). A partial file never lands under ``dest``.

    Args:
        url: the file's URL.
        dest: the file to write (its folder is created).
        session: the session to use (a fresh :func:`make_session` when None).
        what: the download's name in messages.
        chunk_size: bytes per streamed chunk.
        attempts: tries of the whole download (None: the session's retries + 1).

    Returns:
        ``dest``.

    Raises:
        RemoteError: the download fails on every try, or answers an HTTP error that is not retried; the
            message names the URL and the number of tries.
        OutputError: ``dest`` cannot be written.
    """
    session = session or make_session()
    retrying = session if isinstance(session, TimeoutSession) else TimeoutSession(retries=1, backoff=0.0)
    budget = max(1, attempts if attempts is not None else retrying.retries + 1)
    dest = Path(dest)
    tries = 0
    while True:
        tries += 1
        last = tries >= budget
        try:
            with retrying.single_tries() if session is retrying else _nothing():
                response = session.request("GET", url, stream=True)
            with response:
                if response.status_code in retrying.statuses and not last:
                    retrying.pause(tries, retry_after(response), url, f"HTTP {response.status_code}")
                    continue
                if response.status_code >= 400:
                    body = _excerpt(response)
                    raise RemoteError(
                        f"{what} {url} failed{_tries(session, tries)}: HTTP {response.status_code}"
                        + (f": {body}" if body else "")
                    )
                _stream(response, dest, chunk_size)
            return dest
        except requests.RequestException as exc:
            if last or not _transient(exc):
                raise RemoteError(f"{what} {url} failed{_tries(session, tries)}: {failure_reason(exc)}") from exc
            retrying.pause(tries, None, url, failure_reason(exc))
        except OSError as exc:
            raise OutputError(f"{what} {url}: cannot write {dest}: {exc}") from exc


def _stream(response: requests.Response, dest: Path, chunk_size: int) -> None:
    """Write a streamed body to ``dest`` atomically; :class:`TruncatedBody` when it is cut short."""
    announced = response.headers.get("Content-Length", "")
    plain = response.headers.get("Content-Encoding", "identity").lower() == "identity"
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        got = 0
        for block in response.iter_content(chunk_size):
            f.write(block)
            got += len(block)
        if plain and announced.isdigit() and got != int(announced):
            raise TruncatedBody(got, int(announced))


@contextmanager
def _nothing() -> Iterator[None]:
    yield
