"""Reading the scenes' files: anonymous and requester-pays S3 reads, and Planetary Computer's signed hrefs.

The settings live in one frozen, picklable :class:`~inseason.storage.InputAccess`: ``inseason scenes`` builds
it (:func:`input_access`) and records it in the scene manifest (:func:`access_metadata`), and ``extract`` and
``predict`` read it back (:func:`manifest_access`), so a user sets it once. Every reader of a scene's file goes
through :func:`open_input` (or :func:`input_path` inside a :func:`~inseason.storage.gdal_env` of the same
access), which signs the href at open time: a token fetched when a job starts would expire during a long
one, and the manifest keeps the unsigned hrefs.

Planetary Computer keeps its COGs on Azure Blob Storage, readable with a SAS token per storage account and
container. The token comes from ``{sas_url}/{account}/{container}`` (``sas_url`` is
:data:`DEFAULT_SAS_URL`, or ``PC_SDK_SAS_URL``; a ``PC_SDK_SUBSCRIPTION_KEY`` goes along as the
``Ocp-Apim-Subscription-Key`` header), which answers ``{"msft:expiry": "...Z", "token": "se=...&sig=..."}``;
tokens are cached per process and container until a minute before they expire. Account and container are
read from ``https://{account}.blob.core.windows.net/{container}/...``, or, for a host that is an IP address
or ``localhost`` (Azurite, the loopback tests), from ``http://host:port/{account}/{container}/...``; hrefs
on other hosts, and hrefs that already carry a SAS (``sig=``), are left as they are. Tokens never appear in
messages (:func:`redact`).

The ``planetary-computer`` package does the same signing but is not a dependency: its token requests have no
timeout and no retries, and every remote call here has both (:func:`inseason.sources.http.make_session`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import rasterio
import requests
from rasterio.errors import RasterioError, RasterioIOError

from inseason.errors import InputError, RemoteError
from inseason.sources.http import RetryCounter, fetch, make_session
from inseason.storage import SIGNING_METHODS, InputAccess, env_no_sign_request, gdal_env, gdal_path, is_s3

__all__ = [
    "ACCESS_METADATA",
    "DEFAULT_SAS_URL",
    "PLANETARY_COMPUTER",
    "REFRESH_MARGIN_S",
    "SIGN_CHOICES",
    "InputAccess",
    "SasSigner",
    "SigningError",
    "access_hint",
    "access_metadata",
    "blob_container",
    "default_access",
    "detect_signing",
    "input_access",
    "input_errors",
    "input_path",
    "manifest_access",
    "open_input",
    "redact",
    "refused",
    "sign_href",
]

#: The signing method of Planetary Computer's hrefs.
PLANETARY_COMPUTER = "planetary-computer"
#: The choices of ``inseason scenes --sign``: detect from the hrefs, Planetary Computer, or no signing.
SIGN_CHOICES: tuple[str, ...] = ("auto", PLANETARY_COMPUTER, "none")
#: Planetary Computer's SAS token endpoint (``PC_SDK_SAS_URL`` overrides it, as in the planetary-computer package).
DEFAULT_SAS_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"
#: The scene manifest's schema metadata name of the access settings (``inseason:`` is prefixed on writing).
ACCESS_METADATA = "input_access"
#: A cached token is fetched again this many seconds before it expires.
REFRESH_MARGIN_S = 60.0

_BLOB_HOST = ".blob.core.windows.net"
_SIG = re.compile(r"(?i)\b(sig=)[A-Za-z0-9%+/=_.~-]+")
_REFUSED = re.compile(
    r"HTTP (?:response |error )?code:? (?:401|403)\b|\b(?:401|403)\b.*(?:forbidden|unauthori[sz]ed)|access ?denied"
    r"|AuthenticationFailed|AuthorizationFailure|PublicAccessNotPermitted|NoAuthenticationInformation"
    r"|InvalidAccessKeyId|SignatureDoesNotMatch",
    re.IGNORECASE,
)


class SigningError(RemoteError):
    """An href could not be signed: the token endpoint failed or refused (not retried as a read fault)."""


def redact(text: str) -> str:
    """``text`` with every SAS signature (``sig=...``) hidden, for messages and logs.

    Args:
        text: a message that may hold a signed URL.

    Returns:
        The text with ``sig=REDACTED``.
    """
    return _SIG.sub(r"\1REDACTED", text)


def _is_ip_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def blob_container(href: str) -> tuple[str, str] | None:
    """The Azure storage account and container of a blob href, or None for an href elsewhere.

    Args:
        href: an ``https://{account}.blob.core.windows.net/{container}/...`` href, or a path-style
            ``http://{ip or localhost}:{port}/{account}/{container}/...`` one (Azurite's convention).

    Returns:
        ``(account, container)``, or None when ``href`` is not on blob storage.
    """
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if parts.hostname.endswith(_BLOB_HOST):
        account = parts.hostname.removesuffix(_BLOB_HOST)
        return (account, segments[0]) if account and len(segments) >= 2 else None
    if _is_ip_host(parts.hostname) and len(segments) >= 3:
        return segments[0], segments[1]
    return None


def detect_signing(hrefs: Iterable[str]) -> str | None:
    """The signing the hrefs need: Planetary Computer's for hrefs on Azure Blob Storage, else none.

    Args:
        hrefs: the scenes' hrefs.

    Returns:
        ``"planetary-computer"`` when one href is on ``*.blob.core.windows.net``, else None.
    """
    for href in hrefs:
        host = urlsplit(href).hostname or ""
        if host.endswith(_BLOB_HOST):
            return PLANETARY_COMPUTER
    return None


def input_access(
    *, no_sign_request: bool = False, requester_pays: bool = False, sign: str = "auto", hrefs: Iterable[str] = ()
) -> InputAccess:
    """The access settings of ``inseason scenes``: its flags, the environment, and the signing the hrefs need.

    Args:
        no_sign_request: ``--no-sign-request`` (``AWS_NO_SIGN_REQUEST=YES`` counts as given, unless
            ``requester_pays``).
        requester_pays: ``--requester-pays`` (``AWS_REQUEST_PAYER=requester`` counts as given).
        sign: ``--sign``: ``"auto"`` (:func:`detect_signing` on ``hrefs``), ``"planetary-computer"`` or ``"none"``.
        hrefs: the scenes' hrefs, for ``"auto"``.

    Returns:
        The settings to read the scenes with and to record in the manifest.

    Raises:
        InputError: ``sign`` is not one of :data:`SIGN_CHOICES`, or both ``no_sign_request`` and
            ``requester_pays`` are asked for.
    """
    if sign not in SIGN_CHOICES:
        raise InputError(f"--sign {sign!r} is not one of {', '.join(SIGN_CHOICES)}")
    signing = detect_signing(hrefs) if sign == "auto" else None if sign == "none" else sign
    return InputAccess(
        no_sign_request=no_sign_request or (env_no_sign_request() and not requester_pays),
        requester_pays=requester_pays or os.environ.get("AWS_REQUEST_PAYER", "").strip().lower() == "requester",
        signing=signing,
    )


def default_access(hrefs: Iterable[str] = ()) -> InputAccess:
    """The access of a reader given none: the environment's (``AWS_NO_SIGN_REQUEST``) and the signing ``hrefs`` need.

    Args:
        hrefs: the hrefs that will be read.

    Returns:
        ``InputAccess(signing=detect_signing(hrefs))``.
    """
    return InputAccess(signing=detect_signing(hrefs))


def access_metadata(access: InputAccess) -> dict[str, str]:
    """The scene manifest's metadata entry of ``access``, for ``inseason.tables.write_table(metadata=...)``.

    Args:
        access: the settings the scenes were found with.

    Returns:
        ``{"input_access": JSON}`` (written as ``inseason:input_access``).
    """
    return {ACCESS_METADATA: access.to_json()}


def manifest_access(table: pa.Table, *, where: str = "scene manifest") -> InputAccess:
    """The access settings a scene manifest records; for a manifest without them, the signing its hrefs need.

    Args:
        table: the scene manifest, as read (its schema metadata is kept).
        where: the manifest's name in messages (its path).

    Returns:
        The recorded settings, or (an older manifest) defaults with :func:`detect_signing` of its hrefs.

    Raises:
        InputError: the recorded settings are unreadable.
    """
    raw = (table.schema.metadata or {}).get(f"inseason:{ACCESS_METADATA}".encode())
    if raw is not None:
        return InputAccess.from_json(raw, where=where)
    hrefs: list[str] = []
    if "hrefs" in table.schema.names:
        for assets in table.column("hrefs").to_pylist():
            hrefs.extend(dict(assets or {}).values())
    return default_access(hrefs)


@dataclass(frozen=True)
class _Token:
    token: str
    expires: float  # seconds since the epoch


def _parse_expiry(text: object) -> float:
    if not isinstance(text, str):
        raise ValueError("no msft:expiry")
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


class SasSigner:
    """Signs blob hrefs with SAS tokens of Planetary Computer's token endpoint, cached per container.

    Thread-safe: threads needing the same container's token wait for one request.

    Args:
        sas_url: the token endpoint (None: ``PC_SDK_SAS_URL``, else :data:`DEFAULT_SAS_URL`).
        subscription_key: sent as ``Ocp-Apim-Subscription-Key`` (None: ``PC_SDK_SUBSCRIPTION_KEY``, if set).
        session: the HTTP session (None: :func:`~inseason.sources.http.make_session`, with timeouts and retries).
        clock: the current time in seconds since the epoch (tests pass a fake one).
        margin_s: a token is fetched again this many seconds before it expires.
    """

    def __init__(
        self,
        *,
        sas_url: str | None = None,
        subscription_key: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self.sas_url = (sas_url or os.environ.get("PC_SDK_SAS_URL") or DEFAULT_SAS_URL).rstrip("/")
        key = subscription_key if subscription_key is not None else os.environ.get("PC_SDK_SUBSCRIPTION_KEY")
        self._headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
        self.session = session if session is not None else make_session(counter=RetryCounter())
        self.clock = clock
        self.margin_s = margin_s
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._lock = threading.Lock()
        self._fetching: dict[tuple[str, str], threading.Lock] = {}

    def token_url(self, account: str, container: str) -> str:
        """The URL the token of ``account``/``container`` is fetched from.

        Args:
            account: the storage account.
            container: the container.

        Returns:
            ``{sas_url}/{account}/{container}``.
        """
        return f"{self.sas_url}/{account}/{container}"

    def token(self, account: str, container: str) -> str:
        """A SAS token of ``account``/``container``: the cached one, or a new one when it is about to expire.

        Args:
            account: the storage account.
            container: the container.

        Returns:
            The token, a query string without ``?``.

        Raises:
            SigningError: the token endpoint failed after its retries, refused, or answered without a token.
        """
        key = (account, container)
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires - self.margin_s > self.clock():
                return cached.token
            fresh = self._fetch(account, container)
            self._tokens[key] = fresh
            return fresh.token

    def _fetch(self, account: str, container: str) -> _Token:
        url = self.token_url(account, container)
        fix = (
            "check the connection, set PC_SDK_SUBSCRIPTION_KEY if Planetary Computer asks for a key, or point "
            "PC_SDK_SAS_URL at a working token endpoint (or run `inseason scenes` with --sign none for public hrefs)"
        )
        try:
            response = fetch(url, session=self.session, headers=self._headers, what="SAS token request")
            doc: Any = response.json()
            token = doc["token"].lstrip("?")
            if not isinstance(token, str) or "sig=" not in token:
                raise ValueError("no signature in the token")
            expires = _parse_expiry(doc.get("msft:expiry"))
        except RemoteError as exc:
            raise SigningError(f"cannot sign the hrefs of {account}/{container}: {redact(str(exc))}: {fix}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SigningError(
                f"cannot sign the hrefs of {account}/{container}: the SAS token request {url} answered without "
                f"a usable token ({type(exc).__name__}: {redact(str(exc))}): {fix}"
            ) from None
        return _Token(token, expires)

    def sign(self, href: str) -> str:
        """``href`` with a SAS token of its container; hrefs off blob storage or already signed are returned as is.

        Args:
            href: the href.

        Returns:
            The signed href.

        Raises:
            SigningError: no token could be fetched.
        """
        where = blob_container(href)
        if where is None:
            return href
        query = urlsplit(href).query
        if "sig" in parse_qs(query):
            return href
        token = self.token(*where)
        return f"{href}{'&' if query else '?'}{token}"


_signers: dict[tuple[str | None, str | None], SasSigner] = {}
_signers_lock = threading.Lock()


def _signer() -> SasSigner:
    """This process's signer for the current ``PC_SDK_*`` settings (its tokens are kept between opens)."""
    key = (os.environ.get("PC_SDK_SAS_URL"), os.environ.get("PC_SDK_SUBSCRIPTION_KEY"))
    with _signers_lock:
        if key not in _signers:
            _signers[key] = SasSigner()
        return _signers[key]


