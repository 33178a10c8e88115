"""Loopback stand-ins for the internet in tests and demos: an HTTP file server and a STAC API.

* :class:`RangeFileServer` serves a folder with Range requests and counts what it sends (object storage
  for GDAL's ``/vsicurl/``);
* :class:`StacApiServer` is a small STAC API (item search, features) over a static catalog;
* :class:`FaultProxy` sits in front of either (or any HTTP server) and fails, truncates, resets or stalls a
  set share of requests;
* :func:`serve_world` runs both over a synthetic world; :mod:`inseason.testing.pytest_plugin` has fixtures.

Both servers bind 127.0.0.1 on a free port by default, run in background threads, count requests
(:meth:`~LoopbackServer.stats`) and can fail or slow down on purpose (:meth:`~LoopbackServer.fail_next`,
``delay_s``) to exercise retry code.
"""

from inseason.testing.faults import FaultProxy, FaultStats
from inseason.testing.http_files import (
    LoopbackServer,
    RangeFileServer,
    RangeNotSatisfiable,
    RequestRecord,
    ServerStats,
    parse_range,
)
from inseason.testing.stac_api import StacApiServer, WorldServers, serve_world

__all__ = [
    "FaultProxy",
    "FaultStats",
    "LoopbackServer",
    "RangeFileServer",
    "RangeNotSatisfiable",
    "RequestRecord",
    "ServerStats",
    "StacApiServer",
    "WorldServers",
    "parse_range",
    "serve_world",
]
