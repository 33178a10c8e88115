"""HTTP for every remote source: a requests session with timeouts and retries, and clear failures.

Every request made through :func:`make_session` has a timeout (connect, read) and is retried with exponential
backoff (urllib3 ``Retry``) on HTTP 429 and 5xx answers, connection errors and timeouts; a ``Retry-After`` header
is honoured. When the last try fails, :func:`fetch` and :func:`download` raise a one-line
:class:`~inseason.errors.RemoteError` naming the URL and what went wrong. Nothing here knows about a particular
service: the CropScape client (:mod:`inseason.sources.cdl`) and the STAC code share it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from inseason.errors import OutputError, RemoteError
from inseason.storage import atomic_path

__all__ = ["DEFAULT_TIMEOUT", "RETRY_STATUSES", "TimeoutSession", "download", "fetch", "make_session", "url_with"]

#: HTTP statuses worth retrying: rate limiting and server-side failures.
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
#: Default (connect, read) timeout in seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
_USER_AGENT = "inseason (+https://github.com/inseason)"


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that applies a default timeout to every request that does not give one.

    ``retries`` records how many retries its adapters make, so error messages can say how many tries failed.
    """

    def __init__(self, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, retries: int = 0) -> None:
        super().__init__()
        self.timeout = timeout
        self.retries = retries

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request, with the session's timeout unless the call gives one.

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


def make_session(
    *,
    retries: int = 4,
    backoff: float = 0.5,
    backoff_max: float = 30.0,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    statuses: tuple[int, ...] = RETRY_STATUSES,
    methods: tuple[str, ...] = ("GET", "HEAD", "POST"),
    headers: Mapping[str, str] | None = None,
) -> TimeoutSession:
    """A requests session with a default ``timeout`` and ``retries`` retries with exponential backoff.

    Retries cover connection errors, connect and read timeouts and the HTTP ``statuses`` (429 and 5xx by
    default) for the listed ``methods``; the waits are ``backoff × 2^(n-1)`` seconds, capped at ``backoff_max``
    (``backoff=0`` retries at once, as tests do). After the last retry the final answer is returned as is (no
    exception from urllib3), so :func:`fetch` can report its status and body.

    Args:
        retries: retries of a failed request (connection, read, status).
        backoff: seconds before the first retry, doubled per retry.
        backoff_max: the longest wait between retries, in seconds.
        timeout: the default timeout, seconds or ``(connect, read)``.
        statuses: HTTP statuses that are retried.
        methods: HTTP methods that are retried.
        headers: extra headers of every request (a User-Agent is set).

    Returns:
        The session, its adapters mounted for ``http://`` and ``https://``.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=backoff_max,
        status_forcelist=statuses,
        allowed_methods=frozenset(m.upper() for m in methods),
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = TimeoutSession(timeout=timeout, retries=retries)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = _USER_AGENT
    session.headers.update(headers or {})
    return session


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


def _tries(session: requests.Session) -> str:
    retries = getattr(session, "retries", None)
    return f" after {retries + 1} tries" if retries else ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc.args[0] if exc.args else exc)
        if "timed out" in text.lower() or "timeout" in text.lower():
            return "timed out"
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

    A failure is a connection error or timeout after the session's retries, or an HTTP status ≥ 400 that is
    not in ``ok_statuses`` (the message quotes the start of the body). ``what`` names the request in messages
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
        raise RemoteError(f"{what} {shown} failed{_tries(session)}: {_reason(exc)}") from exc
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
    attempts: int = 2,
) -> Path:
    """Stream ``url`` into ``dest`` atomically (temporary name, then rename) and return ``dest``.

    Errors while the body streams (a dropped connection, a read timeout mid-file) are not covered by urllib3's
    retries, so the whole download is tried up to ``attempts`` times. A partial file never remains under
    ``dest``.

    Args:
        url: the file's URL.
        dest: the file to write (its folder is created).
        session: the session to use (a fresh :func:`make_session` when None).
        what: the download's name in messages.
        chunk_size: bytes per streamed chunk.
        attempts: tries of the whole download.

    Returns:
        ``dest``.

    Raises:
        RemoteError: the request fails, or the body fails to stream on every attempt.
        OutputError: ``dest`` cannot be written.
    """
    session = session or make_session()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: BaseException | None = None
    for _ in range(max(1, attempts)):
        response = fetch(url, session=session, what=what, stream=True)
        try:
            with atomic_path(dest) as tmp, response, open(tmp, "wb") as f:
                for block in response.iter_content(chunk_size):
                    f.write(block)
            return dest
        except (requests.RequestException, OSError) as exc:
            last = exc
            if not isinstance(exc, requests.RequestException):
                raise OutputError(f"{what} {url}: cannot write {dest}: {exc}") from exc
    assert last is not None
    raise RemoteError(f"{what} {url} failed while downloading: {_reason(last)}") from last
