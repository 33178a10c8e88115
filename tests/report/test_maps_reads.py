"""How the report reads wall-to-wall maps: seasons of the reference points, point look-ups, points without
coordinates, windowed truth reads, ``s3://`` folders, and the fake predict folder's likeness to predict's."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.io
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.warp import transform as transform_points

from inseason.errors import InputError
from inseason.predict.maps import MapRun
from inseason.report.fake import write_fake_maps
from inseason.report.maps import MapSet, error_adjusted_areas, map_class_at, read_maps, truth_window
from inseason.testing.s3 import LoopbackS3


class ReadSpy:
    """Records the window and out_shape of every `DatasetReader.read` call while installed."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = rasterio.io.DatasetReader.read
        calls = self.calls

        def read(ds: rasterio.io.DatasetReader, *args: Any, **kwargs: Any) -> Any:
            calls.append(
                {
                    "name": ds.name,
                    "shape": (ds.height, ds.width),
                    "window": kwargs.get("window"),
                    "out_shape": kwargs.get("out_shape"),
                }
            )
            return original(ds, *args, **kwargs)

        monkeypatch.setattr(rasterio.io.DatasetReader, "read", read)

    def of(self, path: Path) -> list[dict[str, Any]]:
        return [c for c in self.calls if Path(c["name"]).name == path.name]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ReadSpy:
    recorder = ReadSpy()
    recorder.install(monkeypatch)
    return recorder


# --- 1. the season of a map -------------------------------------------------------------------------------


def test_points_are_matched_to_the_season_of_the_as_of_date(evaluation: dict[str, Any], tmp_path: Path) -> None:
    """With a season starting on 1 October, a map as of 2021-11-15 belongs to season 2022 (the harvest
    year), one as of 2021-09-15 to season 2021; the points of each season are the reference of its map."""
    folder = write_fake_maps(tmp_path / "maps", evaluation, dates=("2021-09-15", "2021-11-15"), errors=(0.0, 0.0))
    maps = read_maps(folder)
    two = copy.deepcopy(evaluation)
    n = len(two["map"]["x"])
    two["map"]["year"] = [2022 if i % 3 == 0 else 2021 for i in range(n)]
    n2022 = len(range(0, n, 3))
    n2021 = n - n2022
    assert n2021 != n2022
    two["season_start"] = "10-01"
    september, november = error_adjusted_areas(maps, two)
    assert (september["reference"], september["n_points"], september["left_out"]) == ("map points", n2021, n2022)
    assert (november["reference"], november["n_points"], november["left_out"]) == ("map points", n2022, n2021)
    assert november["overall_accuracy"] == pytest.approx(1.0)
    # With calendar-year seasons both maps are of season 2021.
    two["season_start"] = "01-01"
    assert [e["n_points"] for e in error_adjusted_areas(maps, two)] == [n2021, n2021]
    # An evaluation that records no season start has calendar-year seasons.
    del two["season_start"]
    assert [e["n_points"] for e in error_adjusted_areas(maps, two)] == [n2021, n2021]


# --- 2. the map class at the points -----------------------------------------------------------------------


def test_map_class_at_reads_single_pixels_equal_to_the_band(
    evaluation: dict[str, Any], maps_folder: Path, spy: ReadSpy
) -> None:
    path = maps_folder / "map_2021-08-01.tif"
    with rasterio.open(path) as ds:
        crs, transform, (height, width) = ds.crs, ds.transform, (ds.height, ds.width)
    points = evaluation["map"]
    xs, ys = (np.asarray(v) for v in transform_points(points["crs"], crs, points["x"], points["y"]))
    # Points off the map on every side, and the centres of the four corner pixels.
    right, bottom = transform.c + transform.a * width, transform.f + transform.e * height
    extra_x = [transform.c - 5, right + 5, xs[0], xs[0], transform.c + 1, right - 1, transform.c + 1, right - 1]
    extra_y = [ys[0], ys[0], transform.f + 5, bottom - 5, transform.f - 1, transform.f - 1, bottom + 1, bottom + 1]
    xs, ys = np.concatenate([xs, extra_x]), np.concatenate([ys, extra_y])
    spy.calls.clear()
    got = map_class_at(str(path), xs, ys)
    reads = spy.of(path)
    assert reads and all(
        c["window"] is not None and (c["window"].width, c["window"].height) == (1, 1) for c in reads
    )  # never the whole band
    with rasterio.open(path) as ds:
        band = ds.read(1)
    rows, cols = rasterio.transform.rowcol(transform, xs, ys)
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    expected = np.zeros(len(xs), np.uint8)
    expected[inside] = band[rows[inside], cols[inside]]
    assert got.dtype == np.uint8 and (got == expected).all()
    assert inside.sum() == len(xs) - 4 and (got[inside] > 0).any()
    assert len(map_class_at(str(path), np.array([]), np.array([]))) == 0


