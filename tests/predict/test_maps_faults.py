"""predict over HTTP through a fault-injecting proxy (issue 17): with 1 request in 10 answered 503, cut short
or reset, the map equals a fault-free run's, byte for byte; when the scene server keeps failing, the run ends
with one RemoteError line, writes no map, and a rerun once the server is back resumes and finishes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shapely.geometry import box

from inseason.errors import RemoteError
from inseason.extract.sample import GDAL_COG_ENV
from inseason.predict.maps import MapRun, predict_map
from inseason.storage import LOCK_NAME
from inseason.testing import RangeFileServer
from inseason.testing.faults import FaultProxy

AOI = box(-90.805, 33.39, -90.795, 33.40)
AS_OF = "2022-08-15"


def _over_http(manifest: Path, path: Path, url_for: Callable[[str], str]) -> Path:
    """The manifest with every scene file's href turned into its URL (``url_for`` of the local path)."""
    table = pq.read_table(manifest)
    hrefs = [[(k, url_for(v)) for k, v in h] for h in table.column("hrefs").to_pylist()]
    field = table.schema.field("hrefs")
    pq.write_table(table.set_column(table.schema.get_field_index("hrefs"), field, pa.array(hrefs, field.type)), path)
    return path


@pytest.fixture(scope="module")
def clean(untrained: Path, tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> MapRun:
    """The map of the local scene files, without any fault."""
    out = tmp_path_factory.mktemp("clean") / "maps"
    return predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)


@pytest.mark.parametrize(
    ("faults", "seed"),
    [({"fail": 0.1}, 1), ({"truncate": 0.1}, 2), ({"fail": 0.04, "truncate": 0.03, "reset": 0.03}, 3)],
    ids=["503", "truncated", "mixed"],
)
def test_a_map_read_through_faults_equals_the_fault_free_map(
    faults: dict[str, float],
    seed: int,
    clean: MapRun,
    untrained: Path,
    tiny_world: Path,
    tiny_manifest: Path,
    fault_proxy_factory: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    with RangeFileServer(tiny_world) as files:
        proxy = fault_proxy_factory(files.url, seed=seed, **faults)
        scenes = _over_http(tiny_manifest, tmp_path / "scenes.parquet", lambda p: proxy.url_for(files.url_for(p)))
        run = predict_map(
            untrained, scenes=scenes, aoi=AOI, as_of=AS_OF, out=tmp_path / "maps", workers=1, quiet=True, backoff=0.0
        )
        stats = proxy.stats
    assert sum(stats.faults.values()) >= 5 and stats.requests > 100  # faults did happen, many of them
    assert Path(run.maps[AS_OF]).read_bytes() == Path(clean.maps[AS_OF]).read_bytes()
    assert run.mapped_pixels == clean.mapped_pixels and run.skipped_scenes == clean.skipped_scenes == []
    if stats.faults["truncate"]:  # GDAL takes a body cut short as it is: predict read those files again
        assert run.retried >= 1
    assert json.loads((tmp_path / "maps" / "summary.json").read_text())["retried"] == run.retried


def test_a_server_that_keeps_failing_ends_the_run_with_one_line(
    untrained: Path,
    tiny_world: Path,
    tiny_manifest: Path,
    fault_proxy_factory: Callable[..., FaultProxy],
    tmp_path: Path,
    clean: MapRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "maps"
    # the run's own tries are under test: GDAL's retries inside each (with their waits) only add time
    monkeypatch.setitem(GDAL_COG_ENV, "GDAL_HTTP_MAX_RETRY", "0")
    with RangeFileServer(tiny_world) as files:
        down = fault_proxy_factory(files.url, fail=1.0, status=503)
        scenes = _over_http(tiny_manifest, tmp_path / "down.parquet", lambda p: down.url_for(files.url_for(p)))
        options: dict[str, Any] = dict(aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)
        with pytest.raises(RemoteError) as info:
            predict_map(untrained, scenes=scenes, retries=1, backoff=0.0, **options)
        message = str(info.value)
        assert "\n" not in message and "failed 2 times" in message and "503" in message and "to resume" in message
        assert not list(out.glob("map_*")) and not (out / "summary.json").exists()  # no map with a hole
        assert not [p for p in out.rglob("*") if ".tmp-" in p.name] and not (out / LOCK_NAME).exists()
        # the server is back (the same URLs, now without faults): the same run resumes and finishes
        down.shares.update(fail=0.0)
        run = predict_map(untrained, scenes=scenes, **options)
    assert Path(run.maps[AS_OF]).read_bytes() == Path(clean.maps[AS_OF]).read_bytes()