def sign_href(href: str, access: InputAccess | None = None, *, signer: SasSigner | None = None) -> str:
    """``href`` signed as ``access`` says (the moment before it is opened: tokens expire).

    Args:
        href: a scene's href, as the manifest holds it.
        access: how inputs are read (None: the signing :func:`detect_signing` finds for ``href``).
        signer: the signer (None: this process's, with the ``PC_SDK_*`` settings).

    Returns:
        The href to open (unchanged without signing).

    Raises:
        SigningError: the href needs a token and none could be fetched.
    """
    signing = (access if access is not None else default_access([href])).signing
    if signing is None:
        return href
    if signing == PLANETARY_COMPUTER:
        return (signer or _signer()).sign(href)
    raise InputError(f"unknown signing {signing!r}: use one of {', '.join(SIGNING_METHODS)} or none")


def input_path(href: str, access: InputAccess | None = None, *, signer: SasSigner | None = None) -> str:
    """What GDAL opens for a scene's href: signed as ``access`` says, then :func:`~inseason.storage.gdal_path`.

    Open it inside ``gdal_env(hrefs, access=access)``; never show it in a message (it may hold a token).

    Args:
        href: a scene's href, as the manifest holds it.
        access: how inputs are read (None: the environment's, with the signing the href needs).
        signer: the signer (None: this process's).

    Returns:
        The path or URL to give ``rasterio.open``.

    Raises:
        SigningError: the href needs a token and none could be fetched.
    """
    return gdal_path(sign_href(href, access, signer=signer))


