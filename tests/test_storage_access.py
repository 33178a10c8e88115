"""Credentials per direction against the loopback S3 server: anonymous input reads (``--no-sign-request`` or
``AWS_NO_SIGN_REQUEST``) next to credentialed writes of the outputs, and requester-pays reads.

The loopback S3 server (moto) accepts any credentials (it refuses anonymous reads of objects that are not
public-read), so a gateway in front of it enforces the rest of what AWS does: the private bucket refuses
anonymous requests, the requester-pays bucket refuses requests without ``x-amz-request-payer: requester``, and
every request is recorded with whether it was signed.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from inseason import storage
from inseason.errors import InputError
from inseason.extract.sample import GDAL_COG_ENV
from inseason.sources.access import open_input
from inseason.storage import InputAccess
from inseason.testing.http_files import LoopbackServer, Reply
from inseason.testing.s3 import LoopbackS3

PUBLIC, PRIVATE, PAYER = "public-cogs", "private-out", "payer-cogs"
_DROP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "expect"}


@dataclass(frozen=True)
class Seen:
    method: str
    bucket: str
    signed: bool
    payer: bool
    status: int


def aws_unchunked(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """An ``aws-chunked`` upload body (chunks, then trailers) as a plain one, and its headers to match."""
    data, rest = [], body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            break
        data.append(rest[:size])
        rest = rest[size + 2 :]
    dropped = {"content-encoding", "x-amz-decoded-content-length", "x-amz-trailer", "x-amz-content-sha256"}
    return b"".join(data), {**{k: v for k, v in headers.items() if k.lower() not in dropped}}


class S3Gateway(LoopbackServer):
    """Forwards to the loopback S3 server, refusing what AWS refuses: anonymous requests to the private
    bucket, requests to the requester-pays bucket without the header."""

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = urlsplit(upstream)
        self.seen: list[Seen] = []

    def respond(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        bucket = path.strip("/").partition("/")[0]
        signed = "Authorization" in headers or "X-Amz-Signature" in query
        payer = headers.get("x-amz-request-payer", "").lower() == "requester"
        if (bucket == PRIVATE and not signed) or (bucket == PAYER and not payer):
            reply = Reply(
                403,
                {"Content-Type": "application/xml"},
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                b"<Message>Access Denied</Message></Error>",
            )
        else:
            conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
            try:
                forwarded = {k: v for k, v in headers.items() if k.lower() not in _DROP}
                if headers.get("Content-Encoding", "").lower() == "aws-chunked":
                    body, forwarded = aws_unchunked(body, forwarded)
                conn.request(method, quote(path) + (f"?{query}" if query else ""), body=body, headers=forwarded)
                answer = conn.getresponse()
                data = answer.read()
                kept = {k: v for k, v in answer.getheaders() if k.lower() not in _DROP}
                if method == "HEAD":  # the server announces the Content-Length of the body it does not send
                    data = bytes(int(answer.getheader("Content-Length") or 0))
                reply = Reply(answer.status, kept, data)
            finally:
                conn.close()
        self.seen.append(Seen(method, bucket, signed, payer, reply.status))
        return reply


@pytest.fixture
def gateway(s3: LoopbackS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Gateway]:
    """The gateway in front of the session's S3 server, a COG in each bucket, and the AWS endpoint at the gateway."""
    cog = tmp_path / "B04.tif"
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint16", "crs": "EPSG:32615"}
    with rasterio.open(
        cog, "w", **profile, transform=from_origin(500_000, 4_000_000, 10, 10), tiled=True, blockxsize=32, blockysize=32
    ) as ds:
        ds.write(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64), 1)
    client = s3.client()
    for bucket in (PUBLIC, PRIVATE, PAYER):
        s3.create_bucket(bucket)
        extra = {"ACL": "public-read"} if bucket != PRIVATE else {}  # moto refuses anonymous reads without it
        for key in ("tile/B04.tif", "other/B04.tif"):  # GDAL remembers a refused file: tries go to another
            client.upload_file(str(cog), bucket, key, ExtraArgs=extra)
    with S3Gateway(s3.endpoint_url) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url.rstrip("/"))
        monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "YES")  # a user reading public COGs, credentials set too
        yield server


def read_corner(href: str, access: InputAccess | None) -> list[int]:
    with open_input(href, access, **GDAL_COG_ENV) as ds:
        return [int(v) for v in ds.read(1)[0, :3]]


