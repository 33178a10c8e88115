"""The maps' confidence band is the calibrated top-class probability: it moves with the bundle's temperature
while the class band does not (issue 19)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import rasterio
from shapely.geometry import box

from inseason.bench.predict import untrained_bundle
from inseason.extract.scenes import find_scenes
from inseason.predict.maps import predict_map

AOI = box(-90.805, 33.39, -90.795, 33.40)
AS_OF = "2022-08-15"


def _bands(run_out: Path) -> tuple[np.ndarray, np.ndarray]:
    (cog,) = sorted(run_out.rglob("*.tif"))
    with rasterio.open(cog) as src:
        return src.read(1), src.read(2)


def test_map_confidence_follows_the_temperature_and_the_class_does_not(tiny_world: Path, tmp_path: Path) -> None:
    scenes = tmp_path / "scenes.parquet"
    find_scenes(
        stac=str(tiny_world / "stac" / "catalog.json"),
        aoi=str(tiny_world / "aoi.geojson"),
        start="2022-01-01",
        end="2022-12-31",
        out=scenes,
        min_valid=0.0,
        quiet=True,
    )
    plain = untrained_bundle("tempcnn", tmp_path / "plain", seed=3)
    hot = shutil.copytree(plain, tmp_path / "hot")
    manifest = json.loads((hot / "model.json").read_text())
    assert "calibration" in manifest and manifest["calibration"] is None  # an uncalibrated bundle: T = 1
    manifest["calibration"] = {"method": "temperature", "temperature": 0.25, "fitted_on": "validation"}
    (hot / "model.json").write_text(json.dumps(manifest))
    maps = {}
    for name, bundle in (("plain", plain), ("hot", hot)):
        out = tmp_path / f"maps-{name}"
        predict_map(bundle, scenes=scenes, aoi=AOI, as_of=AS_OF, out=out, workers=1, quiet=True)
        maps[name] = _bands(out)
    (classes, confidence), (hot_classes, hot_confidence) = maps["plain"], maps["hot"]
    mapped = classes > 0
    assert mapped.sum() > 100
    assert np.array_equal(classes, hot_classes)  # the class never changes with T
    # T = 0.25 sharpens an untrained model's flat probabilities (7 classes): every pixel's confidence rises
    assert confidence[mapped].max() < 60
    assert (hot_confidence[mapped] >= confidence[mapped]).all()
    assert (hot_confidence[mapped] > confidence[mapped]).mean() > 0.9