def refused(reason: str) -> bool:
    """Whether GDAL's words for a failed read say the server refused it (HTTP 401 or 403, access denied).

    Args:
        reason: GDAL's message (``inseason.extract.sample.gdal_reason``).

    Returns:
        True for a refusal: credentials, a signature or a requester-pays header are missing or wrong.
    """
    return _REFUSED.search(reason) is not None


def access_hint(href: str, reason: str, access: InputAccess | None = None) -> str:
    """One line saying that ``href`` refused the read and what to change.

    Args:
        href: the href as the manifest holds it (unsigned).
        reason: GDAL's words for the failure.
        access: how it was read (None: the environment's, with the signing the href needs).

    Returns:
        The message, tokens redacted.
    """
    access = access if access is not None else default_access([href])
    said = redact(reason)
    if blob_container(href) is not None:
        if access.signing is None:
            fix = (
                "hrefs on Azure Blob Storage (Planetary Computer) need a SAS token: run `inseason scenes` again "
                "with --sign planetary-computer (or --sign auto)"
            )
        else:
            fix = (
                "its SAS token was not accepted: check PC_SDK_SUBSCRIPTION_KEY and PC_SDK_SAS_URL, then run the "
                "same command again (tokens are fetched anew)"
            )
    elif is_s3(href):
        fix = (
            "for a public bucket run `inseason scenes` with --no-sign-request, for a requester-pays bucket with "
            "--requester-pays; otherwise check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID)"
        )
    else:
        fix = "the server wants credentials or a signed href: check that the scenes' hrefs are readable"
    return f"{href} refused the read ({said}): {fix}"


