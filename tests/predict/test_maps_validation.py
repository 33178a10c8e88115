"""predict validates before it writes (issue 17): every bad input or setting is refused before anything is
created in ``--out``, so the corrected run into the same folder succeeds; an AOI outside every scene is
refused, not mapped as nodata; the run holds its folder against a second writer; a scene file that fails over
the network is read again, and a block that stays unreadable ends the run with one RemoteError line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_bounds
from shapely.geometry import box

from inseason.errors import InputError, OutputError, RemoteError
from inseason.extract.sample import check_scl_mask
from inseason.predict import maps
from inseason.predict.maps import predict_map
from inseason.storage import LOCK_NAME

#: A 1 km square of the tiny world: one block, mapped in a few seconds.
AOI = box(-90.805, 33.39, -90.795, 33.40)
AS_OF = "2022-08-15"


def _far_mask(path: Path) -> Path:
    """A readable CDL-coded GeoTIFF in the Alps, far from the tiny world."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_bounds(10.0, 45.0, 10.1, 45.1, 10, 10),
    ) as dst:
        dst.write(np.ones((1, 10, 10), np.uint8))
    return path


def _moved_scenes(manifest: Path, path: Path, *, keep: int = 0) -> Path:
    """The manifest with the files of its scenes (every other one kept when ``keep`` is 2) in a missing folder."""
    table = pq.read_table(manifest)
    hrefs = []
    for i, h in enumerate(table.column("hrefs").to_pylist()):
        hrefs.append([(k, v if keep and i % keep == 0 else f"/no/such/folder/{Path(v).name}") for k, v in h])
    field = table.schema.field("hrefs")
    pq.write_table(table.set_column(table.schema.get_field_index("hrefs"), field, pa.array(hrefs, field.type)), path)
    return path


# name -> (options replacing the good ones (a callable gets tmp_path), the error, a part of its message)
BAD: dict[str, tuple[Callable[[Path], dict[str, Any]], type[Exception], str]] = {
    "scl mask 300": (lambda _: {"scl_mask": [0, 300]}, InputError, "scl_mask"),
    "no workers": (lambda _: {"workers": 0}, InputError, "workers=0 must be at least 1"),
    "negative workers": (lambda _: {"workers": -1}, InputError, "workers=-1 must be at least 1"),
    "batch size 0": (lambda _: {"batch_size": 0}, InputError, "batch_size=0 must be at least 1"),
    "block size 8": (lambda _: {"block_size": 8}, InputError, "block_size=8 is too small"),
    "not a date": (lambda _: {"as_of": "June"}, InputError, "not a date"),
    "before the scenes": (lambda _: {"as_of": "2022-01-15"}, InputError, "before any scene"),
    "unknown engine": (lambda _: {"engine": "dask"}, InputError, "engine 'dask' is unknown"),
    "no bundle": (lambda p: {"bundle": p / "no-bundle"}, InputError, "no-bundle"),
    "no manifest": (lambda p: {"scenes": p / "no-scenes.parquet"}, InputError, "no-scenes.parquet"),
    "bad AOI": (lambda _: {"aoi": "1,2,3"}, InputError, "AOI"),
    "AOI outside the scenes": (
        lambda _: {"aoi": box(10.0, 45.0, 10.01, 45.01)},
        InputError,
        "lies outside every scene",
    ),
    "no crop mask": (lambda p: {"crop_mask": p / "no-such.tif"}, InputError, "does not exist"),
    "crop mask not a raster": (
        lambda p: {"crop_mask": (p / "mask.tif", (p / "mask.tif").write_text("no tiff"))[0]},
        InputError,
        "not a readable raster",
    ),
    "crop mask elsewhere": (lambda p: {"crop_mask": _far_mask(p / "alps.tif")}, InputError, "covers none of the AOI"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_refused_run_writes_nothing_and_the_corrected_run_succeeds(
    case: str, untrained: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    options, error, message = BAD[case]
    out = tmp_path / "maps"
    good: dict[str, Any] = dict(
        bundle=untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=out, block_size=128, workers=1, quiet=True
    )
    with pytest.raises(error, match=message) as info:
        predict_map(**{**good, **options(tmp_path)})
    assert "\n" not in str(info.value)
    assert not out.exists()  # nothing was created: no run.json to refuse the corrected run
    run = predict_map(**good)
    assert run.mapped_pixels[AS_OF] > 0 and (out / "summary.json").is_file()


def test_predict_refuses_an_scl_class_as_extract_does(untrained: Path, tiny_manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as extract_error:
        check_scl_mask([0, 300])
    with pytest.raises(InputError) as predict_error:
        predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=tmp_path / "m", scl_mask=[0, 300])
    assert str(predict_error.value) == str(extract_error.value)


def test_an_aoi_outside_every_scene_names_both_footprints(untrained: Path, tiny_manifest: Path, tmp_path: Path) -> None:
    far = box(10.0, 45.0, 10.01, 45.01)
    with pytest.raises(InputError) as info:
        predict_map(untrained, scenes=tiny_manifest, aoi=far, as_of=AS_OF, out=tmp_path / "m", quiet=True)
    message = str(info.value)
    assert "the AOI (10.0000, 45.0000, 10.0100, 45.0100)" in message
    west, south, east, north = (float(v) for v in message.split("they cover ")[1].split(";")[0].split(", "))
    assert -91.0 < west < east < -90.0 and 33.0 < south < north < 34.0  # the tiny world's tile
    assert not (tmp_path / "m").exists()


def test_a_run_json_left_by_a_refused_run_does_not_block_the_corrected_run(
    untrained: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    """Before issue 17 a refused run could leave its run.json; a folder holding only that is taken over."""
    out = tmp_path / "maps"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"model": "another", "as_of": ["2022-06-01"]}))
    run = predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)
    assert run.mapped_pixels[AS_OF] > 0
    assert json.loads((out / "run.json").read_text())["as_of"] == [AS_OF]
    # a run that finished blocks keeps its folder: other settings are refused
    with pytest.raises(OutputError, match="other settings"):
        predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of="2022-06-01", out=out, workers=1, quiet=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=tmp_path / "file", quiet=True)
    assert (tmp_path / "file").read_text() == ""


