"""Wall-to-wall maps in the report: reading a predict folder, truth on the map grid, areas, errors."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from inseason.errors import InputError
from inseason.report import render_report
from inseason.report.fake import write_fake_maps
from inseason.report.maps import error_adjusted_areas, read_maps

DATES = ["2021-06-15", "2021-08-01", "2021-09-15"]


def test_read_maps_decimates_and_takes_classes_from_the_cogs(maps_folder: Path) -> None:
    maps = read_maps(maps_folder, max_size=100)
    assert [layer.as_of for layer in maps.layers] == DATES
    assert max(maps.shape) <= 100 and max(maps.full_shape) > 100
    assert [(c.index, c.name, c.codes, c.color) for c in maps.classes] == [
        (1, "Corn", (1,), "#ffd300"),
        (2, "Soybeans", (5,), "#267000"),
        (3, "Rice", (3,), "#00a8e4"),
        (4, "Cotton", (2,), "#ff2626"),
    ]
    last = maps.layers[-1]
    assert set(np.unique(last.classes)) <= {0, 1, 2, 3, 4} and (last.classes > 0).any()
    assert ((last.confidence > 0) == (last.classes > 0)).all()
    with rasterio.open(last.path) as ds:
        assert maps.crs == str(ds.crs)
        assert maps.transform.a == pytest.approx(ds.transform.a * ds.width / maps.shape[1])
    assert maps.notes and "areas are counted at full resolution" in maps.notes[0]


def test_areas_counted_when_predict_did_not_record_them(
    evaluation: dict[str, Any], maps_folder: Path, tmp_path: Path
) -> None:
    bare = write_fake_maps(tmp_path / "bare", evaluation, with_areas=False)
    assert "areas" not in json.loads((bare / "summary.json").read_text())
    counted = read_maps(bare).areas
    recorded = json.loads((maps_folder / "summary.json").read_text())["areas"]
    assert counted == recorded
    with rasterio.open(bare / "map_2021-09-15.tif") as ds:
        band = ds.read(1)
    corn = next(c for c in counted[-1]["classes"] if c["name"] == "Corn")
    assert corn["pixels"] == int((band == 1).sum()) and corn["hectares"] == pytest.approx(corn["pixels"] * 0.16)


def test_truth_is_reprojected_onto_the_map_grid(maps_folder: Path, tmp_path: Path) -> None:
    maps = read_maps(maps_folder, truth=maps_folder.parent / "truth.tif")
    assert maps.truth is not None and maps.truth.shape == maps.shape and maps.truth_source == "truth.tif"
    last = maps.layers[-1].classes
    both = (maps.truth > 0) & (last > 0)
    assert both.sum() > 0.9 * (last > 0).sum()  # the 30 m EPSG:5070 raster lands on the UTM map
    assert (maps.truth[both] == last[both]).mean() > 0.97  # the last map is the truth itself
    assert maps.truth_unmatched == 0.0
    # A bundle whose label map lists other codes translates the truth through them.
    bundle = tmp_path / "run"
    bundle.mkdir()
    (bundle / "model.json").write_text(
        json.dumps(
            {
                "classes": [
                    {"name": "Corn", "codes": [1, 12], "color": [255, 211, 0]},
                    {"name": "Soybeans", "codes": [], "color": [0, 0, 0]},
                    {"name": "Rice", "codes": [3], "color": [0, 0, 0]},
                    {"name": "Cotton", "codes": [2], "color": [0, 0, 0]},
                ]
            }
        )
    )
    relabelled = read_maps(maps_folder, truth=maps_folder.parent / "truth.tif", bundle=bundle)
    assert relabelled.classes[0].codes == (1, 12)
    soy = maps.truth == 2
    assert soy.any() and (relabelled.truth[soy] == 0).all()  # code 5 is no class of this bundle
    assert relabelled.truth_unmatched > 0


def test_error_adjusted_areas_with_the_test_points(evaluation: dict[str, Any], maps_folder: Path) -> None:
    maps = read_maps(maps_folder)
    adjusted = error_adjusted_areas(maps, evaluation)
    assert [a["as_of"] for a in adjusted] == DATES
    final = adjusted[-1]  # the last map has no error: areas equal the mapped ones, intervals zero
    assert final["n_points"] == len(evaluation["map"]["x"]) and final["left_out"] == 0
    assert final["overall_accuracy"] == pytest.approx(1.0)
    for c in final["classes"]:
        assert c["area_ha"] == pytest.approx(c["mapped_ha"]) and c["area_ci_ha"] == pytest.approx(0.0)
    early = adjusted[0]  # 30 % wrong pixels
    assert early["overall_accuracy"] < 0.9 and all(c["area_ci_ha"] > 0 for c in early["classes"])
    total = sum(c["area_ha"] for c in early["classes"])
    assert total == pytest.approx(sum(c["mapped_ha"] for c in early["classes"]))


def test_error_adjusted_areas_fall_back_to_the_test_split(evaluation: dict[str, Any], maps_folder: Path) -> None:
    """A map holding too few test points takes the whole test split's confusion as of the same date."""
    few = copy.deepcopy(evaluation)
    few["map"] = {key: value[:3] if isinstance(value, list) else value for key, value in few["map"].items()}
    maps = read_maps(maps_folder)
    june, august, _ = error_adjusted_areas(maps, few)
    assert august["reference"] == "map points" and "error" in august  # the evaluation has no 08-01
    assert june["reference"] == "test split as of 06-15" and june["left_out"] == 0
    row = next(r for r in few["by_as_of_date"] if r["as_of"] == "06-15")
    confusion = np.asarray(row["confusion"]["counts"])  # rows truth, columns prediction, same class order
    assert june["n_points"] == confusion.sum()
    mapped = np.array([c["mapped_ha"] for c in june["classes"]])
    weights = mapped / mapped.sum()
    expected = float(np.sum(weights * np.diag(confusion) / confusion.sum(axis=0)))  # Olofsson eq. 1
    assert june["overall_accuracy"] == pytest.approx(expected)
    assert sum(c["area_ha"] for c in june["classes"]) == pytest.approx(mapped.sum())


