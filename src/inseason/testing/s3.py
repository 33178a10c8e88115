"""An S3-compatible server on loopback for tests and demos (moto in server mode), and folder uploads.

::

    with LoopbackS3() as s3, s3.environment():
        uri = s3.upload(world_folder, "worlds", prefix="tiny")   # s3://worlds/tiny
        ...                                                      # inseason code reads and writes s3://

The server keeps objects in memory and accepts any credentials; :meth:`LoopbackS3.environ` gives the AWS
variables (fake keys, the endpoint override, a region) that point the standard AWS configuration at it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from inseason.errors import InputError

# Test support: moto is in the ``test`` extra, not a dependency of the package (tests/test_install.py).
try:
    from moto.server import ThreadedMotoServer
except ImportError as exc:
    raise InputError(
        f"inseason.testing.s3 (the loopback S3 server of the tests) needs moto, which cannot be "
        f"imported ({exc}): pip install 'inseason[test]'"
    ) from exc


class LoopbackS3:
    """A moto S3 server on 127.0.0.1 (a free port unless ``port`` is given), started and stopped explicitly.

    Args:
        port: the port to bind (0: a free one).
    """

    def __init__(self, *, port: int = 0) -> None:
        self._server = ThreadedMotoServer("127.0.0.1", port=port, verbose=False)
        self._port: int | None = None

    def start(self) -> LoopbackS3:
        """Start serving (milliseconds) and silence the per-request log of the web server.

        Returns:
            This server.
        """
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        self._port = self._server.get_host_and_port()[1]
        return self

    def stop(self) -> None:
        """Stop serving; the objects are gone."""
        self._server.stop()

    def __enter__(self) -> LoopbackS3:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError("the loopback S3 server is not started: call start() first")
        return f"http://127.0.0.1:{self._port}"

    def environ(self) -> dict[str, str]:
        """Standard AWS variables that send every S3 client of this machine to this server.

        Returns:
            Fake keys, a region and the endpoint override, by variable name.

        Raises:
            RuntimeError: the server is not started.
        """
        return {
            "AWS_ACCESS_KEY_ID": "loopback",
            "AWS_SECRET_ACCESS_KEY": "loopback",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    @contextmanager
    def environment(self) -> Iterator[None]:
        """Set :meth:`environ` in ``os.environ`` for the duration (and drop conflicting AWS settings).

        Yields:
            Nothing; the previous variables come back on exit.
        """
        names = [*self.environ(), "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_NO_SIGN_REQUEST"]
        saved = {name: os.environ.get(name) for name in names}
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(self.environ())
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def client(self) -> Any:  # boto3 clients are generated at run time: no static type to give
        """A boto3 S3 client of this server.

        Returns:
            The client.
        """
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="loopback",
            aws_secret_access_key="loopback",
        )

    def create_bucket(self, bucket: str) -> str:
        """Create ``bucket`` unless it exists.

        Args:
            bucket: the bucket's name.

        Returns:
            ``s3://bucket``.
        """
        client = self.client()
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket)
        return f"s3://{bucket}"

    def upload(self, folder: str | os.PathLike[str], bucket: str, *, prefix: str = "") -> str:
        """Upload every file under ``folder`` to ``bucket/prefix/…``, creating the bucket.

        Args:
            folder: the local folder.
            bucket: the bucket's name.
            prefix: the key prefix the folder's files go under (empty: the bucket's root).

        Returns:
            ``s3://bucket/prefix``.
        """
        self.create_bucket(bucket)
        client = self.client()
        root = Path(folder)
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            client.upload_file(str(path), bucket, base + path.relative_to(root).as_posix())
        return f"s3://{bucket}/{prefix.strip('/')}".rstrip("/")