# --- 3. points without coordinates ------------------------------------------------------------------------


def test_points_without_coordinates_are_left_out(evaluation: dict[str, Any], maps_folder: Path) -> None:
    maps = read_maps(maps_folder)
    some = copy.deepcopy(evaluation)
    n = len(some["map"]["x"])
    for i in range(7):
        some["map"]["x"][i] = None
        some["map"]["y"][i] = None
    final = error_adjusted_areas(maps, some)[-1]
    assert (final["reference"], final["n_points"], final["left_out"]) == ("map points", n - 7, 7)
    assert final["overall_accuracy"] == pytest.approx(1.0)
    none = copy.deepcopy(evaluation)
    none["map"]["x"] = [None] * n
    none["map"]["y"] = [None] * n
    for entry in error_adjusted_areas(maps, none):  # no point on any map: the test split, or a reason why not
        if entry["reference"] == "map points":
            assert entry["n_points"] == 0 and entry["left_out"] == n and "error" in entry
        else:
            assert entry["reference"].startswith("test split as of ") and "classes" in entry


# --- 4. truth rasters: only the window under the map ------------------------------------------------------


def _whole_truth_codes(truth: Path, maps: MapSet) -> np.ndarray:
    """The truth's codes on the map grid as read_maps computed them before windowed reads: the whole raster
    reprojected (nearest)."""
    codes = np.zeros(maps.shape, np.int32)
    with rasterio.open(truth) as src:
        reproject(
            source=rasterio.band(src, 1),
            destination=codes,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=src.nodata if src.nodata is not None else 0,
            dst_transform=maps.transform,
            dst_crs=maps.crs,
            dst_nodata=0,
            resampling=Resampling.nearest,
        )
    return codes


def _as_classes(codes: np.ndarray, maps: MapSet) -> np.ndarray:
    lut = np.zeros(256, np.uint8)
    for cls in maps.classes:
        lut[list(cls.codes)] = cls.index
    return lut[codes]


def _write(path: Path, data: np.ndarray, *, crs: str, transform: Affine) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype="uint8",
        crs=crs,
        transform=transform,
        nodata=0,
        compress="DEFLATE",
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dst:
        dst.write(data, 1)
    return path


def test_truth_equals_the_whole_raster_reprojected(maps_folder: Path) -> None:
    truth = maps_folder.parent / "truth.tif"
    maps = read_maps(maps_folder, truth=truth)
    assert maps.truth is not None and (maps.truth > 0).any()
    assert (maps.truth == _as_classes(_whole_truth_codes(truth, maps), maps)).all()


def test_only_the_window_of_a_large_truth_is_read(maps_folder: Path, tmp_path: Path, spy: ReadSpy) -> None:
    """The fake truth placed inside a raster 40 times its area: the same truth on the map, read through a
    window no larger than the small raster plus margins."""
    small = maps_folder.parent / "truth.tif"
    with rasterio.open(small) as src:
        data, crs, transform = src.read(1), str(src.crs), src.transform
    height, width = data.shape
    row0, col0 = 3 * height, 2 * width
    large = np.zeros((7 * height, 6 * width), np.uint8)
    large[row0 : row0 + height, col0 : col0 + width] = data
    big = _write(tmp_path / "national.tif", large, crs=crs, transform=transform @ Affine.translation(-col0, -row0))
    expected = read_maps(maps_folder, truth=small).truth
    spy.calls.clear()
    got = read_maps(maps_folder, truth=big)
    assert got.truth is not None and expected is not None and (got.truth == expected).all()
    reads = spy.of(big)
    assert len(reads) == 1
    window = reads[0]["window"]
    assert window is not None
    assert window.width * window.height < 2 * width * height < large.size / 20
    assert col0 - 20 <= window.col_off <= col0 + width and row0 - 20 <= window.row_off <= row0 + height