def test_anonymous_input_reads_while_outputs_are_written_with_credentials(gateway: S3Gateway) -> None:
    assert read_corner(f"s3://{PUBLIC}/tile/B04.tif", InputAccess(no_sign_request=True)) == [0, 1, 2]
    reads = [s for s in gateway.seen if s.bucket == PUBLIC]
    assert reads and not any(s.signed for s in reads)  # every input request anonymous
    gateway.seen.clear()
    out = f"s3://{PRIVATE}/run/summary.json"
    storage.write_bytes(out, b'{"ok": true}')  # AWS_NO_SIGN_REQUEST=YES does not make the write anonymous
    assert storage.read_bytes(out) == b'{"ok": true}'
    assert gateway.seen and all(s.signed and s.status < 400 for s in gateway.seen)
    assert storage.s3_settings().access_key == "loopback" and not storage.s3_settings().unsigned


def test_the_environment_variable_makes_input_reads_anonymous_and_own_reads_keep_credentials(
    gateway: S3Gateway,
) -> None:
    assert read_corner(f"s3://{PUBLIC}/tile/B04.tif", InputAccess()) == [0, 1, 2]  # AWS_NO_SIGN_REQUEST=YES
    assert not any(s.signed for s in gateway.seen)
    with storage.gdal_env([f"s3://{PUBLIC}/x.tif"], access=InputAccess()):
        assert rasterio.env.getenv()["AWS_NO_SIGN_REQUEST"] == "YES"
    gateway.seen.clear()
    with storage.open_raster(f"s3://{PRIVATE}/tile/B04.tif", **GDAL_COG_ENV) as ds:  # a run's own file
        assert rasterio.env.getenv()["AWS_NO_SIGN_REQUEST"] == "NO"
        assert int(ds.read(1)[1, 0]) == 64
    assert gateway.seen and all(s.signed for s in gateway.seen)


def test_a_refused_anonymous_read_names_the_options(gateway: S3Gateway) -> None:
    with pytest.raises(InputError) as caught:
        read_corner(f"s3://{PRIVATE}/tile/B04.tif", InputAccess(no_sign_request=True))
    message = str(caught.value)
    assert message.startswith(f"s3://{PRIVATE}/tile/B04.tif refused the read (") and "\n" not in message
    assert "--no-sign-request" in message and "--requester-pays" in message and "AWS_PROFILE" in message


def test_requester_pays_reads_carry_the_header(gateway: S3Gateway) -> None:
    href = f"s3://{PAYER}/tile/B04.tif"  # AWS_NO_SIGN_REQUEST=YES: requester-pays reads are signed all the same
    with pytest.raises(InputError, match=r"refused the read .*--requester-pays"):
        read_corner(f"s3://{PAYER}/other/B04.tif", InputAccess())
    assert gateway.seen[-1] == Seen(gateway.seen[-1].method, PAYER, False, False, 403)
    gateway.seen.clear()
    access = InputAccess(requester_pays=True)
    with storage.gdal_env([href], access=access):
        assert rasterio.env.getenv()["AWS_REQUEST_PAYER"] == "requester"
    assert read_corner(href, access) == [0, 1, 2]
    assert gateway.seen and all(s.payer and s.signed and s.status < 400 for s in gateway.seen)
    with storage.gdal_env([href]):  # the project's own files: no payer header
        assert "AWS_REQUEST_PAYER" not in rasterio.env.getenv()


def test_settings_per_direction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "YES")
    assert (storage.s3_settings().unsigned, storage.s3_settings().access_key) == (False, "key")
    assert storage.s3_settings(unsigned=True).access_key is None and storage.s3_settings(unsigned=True).unsigned
    assert InputAccess().unsigned and InputAccess(no_sign_request=True).unsigned
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "no")
    assert not InputAccess().unsigned and InputAccess(no_sign_request=True).unsigned
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InputError, match="no AWS credentials"):
        storage.s3_settings()
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "YES")  # no credentials at all: a public bucket's tables
    assert storage.s3_settings().unsigned


def test_access_settings_round_trip_and_bad_ones_are_refused() -> None:
    access = InputAccess(no_sign_request=True, requester_pays=False, signing="planetary-computer")
    assert InputAccess.from_json(access.to_json()) == access
    assert access.to_json() == '{"no_sign_request": true, "requester_pays": false, "signing": "planetary-computer"}'
    assert InputAccess.from_json("{}") == InputAccess()
    for bad in ("not json", '{"signing": "gcs"}', '{"no_sign_request": "yes"}', '{"token": "x"}', "[]"):
        with pytest.raises(InputError, match="scene manifest records unreadable input access settings"):
            InputAccess.from_json(bad)
    with pytest.raises(InputError, match="unknown signing 'gcs'"):
        InputAccess(signing="gcs")
    with pytest.raises(InputError, match="--no-sign-request and --requester-pays exclude each other"):
        InputAccess(no_sign_request=True, requester_pays=True)
