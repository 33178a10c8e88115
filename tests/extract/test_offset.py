"""The BOA offset checked against the pixels: the rule (extract.offset) and the scenes stage on the recorded item
whose flag lies (S2B_33TWN_20220226_0_L2A: baseline 04.00, ``earthsearch:boa_offset_applied: false``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box

from inseason.cog import write_cog
from inseason.extract.offset import (
    FLIP_SHARE,
    MIN_DARK_PIXELS,
    OFFSET_DN,
    decide_offset,
    needs_check,
    read_dark_band,
)
from inseason.extract.scenes import ScenesRequest, run_scenes
from tests.extract.test_recorded_real import item_grid, recorded_item, utm_box, with_hrefs, write_catalog, write_files

MISLABELLED = "S2B_33TWN_20220226_0_L2A"

# ------------------------------------------------------------------------------------------- the read


def test_the_dark_band_is_read_on_the_scl_pixels_inside_the_file_and_zero_past_its_edges(tmp_path: Path) -> None:
    # a 10 m band whose every pixel says where it is; the SCL's 20 m pixels take the band's upper-left pixel of each
    # 2 x 2 (nearest neighbour, from the full resolution or the 20 m overview alike: the values are equal in pairs)
    rows, cols = np.mgrid[0:512, 0:512]
    band = ((rows // 2) * 256 + cols // 2).astype(np.uint16)
    origin = Affine(10, 0, 500_000, 0, -10, 5_000_000)
    write_cog(tmp_path / "B02.tif", band, crs=32633, transform=origin, nodata=None, resampling="NEAREST")
    inside = origin @ Affine.translation(100, 60) @ Affine.scale(2)  # a 20 m window from pixel (60, 100)
    got = read_dark_band(str(tmp_path / "B02.tif"), inside, "EPSG:32633", (40, 30))
    assert np.array_equal(got, band[60:140:2, 100:160:2])
    edge = origin @ Affine.translation(480, 490) @ Affine.scale(2)  # 16 of its 20 m columns past the east edge
    got = read_dark_band(str(tmp_path / "B02.tif"), edge, "EPSG:32633", (8, 32))
    assert np.array_equal(got[:, :16], band[490:506:2, 480:512:2])
    assert not got[:, 17:].any()  # (GDAL's boundless read may repeat the edge into the first column past it)


# ------------------------------------------------------------------------------------------- the rule


def _arrays(values: list[int], scl: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dark = np.array(values, np.uint16).reshape(1, -1)
    return dark, np.full(dark.shape, scl, np.uint8), np.ones(dark.shape, bool)


def test_corrected_pixels_overrule_an_offset_in_the_metadata() -> None:
    check = decide_offset(-1000, *_arrays([300, 420, 510, 640, 880] * 40))
    assert (check.offset, check.verdict, check.valid_pixels, check.below, check.share) == (0, "pixels", 200, 200, 1.0)
    flipped = check.flipped("S")
    assert flipped == {
        "scene_id": "S",
        "metadata": -1000,
        "pixels": 0,
        "share": 1.0,
        "band": "B02",
        "valid_pixels": 200,
    }


def test_pixels_with_the_offset_agree_even_with_a_few_negative_reflectances() -> None:
    values = [1300, 1420, 1510, 1640] * 50
    values[:4] = [950, 990, 999, 960]  # 2 % negative reflectances (over-corrected water), well under the threshold
    check = decide_offset(-1000, *_arrays(values))
    assert (check.offset, check.verdict, check.below) == (-1000, "agrees", 4)


@pytest.mark.parametrize(("below", "offset"), [(49, -1000), (50, 0)])
def test_the_threshold_is_a_quarter_of_the_valid_values(below: int, offset: int) -> None:
    assert FLIP_SHARE == 0.25
    values = [OFFSET_DN - 1] * below + [OFFSET_DN] * (200 - below)  # exactly 1000 DN is a reflectance of 0
    assert decide_offset(-1000, *_arrays(values)).offset == offset


def test_too_few_valid_pixels_keep_the_metadata() -> None:
    check = decide_offset(-1000, *_arrays([400] * (MIN_DARK_PIXELS - 1)))
    assert (check.offset, check.verdict, check.valid_pixels) == (-1000, "too few pixels", MIN_DARK_PIXELS - 1)
    assert f"fewer than {MIN_DARK_PIXELS}" in check.reason


def test_only_clear_land_and_water_pixels_inside_the_aoi_with_data_are_judged() -> None:
    dark = np.array([[400] * 100 + [1400] * 300], np.uint16)
    scl = np.array([[9] * 50 + [8] * 50 + [4] * 100 + [5] * 100 + [6] * 100], np.uint8)  # dark values under clouds
    inside = np.ones(dark.shape, bool)
    check = decide_offset(-1000, dark, scl, inside)
    assert (check.offset, check.valid_pixels, check.below) == (-1000, 300, 0)
    dark[0, 150:300] = 0  # nodata
    inside[0, 300:] = False  # outside the AOI
    check = decide_offset(-1000, dark, scl, inside)
    assert (check.verdict, check.valid_pixels) == ("too few pixels", 50)


def test_metadata_zero_is_confirmed_by_dark_pixels_and_never_flipped_by_bright_ones() -> None:
    confirmed = decide_offset(0, *_arrays([400] * 200))
    assert (confirmed.offset, confirmed.verdict) == (0, "agrees")
    bright = decide_offset(0, *_arrays([1400] * 200))  # a bright scene, or the offset left in: cannot tell
    assert (bright.offset, bright.verdict) == (0, "undecidable")


@pytest.mark.parametrize(
    ("metadata", "baseline", "checked"),
    [(-1000, "04.00", True), (0, "04.00", True), (0, "05.11", True), (0, "03.01", False), (0, "", False)],
)
def test_which_scenes_are_checked(metadata: int, baseline: str, checked: bool) -> None:
    assert needs_check(metadata, baseline) is checked


# ------------------------------------------------------------------------- the scenes stage, recorded item


def _world(tmp_path: Path, blue: int, scl: int = 4) -> tuple[Path, Any]:
    """The recorded mislabelled item over small real-layout COGs (1 024-px blocks) around the AOI; its AOI."""
    item = recorded_item(MISLABELLED)
    epsg, (x0, y0) = item_grid(item)
    lon, lat = 16.0, 47.3  # inside the item's footprint
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    origin = (x0 + 60 * ((x - 3000 - x0) // 60), y0 - 60 * ((y0 - y - 3000) // 60))  # on the tile's 60 m grid
    pattern = np.array([[0, 37, 81], [113, 59, 7]], np.int64)  # some texture, to not compress to nothing

    def values(base: int, dtype: type = np.uint16) -> Any:
        return lambda rows, cols: (base + pattern[rows % 2, cols % 3]).astype(dtype)

    files = write_files(
        tmp_path / "files",
        {"B02": values(blue), "SCL": lambda r, c: np.full((r.shape[0], c.shape[1]), scl, np.uint8)},
        epsg=epsg,
        origin=origin,
        size_10m=606,
    )
    doc = with_hrefs(item, {band: str(path) for band, path in files.items()})
    return write_catalog(tmp_path / "stac", {"sentinel-2-l2a": [doc]}), box(*utm_box(epsg, lon, lat, 1000))


@pytest.mark.parametrize(("blue", "offset"), [(420, 0), (1420, -1000)], ids=["already-corrected", "offset-in"])
def test_the_recorded_mislabelled_item(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, blue: int, offset: int
) -> None:
    """The same recorded item (metadata -1000): corrected pixels flip it to 0, pixels with the offset don't."""
    catalog, aoi = _world(tmp_path, blue)
    with caplog.at_level(logging.WARNING, logger="inseason"):
        found = run_scenes(
            ScenesRequest.of(
                stac=str(catalog), aoi=aoi, start="2022-02-26", end="2022-02-26", out=str(tmp_path / "m.parquet")
            )
        )
    (row,) = found.table.to_pylist()
    assert (row["scene_id"], row["boa_offset"], row["processing_baseline"]) == (MISLABELLED, offset, "04.00")
    assert found.info["counts"] is not None and found.info["counts"]["offset_from_pixels"] == (offset == 0)
    warned = [r.getMessage() for r in caplog.records if "BOA offset" in r.getMessage()]
    if offset == 0:
        (flip,) = found.info["offset_from_pixels"] or []
        assert flip["scene_id"] == MISLABELLED and (flip["metadata"], flip["pixels"], flip["share"]) == (-1000, 0, 1.0)
        assert flip["valid_pixels"] > 2000  # ~100 × 100 SCL pixels at 20 m over the 2 km AOI
        assert len(warned) == 1 and MISLABELLED in warned[0] and "0.1 too low" in warned[0]
    else:
        assert found.info["offset_from_pixels"] == [] and warned == []


def test_a_doubtful_offset_the_pixels_cannot_settle_is_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Clouds over the whole AOI (SCL 8 is not judged): too few pixels, the metadata kept, with a warning."""
    catalog, aoi = _world(tmp_path, 420, scl=8)
    with caplog.at_level(logging.WARNING, logger="inseason"):
        found = run_scenes(
            ScenesRequest.of(
                stac=str(catalog),
                aoi=aoi,
                start="2022-02-26",
                end="2022-02-26",
                out=str(tmp_path / "m.parquet"),
                min_valid=0.0,
                scl_mask=(0, 1),  # keep the cloudy scene, to check it
            )
        )
    assert found.table.column("boa_offset").to_pylist() == [-1000]
    assert found.info["offset_from_pixels"] == []
    (warned,) = [r.getMessage() for r in caplog.records if "BOA offset" in r.getMessage()]
    assert MISLABELLED in warned and "in doubt" in warned and "fewer than" in warned
