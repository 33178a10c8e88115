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

TLS failures are told apart: a handshake broken off (the server hangs up or resets mid-handshake, "EOF occurred
in violation of protocol") is transient and retried like a reset; a certificate the machine does not trust
(self-signed, unknown issuer, expired, another host's) is not retried, since it will not fix itself, and the
message says how to trust the right CA (:data:`CA_HINT`: ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``, or a
caller's own option). :func:`make_session` takes a ``ca_bundle`` and otherwise honours ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE`` and ``SSL_CERT_FILE`` (requests alone ignores the last). An HTTP 500 whose body is a SOAP
fault (:func:`soap_fault`) is the service's answer to the request, not a transient failure: it is returned at
once, not retried.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from inseason.errors import InputError, OutputError, RemoteError
from inseason.storage import atomic_path

__all__ = [
    "CA_HINT",
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "RetryCounter",
    "TimeoutSession",
    "TruncatedBody",
    "download",
    "failure_reason",
    "fetch",
    "make_session",
    "resolve_ca_bundle",
    "soap_fault",
    "status_error",
    "tls_failure",
    "url_with",
]

log = logging.getLogger(__name__)

#: HTTP statuses worth retrying: rate limiting and server-side failures.
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
#: Default (connect, read) timeout in seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
_USER_AGENT = "inseason (+https://github.com/inseason)"
#: How a user trusts another CA, quoted by a certificate failure (callers with an option of their own pass theirs).
CA_HINT = "REQUESTS_CA_BUNDLE=PATH or SSL_CERT_FILE=PATH (a PEM file of the CA certificates to trust)"
#: Environment variables naming a CA bundle, in the order they are honoured.
_CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


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


#: A certificate the client does not trust: it will be refused on every try.
_CERT_FAILURE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|hostname mismatch", re.IGNORECASE)
#: A handshake the other end broke off: a later try may complete it.
_TLS_BROKEN = re.compile(
    r"EOF occurred in violation|UNEXPECTED_EOF|unexpected eof|reset by peer|connection reset|ECONNRESET|"
    r"connection aborted|broken pipe|handshake operation timed out",
    re.IGNORECASE,
)


def _exc_text(exc: BaseException) -> str:
    return " ".join(f"{exc} {exc!r}".split())


def tls_failure(exc: BaseException) -> tuple[str, str] | None:
    """What kind of TLS failure ``exc`` is, and the OpenSSL reason in a few words; None when it is not one.

    Args:
        exc: the exception of a failed request.

    Returns:
        ``("certificate", "self-signed certificate")`` for a certificate this machine does not trust (never
        retried), ``("broken", "EOF occurred in violation of protocol")`` for a handshake the server broke off
        (retried), ``("handshake", reason)`` for another handshake failure (a wrong protocol or port; not
        retried), or None for anything that is not a ``requests`` TLS error.
    """
    if not isinstance(exc, requests.exceptions.SSLError):
        return None
    text = _exc_text(exc)
    if _CERT_FAILURE.search(text):
        match = re.search(r"certificate verify failed: ([^()'\"]+?)\s*(\(_ssl|['\"]|$)", text)
        detail = match.group(1).strip() if match else "certificate verify failed"
        if "hostname mismatch" in text.lower() or "doesn't match" in text.lower():
            detail = "it was issued to another host name"
        return "certificate", detail
    match = re.search(r"\] ([^()'\"]+?)\s*\(_ssl", text)
    detail = match.group(1).strip() if match else type(exc).__name__
    if _TLS_BROKEN.search(text):
        return "broken", detail
    return "handshake", detail


def _transient(exc: BaseException) -> bool:
    tls = tls_failure(exc)
    if tls is not None:
        return tls[0] == "broken"
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, _PERMANENT)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def soap_fault(body: bytes | str) -> str | None:
    """The message of a SOAP fault answer (its ``faultstring``, or SOAP 1.2's ``Reason/Text``); None otherwise.

    Both the full SOAP envelope and the bare ``<faultstring>`` that Axis2 services answer plain GET requests
    with are recognised.

    Args:
        body: an answer's body.

    Returns:
        The fault's message on one line, or None when the body is not an XML SOAP fault.
    """
    text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).strip()
    if not text.startswith("<"):
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    elements = list(root.iter())
    if not any(_local(e.tag) in ("Fault", "faultstring") for e in elements):
        return None
    for name in ("faultstring", "Text", "Reason"):
        for element in elements:
            if _local(element.tag) == name and element.text and element.text.strip():
                return " ".join(element.text.split())
    return "a SOAP fault without a message"


def _is_fault(response: requests.Response) -> bool:
    return response.status_code == 500 and soap_fault(response.content) is not None


def resolve_ca_bundle(ca_bundle: str | os.PathLike[str] | None = None) -> bool | str:
    """The ``verify`` setting of a session: ``ca_bundle``, else the CA bundle the environment names, else True.

    The environment variables are honoured in this order: ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
    ``SSL_CERT_FILE`` (requests itself ignores the last); True keeps requests' own CA bundle (certifi).

    Args:
        ca_bundle: a PEM file (or a folder prepared with ``c_rehash``) of the CA certificates to trust.

    Returns:
        The path to verify servers' certificates with, or True.

    Raises:
        InputError: the CA bundle given, or named by the environment, does not exist.
    """
    if ca_bundle is not None:
        path, source = str(ca_bundle), f"CA bundle {ca_bundle}"
    else:
        named = [(name, os.environ[name]) for name in _CA_ENV if os.environ.get(name, "").strip()]
        if not named:
            return True
        path, source = named[0][1], f"CA bundle {named[0][1]} (from ${named[0][0]})"
    if not Path(path).exists():
        raise InputError(f"{source} does not exist: give a PEM file of the CA certificates to trust")
    return path


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
    (:func:`download`). After the last try the final answer is returned as is, or its exception raised. An HTTP
    500 whose body is a SOAP fault is the service's answer (:func:`soap_fault`) and is returned at once.

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
        if kwargs.get("verify") is None and isinstance(self.verify, str):
            kwargs["verify"] = self.verify  # else requests lets $REQUESTS_CA_BUNDLE override the session's bundle
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
                if not kwargs.get("stream") and _is_fault(response):
                    return response  # the service's answer to this request: asking again gets the same fault
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
    ca_bundle: str | os.PathLike[str] | None = None,
) -> TimeoutSession:
    """A :class:`TimeoutSession` with a default ``timeout`` and ``retries`` retries with exponential backoff.

    Retries cover connection errors and resets, connect and read timeouts, bodies cut short and the HTTP
    ``statuses`` (429 and 5xx by default) for the listed ``methods``; the waits are ``backoff × 2^(n-1)``
    seconds, capped at ``backoff_max`` (``backoff=0`` retries at once, as tests do). After the last retry the
    final answer is returned as is, so :func:`fetch` can report its status and body. Servers' certificates are
    checked against ``ca_bundle``, else the bundle the environment names (:func:`resolve_ca_bundle`).

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
        ca_bundle: a PEM file of the CA certificates to trust (a private CA, a proxy that inspects TLS).

    Returns:
        The session, plain adapters (no urllib3 retries: the session retries) mounted for both schemes.

    Raises:
        InputError: ``ca_bundle``, or the CA bundle the environment names, does not exist.
    """
    verify = resolve_ca_bundle(ca_bundle)
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
    session.verify = verify
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
        ``"body cut short: 50 of 100 bytes"``, ``"timed out"``, ``"connection failed: reset by the server"``,
        ``"TLS certificate not trusted (self-signed certificate); …"``…, or the exception's type name for
        something that is not an HTTP failure.
    """
    if isinstance(exc, TruncatedBody):
        return str(exc)
    tls = tls_failure(exc)
    if tls is not None:
        kind, detail = tls
        if kind == "certificate":
            return f"TLS certificate not trusted ({detail}); not retried, as it will not fix itself"
        if kind == "broken":
            return f"TLS handshake broken off ({detail})"
        return f"TLS handshake failed ({detail}): is it an https:// URL of a TLS server?"
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


def _failure(what: str, url: str, session: requests.Session, tries: int | None, exc: Exception, ca_hint: str) -> str:
    """The one-line message of a request that raised ``exc``; a certificate failure names how to fix it."""
    message = f"{what} {url} failed{_tries(session, tries)}: {failure_reason(exc)}"
    tls = tls_failure(exc)
    if tls is not None and tls[0] == "certificate":
        if isinstance(session.verify, str):
            message += f": the CA bundle {session.verify} does not hold the CA that signed it; give the right one with"
        else:
            message += ": trust the CA that signed it with"
        message += f" {ca_hint}"
    return message


def status_error(
    response: requests.Response, *, what: str, url: str, session: requests.Session, tries: int | None = None
) -> RemoteError:
    """The one-line :class:`~inseason.errors.RemoteError` of an HTTP error answer, quoting the start of its body.

    Args:
        response: the error answer.
        what: the request's name in messages.
        url: the URL, as requested.
        session: the session it was sent with (for the number of tries).
        tries: the tries made, when the caller counted them (else the session's last count).

    Returns:
        The error, to raise.
    """
    body = _excerpt(response)
    return RemoteError(
        f"{what} {url} failed{_tries(session, tries)}: HTTP {response.status_code}" + (f": {body}" if body else "")
    )


def fetch(
    url: str,
    *,
    session: requests.Session | None = None,
    params: Mapping[str, Any] | None = None,
    method: str = "GET",
    what: str = "request",
    ok_statuses: tuple[int, ...] = (),
    ca_hint: str = CA_HINT,
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
        ca_hint: how the user trusts another CA, quoted when the server's certificate is not trusted.
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
        raise RemoteError(_failure(what, shown, session, None, exc, ca_hint)) from exc
    if response.status_code >= 400 and response.status_code not in ok_statuses:
        raise status_error(response, what=what, url=shown, session=session)
    return response


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    session: requests.Session | None = None,
    what: str = "download",
    chunk_size: int = 1 << 20,
    attempts: int | None = None,
    ca_hint: str = CA_HINT,
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
        ca_hint: how the user trusts another CA, quoted when the server's certificate is not trusted.

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
                    raise status_error(response, what=what, url=url, session=session, tries=tries)
                _stream(response, dest, chunk_size)
            return dest
        except requests.RequestException as exc:
            if last or not _transient(exc):
                raise RemoteError(_failure(what, url, session, tries, exc, ca_hint)) from exc
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
