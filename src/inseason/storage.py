"""Where tables and images live: plain paths, ``file://`` URIs and ``s3://bucket/key`` objects (DESIGN §2).

Tables go through pyarrow filesystems; COGs go through GDAL (``/vsis3/``) with a rasterio AWS session.
S3 settings come from the standard AWS environment and config, read by boto3: credentials
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/credentials``), the region
(``AWS_REGION``), an endpoint override for S3-compatible stores (``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``, or ``endpoint_url`` in the profile). Secrets never appear in a repr, a log line or an
error message.

Credentials go per direction. The scenes' files (the inputs: COGs of a public archive) are read as an
:class:`InputAccess` says: anonymously (``--no-sign-request``, or ``AWS_NO_SIGN_REQUEST=YES``, which applies
to these reads only), with ``AWS_REQUEST_PAYER=requester`` for a requester-pays bucket, and with signed hrefs
on Planetary Computer (:mod:`inseason.sources.access`). Everything else (the tables and folders a run reads
and writes, its maps) goes through the normal credential chain even when ``AWS_NO_SIGN_REQUEST`` is set, so
public COGs and a private output bucket work in one run; only without any credentials does
``AWS_NO_SIGN_REQUEST=YES`` make those requests anonymous too (a public bucket's tables).

On S3 an object becomes visible only when its upload completes, so a plain write is already atomic; on
disk, writers go through a temporary name and a rename: :func:`atomic_path` is the one way to do that.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions
import pyarrow.fs as pafs
import rasterio
from botocore import UNSIGNED
from rasterio.session import AWSSession

from inseason.errors import InputError, OutputError

S3 = "s3://"
FILE = "file://"


def is_s3(uri: str | os.PathLike[str]) -> bool:
    """Whether ``uri`` is an ``s3://bucket/key`` URI.

    Args:
        uri: a path or URI.

    Returns:
        True for an ``s3://`` URI.
    """
    return str(uri).startswith(S3)


def local_path(uri: str | os.PathLike[str]) -> Path:
    """The file system path of a plain path or ``file://`` URI.

    Args:
        uri: a path or ``file://`` URI.

    Returns:
        The local path.

    Raises:
        InputError: ``uri`` is an ``s3://`` or ``http(s)://`` URI, not on the local disk.
    """
    text = str(uri)
    if is_s3(text) or text.startswith(("http://", "https://")):
        raise InputError(f"{text} is not on the local disk: give a folder path here")
    return Path(text.removeprefix(FILE))


def join_uri(base: str | os.PathLike[str], *parts: str) -> str:
    """``base`` followed by ``parts``, with ``/`` between them, keeping the ``s3://`` form of an S3 base.

    Args:
        base: a folder path, ``file://`` URI or ``s3://`` prefix.
        *parts: the names to append.

    Returns:
        The joined URI (a plain path for a local base).
    """
    if is_s3(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return str(local_path(base).joinpath(*parts))


def folder_uri(folder: str | os.PathLike[str]) -> str:
    """A folder as one names it in a run: an ``s3://`` prefix without a trailing ``/``, a local path absolute.

    Args:
        folder: a folder path, ``file://`` URI or ``s3://`` prefix.

    Returns:
        The ``s3://`` prefix, or the absolute local path.
    """
    return str(folder).rstrip("/") if is_s3(folder) else str(local_path(folder).absolute())


def split_s3(uri: str) -> tuple[str, str]:
    """The bucket and key of an ``s3://`` URI.

    Args:
        uri: an ``s3://bucket/key`` URI.

    Returns:
        ``(bucket, key)``, the key without leading or trailing ``/``.

    Raises:
        InputError: ``uri`` is not an ``s3://`` URI or names no bucket.
    """
    bucket, _, key = uri.removeprefix(S3).partition("/")
    if not is_s3(uri) or not bucket:
        raise InputError(f"{uri} is not an s3://bucket/key URI: write it as s3://BUCKET/PATH")
    return bucket, key.strip("/")


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3: region, optional endpoint override, and credentials (hidden from repr)."""

    region: str
    endpoint_url: str | None
    unsigned: bool
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def endpoint_host(self) -> str | None:
        """``host:port`` of the endpoint override (what pyarrow and GDAL want), or None for AWS itself."""
        return urlsplit(self.endpoint_url).netloc if self.endpoint_url else None

    @property
    def https(self) -> bool:
        """Whether the endpoint speaks HTTPS (AWS always does; a loopback server usually does not)."""
        return self.endpoint_url is None or urlsplit(self.endpoint_url).scheme != "http"