def test_a_much_finer_truth_is_read_decimated(maps_folder: Path, tmp_path: Path, spy: ReadSpy) -> None:
    """A 5 m truth under a map drawn at about 160 m is read at a quarter (or less) of its resolution, and
    still agrees with the whole raster reprojected nearly everywhere."""
    small = maps_folder.parent / "truth.tif"
    with rasterio.open(small) as src:
        data, crs, transform = src.read(1), str(src.crs), src.transform
    fine = _write(
        tmp_path / "fine.tif",
        np.repeat(np.repeat(data, 6, axis=0), 6, axis=1),
        crs=crs,
        transform=transform @ Affine.scale(1 / 6),
    )
    spy.calls.clear()
    maps = read_maps(maps_folder, truth=fine, max_size=100)
    (read,) = spy.of(fine)
    window, out_shape = read["window"], read["out_shape"]
    assert out_shape is not None and out_shape[0] * 4 <= window.height and out_shape[1] * 4 <= window.width
    assert maps.truth is not None
    expected = _as_classes(_whole_truth_codes(fine, maps), maps)
    assert (maps.truth == expected).mean() > 0.95 and (maps.truth > 0).sum() > 0.9 * (expected > 0).sum()


def test_truth_window_of_a_raster_the_map_misses(maps_folder: Path, tmp_path: Path) -> None:
    maps = read_maps(maps_folder)
    far = _write(
        tmp_path / "far.tif",
        np.ones((50, 50), np.uint8),
        crs="EPSG:5070",
        transform=Affine(30, 0, -2_000_000, 0, -30, 3_000_000),
    )
    with rasterio.open(far) as src:
        assert truth_window(src, crs=maps.crs, transform=maps.transform, shape=maps.shape) is None
    elsewhere = read_maps(maps_folder, truth=far)
    assert elsewhere.truth is not None and not elsewhere.truth.any()


# --- 5. s3:// folders -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[LoopbackS3]:
    with LoopbackS3() as server, server.environment():
        yield server


def test_maps_and_truth_on_s3(evaluation: dict[str, Any], maps_folder: Path, s3: LoopbackS3) -> None:
    uri = s3.upload(maps_folder.parent, "predictions", prefix="run1")
    local = read_maps(maps_folder, truth=maps_folder.parent / "truth.tif")
    remote = read_maps(f"{uri}/maps/", truth=f"{uri}/truth.tif")
    assert remote.folder == f"{uri}/maps" and remote.name == "maps" and remote.truth_source == "truth.tif"
    assert [layer.path for layer in remote.layers] == [
        f"{uri}/maps/map_{d}.tif" for d in ("2021-06-15", "2021-08-01", "2021-09-15")
    ]
    for a, b in zip(local.layers, remote.layers, strict=True):
        assert (a.classes == b.classes).all() and (a.confidence == b.confidence).all()
    assert remote.areas == local.areas and remote.classes == local.classes
    assert remote.truth is not None and local.truth is not None and (remote.truth == local.truth).all()
    assert error_adjusted_areas(remote, evaluation) == error_adjusted_areas(local, evaluation)
    with pytest.raises(InputError, match=r"maps folder s3://predictions/nothing holds no summary.json"):
        read_maps("s3://predictions/nothing")


# --- 7. the fake predict folder has predict's shape -------------------------------------------------------


def test_fake_summary_has_the_shape_predict_writes(evaluation: dict[str, Any], maps_folder: Path) -> None:
    from inseason.predict.maps import class_areas, class_counts  # predict's own writer of summary["areas"]

    summary = json.loads((maps_folder / "summary.json").read_text())
    assert set(summary) == {f.name for f in dataclasses.fields(MapRun)}
    names = [c["name"] for c in evaluation["classes"]]
    for entry in summary["areas"]:
        with rasterio.open(maps_folder / f"map_{entry['as_of']}.tif") as ds:
            band = ds.read(1)
        counts = class_counts(band, len(names))
        real = json.loads(json.dumps(class_areas(dt.date.fromisoformat(entry["as_of"]), counts, names, 1600.0)))
        assert entry == real
        assert entry["classes"][0]["index"] == 0 and entry["classes"][0]["name"] == "no data"
        assert summary["mapped_pixels"][entry["as_of"]] == int((band > 0).sum())
    band = np.array([[0, 2], [2, 2]], np.uint8)
    assert class_areas("2021-01-01", class_counts(band, 2), ["A", "B"], 100.0) == {
        "as_of": "2021-01-01",
        "pixel_area_m2": 100.0,
        "classes": [
            {"index": 0, "name": "no data", "pixels": 1, "hectares": 0.01},
            {"index": 1, "name": "A", "pixels": 0, "hectares": 0.0},
            {"index": 2, "name": "B", "pixels": 3, "hectares": 0.03},
        ],
    }
