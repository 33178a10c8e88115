"""`inseason bench predict` on the tiny world: the table's shape and consistency (never its timings)."""

from __future__ import annotations

import json
from pathlib import Path

from inseason.bench.predict import bench_predict


def test_bench_predict_table(tiny_world: Path) -> None:
    result = bench_predict(networks=("arset", "tempcnn"), world=tiny_world, block_size=256)
    json.dumps(result)
    assert set(result["end_to_end_over_model_only"]) == {"arset", "tempcnn"}
    for network, row in result["networks"].items():
        assert row["pixels"] > 50_000
        assert row["end_to_end_over_model_only"] > 0
        assert row["end_to_end_over_model_only"] == result["end_to_end_over_model_only"][network]
    assert result["world"]["grid"] == [242, 242]
