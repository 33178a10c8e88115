"""predict_map on the tiny world: accuracy against the generator's truth and the point evaluation, the COG
and STAC outputs, several as-of dates, kill-and-resume, the bad inputs of issue 8, and the map products of
issue 15 (mapped areas, STAC links, double crops only for double-crop classes, nothing left behind by a
refused run, the AOI outside the training region)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from inseason.errors import InputError, OutputError
from inseason.predict.maps import MapRun, PredictRequest, _double_crop_codes, predict_map, read_summary, run_predict
from inseason.predict.read import Block, MapGrid
from inseason.predict.truth import world_truth
from inseason.train import load_bundle, predict_series

AS_OF = ["2022-06-01", "2022-08-15"]


@pytest.fixture(scope="module")
def reference(
    tiny_bundle: Path, tiny_scenes: pa.Table, tiny_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, MapRun]:
    """One uninterrupted two-date map run of 2022 with two workers."""
    scenes = tmp_path_factory.mktemp("manifest") / "scenes.parquet"
    pq.write_table(tiny_scenes, scenes)
    out = tmp_path_factory.mktemp("maps") / "maps"
    return scenes, predict_map(
        tiny_bundle,
        scenes=scenes,
        aoi=tiny_world / "aoi.geojson",
        as_of=AS_OF,
        out=out,
        block_size=128,
        workers=2,
        quiet=True,
    )


def _map_truth(world: Path, cog: str, label_of) -> tuple[np.ndarray, np.ndarray]:
    """The map's class index and the truth class index (by the test model's label map) of every pixel."""
    bundle_names = json.loads(rasterio.open(cog).tags()["INSEASON_CLASS_NAMES"])
    with rasterio.open(cog) as ds:
        classes = ds.read(1)
        grid = MapGrid(epsg=ds.crs.to_epsg(), transform=ds.transform, width=ds.width, height=ds.height)
    block = Block(0, 0, 0, grid.height, grid.width)
    pixels = np.flatnonzero(classes.ravel() > 0)
    truth = world_truth(world, grid=grid, block=block, pixels=pixels, year=2022)
    names = [label_of(c) for c in truth.codes]
    return classes.ravel()[pixels] - 1, np.array([bundle_names.index(n) for n in names])


def test_map_accuracy_is_close_to_the_point_evaluation(
    reference,
    tiny_bundle: Path,
    tiny_world: Path,
    tiny_scenes: pa.Table,
    tiny_aoi: BaseGeometry,
    make_pixel_series,
    label_of,
) -> None:
    _, run = reference
    predicted, truth = _map_truth(tiny_world, run.maps["2022-08-15"], label_of)
    map_accuracy = float((predicted == truth).mean())
    # the point evaluation truncates each series at the as-of date (as inseason evaluate does)
    points = make_pixel_series(tiny_world, tiny_scenes, tiny_aoi, year=2022, stride=15, until=dt.date(2022, 8, 15))
    bundle = load_bundle(tiny_bundle)
    probabilities = predict_series(bundle, points, as_of=dt.date(2022, 8, 15))
    labels = bundle.class_index(points.column("label").to_pylist())
    point_accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    assert map_accuracy > 0.5  # a small TempCNN of few epochs: well above chance (1/7), not a quality bar
    assert abs(map_accuracy - point_accuracy) < 0.03


def test_outputs_per_as_of_date(reference, tiny_bundle: Path) -> None:
    _, run = reference
    bundle = load_bundle(tiny_bundle)
    assert sorted(run.maps) == AS_OF and run.blocks == 4 and run.resumed_blocks == 0 and run.empty_blocks == []
    for date in AS_OF:
        valid, errors, _ = cog_validate(run.maps[date])
        assert valid, errors
        with rasterio.open(run.maps[date]) as ds:
            assert ds.crs.to_epsg() == 32615 and ds.transform.a == 10.0 and ds.count == 2
            assert ds.tags()["INSEASON_AS_OF"] == date
            assert json.loads(ds.tags()["INSEASON_CLASS_NAMES"]) == bundle.class_names
            for k, cls in enumerate(bundle.classes):
                assert ds.colormap(1)[k + 1][:3] == cls.color
            classes, confidence = ds.read(1), ds.read(2)
            fingerprint = ds.tags()["INSEASON_MODEL_FINGERPRINT"]
        assert ((classes > 0) == (confidence > 0)).all() and confidence.max() <= 100
        assert run.mapped_pixels[date] == int((classes > 0).sum()) > 50_000
        item = json.loads(Path(run.items[date]).read_text())
        assert item["properties"]["inseason:as_of"] == date
        assert item["properties"]["inseason:model_fingerprint"] == fingerprint
    soy = bundle.class_names.index("Soybeans") + 1
    june, august = (rasterio.open(run.maps[d]).read(1) for d in AS_OF)
    assert (june != august).any() and (august == soy).sum() > 0
    assert Path(run.gif).is_file()
    doubles = pq.read_table(run.double_crops["2022-08-15"])
    assert doubles.num_rows > 500
    assert set(doubles.column("first_crop").to_pylist()) == {"Winter Wheat"}
    dates = [d for d in doubles.column("transition_date").to_pylist() if d is not None]
    assert len(dates) > 1000  # the world has 2048 true double-crop pixels; pixels predicted so wrongly show one cycle
    assert all(dt.date(2022, 5, 1) <= d <= dt.date(2022, 7, 31) for d in dates)
    assert json.loads((Path(run.out) / "summary.json").read_text())["maps"] == run.maps


def test_mapped_areas_match_the_cogs(reference, tiny_bundle: Path) -> None:
    _, run = reference
    bundle = load_bundle(tiny_bundle)
    summary = json.loads((Path(run.out) / "summary.json").read_text())
    assert summary["areas"] == run.areas and [a["as_of"] for a in run.areas] == AS_OF
    for entry in run.areas:
        with rasterio.open(run.maps[entry["as_of"]]) as ds:
            counts = np.bincount(ds.read(1).ravel(), minlength=len(bundle.classes) + 1)
            pixel_area = abs(ds.transform.a * ds.transform.e)
        assert entry["pixel_area_m2"] == pixel_area == 100.0
        assert [c["index"] for c in entry["classes"]] == list(range(len(bundle.classes) + 1))
        assert [c["name"] for c in entry["classes"]] == ["no data", *bundle.class_names]
        assert [c["pixels"] for c in entry["classes"]] == counts.tolist()
        assert [c["hectares"] for c in entry["classes"]] == pytest.approx((counts * 0.01).tolist())
        assert sum(c["pixels"] for c in entry["classes"][1:]) == run.mapped_pixels[entry["as_of"]]


def test_stac_items_link_scenes_model_and_gif(reference, tiny_bundle: Path, tiny_scenes: pa.Table) -> None:
    _, run = reference
    for date in AS_OF:
        item = json.loads(Path(run.items[date]).read_text())
        assert item["assets"]["season"]["href"] == "./season.gif"
        assert item["assets"]["classes"]["raster:bands"][1]["unit"] == "%"
        assert item["assets"]["classes"]["classification:classes"][0]["nodata"] is True
        # the manifest came from a static catalog: the scenes have no STAC item href, so they are listed by
        # id (every 2022 scene up to the date) and get no derived_from link (a bare id is no link)
        expected = sorted(
            r["scene_id"]
            for r in tiny_scenes.select(["scene_id", "date"]).to_pylist()
            if dt.date(2022, 1, 1) <= r["date"] <= dt.date.fromisoformat(date)
        )
        assert sorted(item["properties"]["inseason:source_scenes"]) == expected and expected
        assert [link for link in item["links"] if link["rel"] == "derived_from"] == []
        # the model link is relative to the item's folder and leads to the bundle's model.json
        (model,) = [link for link in item["links"] if link["rel"] == "via"]
        assert not Path(model["href"]).is_absolute() and "fingerprint" in model["title"]
        folder = Path(run.items[date]).parent
        assert model["href"] == os.path.relpath((tiny_bundle / "model.json").resolve(), folder.resolve())
        assert (folder / model["href"]).resolve() == (tiny_bundle / "model.json").resolve()


def test_model_href_is_relative_on_disk_and_a_uri_for_s3(tiny_bundle: Path, tmp_path: Path) -> None:
    from inseason.predict.maps import _model_href

    bundle = load_bundle(tiny_bundle)
    model = (tiny_bundle / "model.json").resolve()
    out = tmp_path / "maps" / "2022"
    assert _model_href(bundle, str(out)) == Path(os.path.relpath(model, out.resolve())).as_posix()
    assert (out / _model_href(bundle, str(out))).resolve() == model
    assert _model_href(bundle, "s3://bucket/maps") == model.as_uri() and model.as_uri().startswith("file:///")


def test_double_crop_rows_only_for_double_crop_classes(
    reference, tiny_bundle: Path, tiny_world: Path, tiny_aoi: BaseGeometry, tmp_path: Path
) -> None:
    """Issue 15: an "Other" class holding CDL 26 among its codes made every Other pixel a double crop.

    The double-crop class here also holds a stray code (24) beside 26, and its model.json entry declares its
    first and second crop: the declaration alone makes it a double crop, so its rows prove the map run reads
    the declared crops."""
    scenes, _ = reference
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    manifest = json.loads((bundle / "model.json").read_text())
    names = [c["name"] for c in manifest["classes"]]
    other, double = names.index("Other"), names.index("Dbl Crop WinWht/Soybeans")
    manifest["classes"][other]["codes"] = [26, *manifest["classes"][other]["codes"]]
    undeclared = dict(manifest, classes=[dict(c) for c in manifest["classes"]])
    undeclared["classes"][double]["codes"] = [26, 24]
    (bundle / "model.json").write_text(json.dumps(undeclared))
    assert not _double_crop_codes(load_bundle(bundle)).any()  # 26 with a stray code and no declaration: none
    manifest["classes"][double].update(codes=[26, 24], first_crop="Winter Wheat", second_crop="Soybeans")
    (bundle / "model.json").write_text(json.dumps(manifest))
    loaded = load_bundle(bundle)
    assert (loaded.classes[double].first_crop, loaded.classes[double].second_crop) == ("Winter Wheat", "Soybeans")
    codes = _double_crop_codes(loaded)
    assert codes.tolist() == [26 if k == double else 0 for k in range(len(names))]
    run = predict_map(
        bundle,
        scenes=scenes,
        aoi=tiny_aoi,  # the whole world: double crops and Other both get mapped, whatever the threads' rounding
        as_of="2022-08-15",
        out=tmp_path / "maps",
        workers=1,
        quiet=True,
    )
    table = pq.read_table(run.double_crops["2022-08-15"])
    with rasterio.open(run.maps["2022-08-15"]) as ds:
        classes = ds.read(1)
        rows, cols = rasterio.transform.rowcol(ds.transform, table.column("x").to_numpy(), table.column("y").to_numpy())
    assert (classes == other + 1).sum() > 0 and table.num_rows > 0
    assert (classes[rows, cols] == double + 1).all()
    assert table.num_rows == int((classes == double + 1).sum())
    assert set(table.column("first_crop").to_pylist()) == {"Winter Wheat"}


def test_double_crop_class_rules() -> None:
    from types import SimpleNamespace

    from inseason.train.bundle import LabelClass

    def codes_of(classes: list[tuple[int, ...]], crops: list[tuple[str, str] | None] | None = None) -> list[int]:
        crops = crops or [None] * len(classes)
        fake = SimpleNamespace(
            classes=tuple(
                LabelClass(
                    name=f"c{i}",
                    codes=c,
                    color=(0, 0, 0),
                    first_crop=k[0] if k else None,
                    second_crop=k[1] if k else None,
                )
                for i, (c, k) in enumerate(zip(classes, crops))
            )
        )
        return _double_crop_codes(fake).tolist()

    assert codes_of([(26,), (1, 26, 61), (5,)]) == [26, 0, 0]
    assert codes_of([(26, 26)]) == [26]  # the same code twice is still one double-crop code
    assert codes_of([(26, 225)]) == [0]  # two different double crops: no one sequence
    declared = [("Winter Wheat", "Soybeans"), None]
    assert codes_of([(26, 24), (26, 1)], declared) == [26, 0]  # a declared double crop with a stray code
    assert codes_of([(26, 225)], [("Winter Wheat", "Soybeans")]) == [0]  # declared, but two double-crop codes
    assert codes_of([(24, 1)], [("Winter Wheat", "Soybeans")]) == [0]  # declared, but no double-crop code


def _kill_when_blocks(out: Path, process: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((out / "blocks").glob("*/*.npz"))) >= count:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_killed_run_resumes_to_the_same_maps(reference, tiny_bundle: Path, tiny_world: Path, tmp_path: Path) -> None:
    scenes, run = reference
    out = tmp_path / "maps"
    script = (
        f"from inseason.predict.maps import predict_map\n"
        f"if __name__ == '__main__':\n"
        f"    predict_map({str(tiny_bundle)!r}, scenes={str(scenes)!r}, aoi={str(tiny_world / 'aoi.geojson')!r},"
        f" as_of={AS_OF!r}, out={str(out)!r}, block_size=128, workers=1, quiet=True)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONWARNINGS": "ignore"})
    _kill_when_blocks(out, process, 2)
    finished = len(list((out / "blocks").glob("*/*.npz")))
    assert 2 <= finished < 4 and not list(out.glob("*.tif"))
    resumed = predict_map(
        tiny_bundle,
        scenes=scenes,
        aoi=tiny_world / "aoi.geojson",
        as_of=AS_OF,
        out=out,
        block_size=128,
        workers=1,
        quiet=True,
    )
    assert resumed.resumed_blocks == finished
    for date in AS_OF:
        with rasterio.open(run.maps[date]) as a, rasterio.open(resumed.maps[date]) as b:
            assert (a.read() == b.read()).all()


def test_bad_inputs(reference, tiny_bundle: Path, tiny_world: Path, tiny_scenes: pa.Table, tmp_path: Path) -> None:
    scenes, _ = reference
    aoi = tiny_world / "aoi.geojson"
    with pytest.raises(InputError, match="before any scene"):
        predict_map(
            tiny_bundle, scenes=scenes, aoi=aoi, as_of="2022-01-15", out=tmp_path / "early", workers=1, quiet=True
        )
    hrefs = [{k: v for k, v in h if k != "B11"} for h in tiny_scenes.column("hrefs").to_pylist()]
    no_b11 = tiny_scenes.set_column(
        tiny_scenes.schema.get_field_index("hrefs"),
        "hrefs",
        pa.array([list(h.items()) for h in hrefs], tiny_scenes.schema.field("hrefs").type),
    )
    with pytest.raises(InputError, match="bands the model was trained on"):
        predict_map(
            tiny_bundle, scenes=no_b11, aoi=aoi, as_of="2022-06-01", out=tmp_path / "bands", workers=1, quiet=True
        )
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        predict_map(
            tiny_bundle,
            scenes=scenes,
            aoi=aoi,
            as_of="2022-06-01",
            out=tmp_path / "file" / "maps",
            workers=1,
            quiet=True,
        )
    with pytest.raises(InputError, match="not a date"):
        predict_map(tiny_bundle, scenes=scenes, aoi=aoi, as_of="June", out=tmp_path / "june", quiet=True)
    with pytest.raises(InputError, match=r"crop mask .* does not exist"):
        predict_map(
            tiny_bundle,
            scenes=scenes,
            aoi=aoi,
            as_of="2022-06-01",
            out=tmp_path / "mask",
            quiet=True,
            crop_mask=tmp_path / "no-such.tif",
        )
    with pytest.raises(InputError, match="not a readable raster"):
        predict_map(
            tiny_bundle,
            scenes=scenes,
            aoi=aoi,
            as_of="2022-06-01",
            out=tmp_path / "mask",
            quiet=True,
            crop_mask=tmp_path / "file",
        )
    # issue 15: a refused run creates nothing in --out (no run.json that would refuse the corrected run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_scenes_without_the_model_bands_are_skipped_with_a_counted_reason() -> None:
    from inseason.predict.maps import _usable_scenes
    from inseason.predict.read import SceneRef

    def ref(scene_id: str, bands: list[str]) -> SceneRef:
        return SceneRef(
            scene_id=scene_id,
            date=dt.date(2022, 6, 1),
            epsg=32615,
            boa_offset=0,
            hrefs={b: f"/{scene_id}/{b}.tif" for b in bands},
        )

    full, one, two = ref("a", ["SCL", "B04", "B08"]), ref("b", ["SCL", "B04"]), ref("c", ["B04"])
    usable, skipped = _usable_scenes([full, one, two], ["B04", "B08"])
    assert usable == [full]
    assert skipped == [
        {"scene_id": "b", "reason": "1 asset missing: B08"},
        {"scene_id": "c", "reason": "2 assets missing: SCL, B08"},
    ]
    with pytest.raises(InputError) as error:
        _usable_scenes([one, two], ["B04", "B08"])
    assert str(error.value) == (
        "no scene has the bands the model was trained on (B04, B08; e.g. scene b: 1 asset "
        "missing: B08): use a model trained on bands the scenes have"
    )
    assert _usable_scenes([], ["B04"]) == ([], [])


def test_refused_run_leaves_out_usable(reference, tiny_bundle: Path, tmp_path: Path) -> None:
    scenes, _ = reference
    out = tmp_path / "maps"
    out.mkdir()  # an empty folder made beforehand stays empty
    aoi = box(-90.805, 33.39, -90.795, 33.40)
    with pytest.raises(InputError, match="before any scene"):
        predict_map(tiny_bundle, scenes=scenes, aoi=aoi, as_of="2022-01-15", out=out, workers=1, quiet=True)
    assert list(out.iterdir()) == []
    run = predict_map(tiny_bundle, scenes=scenes, aoi=aoi, as_of="2022-08-15", out=out, workers=1, quiet=True)
    assert sorted(run.maps) == ["2022-08-15"] and run.mapped_pixels["2022-08-15"] > 0
    assert (out / "run.json").is_file() and (out / "summary.json").is_file()


def test_all_cloud_blocks_are_recorded_nodata(
    reference, tiny_bundle: Path, tiny_world: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenes, _ = reference
    with caplog.at_level(logging.DEBUG, logger="inseason.predict.maps"):
        run = predict_map(
            tiny_bundle,
            scenes=scenes,
            aoi=tiny_world / "aoi.geojson",
            as_of="2022-04-01",
            out=tmp_path / "cloudy",
            block_size=128,
            workers=1,
            quiet=True,
            scl_mask=range(12),
        )
    assert len(run.empty_blocks) == 4 and "no valid observation" in run.empty_blocks[0]["reason"]
    empty = [r for r in caplog.records if "has no valid observation" in r.getMessage()]
    assert len(empty) == 4 and {r.levelno for r in empty} == {logging.DEBUG}  # summary.json lists them, not warnings
    with rasterio.open(run.maps["2022-04-01"]) as ds:
        assert ds.read(1).max() == 0
    with pytest.raises(OutputError, match="other settings"):
        predict_map(
            tiny_bundle,
            scenes=scenes,
            aoi=tiny_world / "aoi.geojson",
            as_of="2022-05-01",
            out=tmp_path / "cloudy",
            block_size=128,
            workers=1,
            quiet=True,
        )


def _outside_bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A copy of the test bundle whose recorded training region is the Alps, far from the Mississippi delta."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    manifest = json.loads((bundle / "model.json").read_text())
    manifest["training_region"] = [10.0, 45.0, 11.0, 46.0]
    (bundle / "model.json").write_text(json.dumps(manifest))
    return bundle


def test_aoi_outside_the_training_region_is_refused(reference, tiny_bundle: Path, tmp_path: Path) -> None:
    scenes, _ = reference
    bundle = _outside_bundle(tiny_bundle, tmp_path)
    aoi = box(-90.805, 33.39, -90.795, 33.40)
    with pytest.raises(InputError) as error:
        predict_map(bundle, scenes=scenes, aoi=aoi, as_of="2022-08-15", out=tmp_path / "maps", workers=1, quiet=True)
    message = str(error.value)
    assert "\n" not in message and "--allow-outside" in message and "lies entirely outside" in message
    assert "(-90.8050, 33.3900, -90.7950, 33.4000)" in message  # the AOI's bounds
    assert "(10.0000, 45.0000, 11.0000, 46.0000;" in message  # the training region
    assert not (tmp_path / "maps").exists()


def test_aoi_overlapping_the_training_region_partly_is_mapped(caplog: pytest.LogCaptureFixture) -> None:
    """Only an AOI that does not meet the training region at all is refused; one reaching past its edge is not."""
    from types import SimpleNamespace

    from inseason.predict.maps import _check_region

    bundle = SimpleNamespace(manifest={"training_region": [-90.80, 33.39, -90.70, 33.50]})
    partly = box(-90.85, 33.35, -90.79, 33.40)  # mostly west and south of the region, one corner inside
    with caplog.at_level(logging.INFO, logger="inseason.predict.maps"):
        _check_region(bundle, partly, allow_outside=False)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    with pytest.raises(InputError, match="lies entirely outside"):
        _check_region(bundle, box(-90.85, 33.35, -90.81, 33.38), allow_outside=False)


def test_crop_mask_and_allow_outside(
    reference, tiny_bundle: Path, tiny_world: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenes, _run = reference
    bundle = _outside_bundle(tiny_bundle, tmp_path)
    aoi = box(-90.805, 33.39, -90.795, 33.40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a log record, not a Python warning
        with caplog.at_level(logging.WARNING, logger="inseason.predict.maps"):
            masked = predict_map(
                bundle,
                scenes=scenes,
                aoi=aoi,
                as_of="2022-08-15",
                out=tmp_path / "masked",
                crop_mask=tiny_world / "labels" / "CDL_2021.tif",
                workers=1,
                quiet=True,
                allow_outside=True,
            )
    region = [r for r in caplog.records if "outside the model's training region" in r.getMessage()]
    assert len(region) == 1 and region[0].levelno == logging.WARNING and region[0].name == "inseason.predict.maps"
    with rasterio.open(masked.maps["2022-08-15"]) as ds:
        classes = ds.read(1)
    mapped = int((classes > 0).sum())
    assert 0 < mapped < classes.size * 0.9


def test_source_scenes_of_a_stac_api_link_their_items(tiny_scenes: pa.Table, tiny_aoi: BaseGeometry) -> None:
    from inseason.predict.maps import _source_scenes

    meta = dict(tiny_scenes.schema.metadata)
    query = json.loads(meta[b"inseason:query"])
    meta[b"inseason:query"] = json.dumps({**query, "stac": "http://127.0.0.1:8000/", "collection": "sentinel-2-l2a"})
    api = tiny_scenes.replace_schema_metadata(meta)
    scene_id = tiny_scenes.column("scene_id")[0].as_py()
    found = _source_scenes(api, tiny_aoi)
    assert len(found) == tiny_scenes.num_rows
    assert found[scene_id].href == f"http://127.0.0.1:8000/collections/sentinel-2-l2a/items/{scene_id}"
    assert all(s.href is None for s in _source_scenes(tiny_scenes, tiny_aoi).values())  # a static catalog
    assert _source_scenes(api, box(10.0, 45.0, 11.0, 46.0)) == {}  # no footprint meets a far AOI
    # a search of two collections: each scene links to its own collection's item
    other = tiny_scenes.column("scene_id")[1].as_py()
    names = [
        "sentinel-2-c1-l2a" if s == other else "sentinel-2-l2a" for s in tiny_scenes.column("scene_id").to_pylist()
    ]
    merged = api.set_column(api.schema.get_field_index("collection"), "collection", pa.array(names, pa.string()))
    found = _source_scenes(merged, tiny_aoi)
    assert found[other].href == f"http://127.0.0.1:8000/collections/sentinel-2-c1-l2a/items/{other}"
    assert found[scene_id].href == f"http://127.0.0.1:8000/collections/sentinel-2-l2a/items/{scene_id}"


# ---------------------------------------------------------------------------------- request and result


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (["--as-of", "June"], {"as_of": "June"}),
        (["--as-of", "2022-06-01", "--engine", "dask"], {"as_of": "2022-06-01", "engine": "dask"}),
        (["--as-of", "2022-06-01", "--block-size", "8"], {"as_of": "2022-06-01", "block_size": 8}),
        (["--as-of", "2022-06-01", "--scl-mask", "0,300"], {"as_of": "2022-06-01", "scl_mask": [0, 300]}),
    ],
)
def test_a_bad_option_reads_the_same_from_the_cli_and_the_api(
    reference, tiny_bundle: Path, tiny_world: Path, tmp_path: Path, flags: list[str], options: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from inseason.cli import app

    scenes, _ = reference
    aoi, out = tiny_world / "aoi.geojson", tmp_path / "maps"
    with pytest.raises(InputError) as info:
        predict_map(tiny_bundle, scenes=scenes, aoi=aoi, out=out, quiet=True, **options)
    args = ["predict", str(tiny_bundle), "--aoi", str(aoi), "--scenes", str(scenes), "--out", str(out), *flags]
    result = CliRunner().invoke(app, ["--quiet", *args])
    assert isinstance(result.exception, InputError) and str(result.exception) == str(info.value)
    with pytest.raises(InputError, match=re.escape(str(info.value))):
        PredictRequest.of(bundle=str(tiny_bundle), scenes=str(scenes), aoi=str(aoi), out=str(out), **options)
    assert not out.exists()


def test_a_predict_request_round_trips(tiny_aoi: BaseGeometry) -> None:
    request = PredictRequest.of(
        bundle="runs/model",
        aoi="-90.81,33.39,-90.79,33.41",
        as_of=["2022-08-15", dt.date(2022, 6, 1), "2022-06-01"],
        out="s3://bucket/maps",
        stac="https://earth-search.aws.element84.com/v1",
        block_size=64,
        workers=2,
        crop_mask="s3://bucket/CDL_2021.tif",
        scl_mask=[0, 9],
        batch_size=512,
        engine="spark",
        spark_master="local[2]",
        quiet=True,
        allow_outside=True,
    )
    assert request.as_of == (dt.date(2022, 6, 1), dt.date(2022, 8, 15)) and request.scl_mask == (0, 9)
    assert PredictRequest.of(**request.model_dump()) == request
    with_geometry = request.model_copy(update={"aoi": tiny_aoi})
    assert PredictRequest.of(**with_geometry.model_dump()).aoi is tiny_aoi  # a geometry travels as itself
    with pytest.raises(InputError, match=re.escape("give exactly one of --scenes (a scene manifest) or --stac")):
        PredictRequest.of(**{**request.model_dump(), "scenes": "scenes.parquet"})


def test_the_map_run_holds_what_was_written(reference, tiny_bundle: Path, tiny_world: Path, tmp_path: Path) -> None:
    scenes, run = reference
    out = tmp_path / "maps"
    shutil.copytree(run.out, out)  # every block finished: the run resumes them all and assembles the maps again
    request = PredictRequest.of(
        bundle=str(tiny_bundle),
        aoi=str(tiny_world / "aoi.geojson"),
        as_of=AS_OF,
        out=str(out),
        scenes=str(scenes),
        block_size=128,
        quiet=True,
    )
    again = run_predict(request, bundle=load_bundle(tiny_bundle))
    assert isinstance(again, MapRun) and again.out == str(out)
    assert (
        (again.blocks, again.resumed_blocks) == (run.blocks, run.blocks) == (len(list(out.glob("blocks/*/*.npz"))), 4)
    )
    assert json.loads((out / "summary.json").read_text()) == asdict(again)
    assert read_summary(out) == again  # the record reads back as the run it is
    assert sorted(again.maps) == sorted(again.items) == sorted(again.double_crops) == AS_OF
    for date in AS_OF:
        assert again.maps[date] == str(out / f"map_{date}.tif") and again.items[date] == str(out / f"map_{date}.json")
        with rasterio.open(again.maps[date]) as ds:
            assert ds.tags()["INSEASON_AS_OF"] == date
            assert again.mapped_pixels[date] == int((ds.read(1) > 0).sum()) == run.mapped_pixels[date]
        assert json.loads(Path(again.items[date]).read_text())["properties"]["inseason:as_of"] == date
        assert pq.read_table(again.double_crops[date]).equals(pq.read_table(run.double_crops[date]))
    assert again.gif == str(out / "season.gif") and again.areas == run.areas