def _endpoint_url(session: boto3.Session) -> str | None:
    """The S3 endpoint override from the environment or the profile, as the AWS SDKs look for it."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name]
    config = session._session.get_scoped_config()  # the profile's section of ~/.aws/config
    nested = config.get("s3")
    if isinstance(nested, dict) and nested.get("endpoint_url"):
        return str(nested["endpoint_url"])
    return str(config["endpoint_url"]) if config.get("endpoint_url") else None


def env_no_sign_request() -> bool:
    """Whether ``AWS_NO_SIGN_REQUEST`` asks for anonymous requests (``YES``, ``TRUE``, ``ON`` or ``1``).

    Returns:
        True when the variable is set to a true value.
    """
    return os.environ.get("AWS_NO_SIGN_REQUEST", "").strip().upper() in {"YES", "TRUE", "ON", "1"}


def s3_settings(*, unsigned: bool = False) -> S3Settings:
    """S3 settings from the standard AWS environment and config.

    Credentials come from the normal chain whenever there are some, also with ``AWS_NO_SIGN_REQUEST=YES``
    (which is meant for the inputs: :class:`InputAccess`); without any, that variable makes the requests
    anonymous.

    Args:
        unsigned: anonymous requests whatever the credentials (the input reads of ``--no-sign-request``).

    Returns:
        The region, endpoint override and credentials (none for anonymous requests).

    Raises:
        InputError: no credentials are configured and unsigned requests were not asked for.
    """
    session = boto3.Session()
    endpoint = _endpoint_url(session)
    region = session.region_name or "us-east-1"
    if unsigned:
        return S3Settings(region=region, endpoint_url=endpoint, unsigned=True)
    credentials = session.get_credentials()
    if credentials is None:
        if env_no_sign_request():
            return S3Settings(region=region, endpoint_url=endpoint, unsigned=True)
        raise InputError(
            "no AWS credentials for s3:// paths: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE), or AWS_NO_SIGN_REQUEST=YES for a public bucket"
        )
    frozen = credentials.get_frozen_credentials()
    return S3Settings(
        region=region,
        endpoint_url=endpoint,
        unsigned=False,
        access_key=frozen.access_key,
        secret_key=frozen.secret_key,
        session_token=frozen.token,
    )


@lru_cache(maxsize=4)
def _s3_filesystem(settings: S3Settings) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        session_token=settings.session_token,
        anonymous=settings.unsigned,
        region=settings.region,
        endpoint_override=settings.endpoint_host,
        scheme="https" if settings.https else "http",
    )


def filesystem(uri: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for ``uri`` and the path to give it.

    Args:
        uri: a path, ``file://`` URI or ``s3://bucket/key``.

    Returns:
        ``(filesystem, path)``: the path is ``bucket/key`` on S3, absolute on the local disk.
    """
    if is_s3(uri):
        bucket, key = split_s3(str(uri))
        return _s3_filesystem(s3_settings()), f"{bucket}/{key}".rstrip("/")
    return pafs.LocalFileSystem(), str(local_path(uri).absolute())


