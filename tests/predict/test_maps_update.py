"""Incremental maps (issue 20): a run kept with its series, updated with a later as-of date, reads only the
scenes after its last date and ends with the same maps as one run of every date; an interrupted update
resumes; what cannot be updated is refused with one line, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError, OutputError, RemoteError
from inseason.predict import maps
from inseason.predict.kept import kept_series
from inseason.predict.maps import MapRun, predict_map

FIRST, LATER = "2022-06-01", "2022-08-15"


def _options(bundle: Path, manifest: Path, aoi: BaseGeometry, out: Path, **more: Any) -> dict[str, Any]:
    return dict(bundle=bundle, scenes=manifest, aoi=aoi, out=out, block_size=32, workers=1, quiet=True, **more)


@pytest.fixture(scope="module")
def at_once(tiny_bundle: Path, tiny_manifest: Path, map_square: BaseGeometry, tmp_path_factory: Any) -> MapRun:
    """Both dates in one run, from scratch."""
    out = tmp_path_factory.mktemp("at-once") / "maps"
    return predict_map(**_options(tiny_bundle, tiny_manifest, map_square, out, as_of=[FIRST, LATER]))


def _same_maps(run: MapRun, reference: MapRun) -> None:
    assert sorted(run.maps) == sorted(reference.maps) == [FIRST, LATER]
    for date in (FIRST, LATER):
        assert Path(run.maps[date]).read_bytes() == Path(reference.maps[date]).read_bytes(), date
        assert pq.read_table(run.double_crops[date]).equals(pq.read_table(reference.double_crops[date]))
    assert run.areas == reference.areas and run.mapped_pixels == reference.mapped_pixels
    assert run.empty_blocks == reference.empty_blocks and run.skipped_scenes == reference.skipped_scenes
    assert run.gif is not None and Path(run.gif).is_file()
    item = json.loads(Path(run.items[FIRST]).read_text())
    assert "season" in json.dumps(item["assets"]) or any("gif" in a.get("type", "") for a in item["assets"].values())


def test_an_update_reads_only_the_newer_scenes_and_maps_what_one_run_maps(
    at_once: MapRun,
    tiny_bundle: Path,
    tiny_manifest: Path,
    map_square: BaseGeometry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "maps"
    first = predict_map(**_options(tiny_bundle, tiny_manifest, map_square, out, as_of=FIRST, keep_series=True))
    assert list(first.maps) == [FIRST] and first.gif is None
    kept = kept_series(str(out / "series"))
    assert len(kept) == first.blocks and {d.isoformat() for ds in kept.values() for d in ds} == {FIRST}
    read_dates: list[str] = []
    real_read = maps.read_block

    def read_block(block: Any, **kw: Any) -> Any:
        read_dates.extend(r.date.isoformat() for r in kw["scenes"])
        return real_read(block, **kw)

    monkeypatch.setattr(maps, "read_block", read_block)
    updated = predict_map(**_options(tiny_bundle, tiny_manifest, None, out, as_of=LATER, update=True))
    assert read_dates and min(read_dates) > FIRST and max(read_dates) <= LATER  # only the newer scenes
    assert updated.blocks == first.blocks and updated.resumed_blocks == 0
    _same_maps(updated, at_once)
    # the series now run up to the new last date, the older ones are gone; run.json records every date
    kept = kept_series(str(out / "series"))
    assert {d.isoformat() for ds in kept.values() for d in ds} == {LATER}
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["as_of"] == [FIRST, LATER] and recorded["keep_series"] is True and "updating" not in recorded


def test_an_interrupted_update_is_finished_by_running_it_again(
    at_once: MapRun,
    tiny_bundle: Path,
    tiny_manifest: Path,
    map_square: BaseGeometry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "maps"
    predict_map(**_options(tiny_bundle, tiny_manifest, map_square, out, as_of=FIRST, keep_series=True))
    real_read = maps.read_block
    calls = []

    def failing(block: Any, **kw: Any) -> Any:
        calls.append(block.index)
        if len(calls) == 5:
            raise RemoteError("the scene server went away")
        return real_read(block, **kw)

    monkeypatch.setattr(maps, "read_block", failing)
    with pytest.raises(RemoteError, match="went away"):
        predict_map(**_options(tiny_bundle, tiny_manifest, map_square, out, as_of=LATER, update=True))
    monkeypatch.setattr(maps, "read_block", real_read)
    assert json.loads((out / "run.json").read_text())["updating"] == {"previous": [FIRST]}
    # neither a plain resume nor an update of other dates may touch the half-updated folder
    with pytest.raises(OutputError, match="other settings"):
        predict_map(**_options(tiny_bundle, tiny_manifest, map_square, out, as_of=[FIRST, LATER], keep_series=True))
    with pytest.raises(OutputError, match=f"adding {LATER} was interrupted: run it again"):
        predict_map(**_options(tiny_bundle, tiny_manifest, None, out, as_of="2022-09-01", update=True))
    finished = predict_map(**_options(tiny_bundle, tiny_manifest, None, out, as_of=LATER, update=True))
    assert finished.resumed_blocks == 4  # the blocks the interrupted update finished
    _same_maps(finished, at_once)


def test_what_cannot_be_updated_is_refused_before_writing(
    tiny_bundle: Path, untrained: Path, tiny_manifest: Path, map_square: BaseGeometry, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match="holds no map run to update: map it first"):
        predict_map(**_options(tiny_bundle, tiny_manifest, None, tmp_path / "none", as_of=LATER, update=True))
    plain = tmp_path / "plain"
    predict_map(**_options(tiny_bundle, tiny_manifest, map_square, plain, as_of=FIRST))
    with pytest.raises(OutputError, match="mapped without --keep-series"):
        predict_map(**_options(tiny_bundle, tiny_manifest, None, plain, as_of=LATER, update=True))
    kept = tmp_path / "kept"
    predict_map(**_options(tiny_bundle, tiny_manifest, map_square, kept, as_of=LATER, keep_series=True))
    before = sorted(p.name for p in kept.rglob("*"))
    with pytest.raises(InputError, match=f"as-of {FIRST} is not after the run's last as-of date {LATER}"):
        predict_map(**_options(tiny_bundle, tiny_manifest, None, kept, as_of=FIRST, update=True))
    with pytest.raises(OutputError, match="mapped with another model"):
        predict_map(**_options(untrained, tiny_manifest, None, kept, as_of="2022-09-01", update=True))
    with pytest.raises(OutputError, match="another block size"):
        predict_map(
            **{**_options(tiny_bundle, tiny_manifest, None, kept, as_of="2022-09-01", update=True), "block_size": 64}
        )
    with pytest.raises(InputError, match="give --aoi"):
        predict_map(**_options(tiny_bundle, tiny_manifest, None, tmp_path / "new", as_of=FIRST))
    assert sorted(p.name for p in kept.rglob("*")) == before


def test_the_cli_keeps_the_series_and_updates_the_folder(
    at_once: MapRun, tiny_bundle: Path, tiny_manifest: Path, map_square_file: Path, tmp_path: Path
) -> None:
    from tests.cli.helpers import run_cli

    out = tmp_path / "maps"
    common = ["--scenes", str(tiny_manifest), "--block-size", "32", "--workers", "1"]
    first = run_cli("predict", str(tiny_bundle), "--aoi", str(map_square_file), "--out", str(out), "--as-of", FIRST,
                    "--keep-series", *common)  # fmt: skip
    assert first.returncode == 0, first.stderr
    updated = run_cli("predict", str(tiny_bundle), "--update", str(out), "--as-of", LATER, "--json", *common)
    assert updated.returncode == 0, updated.stderr
    run = MapRun(**json.loads(updated.stdout))
    assert sorted(run.maps) == [FIRST, LATER]
    assert Path(run.maps[LATER]).read_bytes() == Path(at_once.maps[LATER]).read_bytes()


def test_a_pixel_without_a_new_observation_keeps_its_class_unpredicted(
    untrained: Path, tiny_manifest: Path, map_square: BaseGeometry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt
    import itertools

    import numpy as np
    import rasterio

    from inseason.train.predict import Predictor

    dates = sorted({d.as_py() for d in pq.read_table(tiny_manifest).column("date")})
    first = next(a for a, b in itertools.pairwise(dates) if a.month >= 6 and (b - a).days >= 2)
    later = next(d for d in dates if d > first)
    as_of = [first, first + dt.timedelta(days=1), later]  # no scene on the second date, one on the third
    predicted: dict[int, int] = {}  # day of season -> rows predicted
    real = Predictor.predict_proba

    def counting(self: Predictor, store: Any, **kwargs: Any) -> Any:
        predicted[kwargs["as_of"]] = predicted.get(kwargs["as_of"], 0) + len(kwargs["rows"])
        return real(self, store, **kwargs)

    monkeypatch.setattr(Predictor, "predict_proba", counting)
    run = predict_map(**_options(untrained, tiny_manifest, map_square, tmp_path / "maps", as_of=as_of))
    bands = {}
    for date in as_of:
        with rasterio.open(run.maps[date.isoformat()]) as src:
            bands[date] = src.read()
    np.testing.assert_array_equal(bands[as_of[1]], bands[as_of[0]])  # the same observations: the same map
    days = [(d - dt.date(d.year, 1, 1)).days for d in as_of]
    assert predicted[days[0]] == run.mapped_pixels[first.isoformat()] > 0  # the first date: every pixel seen
    assert days[1] not in predicted  # no new observation anywhere: nothing predicted
    # the third date: only the pixels its scene observed (at most every pixel seen by then)
    assert 0 < predicted[days[2]] <= run.mapped_pixels[later.isoformat()]