@contextmanager
def input_errors(href: str, access: InputAccess | None = None) -> Iterator[None]:
    """Within the block (opening and reading ``href``), a refused read becomes one line saying what to change.

    Other failures (rasterio's errors) pass through; one whose message holds a SAS token comes back as a
    ``RasterioIOError`` with the token hidden.

    Args:
        href: the href as the manifest holds it (unsigned).
        access: how it is read (None: the environment's, with the signing the href needs).

    Yields:
        Nothing.

    Raises:
        InputError: the server refused the read (HTTP 401 or 403: credentials, signing, requester pays).
    """
    try:
        yield
    except RasterioError as exc:
        text = "; ".join(dict.fromkeys(str(e) for e in _chain(exc) if str(e)))
        if refused(text):
            raise InputError(access_hint(href, text, access)) from None
        if redact(text) != text:
            raise RasterioIOError(redact(text)) from None
        raise


@contextmanager
def open_input(
    href: str, access: InputAccess | None = None, *, signer: SasSigner | None = None, **gdal_options: object
) -> Iterator[rasterio.DatasetReader]:
    """Open a scene's file as ``access`` says: anonymous or requester-pays on S3, signed on Planetary Computer.

    The href is signed now (tokens expire during long jobs), in its own :func:`~inseason.storage.gdal_env`;
    failures are reported as :func:`input_errors` says. A reader of many files opens them with
    :func:`input_path` inside one ``gdal_env(hrefs, access=access)`` and :func:`input_errors` instead.

    Args:
        href: the href as the manifest holds it (unsigned).
        access: how inputs are read (None: the environment's, with the signing the href needs).
        signer: the signer (None: this process's).
        **gdal_options: GDAL configuration options of the read.

    Yields:
        The open dataset.

    Raises:
        InputError: the server refused the read (credentials, signing, requester pays), or no AWS credentials
            are configured for an ``s3://`` href.
        SigningError: the href needs a token and none could be fetched.
    """
    access = access if access is not None else default_access([href])
    with (
        input_errors(href, access),
        gdal_env([href], access=access, **gdal_options),
        rasterio.open(input_path(href, access, signer=signer)) as ds,
    ):
        yield ds


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__