def check_bucket(uri: str) -> None:
    """Refuse, in one line, an ``s3://`` URI whose bucket does not exist or cannot be reached.

    Args:
        uri: an ``s3://bucket/key`` URI.

    Raises:
        InputError: the bucket does not exist or cannot be reached (endpoint, region, credentials).
    """
    bucket, _ = split_s3(uri)
    fs, _ = filesystem(uri)
    try:
        info = fs.get_file_info(bucket)
    except OSError as exc:
        raise InputError(
            f"S3 bucket {bucket} of {uri} cannot be reached ({exc}): check the endpoint "
            "(AWS_ENDPOINT_URL), the region and the credentials"
        ) from None
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"S3 bucket {bucket} of {uri} does not exist: create it or fix the URI")


def exists(uri: str | os.PathLike[str]) -> bool:
    """Whether a file (or object) exists at ``uri``.

    Args:
        uri: a path, ``file://`` URI or ``s3://bucket/key``.

    Returns:
        True when a file (not a folder) is there.
    """
    fs, path = filesystem(uri)
    return bool(fs.get_file_info(path).type == pafs.FileType.File)


def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    """The whole content of the file at ``uri``.

    Args:
        uri: a path, ``file://`` URI or ``s3://bucket/key``.

    Returns:
        The file's bytes.
    """
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read())


def _temporary_path(target: Path, *, suffix: str = "") -> Path:
    """The dot name with the process id (``.NAME.tmp-PID``) next to ``target`` that a writer fills first."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}{suffix}")


def _remove(path: Path) -> None:
    """Delete a file or a folder at ``path``; nothing happens when it is absent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _upload(path: str | os.PathLike[str], uri: str | os.PathLike[str]) -> None:
    """Stream the local file ``path`` to the ``s3://`` object ``uri`` (visible once the upload completes)."""
    fs, where = filesystem(uri)
    with open(path, "rb") as src, fs.open_output_stream(where) as dst:
        shutil.copyfileobj(src, dst, 8 << 20)


