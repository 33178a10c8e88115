"""Tests of the CDL class table and its API (inseason.labels)."""

from __future__ import annotations

import csv
from importlib.resources import files

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.labels import (
    KINDS,
    NO_CROP_GROWING,
    CdlClass,
    LabelMap,
    cdl_class,
    cdl_classes,
    cdl_code,
    cdl_colormap,
    color_table,
    label_map_preset,
    load_label_map,
    map_labels,
    no_crop_growing,
    resolve_label_map,
    window_label,
)

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


def test_color_table_lists_values_in_order_uncoloured_ones_transparent() -> None:
    table = color_table({2: (1, 2, 3, 9)}, 3)
    assert list(table.items()) == [(0, (0, 0, 0, 0)), (1, (0, 0, 0, 0)), (2, (1, 2, 3, 255))]


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


# ---- label maps ----------------------------------------------------------------------------------------


def _cdl_samples(counts: dict[int, int]) -> tuple[list[int], list[str]]:
    codes = [code for code, n in counts.items() for _ in range(n)]
    return codes, [cdl_class(c).name for c in codes]


def test_arset_preset_has_the_course_classes_and_drops_double_crops() -> None:
    codes, names = _cdl_samples({1: 3, 2: 2, 3: 2, 5: 4, 24: 2, 26: 1, 141: 2, 0: 1})
    mapped = map_labels(label_map_preset("arset"), codes=codes, names=names)
    assert [c.name for c in mapped.classes] == [
        "Uncultivated",
        "Cultivated",
        NO_CROP_GROWING,
        "Soybeans",
        "Rice",
        "Corn",
        "Cotton",
    ]
    assert mapped.report["counts"] == {
        "Corn": 3,
        "Cotton": 2,
        "Cultivated": 2,
        "Rice": 2,
        "Soybeans": 4,
        "Uncultivated": 3,
    }
    assert mapped.labels.count(None) == 1
    assert mapped.report["dropped"] == {"Dbl Crop WinWht/Soybeans (dropped by the label map)": 1}
    colors = {c.name: c.color for c in mapped.classes}
    assert colors["Corn"] == (255, 211, 0) and colors[NO_CROP_GROWING] == (191, 191, 119)


def test_arset_preset_drops_a_class_absent_from_the_data_and_reports_it() -> None:
    codes, names = _cdl_samples({1: 3, 5: 2})
    mapped = map_labels(label_map_preset("arset"), codes=codes, names=names)
    assert [c.name for c in mapped.classes] == [NO_CROP_GROWING, "Soybeans", "Corn"]


def test_cdl_major_keeps_the_largest_classes_and_double_crops_keep_their_crops() -> None:
    codes, names = _cdl_samples({5: 9, 26: 7, 1: 5, 3: 1, 111: 1})
    mapped = map_labels(label_map_preset("cdl-major:3"), codes=codes, names=names)
    assert [c.name for c in mapped.classes] == ["Corn", "Dbl Crop WinWht/Soybeans", "Soybeans", "Other"]
    assert mapped.report["merged"] == {"Rice": 1, "Open Water": 1}
    double = mapped.classes[1]
    assert (double.first_crop, double.second_crop, double.color) == ("Winter Wheat", "Soybeans", (112, 112, 0))
    assert mapped.classes[0].first_crop is None
    assert label_map_preset("cdl-major").top == 10
    with pytest.raises(InputError, match="cdl-major:N"):
        label_map_preset("cdl-major:x")
    with pytest.raises(InputError, match="unknown label map 'nope'"):
        resolve_label_map("nope")


def test_user_yaml_maps_codes_and_names_and_merges_sparse_classes(tmp_path) -> None:
    path = tmp_path / "delta.yaml"
    path.write_text(
        "classes:\n  Maize: [1, sweet corn]\n  Soy: [Soybeans]\n  Rice: [3]\n  WW-Soy: [26]\n"
        "other: Other\ndrop: [111]\nmin_count: 2\nsparse: merge\n"
    )
    label_map = load_label_map(path)
    assert label_map.name == "delta" and label_map.members["Maize"] == (1, "sweet corn")
    codes, names = _cdl_samples({1: 2, 12: 1, 5: 3, 3: 1, 26: 2, 111: 1, 176: 2})
    mapped = map_labels(label_map, codes=codes, names=names)
    assert mapped.report["counts"] == {"Maize": 3, "Other": 3, "Soy": 3, "WW-Soy": 2}
    assert mapped.report["merged"] == {"Rice": 1}
    assert mapped.report["dropped"] == {"Open Water (dropped by the label map)": 1}
    assert [c.name for c in mapped.classes] == ["Maize", "Soy", "WW-Soy", "Other"]
    assert (mapped.classes[2].first_crop, mapped.classes[2].second_crop) == ("Winter Wheat", "Soybeans")
    dropping = LabelMap(name="d", members=label_map.members, other=None, min_count=2, sparse="drop")
    assert map_labels(dropping, codes=codes, names=names).report["sparse_dropped"] == {"Rice": 1}


def test_user_maps_refuse_unknown_names_and_empty_classes(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("classes:\n  Maize: [Corm]\n")
    with pytest.raises(InputError, match="did you mean 'Corn'"):
        map_labels(load_label_map(path), codes=[1], names=["Corn"])
    foreign = LabelMap(name="f", members={"Maize": ("maiz",)})
    with pytest.raises(InputError, match="lists label 'maiz', which no sample has \\(did you mean 'maize'\\?\\)"):
        map_labels(foreign, codes=[None], names=["maize"], cdl=False)
    empty = LabelMap(name="e", members={"Maize": (1,), "Rice": (3,)})
    with pytest.raises(InputError, match=r"classes \['Rice'\] have no samples"):
        map_labels(empty, codes=[1], names=["Corn"])
    path.write_text("classes:\n  Maize: [1]\nsparse: sometimes\n")
    with pytest.raises(InputError, match="must be merge or drop"):
        load_label_map(path)
    path.write_text("classes:\n  Maize: [1]\ncolour: red\n")
    with pytest.raises(InputError, match=r"unknown keys \['colour'\]"):
        load_label_map(path)


def test_foreign_label_names_map_without_the_cdl_table() -> None:
    label_map = LabelMap(name="f", members={"cereal": ("wheat", "barley")}, other="rest")
    mapped = map_labels(label_map, codes=[None] * 4, names=["wheat", "barley", "rape", "wheat"], cdl=False)
    assert mapped.labels == ["cereal", "cereal", "rest", "cereal"]


@pytest.mark.parametrize(
    ("scl", "expected"),
    [
        ([4, 4, 5, 5], True),
        ([5, 4], False),
        ([4, 5], False),
        ([4, 4, 5, 8, 9, 3], True),
        ([5, 4, 9, 0], False),
        ([5], True),
        ([4], False),
        ([], False),
        ([8, 9], False),
    ],
)
def test_no_crop_growing_looks_at_the_last_two_valid_scl_values(scl: list[int], expected: bool) -> None:
    assert no_crop_growing(scl) is expected


def test_window_label_applies_the_rule_to_crops_only() -> None:
    rules, crops = ("no_crop_growing",), ("Corn", "Soybeans", "Cultivated")
    assert window_label("Corn", [4, 5, 5], rules=rules, crops=crops) == NO_CROP_GROWING
    assert window_label("Uncultivated", [4, 5, 5], rules=rules, crops=crops) == "Uncultivated"
    assert window_label("Corn", [5, 4, 4], rules=rules, crops=crops) == "Corn"
    assert window_label("Corn", [5, 5], rules=(), crops=crops) == "Corn"
