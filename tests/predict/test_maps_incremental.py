"""Maps of an incremental network (a one-direction GRU): the state a run keeps carries the map to later as-of
dates, so an update reads the new observations alone — the kept files hold the state, not the season's
series — and still maps, bit for bit, what one run of every date maps. A label map with double-crop classes
keeps the series beside the state (their transition dates are read from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from shapely.geometry.base import BaseGeometry

from inseason.bench.predict import untrained_bundle
from inseason.predict import maps
from inseason.predict.kept import kept_series, load_kept, series_uri
from inseason.predict.maps import predict_map
from inseason.predict.read import Block
from inseason.train.predict import Predictor
from tests.predict.test_maps_update import FIRST, LATER, _options


@pytest.fixture(scope="module")
def gru(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained one-direction GRU (hidden 16) over the course's crops: no double-crop class."""
    out = tmp_path_factory.mktemp("gru") / "bundle"
    return untrained_bundle("gru-incremental", out, seed=2, params={"hidden": 16}, codes=(1, 2, 3, 5, 176))


@pytest.fixture(scope="module")
def gru_double(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with the benchmark's classes, a double crop among them."""
    return untrained_bundle(
        "gru-incremental", tmp_path_factory.mktemp("gru2") / "bundle", seed=2, params={"hidden": 16}
    )


def _kept(out: Path) -> list[tuple[Any, Any]]:
    files = []
    for (year, index), throughs in sorted(kept_series(str(out / "series")).items()):
        block = Block(index=index, row=0, col=0, height=32, width=32)
        files.append(load_kept(series_uri(str(out / "series"), year, index, throughs[-1]), block))
    return files


@pytest.mark.parametrize("bundle_name", ["gru", "gru_double"])
def test_an_update_advances_the_kept_state_and_maps_what_one_run_maps(
    bundle_name: str,
    tiny_manifest: Path,
    map_square: BaseGeometry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = request.getfixturevalue(bundle_name)
    at_once = predict_map(**_options(bundle, tiny_manifest, map_square, tmp_path / "at-once", as_of=[FIRST, LATER]))
    out = tmp_path / "maps"
    predict_map(**_options(bundle, tiny_manifest, map_square, out, as_of=FIRST, keep_series=True))
    kept = _kept(out)
    assert kept and all(state is not None and state.state.shape[1] == 16 for _, state in kept)
    history = bundle_name == "gru_double"  # the series is kept only where double crops need it
    assert all((series is not None) == history for series, _ in kept)
    assert sum(int((state.counts > 0).sum()) for _, state in kept) > 0

    read_dates: list[str] = []
    advanced: list[int] = []
    real_read, real_advance = maps.read_block, Predictor.advance

    def read_block(block: Any, **kw: Any) -> Any:
        read_dates.extend(r.date.isoformat() for r in kw["scenes"])
        return real_read(block, **kw)

    def advance(self: Predictor, store: Any, rows: Any, **kw: Any) -> Any:
        if len(rows):
            ends = store.end_positions(rows, np.full(len(rows), kw["until"]))
            begins = store.end_positions(rows, np.full(len(rows), kw["since"]))
            advanced.append(int((ends - begins).sum()))
        return real_advance(self, store, rows, **kw)

    monkeypatch.setattr(maps, "read_block", read_block)
    monkeypatch.setattr(Predictor, "advance", advance)
    updated = predict_map(**_options(bundle, tiny_manifest, None, out, as_of=LATER, update=True))
    assert read_dates and min(read_dates) > FIRST  # only the newer scenes were read ...
    assert sum(advanced) > 0  # ... and the network read their observations only
    new_observations = sum(int(state.counts.sum()) for _, state in _kept(out)) - sum(
        int(state.counts.sum()) for _, state in kept
    )
    assert sum(advanced) == new_observations
    assert sorted(updated.maps) == sorted(at_once.maps) == [FIRST, LATER]
    for date in (FIRST, LATER):
        assert Path(updated.maps[date]).read_bytes() == Path(at_once.maps[date]).read_bytes(), date
    assert sorted(updated.double_crops) == sorted(at_once.double_crops) == ([FIRST, LATER] if history else [])
    for date, table in updated.double_crops.items():
        assert pq.read_table(table).equals(pq.read_table(at_once.double_crops[date]))
    assert updated.areas == at_once.areas and updated.mapped_pixels == at_once.mapped_pixels
