"""`scenes` over HTTP through a loopback proxy that fails, cuts short or resets a share of the requests: the
STAC search and the SCL reads are retried, the manifest equals a fault-free run's, and the summary counts the
retries; a scene whose SCL fails on every try stops the search (it would vanish from the manifest otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inseason.errors import RemoteError
from inseason.extract import scenes as scenes_module
from inseason.extract.sample import GDAL_COG_ENV
from inseason.extract.scenes import ScenesRequest, ScenesResult, run_scenes
from inseason.testing import RangeFileServer, StacApiServer
from inseason.testing.faults import FaultProxy

START, END = "2022-04-01", "2022-06-30"


def _scenes(world: Path, stac_url: str, out: Path) -> ScenesResult:
    request = ScenesRequest.of(
        stac=stac_url, aoi=str(world / "aoi.geojson"), start=START, end=END, out=str(out), min_valid=0.0, workers=2
    )
    return run_scenes(request.model_copy(update={"quiet": True}))


@pytest.mark.parametrize(
    "faults",
    [{"truncate": 0.1}, {"reset": 0.1}, {"fail": 0.1, "status": 503}],
    ids=["truncate", "reset", "503"],
)
def test_scl_reads_through_faults_give_the_fault_free_manifest(
    tiny_world: Path,
    tmp_path: Path,
    stac_api_factory: Callable[..., StacApiServer],
    faults: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scenes_module, "SCENE_BACKOFF_S", 0.0)
    with RangeFileServer(tiny_world) as files:
        clean_api = stac_api_factory(tiny_world / "stac", asset_base_url=files.url, world_root=tiny_world)
        clean = _scenes(tiny_world, clean_api.url, tmp_path / "clean.parquet")
        with FaultProxy(files.url, seed=5, **faults) as proxy:
            api = stac_api_factory(tiny_world / "stac", asset_base_url=proxy.url, world_root=tiny_world)
            faulted = _scenes(tiny_world, api.url, tmp_path / "faulted.parquet")
            stats = proxy.stats
    assert stats.faulted > 0
    assert faulted.scenes == clean.scenes > 0
    assert faulted.table.column("scene_id").equals(clean.table.column("scene_id"))
    assert faulted.table.column("valid_fraction_aoi").equals(clean.table.column("valid_fraction_aoi"))
    assert clean.info["counts"]["retried"] == 0
    if "fail" in faults:  # GDAL repeats a 503 itself and says so; a header block cut short it refetches silently
        assert faulted.info["counts"]["retried"] >= stats.faults["fail"] > 0
    assert {k: v for k, v in faulted.info["counts"].items() if k != "retried"} == {
        k: v for k, v in clean.info["counts"].items() if k != "retried"
    }


def test_an_scl_failing_on_every_try_stops_the_search_in_one_line(
    tiny_world: Path,
    tmp_path: Path,
    stac_api_factory: Callable[..., StacApiServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scenes_module, "SCENE_BACKOFF_S", 0.0)
    # our own six tries are under test: GDAL's retries inside each (with their waits) only add minutes
    monkeypatch.setitem(GDAL_COG_ENV, "GDAL_HTTP_MAX_RETRY", "0")
    with RangeFileServer(tiny_world) as files, FaultProxy(files.url, fail=1.0, status=503) as proxy:
        api = stac_api_factory(tiny_world / "stac", asset_base_url=proxy.url, world_root=tiny_world)
        with pytest.raises(RemoteError) as info:
            _scenes(tiny_world, api.url, tmp_path / "scenes.parquet")
    message = str(info.value)
    assert message.startswith(f"SCL {proxy.url}") and "\n" not in message
    assert "failed 6 times" in message and "run again" in message
    assert not (tmp_path / "scenes.parquet").exists()
