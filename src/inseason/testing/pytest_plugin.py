"""pytest fixtures that start loopback servers and stop them at teardown.

Enable with ``pytest_plugins = ["inseason.testing.pytest_plugin"]`` in the top-level conftest (or import
the fixtures into a conftest)::

    def test_download(range_server_factory, tmp_path):
        srv = range_server_factory(tmp_path)
        ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inseason.testing.faults import FaultProxy
from inseason.testing.http_files import LoopbackServer, RangeFileServer
from inseason.testing.stac_api import StacApiServer


def _stop_all(servers: list[LoopbackServer]) -> None:
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def range_server_factory() -> Iterator[Callable[..., RangeFileServer]]:
    """``factory(root, **kwargs)`` starts a :class:`RangeFileServer` over ``root``; all stop at teardown.

    Yields:
        The factory.
    """
    servers: list[LoopbackServer] = []

    def start(root: str | os.PathLike[str], **kwargs: Any) -> RangeFileServer:
        server = RangeFileServer(root, **kwargs)
        servers.append(server.start())
        return server

    yield start
    _stop_all(servers)


@pytest.fixture
def stac_api_factory() -> Iterator[Callable[..., StacApiServer]]:
    """``factory(catalog, **kwargs)`` starts a :class:`StacApiServer`; all stop at teardown.

    The keyword arguments are the server's: ``asset_base_url``, ``world_root``, ``delay_s``...

    Yields:
        The factory.
    """
    servers: list[LoopbackServer] = []

    def start(catalog: str | os.PathLike[str], **kwargs: Any) -> StacApiServer:
        server = StacApiServer(catalog, **kwargs)
        servers.append(server.start())
        return server

    yield start
    _stop_all(servers)


@pytest.fixture
def fault_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
    """``factory(upstream, **kwargs)`` starts a :class:`FaultProxy` in front of ``upstream``; all stop at teardown.

    The keyword arguments are the proxy's: ``fail``, ``truncate``, ``reset``, ``stall``, ``every``, ``seed``...

    Yields:
        The factory.
    """
    proxies: list[FaultProxy] = []

    def start(upstream: str, **kwargs: Any) -> FaultProxy:
        proxy = FaultProxy(upstream, **kwargs)
        proxies.append(proxy.start())
        return proxy

    yield start
    for proxy in reversed(proxies):
        proxy.stop()