def _publish(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` onto ``target``; a folder replaces an existing folder (the old one moved aside first)."""
    if tmp.is_dir() and target.is_dir():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        _remove(old)
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old)
    else:
        tmp.replace(target)


@contextmanager
def atomic_path(uri: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """A temporary local path to write ``uri``'s content to, published whole when the block succeeds.

    On disk the path is a dot name with the process id next to the target (``.NAME.tmp-PID``, which the
    readers of output folders skip; the target's folder is created), renamed onto the target at the end of
    the block, so readers see the old content or the new, never a part of it. A folder written there
    replaces the target folder (the old one is moved aside, then deleted). For an ``s3://`` URI the path
    lies in a local temporary folder and is uploaded at the end of the block, then deleted. When the block
    raises, the temporary is deleted, the target is left as it was, and the exception goes on (an OS error of
    the temporary, such as a full disk, names the target instead); a block that leaves nothing at the path
    also leaves the target as it was.

    Args:
        uri: the final path, ``file://`` URI or ``s3://bucket/key``.
        suffix: appended to the temporary name (for writers that pick a format from the extension).

    Yields:
        The temporary local path (absent at first) to write.
    """
    if is_s3(uri):
        name = split_s3(str(uri))[1].rpartition("/")[2] or "object"
        folder = Path(tempfile.mkdtemp(prefix=".inseason-upload-"))
        try:
            tmp = folder / f"{name}{suffix}"
            yield tmp
            if tmp.is_file():
                _upload(tmp, uri)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    target = local_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_path(target, suffix=suffix)
    _remove(tmp)  # a leftover of an earlier process with the same id
    try:
        yield tmp
        if tmp.exists():
            _publish(tmp, target)
    except OSError as exc:
        # a full disk or a refused write of the temporary is reported with the file the user asked for
        if exc.errno is not None and (exc.filename is None or str(tmp) in str(exc.filename)):
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise
    finally:
        _remove(tmp)


def write_bytes(uri: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` at ``uri`` so that readers see the old content or the new, never a part of it.

    Args:
        uri: a path, ``file://`` URI or ``s3://bucket/key``.
        data: the whole new content.
    """
    with atomic_path(uri) as tmp:
        tmp.write_bytes(data)


def put_file(path: str | os.PathLike[str], uri: str | os.PathLike[str]) -> None:
    """Copy the local file ``path`` to ``uri``, streamed, so that readers see it whole or not at all.

    Args:
        path: the local file to copy.
        uri: where the copy goes: a path, ``file://`` URI or ``s3://bucket/key``.
    """
    if is_s3(uri):
        _upload(path, uri)  # an object is visible only once its upload completes: no temporary needed
        return
    with atomic_path(uri) as tmp:
        shutil.copyfile(path, tmp)


def append_line(uri: str | os.PathLike[str], line: str) -> None:
    """Append one line to a text file; on S3 (no appends there) the object is rewritten whole.

    Only one writer may append to a given file (the driver of a stage, never its workers).

    Args:
        uri: a path, ``file://`` URI or ``s3://bucket/key``.
        line: the line, without its newline.
    """
    if is_s3(uri):
        previous = read_bytes(uri) if exists(uri) else b""
        write_bytes(uri, previous + line.encode() + b"\n")
        return
    path = local_path(uri)
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def list_files(uri: str | os.PathLike[str], *, suffix: str = "") -> list[str]:
    """URIs of the files under the folder (or prefix) ``uri`` whose names end with ``suffix``.

    Args:
        uri: a folder path, ``file://`` URI or ``s3://`` prefix (absent: no files).
        suffix: the ending the names must have (``.parquet``); empty for every file.

    Returns:
        The files' URIs (``s3://`` ones on S3, absolute paths on disk), sorted, subfolders included; the
        output lock (:data:`LOCK_NAME`) is not one of them.
    """
    fs, path = filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    found = [
        i.path
        for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(suffix) and not i.base_name.endswith(LOCK_NAME)
    ]
    if is_s3(uri):
        return sorted(S3 + p for p in found)
    return sorted(found)


def remove_file(uri: str | os.PathLike[str]) -> None:
    """Delete the file (or object) ``uri``; nothing happens when it is absent.

    Args:
        uri: a path, ``file://`` URI or ``s3://bucket/key``.
    """
    if not is_s3(uri):
        local_path(uri).unlink(missing_ok=True)
        return
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.File:
        fs.delete_file(path)


def remove_tree(uri: str | os.PathLike[str]) -> None:
    """Delete the folder (or every object under the prefix) ``uri``; nothing happens when it is absent.

    Args:
        uri: a folder path, ``file://`` URI or ``s3://`` prefix.
    """
    if not is_s3(uri):
        shutil.rmtree(local_path(uri), ignore_errors=True)
        return
    fs, path = filesystem(uri)
    if fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)):
        fs.delete_dir(path)


def gdal_path(href: str) -> str:
    """What GDAL opens for an asset href.

    Args:
        href: a path, ``file://``, ``s3://`` or ``http(s)://`` href.

    Returns:
        A local path for ``file://``, ``/vsis3/bucket/key`` for ``s3://``, anything else unchanged.
    """
    if href.startswith(FILE):
        return href.removeprefix(FILE)
    if is_s3(href):
        return "/vsis3/" + href.removeprefix(S3)
    return href


#: The signing methods of :attr:`InputAccess.signing` (None: hrefs are read as they are).
SIGNING_METHODS: tuple[str, ...] = ("planetary-computer",)


@dataclass(frozen=True)
class InputAccess:
    """How the scenes' files (the inputs) are read; recorded in the scene manifest, so it is set once.

    Attributes:
        no_sign_request: anonymous S3 requests (a public bucket), whatever the credentials; the outputs still
            use the normal credential chain. ``AWS_NO_SIGN_REQUEST=YES`` asks the same for input reads.
        requester_pays: S3 requests carry ``x-amz-request-payer: requester`` (the reader pays the transfer);
            they are signed, also with ``AWS_NO_SIGN_REQUEST=YES``.
        signing: how hrefs are signed before each open: None (as they are) or ``"planetary-computer"``
            (a SAS token from Planetary Computer's token endpoint, :mod:`inseason.sources.access`).
    """

    no_sign_request: bool = False
    requester_pays: bool = False
    signing: str | None = None

    def __post_init__(self) -> None:
        """Refuse an unknown signing method, and anonymous requester-pays reads."""
        if self.no_sign_request and self.requester_pays:
            raise InputError(
                "--no-sign-request and --requester-pays exclude each other: a requester-pays bucket bills the "
                "signed-in reader, so its reads need credentials; give one of them"
            )
        if self.signing is not None and self.signing not in SIGNING_METHODS:
            raise InputError(
                f"unknown signing {self.signing!r} of the scene inputs: use one of {', '.join(SIGNING_METHODS)} or none"
            )

    @property
    def unsigned(self) -> bool:
        """Whether S3 input reads are anonymous: asked for, or by ``AWS_NO_SIGN_REQUEST`` without requester pays."""
        return self.no_sign_request or (env_no_sign_request() and not self.requester_pays)

    def to_json(self) -> str:
        """The settings as one line of JSON (what the scene manifest records).

        Returns:
            ``{"no_sign_request": ..., "requester_pays": ..., "signing": ...}``, keys sorted.
        """
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str = "scene manifest") -> InputAccess:
        """The settings :meth:`to_json` wrote.

        Args:
            text: the JSON.
            where: what holds it, for the message.

        Returns:
            The settings (keys it lacks take their defaults).

        Raises:
            InputError: the JSON is malformed, holds unknown keys or values of the wrong type.
        """
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or set(doc) - {"no_sign_request", "requester_pays", "signing"}:
                raise ValueError(f"unexpected keys in {doc!r}")
            access = cls(**doc)
            if not isinstance(access.no_sign_request, bool) or not isinstance(access.requester_pays, bool):
                raise ValueError("no_sign_request and requester_pays must be true or false")
            if access.signing is not None and not isinstance(access.signing, str):
                raise ValueError("signing must be a name or null")
        except (ValueError, TypeError, InputError) as exc:
            raise InputError(
                f"{where} records unreadable input access settings ({exc}): rebuild it with `inseason scenes`"
            ) from None
        return access


def gdal_env(hrefs: Iterable[str] = (), *, access: InputAccess | None = None, **options: object) -> rasterio.Env:
    """A rasterio environment with ``options`` that can also open the ``s3://`` ones among ``hrefs``.

    Credentials go to GDAL through a rasterio AWS session (rasterio refuses keys given as plain options);
    an endpoint override switches to path-style requests, over HTTP when the endpoint says ``http://``.
    With ``access`` (reads of the scenes' files) S3 requests are anonymous when it says so
    (:attr:`InputAccess.unsigned`) and carry the requester-pays header when asked; without it (the project's
    own files) they use the normal credential chain, and ``AWS_NO_SIGN_REQUEST`` in the environment is
    overridden whenever credentials exist.

    Args:
        hrefs: the hrefs that will be opened (S3 settings are read only when one is ``s3://``).
        access: how the inputs are read; None for files that are not scene inputs.
        **options: GDAL configuration options.

    Returns:
        The environment, to enter around the reads.

    Raises:
        InputError: an href is on S3 and no AWS credentials are configured.
    """
    if access is not None and access.requester_pays:
        options = {"AWS_REQUEST_PAYER": "requester", **options}
    if not any(is_s3(h) for h in hrefs):
        return rasterio.Env(**options)
    settings = s3_settings(unsigned=access is not None and access.unsigned)
    session = AWSSession(
        aws_unsigned=settings.unsigned,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token,
        region_name=settings.region,
        endpoint_url=settings.endpoint_host,
        requester_pays=access is not None and access.requester_pays,
    )
    if not settings.unsigned:  # GDAL would otherwise read AWS_NO_SIGN_REQUEST from the environment itself
        options = {"AWS_NO_SIGN_REQUEST": "NO", **options}
    if settings.endpoint_url is not None:
        options = {"AWS_VIRTUAL_HOSTING": "FALSE", "AWS_HTTPS": "YES" if settings.https else "NO", **options}
    return rasterio.Env(session=session, **options)


@contextmanager
def open_raster(
    href: str | os.PathLike[str], *, access: InputAccess | None = None, **options: object
) -> Iterator[rasterio.DatasetReader]:
    """Open one raster by path or href (``s3://`` through GDAL's ``/vsis3/``), in its own `gdal_env`.

    Hrefs are opened as they are: a scene's file that may need signing goes through
    :func:`inseason.sources.access.open_input`.

    Args:
        href: a path, ``file://``, ``s3://`` or ``http(s)://`` href.
        access: how inputs are read (:func:`gdal_env`); None for the project's own files.
        **options: GDAL configuration options for the read.

    Yields:
        The open dataset.

    Raises:
        InputError: the href is on S3 and no AWS credentials are configured (rasterio's own errors, e.g.
            RasterioIOError for a missing or unreadable file, pass through).
    """
    text = str(href)
    with gdal_env([text], access=access, **options), rasterio.open(gdal_path(text)) as ds:
        yield ds


#: The output lock's file name inside an output folder (a dot name: listings and viewers skip it); the lock of
#: one output file ``NAME`` is ``.NAME`` followed by this.
LOCK_NAME = ".inseason.lock"

_TEMPORARY = re.compile(r"^\..+\.(?:tmp|old|spill)-(\d+)")
_held: dict[tuple[str, str | None], int] = {}  # (folder, file name) this process holds -> nesting depth


@dataclass(frozen=True)
class LockHolder:
    """Who holds an output folder: the run's verb, process id and host, when it started, and a unique token."""

    verb: str
    pid: int
    host: str
    started: str
    token: str
    process_start: str | None = None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), telling a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _pid_alive(pid: int, process_start: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, or a reused pid that started later, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    if state == "Z":
        return False
    return process_start is None or _process_start(pid) in (None, process_start)


def _is_stale(holder: LockHolder) -> bool:
    """Whether a lock was left by a run that is gone: one of this host whose process no longer runs."""
    return holder.host == socket.gethostname() and not _pid_alive(holder.pid, holder.process_start)


def _parse_holder(data: bytes) -> LockHolder | None:
    """The holder recorded in a lock file, or None when it cannot be read (a foreign or damaged file)."""
    try:
        doc = json.loads(data)
        return LockHolder(
            verb=str(doc["verb"]),
            pid=int(doc["pid"]),
            host=str(doc["host"]),
            started=str(doc["started"]),
            token=str(doc["token"]),
            process_start=None if doc.get("process_start") is None else str(doc["process_start"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _held_error(folder: str, lock: str, holder: LockHolder | None) -> OutputError:
    """The one-line error for a folder another run writes."""
    if holder is None:
        return OutputError(
            f"{folder} is locked by another run ({lock} cannot be read): if no run writes there, delete {lock}"
        )
    return OutputError(
        f"{folder} is being written by another run (inseason {holder.verb}, pid {holder.pid} on {holder.host}, "
        f"since {holder.started}): wait for it to finish, or write elsewhere; if that run is gone, delete {lock}"
    )


def remove_stale_temporaries(folder: str | os.PathLike[str], *, name: str | None = None) -> list[Path]:
    """Delete the temporaries (``.NAME.tmp-PID``, ``.NAME.old-PID``, ``.NAME.spill-PID``) of killed writers.

    Only the temporaries under ``folder`` of processes that no longer run are deleted, so a live writer is
    never disturbed (``spill`` folders are a sort's overflow, e.g. DuckDB's ``temp_directory``).
    On S3 writers stage their files locally, so there is nothing to delete.

    Args:
        folder: a folder path, ``file://`` URI or ``s3://`` prefix.
        name: only the temporaries of the output file of this name (directly in ``folder``); None for all.

    Returns:
        The paths deleted.
    """
    if is_s3(folder):
        return []
    root = local_path(folder)
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.rglob(".*") if name is None else root.glob(f".{glob.escape(name)}.*")):
        match = _TEMPORARY.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            _remove(path)
            removed.append(path)
    return removed


def _new_holder(verb: str) -> LockHolder:
    """The record this process writes into a lock it takes."""
    return LockHolder(
        verb=verb,
        pid=os.getpid(),
        host=socket.gethostname(),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        token=uuid.uuid4().hex,
        process_start=_process_start(os.getpid()),
    )


def _lock_name(name: str | None) -> str:
    """The lock's file name: :data:`LOCK_NAME` for a folder, ``.NAME.inseason.lock`` for the output file NAME."""
    return LOCK_NAME if name is None else f".{name}{LOCK_NAME}"


def _acquire_local(folder: Path, holder: LockHolder, name: str | None = None) -> None:
    """Create the lock file in ``folder`` (made whole under a temporary name, then hard-linked into place)."""
    lock = folder / _lock_name(name)
    for _ in range(3):
        tmp = _temporary_path(lock)
        tmp.write_text(json.dumps(asdict(holder)))
        try:
            os.link(tmp, lock)  # fails when the lock exists: an atomic create-if-absent with whole content
            return
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        try:
            found = _parse_holder(lock.read_bytes())
        except FileNotFoundError:
            continue  # released meanwhile: try again
        if found is None or not _is_stale(found):
            raise _held_error(str(folder if name is None else folder / name), str(lock), found)
        stale = lock.with_name(f"{lock.name}.stale-{os.getpid()}")
        try:
            lock.rename(stale)  # one of several takers wins the rename; the others retry and find it taken
        except FileNotFoundError:
            continue
        stale.unlink(missing_ok=True)
    raise OutputError(f"{folder} is locked and unlocked by other runs in quick succession: try again")


def _first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (None: ``folder`` exists)."""
    missing = None
    while not folder.exists() and folder != folder.parent:
        missing, folder = folder, folder.parent
    return missing


def _remove_made(folder: Path, made: Path | None) -> None:
    """Delete ``folder`` and its parents up to ``made`` (the folders the lock created) while they are empty."""
    if made is None:
        return
    for path in (folder, *folder.parents):
        try:
            path.rmdir()
        except OSError:  # not empty: the run wrote there
            return
        if path == made:
            return


def _release_local(folder: Path, holder: LockHolder, name: str | None, *, made: Path | None) -> None:
    """Delete our lock file (never another run's), and the folders the lock made if they stayed empty."""
    lock = folder / _lock_name(name)
    try:
        found = _parse_holder(lock.read_bytes())
    except FileNotFoundError:
        found = None
    if found is not None and found.token == holder.token:
        lock.unlink(missing_ok=True)
    _remove_made(folder, made)


def _s3_client() -> Any:  # boto3 clients are generated at run time: no static type to give
    """A boto3 S3 client with the settings of :func:`s3_settings` (for conditional writes pyarrow lacks)."""
    settings = s3_settings()
    config = botocore.config.Config(
        signature_version=UNSIGNED if settings.unsigned else None,
        connect_timeout=10,
        read_timeout=30,
        retries={"max_attempts": 5, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token,
        config=config,
    )


def _acquire_s3(folder: str, holder: LockHolder, name: str | None = None) -> None:
    """Create the lock object under the ``s3://`` prefix with a conditional put (``If-None-Match: *``)."""
    bucket, key = split_s3(join_uri(folder, _lock_name(name)))
    client = _s3_client()
    for _ in range(3):
        try:
            client.put_object(Bucket=bucket, Key=key, Body=json.dumps(asdict(holder)).encode(), IfNoneMatch="*")
            return
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}:
                raise OutputError(f"cannot lock {folder} ({code or exc}): check the bucket and credentials") from None
        try:
            found = _parse_holder(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except botocore.exceptions.ClientError:
            continue  # released meanwhile: try again
        if found is None or not _is_stale(found):
            raise _held_error(folder if name is None else join_uri(folder, name), f"s3://{bucket}/{key}", found)
        client.delete_object(Bucket=bucket, Key=key)
    raise OutputError(f"{folder} is locked and unlocked by other runs in quick succession: try again")


def _release_s3(folder: str, holder: LockHolder, name: str | None) -> None:
    """Delete our lock object (never another run's)."""
    bucket, key = split_s3(join_uri(folder, _lock_name(name)))
    client = _s3_client()
    try:
        found = _parse_holder(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except botocore.exceptions.ClientError:
        return
    if found is not None and found.token == holder.token:
        client.delete_object(Bucket=bucket, Key=key)


@contextmanager
def output_lock(folder: str | os.PathLike[str], *, verb: str, file: bool = False) -> Iterator[None]:
    """Hold ``folder`` as this run's output for the block: one writer per output folder, on disk and on S3.

    The lock is the file :data:`LOCK_NAME` in the folder, holding the run's verb, process id, host and start
    time. A second run into the same folder fails at once with a line naming the holder, instead of both
    writing. A lock left by a killed run of this host (its process is gone) is taken over; one of another host
    cannot be checked and must be deleted by hand (the error says which file). On S3 the lock object is
    created with a conditional put, so two hosts cannot both take it. Within one process the lock is
    re-entrant (a stage run inside ``demo`` locks its own folder). When the lock is taken, temporaries of
    killed writers (:func:`remove_stale_temporaries`) are deleted; when the block ends, the lock is deleted,
    and so are the folders the lock created if nothing was written there.

    A stage whose output is one file (a table) locks that file instead (``file=True``): the lock is then
    ``.NAME.inseason.lock`` beside it, so runs writing other files of the same folder do not collide, and
    only the temporaries of that file are deleted.

    Take it after the inputs and settings are validated and before the first write.

    Args:
        folder: the output folder (or, with ``file``, the output file): a path, ``file://`` URI or ``s3://``
            URI.
        verb: the stage that writes (``extract``), shown to a run that finds the folder held.
        file: ``folder`` names one output file rather than a folder.

    Yields:
        Nothing; the folder is held until the block ends.

    Raises:
        OutputError: another live run holds the folder, or the folder cannot be created or written.
    """
    key = folder_uri(folder)
    name: str | None = None
    if file:
        key, _, name = key.rpartition("/")
    if (key, name) in _held:
        _held[key, name] += 1
        try:
            yield
        finally:
            _held[key, name] -= 1
        return
    holder = _new_holder(verb)
    made: Path | None = None
    if is_s3(key):
        _acquire_s3(key, holder, name)
    else:
        path = Path(key)
        made = _first_missing(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            _acquire_local(path, holder, name)
        except OSError as exc:
            _remove_made(path, made)
            raise OutputError(
                f"cannot write {key}: {os.strerror(exc.errno or errno.EIO).lower()}: check its permissions and "
                "free space, or choose another output"
            ) from None
        except OutputError:
            _remove_made(path, made)
            raise
        remove_stale_temporaries(path, name=name)
    _held[key, name] = 1
    try:
        yield
    finally:
        del _held[key, name]
        if is_s3(key):
            _release_s3(key, holder, name)
        else:
            _release_local(Path(key), holder, name, made=made)
