"""`extract` reading its scenes through a loopback proxy that fails, cuts short, resets or stalls a share of the
requests: the observations of a fault-free run, the retries counted, and scenes a fault kept unread an error."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from inseason.errors import RemoteError
from inseason.extract import sample
from inseason.extract.sample import is_transient
from inseason.extract.stage import extract
from inseason.observations import MANIFEST, read_manifest, read_observations
from inseason.testing import RangeFileServer
from inseason.testing.faults import FaultProxy
from tests.extract.helpers import scene_rows, spread_scenes, subset_manifest

if TYPE_CHECKING:
    from tests.extract.conftest import Inputs

Route = Callable[[str, str], str]  # (band, the file's URL on the server) -> the href the manifest gets


@contextmanager
def served(
    inputs: Inputs, manifest: Path, keep: list[str], *, direct: tuple[str, ...] = (), **faults: Any
) -> Iterator[FaultProxy]:
    """Serve the world over HTTP behind a FaultProxy; write a manifest of ``keep`` whose hrefs go through it
    (those of the ``direct`` bands straight to the file server)."""
    with RangeFileServer(inputs.world) as files, FaultProxy(files.url, **faults) as proxy:
        rows = {r["scene_id"]: dict(r["hrefs"]) for r in scene_rows(inputs)}
        hrefs = {
            s: {
                band: files.url_for(path) if band in direct else proxy.url_for(files.url_for(path))
                for band, path in rows[s].items()
            }
            for s in keep
        }
        subset_manifest(inputs, manifest, keep, hrefs)
        yield proxy


def reference(observations: Path, keep: list[str]) -> pa.Table:
    table = read_observations(observations)
    return table.filter(pc.is_in(table.column("scene_id"), value_set=pa.array(keep, pa.string())))


@pytest.mark.parametrize(
    ("kind", "faults"),
    [
        ("truncate", {"truncate": 0.1}),
        ("reset", {"reset": 0.1}),
        ("fail", {"fail": 0.1, "status": 503}),
        ("stall", {"stall": 0.1, "stall_s": 0.2}),
    ],
)
def test_one_request_in_ten_faulted_gives_the_fault_free_observations(
    tiny_inputs: Inputs, tiny_observations: Path, tmp_path: Path, kind: str, faults: dict[str, Any]
) -> None:
    keep = spread_scenes(tiny_inputs, 8)
    with served(tiny_inputs, tmp_path / "scenes.parquet", keep, seed=7, **faults) as proxy:
        totals = extract(tiny_inputs.points, tmp_path / "scenes.parquet", out=tmp_path / "obs", workers=1, quiet=True)
        stats = proxy.stats
    assert stats.faults[kind] > 0 and stats.faulted == sum(stats.faults.values())
    assert (totals.done, totals.skipped) == (8, 0)
    assert totals.retried > 0
    assert read_observations(tmp_path / "obs").equals(reference(tiny_observations, keep))
    manifest = read_manifest(tmp_path / "obs")
    assert set(manifest) == set(keep) and {e["status"] for e in manifest.values()} == {"done"}


def test_scenes_a_network_fault_keeps_unread_fail_the_run_unless_skips_are_allowed(
    tiny_inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sample.GDAL_COG_ENV, "GDAL_HTTP_MAX_RETRY", "1")  # workers=1: patched in this process
    monkeypatch.setitem(sample.GDAL_COG_ENV, "GDAL_HTTP_RETRY_DELAY", "0.01")
    monkeypatch.setattr(sample, "SCENE_BACKOFF_S", 0.01)
    keep = spread_scenes(tiny_inputs, 2)
    out, scenes = tmp_path / "obs", tmp_path / "scenes.parquet"
    # B02 straight from the server, so the plan reads the tile's grid; every other request fails with a 503
    with served(tiny_inputs, scenes, keep, direct=("B02",), fail=1.0) as proxy:
        with pytest.raises(RemoteError) as info:
            extract(tiny_inputs.points, scenes, out=out, workers=1, quiet=True)
        failed = proxy.stats
        manifest = read_manifest(out)
        allowed = extract(tiny_inputs.points, scenes, out=out, workers=1, quiet=True, allow_skips=True)
    message = str(info.value)
    assert failed.faults["fail"] == failed.requests > 0
    assert "\n" not in message
    assert message.startswith("2 of 2 scenes could not be read for network faults, even after retries")
    assert "503" in message and message.endswith("or pass --allow-skips to accept them as skipped")
    # recorded as skipped for a transient fault, and read again by the next run (which allows the skips)
    assert set(manifest) == set(keep)
    assert all(e["status"] == "skipped" and e["transient"] and "503" in e["reason"] for e in manifest.values())
    assert (allowed.resumed, allowed.done, allowed.skipped) == (0, 0, 2)
    assert allowed.retried >= 2 * 2 * sample.SCENE_RETRIES  # each scene's band read again, in both passes
    lines = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert sorted(e["scene_id"] for e in lines) == sorted(keep)  # one line a scene, not one a run


def test_a_plan_whose_every_scene_fails_for_network_faults_says_so(
    tiny_inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sample.GDAL_COG_ENV, "GDAL_HTTP_MAX_RETRY", "1")
    monkeypatch.setitem(sample.GDAL_COG_ENV, "GDAL_HTTP_RETRY_DELAY", "0.01")
    keep = spread_scenes(tiny_inputs, 2)
    with (
        served(tiny_inputs, tmp_path / "scenes.parquet", keep, fail=1.0),
        pytest.raises(RemoteError, match=r"^no scene of tile 15SYS could be read for network faults"),
    ):
        extract(tiny_inputs.points, tmp_path / "scenes.parquet", out=tmp_path / "obs", workers=1, quiet=True)
    assert not (tmp_path / "obs").exists()


@pytest.mark.parametrize(
    ("href", "reason", "transient"),
    [
        ("http://h/B04.tif", "TIFFFillTile:Read error at row 0, col 0, tile 2; got 8993 bytes, expected 20409", True),
        ("/data/B04.tif", "TIFFFillTile:Read error at row 0, col 0, tile 2; got 8993 bytes, expected 20409", False),
        ("s3://b/B04.tif", "HTTP response code: 503", True),
        ("https://h/B04.tif", "HTTP response code: 404", False),
        ("https://h/B04.tif", "CURL error: Connection reset by peer", True),
        ("https://h/B04.tif", "not recognized as being in a supported file format", False),
    ],
)
def test_only_network_faults_on_remote_files_are_transient(href: str, reason: str, transient: bool) -> None:
    assert is_transient(href, reason) is transient
