"""Maps on ONNX Runtime (issue 20, item 5): ``predict --backend onnx`` maps what torch maps (the graph the main
process verified runs in the workers), records its backend so a resume keeps to it, and a network ONNX cannot
run is refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from shapely.geometry.base import BaseGeometry

from inseason.bench.predict import untrained_bundle
from inseason.cli import app
from inseason.errors import InputError, OutputError
from inseason.predict.maps import predict_map
from tests.cli.helpers import runner

AS_OF = ["2022-06-15", "2022-08-15"]


def _bands(path: str) -> tuple[np.ndarray, np.ndarray]:
    with rasterio.open(path) as src:
        return src.read(1), src.read(2)


def test_onnx_maps_what_torch_maps_in_two_workers(
    tiny_bundle: Path, tiny_manifest: Path, map_square: BaseGeometry, tmp_path: Path
) -> None:
    options = dict(scenes=tiny_manifest, aoi=map_square, as_of=AS_OF, block_size=32, quiet=True)
    torch_run = predict_map(tiny_bundle, out=tmp_path / "torch", workers=1, **options)
    onnx_run = predict_map(tiny_bundle, out=tmp_path / "onnx", workers=2, backend="onnx", **options)
    assert onnx_run.mapped_pixels == torch_run.mapped_pixels
    for date in AS_OF:
        classes, confidence = _bands(onnx_run.maps[date])
        expected_classes, expected_confidence = _bands(torch_run.maps[date])
        np.testing.assert_array_equal(classes, expected_classes)
        assert np.abs(confidence.astype(int) - expected_confidence.astype(int)).max() <= 1  # rounding of a percent
    assert json.loads((tmp_path / "onnx" / "run.json").read_text())["backend"] == "onnx"
    assert "backend" not in json.loads((tmp_path / "torch" / "run.json").read_text())
    with pytest.raises(OutputError, match="holds a map run with other settings"):  # a resume keeps its backend
        predict_map(tiny_bundle, out=tmp_path / "onnx", workers=1, **options)


def test_a_network_onnx_cannot_run_is_refused_before_writing(
    tiny_manifest: Path, map_square: BaseGeometry, tmp_path: Path
) -> None:
    gru = untrained_bundle("gru", tmp_path / "gru", seed=1)
    out = tmp_path / "maps"
    with pytest.raises(InputError, match=r"network cannot be exported to ONNX .+: use backend torch"):
        predict_map(gru, scenes=tiny_manifest, aoi=map_square, as_of=AS_OF, out=out, backend="onnx", quiet=True)
    assert not out.exists()
    result = runner.invoke(app, [
        "predict", str(gru), "--scenes", str(tiny_manifest), "--aoi", "-90.8,33.39,-90.79,33.4",
        "--as-of", AS_OF[0], "--out", str(out), "--backend", "tflite",
    ])  # fmt: skip
    assert result.exit_code != 0 and isinstance(result.exception, InputError)
    assert "backend" in str(result.exception) and "'tflite'" in str(result.exception)
    assert not out.exists()
