"""Tests of the CDL class table and its API (inseason.labels)."""

from __future__ import annotations

import csv
from importlib.resources import files

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.labels import KINDS, CdlClass, cdl_class, cdl_classes, cdl_code, cdl_colormap

# (code, official name, colour-table RGB) checked against the NASS GeoTIFF colour table.
ANCHORS = [
    (1, "Corn", (255, 211, 0)),
    (2, "Cotton", (255, 38, 38)),
    (3, "Rice", (0, 168, 228)),
    (5, "Soybeans", (38, 112, 0)),
    (24, "Winter Wheat", (165, 112, 0)),
    (26, "Dbl Crop WinWht/Soybeans", (112, 112, 0)),
    (36, "Alfalfa", (255, 165, 226)),
    (37, "Other Hay/Non Alfalfa", (165, 242, 140)),
    (61, "Fallow/Idle Cropland", (191, 191, 119)),
    (111, "Open Water", (75, 112, 163)),
    (176, "Grassland/Pasture", (232, 255, 191)),
    (242, "Blueberries", (0, 0, 153)),
    (254, "Dbl Crop Barley/Soybeans", (38, 112, 0)),
]

DOUBLE_CROPS = {
    26: (24, 5),
    225: (24, 1),
    226: (28, 1),
    228: (205, 1),
    236: (24, 4),
    237: (21, 1),
    238: (24, 2),
    239: (5, 2),
    240: (5, 28),
    241: (1, 5),
    254: (21, 5),
}


def test_row_count_and_codes_in_range() -> None:
    classes = cdl_classes()
    assert 120 <= len(classes) <= 256
    assert len(classes) == 134
    assert all(0 <= code <= 255 for code in classes)
    assert all(cls.code == code for code, cls in classes.items())
    for undefined in (7, 8, 9, 15, 20, 40, 62, 73, 84, 100, 200, 251, 252, 253, 255):
        assert undefined not in classes


def test_csv_is_plain_with_expected_header() -> None:
    text = (files("inseason") / "data" / "cdl_classes.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["code", "name", "red", "green", "blue", "kind", "first_crop", "second_crop"]
    assert all(len(row) == 8 for row in rows)
    codes = [int(row[0]) for row in rows[1:]]
    assert codes == sorted(set(codes))


@pytest.mark.parametrize(("code", "name", "rgb"), ANCHORS)
def test_anchor_names_and_colours(code: int, name: str, rgb: tuple[int, int, int]) -> None:
    cls = cdl_class(code)
    assert cls.name == name
    assert cls.color == rgb


def test_background() -> None:
    bg = cdl_class(0)
    assert bg == CdlClass(code=0, name="Background", color=(0, 0, 0), kind="background")
    assert not bg.is_crop
    assert [c for c, cls in cdl_classes().items() if cls.kind == "background"] == [0]


def test_kinds() -> None:
    classes = cdl_classes()
    assert {cls.kind for cls in classes.values()} == set(KINDS)
    for code in (1, 5, 24, 36, 37, 61, 70, 205, 215, 242):
        assert classes[code].kind == "crop"
        assert classes[code].is_crop
    for code in (63, 81, 82, 83, 87, 88, 92, 111, 112, 121, 124, 131, 141, 152, 176, 190, 195):
        assert classes[code].kind == "non_crop"
        assert not classes[code].is_crop
    assert classes[26].is_crop


@pytest.mark.parametrize(("code", "parts"), sorted(DOUBLE_CROPS.items()))
def test_known_double_crop_components(code: int, parts: tuple[int, int]) -> None:
    cls = cdl_class(code)
    assert cls.kind == "double_crop"
    assert (cls.first_crop, cls.second_crop) == parts


def test_every_double_crop_has_two_crop_components() -> None:
    classes = cdl_classes()
    doubles = [cls for cls in classes.values() if cls.kind == "double_crop"]
    assert len(doubles) == 17
    for cls in doubles:
        assert cls.name.startswith("Dbl Crop ")
        assert cls.first_crop is not None and cls.second_crop is not None
        assert cls.first_crop != cls.second_crop
        for part in (cls.first_crop, cls.second_crop):
            assert classes[part].kind == "crop"
    for cls in classes.values():
        if cls.kind != "double_crop":
            assert cls.first_crop is None and cls.second_crop is None
            assert not cls.name.startswith("Dbl Crop")


def test_colours_are_bytes() -> None:
    for cls in cdl_classes().values():
        assert len(cls.color) == 3
        assert all(isinstance(v, int) and 0 <= v <= 255 for v in cls.color)


def test_name_lookup_round_trips() -> None:
    classes = cdl_classes()
    for code, cls in classes.items():
        expected = {"Barren": 131, "Shrubland": 152}.get(cls.name, code)
        assert cdl_code(cls.name) == expected
        assert cdl_code(cls.name.upper()) == expected
        assert cdl_code(f"  {cls.name.lower()} ") == expected
    assert cdl_code("dbl crop winwht/soybeans") == 26
    assert cdl_code("Grass/Pasture") == 176


def test_duplicate_names_are_only_old_and_current_land_cover() -> None:
    seen: dict[str, list[int]] = {}
    for code, cls in cdl_classes().items():
        seen.setdefault(cls.name, []).append(code)
    duplicates = {name: codes for name, codes in seen.items() if len(codes) > 1}
    assert duplicates == {"Shrubland": [64, 152], "Barren": [65, 131]}


def test_colormap_matches_table() -> None:
    colormap = cdl_colormap()
    classes = cdl_classes()
    assert sorted(colormap) == list(range(256))
    for code, rgba in colormap.items():
        assert len(rgba) == 4
        if code in classes:
            assert rgba == (*classes[code].color, 255)
        else:
            assert rgba == (0, 0, 0, 0)
    assert colormap[1] == (255, 211, 0, 255)
    assert colormap[7] == (0, 0, 0, 0)


def test_numpy_integer_codes_are_accepted() -> None:
    assert cdl_class(np.uint8(5)).name == "Soybeans"
    assert cdl_class(np.int64(241)).first_crop == 1


def test_unknown_code_out_of_range() -> None:
    with pytest.raises(InputError, match=r"unknown CDL code 300: CDL codes are 0-255") as info:
        cdl_class(300)
    assert "inseason.labels.cdl_classes()" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="unknown CDL code -1"):
        cdl_class(-1)


def test_unknown_code_in_range() -> None:
    with pytest.raises(InputError, match=r"unknown CDL code 7: CDL does not define this code"):
        cdl_class(7)


def test_non_integer_code() -> None:
    with pytest.raises(InputError, match="not an integer"):
        cdl_class("1")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not an integer"):
        cdl_class(1.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not an integer"):
        cdl_class(True)


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(InputError, match="unknown CDL class name 'Soybean'") as info:
        cdl_code("Soybean")
    message = str(info.value)
    assert "did you mean 'Soybeans'" in message
    assert "\n" not in message
    with pytest.raises(InputError, match="Winter Wheat"):
        cdl_code("winter wheet")


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(InputError, match=r"see `inseason.labels.cdl_classes\(\)`"):
        cdl_code("xyzzy")


def test_classes_are_immutable_and_table_is_a_copy() -> None:
    classes = cdl_classes()
    with pytest.raises(AttributeError):
        classes[1].name = "Maize"  # type: ignore[misc]
    classes.pop(1)
    assert 1 in cdl_classes()
