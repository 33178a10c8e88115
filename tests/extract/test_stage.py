"""`inseason extract` on synthetic worlds: values against the COGs and the generator, SCL and nodata masks,
one part file per scene, skipped scenes recorded, bad input refused."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import rasterio
from pyproj import Transformer

from inseason.config import SynthConfig
from inseason.errors import InputError, OutputError
from inseason.extract.sample import DEFAULT_SCL_MASK
from inseason.extract.stage import ExtractEstimate, ExtractRequest, ExtractResult, extract, run_extract
from inseason.observations import MANIFEST, SETTINGS, read_manifest, read_observations
from inseason.synth import load_world
from inseason.synth.acquisitions import plan_datatakes
from inseason.synth.scenes import tile_arrays
from inseason.tables import LABEL_POINTS, S2_BANDS, read_table, write_table
from tests.extract.helpers import scene_rows, spread_scenes, subset_manifest

if TYPE_CHECKING:
    from tests.extract.conftest import Inputs

Key = tuple[int, str]  # (point_id, scene_id)


# ------------------------------------------------------------------------------------------- helpers


def observed(out: Path) -> dict[Key, tuple[int, ...]]:
    """Observations by (point, scene): the 12 bands then the SCL; fails on a duplicate."""
    rows = read_observations(out).to_pylist()
    table = {(r["point_id"], r["scene_id"]): (*tuple(r[b] for b in S2_BANDS), r["scl"]) for r in rows}
    assert len(table) == len(rows), "duplicate observations"
    return table


def pixel_truth(
    inputs: Inputs, scenes: Sequence[dict[str, Any]], scl_mask: Sequence[int] = DEFAULT_SCL_MASK
) -> tuple[dict[Key, tuple[int, ...]], dict[str, set[Key]]]:
    """What extraction must give, read independently: every point's pixel of every band (``ds.index`` on
    each band's own grid, the whole raster read), SCL-masked and nodata dropped, the BOA offset added.
    Also returns the (point, scene) pairs dropped, by reason."""
    points = pq.read_table(inputs.points).to_pydict()
    lon, lat, years = np.array(points["lon"]), np.array(points["lat"]), np.array(points["year"])
    expected: dict[Key, tuple[int, ...]] = {}
    dropped: dict[str, set[Key]] = {"scl_nodata": set(), "masked": set(), "band_nodata": set()}
    for scene in scenes:
        hrefs = dict(scene["hrefs"])
        sel = np.flatnonzero(years == scene["date"].year)
        xs, ys = Transformer.from_crs(4326, scene["epsg"], always_xy=True).transform(lon[sel], lat[sel])
        values = {}
        for band in ("SCL", *S2_BANDS):
            with rasterio.open(hrefs[band]) as ds:
                array = ds.read(1)
                values[band] = [int(array[ds.index(x, y)]) for x, y in zip(xs, ys)]
        for j, i in enumerate(sel):
            key = (points["point_id"][i], scene["scene_id"])
            scl = values["SCL"][j]
            if scl == 0:
                dropped["scl_nodata"].add(key)
            elif scl in scl_mask:
                dropped["masked"].add(key)
            elif any(values[b][j] == 0 for b in S2_BANDS):
                dropped["band_nodata"].add(key)
            else:
                expected[key] = (*tuple(values[b][j] + scene["boa_offset"] for b in S2_BANDS), scl)
    return expected, dropped


# -------------------------------------------------------------------------------------------- values


def test_observations_equal_the_cog_pixels_after_the_offset(tiny_inputs: Inputs, tiny_observations: Path) -> None:
    scenes = scene_rows(tiny_inputs)
    expected, dropped = pixel_truth(tiny_inputs, scenes)
    got = observed(tiny_observations)
    assert got == expected
    offsets = {s["scene_id"]: s["boa_offset"] for s in scenes}
    assert {offsets[s] for _, s in got} == {0, -1000}  # both sides of the processing-baseline change
    assert len(got) > 1500
    assert len(dropped["masked"]) > 500 and len(dropped["scl_nodata"]) > 500  # clouds and the swath edge


def test_observations_equal_the_generator_truth(tiny_inputs: Inputs, tiny_observations: Path) -> None:
    info, state = load_world(tiny_inputs.world)
    takes = plan_datatakes(
        SynthConfig(**info["config"]), np.random.default_rng(np.random.SeedSequence([info["seed"], 2]))
    )
    truth = {r["scene_id"]: r for r in pq.read_table(tiny_inputs.world / "truth" / "scenes.parquet").to_pylist()}
    tile = state.grid.tiles[0]
    points = pq.read_table(tiny_inputs.points).to_pydict()
    xs, ys = Transformer.from_crs(4326, tile.epsg, always_xy=True).transform(points["lon"], points["lat"])
    where = dict(zip(points["point_id"], zip(xs, ys)))
    obs = read_observations(tiny_observations)
    checked = 0
    for day in (dt.date(2021, 7, 5), dt.date(2022, 7, 5)):  # the first clear-ish scene after each date
        candidates = pc.filter(obs, pc.greater_equal(obs.column("date"), pa.scalar(day, pa.date32())))
        scene_id = candidates.column("scene_id")[0].as_py()
        rows = pc.filter(obs, pc.equal(obs.column("scene_id"), scene_id)).to_pylist()
        arrays = tile_arrays(state, takes[truth[scene_id]["datatake"]], tile)
        offset = truth[scene_id]["boa_offset"]
        assert offset == (-1000 if day.year == 2022 else 0)
        for row in rows:
            for band in (*S2_BANDS, "SCL"):
                r, c = rasterio.transform.rowcol(
                    tile.transform({"B01": 60, "B09": 60, "B02": 10, "B03": 10, "B04": 10, "B08": 10}.get(band, 20)),
                    *where[row["point_id"]],
                )
                dn = int(arrays[band][r, c])
                assert row["scl" if band == "SCL" else band] == (dn if band == "SCL" else dn + offset), band
                checked += 1
    assert checked > 200


def test_the_default_mask_drops_the_course_classes_and_keeps_shadow_and_cirrus(tiny_observations: Path) -> None:
    scl = set(read_observations(tiny_observations).column("scl").to_pylist())
    assert scl.isdisjoint(DEFAULT_SCL_MASK)
    assert {3, 4} <= scl  # cloud shadow kept, as the course does
    assert scl <= {2, 3, 4, 5, 6, 10}


def test_a_custom_mask_drops_more(tiny_inputs: Inputs, tiny_observations: Path, tmp_path: Path) -> None:
    keep = spread_scenes(tiny_inputs, 24)
    scenes = subset_manifest(tiny_inputs, tmp_path / "scenes.parquet", keep)
    mask = (0, 1, 3, 7, 8, 9, 10, 11)
    extract(tiny_inputs.points, scenes, out=tmp_path / "obs", scl_mask=mask, workers=1, quiet=True)
    reference = {k: v for k, v in observed(tiny_observations).items() if k[1] in keep}
    got = observed(tmp_path / "obs")
    assert got == {k: v for k, v in reference.items() if v[-1] not in mask}
    assert len(got) < len(reference)  # shadow or cirrus was there to drop
    assert json.loads((tmp_path / "obs" / SETTINGS).read_text())["scl_mask"] == list(mask)


def test_points_off_the_swath_give_no_observation(tiny_inputs: Inputs, tiny_observations: Path) -> None:
    # (a band's own nodata under a valid SCL, where the 10/20/60 m swath edges differ: test_sample.py)
    partial = [
        s
        for s in scene_rows(tiny_inputs)
        if s["scene_id"]
        in {
            r["scene_id"]
            for r in pq.read_table(tiny_inputs.world / "truth" / "scenes.parquet").to_pylist()
            if r["nodata_percentage"] > 0
        }
    ][:6]
    _, dropped = pixel_truth(tiny_inputs, partial)
    assert len(dropped["scl_nodata"]) > 20
    got = observed(tiny_observations)
    assert not (dropped["scl_nodata"] | dropped["band_nodata"]) & got.keys()


# ---------------------------------------------------------------------------------------- the dataset


def test_one_part_file_per_scene_and_a_manifest(tiny_inputs: Inputs, tiny_observations: Path) -> None:
    manifest = read_manifest(tiny_observations)
    scenes = scene_rows(tiny_inputs)
    assert set(manifest) == {s["scene_id"] for s in scenes}
    assert {e["status"] for e in manifest.values()} == {"done"}
    obs = read_observations(tiny_observations)
    for scene in scenes:
        part = (
            tiny_observations
            / f"year={scene['date'].year}"
            / f"tile={scene['tile']}"
            / f"part-{scene['scene_id']}.parquet"
        )
        assert pq.read_metadata(part).num_rows == manifest[scene["scene_id"]]["observations"]
        assert pq.read_schema(part).metadata[b"inseason:scene_id"] == scene["scene_id"].encode()
    assert obs.num_rows == sum(e["observations"] for e in manifest.values())
    assert set(obs.column("year").to_pylist()) == {2021, 2022}
    assert not list(tiny_observations.rglob(".*"))  # no temporary file left
    lines = (tiny_observations / MANIFEST).read_text().splitlines()
    assert len(lines) == len(scenes) and all(json.loads(line)["bytes_read"] > 0 for line in lines)


def test_dry_run_estimates_and_writes_nothing(tiny_inputs: Inputs, tmp_path: Path) -> None:
    estimate = extract(
        tiny_inputs.points, tiny_inputs.scenes, out=tmp_path / "obs", dry_run=True, workers=2, quiet=True
    )
    assert estimate.scenes == len(scene_rows(tiny_inputs))
    assert estimate.points == pq.read_metadata(tiny_inputs.points).num_rows
    assert estimate.estimated_bytes > 0 and estimate.workers == 2
    assert not (tmp_path / "obs").exists()


# -------------------------------------------------------------------------------------- skipped scenes


def test_a_corrupt_or_missing_cog_skips_its_scene_with_the_reason(
    tiny_inputs: Inputs, tiny_observations: Path, tmp_path: Path
) -> None:
    keep = spread_scenes(tiny_inputs, 6)
    first, truncated, garbage, missing = keep[0], keep[1], keep[2], keep[3]
    rows = {s["scene_id"]: dict(s["hrefs"]) for s in scene_rows(tiny_inputs)}
    bad = tmp_path / "bad"
    bad.mkdir()
    data = Path(rows[truncated]["B04"]).read_bytes()
    (bad / "B04.tif").write_bytes(data[: len(data) // 2])
    (bad / "B11.tif").write_bytes(b"II*\x00" + b"\x00" * 100)
    (bad / "B02.tif").write_bytes(b"not a tiff at all")
    hrefs = {
        truncated: {"B04": str(bad / "B04.tif")},
        garbage: {"B11": str(bad / "B11.tif")},
        missing: {"SCL": str(bad / "SCL-nowhere.tif")},
        first: {"B02": str(bad / "B02.tif")},
    }
    scenes = subset_manifest(tiny_inputs, tmp_path / "scenes.parquet", keep, hrefs)

    totals = extract(tiny_inputs.points, scenes, out=tmp_path / "obs", workers=1, quiet=True)
    assert (totals.done, totals.skipped) == (2, 4)
    manifest = read_manifest(tmp_path / "obs")
    reasons = {k: v.get("reason", "") for k, v in manifest.items() if v["status"] == "skipped"}
    assert set(reasons) == {first, truncated, garbage, missing}
    assert reasons[truncated].startswith(f"B04 unreadable ({bad / 'B04.tif'})")
    assert reasons[garbage].startswith("B11 unreadable") and reasons[missing].startswith("SCL unreadable")
    assert "SCL-nowhere.tif" in reasons[missing] and "B02 unreadable" in reasons[first]
    reference = observed(tiny_observations)
    assert observed(tmp_path / "obs") == {k: v for k, v in reference.items() if k[1] in set(keep) - set(reasons)}

    # a rerun tries the skipped scenes again: repaired, they are extracted; the others are not read again
    shutil.copy(rows[truncated]["B04"], bad / "B04.tif")
    again = extract(tiny_inputs.points, scenes, out=tmp_path / "obs", workers=1, quiet=True)
    assert (again.resumed, again.done, again.skipped) == (2, 1, 3)
    assert read_manifest(tmp_path / "obs")[truncated]["status"] == "done"
    assert observed(tmp_path / "obs") == {
        k: v for k, v in reference.items() if k[1] in set(keep) - {first, garbage, missing}
    }


# -------------------------------------------------------------------------------------------- bad input


def test_missing_input_files_are_named(tiny_inputs: Inputs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"label points table .*nowhere\.parquet does not exist"):
        extract(tmp_path / "nowhere.parquet", tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)
    with pytest.raises(InputError, match=r"scene manifest table .*nowhere\.parquet does not exist"):
        extract(tiny_inputs.points, tmp_path / "nowhere.parquet", out=tmp_path / "obs", quiet=True)
    scenes = subset_manifest(
        tiny_inputs,
        tmp_path / "gone.parquet",
        hrefs={s["scene_id"]: {"B02": str(tmp_path / "gone" / "B02.tif")} for s in scene_rows(tiny_inputs)},
    )
    with pytest.raises(InputError, match=r"no scene of tile 15SYS .* can be opened .*gone/B02\.tif.*hrefs"):
        extract(tiny_inputs.points, scenes, out=tmp_path / "obs", quiet=True)
    assert not (tmp_path / "obs").exists()


def test_tables_of_the_wrong_schema_are_refused(tiny_inputs: Inputs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"label points table .*scenes\.parquet lacks columns \['point_id'"):
        extract(tiny_inputs.scenes, tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)
    text = tmp_path / "points.parquet"
    text.write_text("point_id,lon,lat\n1,-90.8,33.4\n")
    with pytest.raises(InputError, match="is not a readable Parquet file"):
        extract(text, tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)
    points = read_table(tiny_inputs.points, LABEL_POINTS, what="label points")
    wrong = points.set_column(points.schema.get_field_index("year"), "year", points.column("year").cast(pa.string()))
    write_table(wrong, tmp_path / "wrong.parquet")
    with pytest.raises(InputError, match=r"wrong type: year \(string, expected int16\)"):
        extract(tmp_path / "wrong.parquet", tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)


def test_empty_inputs_are_refused(tiny_inputs: Inputs, tmp_path: Path) -> None:
    scenes = subset_manifest(tiny_inputs, tmp_path / "none.parquet", keep=[])
    with pytest.raises(InputError, match=r"scene manifest .*none\.parquet is empty: widen the dates or the AOI"):
        extract(tiny_inputs.points, scenes, out=tmp_path / "obs", quiet=True)
    points = read_table(tiny_inputs.points, LABEL_POINTS, what="label points")
    write_table(points.slice(0, 0), tmp_path / "nopoints.parquet")
    with pytest.raises(InputError, match="is empty: nothing to extract"):
        extract(tmp_path / "nopoints.parquet", tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)


def test_crs_mismatches_are_refused(tiny_inputs: Inputs, tmp_path: Path) -> None:
    scenes = subset_manifest(tiny_inputs, tmp_path / "utm16.parquet", epsg=32616)
    with pytest.raises(InputError, match=r"says EPSG:32616 for .* but its B02 .* is in EPSG:32615: rebuild"):
        extract(tiny_inputs.points, scenes, out=tmp_path / "obs", quiet=True)
    points = read_table(tiny_inputs.points, LABEL_POINTS, what="label points")
    projected = points.set_column(points.schema.get_field_index("lon"), "lon", points.column("x"))
    write_table(
        projected.set_column(projected.schema.get_field_index("lat"), "lat", points.column("y")),
        tmp_path / "projected.parquet",
    )
    with pytest.raises(InputError, match="lon/lat outside EPSG:4326 degrees"):
        extract(tmp_path / "projected.parquet", tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)
    assert not (tmp_path / "obs").exists()


def test_points_outside_every_scene_are_refused_or_counted(tiny_inputs: Inputs, tmp_path: Path) -> None:
    points = read_table(tiny_inputs.points, LABEL_POINTS, what="label points")
    lon = points.column("lon").to_numpy()
    far = points.set_column(points.schema.get_field_index("lon"), "lon", pa.array(lon + 1.0))
    write_table(far, tmp_path / "far.parquet")
    with pytest.raises(InputError, match=r"no scene of .* covers the points of .*far.parquet"):
        extract(tmp_path / "far.parquet", tiny_inputs.scenes, out=tmp_path / "obs", quiet=True)
    half = np.where(np.arange(len(lon)) % 2 == 0, lon, lon + 1.0)
    write_table(
        points.set_column(points.schema.get_field_index("lon"), "lon", pa.array(half)), tmp_path / "half.parquet"
    )
    scenes = subset_manifest(tiny_inputs, tmp_path / "scenes.parquet", spread_scenes(tiny_inputs, 2))
    totals = extract(tmp_path / "half.parquet", scenes, out=tmp_path / "obs", workers=1, quiet=True)
    assert totals.unassigned_points == len(lon) // 2
    assert json.loads((tmp_path / "obs" / SETTINGS).read_text())["unassigned_points"] == len(lon) // 2


def test_bad_options_and_foreign_folders_are_refused(tiny_inputs: Inputs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"scl_mask .* between 0 and 11"):
        extract(tiny_inputs.points, tiny_inputs.scenes, out=tmp_path / "obs", scl_mask=(0, 12), quiet=True)
    with pytest.raises(InputError, match="season start '13-01'"):
        extract(tiny_inputs.points, tiny_inputs.scenes, out=tmp_path / "obs", season_start="13-01", quiet=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty and holds no extraction"):
        extract(tiny_inputs.points, tiny_inputs.scenes, out=tmp_path / "busy", quiet=True)
    scenes = subset_manifest(tiny_inputs, tmp_path / "scenes.parquet", spread_scenes(tiny_inputs, 2))
    extract(tiny_inputs.points, scenes, out=tmp_path / "obs", workers=1, quiet=True)
    with pytest.raises(OutputError, match="extracted from other inputs or options"):
        extract(tiny_inputs.points, scenes, out=tmp_path / "obs", scl_mask=(0, 9), workers=1, quiet=True)


# ---------------------------------------------------------------------------------- request and result


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--scl-mask", "0,300"], {"scl_mask": [0, 300]}),
        (["--engine", "dask"], {"engine": "dask"}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    tiny_inputs: Inputs, tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    out = tmp_path / "obs"
    with pytest.raises(InputError) as info:
        extract(tiny_inputs.points, tiny_inputs.scenes, out=out, quiet=True, **options)
    args = ["extract", str(tiny_inputs.points), str(tiny_inputs.scenes), "--out", str(out), *flags]
    result = CliRunner().invoke(app, ["--quiet", *args])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        ExtractRequest.of(points=str(tiny_inputs.points), scenes=str(tiny_inputs.scenes), out=str(out), **options)
    assert not out.exists()


def test_an_extract_request_round_trips() -> None:
    request = ExtractRequest.of(
        points="s3://bucket/points.parquet",
        scenes="scenes.parquet",
        out="s3://bucket/obs",
        scl_mask=[11, 3, 0],
        season_start="10-01",
        workers=2,
        engine="spark",
        spark_master="local[2]",
        dry_run=True,
    )
    assert request.scl_mask == (11, 3, 0) and request.engine == "spark"
    assert ExtractRequest.of(**request.model_dump()) == request


def test_the_extract_result_holds_what_was_written(tiny_inputs: Inputs, tmp_path: Path) -> None:
    scenes = subset_manifest(tiny_inputs, tmp_path / "scenes.parquet", spread_scenes(tiny_inputs, 2))
    request = ExtractRequest.of(points=str(tiny_inputs.points), scenes=str(scenes), out=str(tmp_path / "obs"))
    estimate = run_extract(request.model_copy(update={"dry_run": True, "workers": 1}))
    assert isinstance(estimate, ExtractEstimate) and (estimate.scenes, estimate.workers) == (2, 1)
    assert not (tmp_path / "obs").exists()

    totals = run_extract(request.model_copy(update={"workers": 1, "quiet": True}))
    assert isinstance(totals, ExtractResult)
    manifest = read_manifest(tmp_path / "obs")
    settings = json.loads((tmp_path / "obs" / SETTINGS).read_text())
    assert (totals.scenes, totals.resumed, totals.done, totals.skipped) == (2, 0, 2, 0) == (2, 0, len(manifest), 0)
    assert totals.retried == 0  # local files: nothing to retry
    assert totals.observations == read_observations(tmp_path / "obs").num_rows > 0
    assert totals.bytes_read == sum(e["bytes_read"] for e in manifest.values()) > 0
    assert totals.unassigned_points == settings["unassigned_points"]
    assert list(asdict(totals)) == [
        "scenes",
        "resumed",
        "done",
        "skipped",
        "retried",
        "observations",
        "bytes_read",
        "unassigned_points",
        "seconds",
    ]  # the order `inseason extract --json` prints
    again = extract(tiny_inputs.points, scenes, out=tmp_path / "obs", workers=1, quiet=True)
    assert (again.resumed, again.done, again.observations, again.bytes_read) == (2, 0, 0, 0)


@pytest.mark.parametrize("workers", [0, -1])
def test_fewer_than_one_worker_is_refused_before_anything_is_written(
    tiny_inputs: Inputs, tmp_path: Path, workers: int
) -> None:
    with pytest.raises(InputError, match=rf"^--workers {workers}: give at least 1 worker process"):
        extract(tiny_inputs.points, tiny_inputs.scenes, out=tmp_path / "obs", workers=workers, quiet=True)
    assert not (tmp_path / "obs").exists()


@pytest.mark.parametrize(
    ("code", "why"),
    [(errno.ENOSPC, "the disk is full: free some space"), (errno.EROFS, "it is not writable: choose a writable --out")],
)
def test_a_full_disk_or_a_read_only_folder_is_one_line_naming_the_folder(
    tiny_inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, why: str
) -> None:
    scenes = subset_manifest(tiny_inputs, tmp_path / "scenes.parquet", spread_scenes(tiny_inputs, 2))

    def write_part(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("inseason.extract.stage.write_part", write_part)  # workers=1: the pool runs in this process
    with pytest.raises(OutputError) as info:
        extract(tiny_inputs.points, scenes, out=tmp_path / "obs", workers=1, quiet=True)
    assert str(info.value) == (
        f"cannot write the observations to {tmp_path / 'obs'}: {why}, then run the same command again to resume"
    )
    assert not list((tmp_path / "obs").rglob(".*"))  # the lock released, no temporary