def test_scenes_whose_files_are_missing_are_skipped_or_refused(
    untrained: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    none = _moved_scenes(tiny_manifest, tmp_path / "none.parquet")
    with pytest.raises(InputError, match="no scene's files can be found"):
        predict_map(untrained, scenes=none, aoi=AOI, as_of=AS_OF, out=tmp_path / "none", quiet=True)
    assert not (tmp_path / "none").exists()
    half = _moved_scenes(tiny_manifest, tmp_path / "half.parquet", keep=2)
    run = predict_map(untrained, scenes=half, aoi=AOI, as_of=AS_OF, out=tmp_path / "half", workers=1, quiet=True)
    missing = [s for s in run.skipped_scenes if "not found" in s["reason"]]
    assert missing and all("/no/such/folder/" in s["reason"] for s in missing)
    assert run.mapped_pixels[AS_OF] > 0


def test_a_map_without_any_mapped_pixel_warns(
    untrained: Path, tiny_manifest: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="inseason.predict.maps"):
        run = predict_map(
            untrained,
            scenes=tiny_manifest,
            aoi=AOI,
            as_of=AS_OF,
            out=tmp_path / "m",
            workers=1,
            quiet=True,
            scl_mask=range(12),
        )
    assert run.mapped_pixels[AS_OF] == 0
    (record,) = [r for r in caplog.records if "has no mapped pixel" in r.getMessage()]
    assert record.levelno == logging.WARNING and AS_OF in record.getMessage()


def test_a_folder_another_run_writes_is_refused_before_writing(
    untrained: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "maps"
    script = (
        "import sys\nfrom inseason.storage import output_lock\n"
        f"with output_lock({str(out)!r}, verb='predict'):\n    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            with pytest.raises(OutputError, match=f"pid {holder.pid}") as info:
                predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)
            assert "\n" not in str(info.value)
            assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # nothing of the refused run
        finally:
            holder.kill()
    run = predict_map(untrained, scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)
    assert run.mapped_pixels[AS_OF] > 0 and not (out / LOCK_NAME).exists()  # the dead holder's lock was taken over


# ------------------------------------------------------------------------------------------- read faults


def test_a_block_still_unreadable_after_the_retries_ends_the_run(
    untrained: Path, tiny_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "maps"
    options: dict[str, Any] = dict(scenes=tiny_manifest, aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)
    real = maps.read_block

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise RemoteError("B04 of scene S: cannot read http://host/B04.tif (503) (failed 5 times): ... to resume")

    monkeypatch.setattr(maps, "read_block", unreadable)
    with pytest.raises(RemoteError) as info:
        predict_map(untrained, **options)
    message = str(info.value)
    assert "\n" not in message and message.startswith("block 0 of 2022: B04 of scene S: cannot read")
    assert not list(out.glob("map_*")) and not (out / "summary.json").exists()  # no map with a hole
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name] and not (out / LOCK_NAME).exists()
    monkeypatch.setattr(maps, "read_block", real)
    run = predict_map(untrained, **options)  # the network is back: the rerun maps the block
    assert run.mapped_pixels[AS_OF] > 0 and run.retried == 0


def test_read_block_raises_for_a_remote_file_and_skips_a_local_one(
    tiny_scenes: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from inseason.extract.sample import GDAL_COG_ENV
    from inseason.predict.read import map_grid, plan_blocks, read_block, scene_refs

    refs = scene_refs(tiny_scenes, since=dt.date(2022, 1, 1), until=dt.date(2022, 8, 15))
    grid = map_grid(AOI, refs)
    block = plan_blocks(grid, AOI, block_size=128)[0]
    broken = type(refs[0])(**{**refs[0].__dict__, "hrefs": {**refs[0].hrefs, "SCL": refs[0].hrefs["SCL"] + ".gone"}})
    series = read_block(block, grid=grid, scenes=[broken, *refs[1:3]], aoi=AOI)
    assert [s[0] for s in series.skipped] == [broken.scene_id] and series.counts.sum() > 0
    remote = type(refs[0])(**{**refs[0].__dict__, "hrefs": {**refs[0].hrefs, "SCL": "http://127.0.0.1:9/SCL.tif"}})
    waits: list[float] = []
    monkeypatch.setitem(GDAL_COG_ENV, "GDAL_HTTP_MAX_RETRY", "0")  # GDAL's own retries of a refused connection: ~5 s
    with pytest.raises(RemoteError) as info:
        read_block(block, grid=grid, scenes=[remote], aoi=AOI, retries=2, backoff=0.25, sleep=waits.append)
    assert str(info.value).startswith(f"SCL of scene {remote.scene_id}: cannot read http://127.0.0.1:9/SCL.tif (")
    assert "(failed 3 times)" in str(info.value) and waits == [0.25, 0.5]