def test_report_with_wall_to_wall_maps(evaluation: dict[str, Any], maps_folder: Path) -> None:
    text = render_report(evaluation, maps=maps_folder, truth=maps_folder.parent / "truth.tif")
    section = text.split("<h2>Maps of the test area</h2>")[1].split("<h2>")[0]
    for title in (
        "Class map",
        "Truth (truth.tif) in the model&#x27;s classes",
        "Confidence",
        "Area of each class by as-of date",
    ):
        assert f"<h3 class='fig-title'>{title}</h3>" in section
    assert "1 Corn (CDL 1)" in section and "background:#ffd300" in section
    assert "<th>2021-09-15 error-adjusted (ha)</th>" in section
    assert "use the evaluation&#x27;s test points as the reference sample" in section
    assert '"sliders"' in section and '"label":"06-15"' in section.replace(" ", "")


def test_bad_maps_folders(evaluation: dict[str, Any], maps_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"holds no summary.json"):
        read_maps(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(maps_folder, broken)
    (broken / "map_2021-08-01.tif").unlink()
    summary = json.loads((broken / "summary.json").read_text())
    summary["maps"] = {d: str(broken / f"map_{d}.tif") for d in summary["maps"]}
    (broken / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(InputError, match="map of 2021-08-01 is missing"):
        read_maps(broken)
    with pytest.raises(InputError, match="holds no model bundle"):
        read_maps(maps_folder, bundle=tmp_path)
    with pytest.raises(InputError, match=r"truth raster .* cannot be read"):
        read_maps(maps_folder, truth=tmp_path / "missing.tif")
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        render_report(evaluation, maps=tmp_path)
