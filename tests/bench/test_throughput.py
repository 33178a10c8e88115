"""`inseason.bench.throughput`: a network's forward-pass rate on random inputs of its preset's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inseason.bench.throughput import main, network_specs, network_throughput
from inseason.errors import InputError
from inseason.models import model_spec


@pytest.fixture(scope="module")
def specs() -> dict:
    return network_specs(["tempcnn", "ltae"])


def test_specs_have_the_shape_a_sentinel_2_map_feeds_each_preset(specs: dict) -> None:
    assert specs["tempcnn"]["name"] == "tempcnn" and specs["tempcnn"]["n_steps"] == 73  # 5-day slots of a year
    assert specs["ltae"]["name"] == "ltae"
    for spec in specs.values():
        assert spec["n_bands"] == 13  # the 12 L2A bands and NDVI
        assert spec["n_classes"] == 7


def test_a_cpu_measurement_counts_the_pixels_it_timed(specs: dict) -> None:
    result = network_throughput(specs["tempcnn"], batch_size=32, batches=3, warmup=1)
    assert result["network"] == "tempcnn" and result["device"] == "cpu" and result["dtype"] == "float32"
    assert result["batch_size"] == 32 and result["batches"] == 3 and result["seconds"] > 0
    assert result["pixels_per_s"] == pytest.approx(32 * 3 / result["seconds"], rel=0.01)
    assert result["threads"] == torch.get_num_threads()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"batch_size": 0}, "use at least 1"),
        ({"bf16": True}, "bf16 autocast is measured on CUDA only"),
    ],
)
def test_bad_options_are_refused(specs: dict, options: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        network_throughput(specs["tempcnn"], **options)


def test_cuda_where_there_is_no_gpu_is_refused(specs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a machine with a GPU
    with pytest.raises(InputError, match="no CUDA GPU is visible"):
        network_throughput(specs["tempcnn"], device="cuda")


def test_a_tree_baseline_has_no_forward_pass_to_time() -> None:
    spec = {**model_spec("random_forest"), "n_bands": 13, "n_steps": 24, "n_classes": 7}
    with pytest.raises(InputError, match="is not a network"):
        network_throughput(spec)


def test_unknown_networks_are_named() -> None:
    with pytest.raises(InputError, match=r"unknown network\(s\) \['nope'\]"):
        network_specs(["tempcnn", "nope"])


def test_the_script_writes_specs_then_times_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "specs.json"
    main(["--networks", "arset", "--write-specs", str(path)])
    assert set(json.loads(path.read_text())) == {"arset"}
    main(["--specs", str(path), "--batch-size", "8", "--batches", "1"])
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["network"] for p in printed] == ["arset"] and printed[0]["pixels_per_s"] > 0
