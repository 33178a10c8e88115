"""`inseason bench train`: both loaders give the same batches; models report rates, FLOPs and their limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inseason.bench.train import ItemDataset, bench_train, bench_train_markdown
from inseason.data import (
    ADAPTER_PRESETS,
    BatchLoader,
    FeatureConfig,
    InputSpec,
    decode_series,
    fit_normalization,
    synthetic_series,
)
from inseason.errors import InputError


@pytest.fixture(scope="module")
def result() -> dict:
    return bench_train(
        n_samples=60,
        models=("arset-slide", "ltae", "random_forest"),
        epochs=1,
        batch_size=16,
        steps=2,
        repeats=3,
        quiet=True,
    )


def test_json_keys_and_data_path_figures(result):
    assert {"loader_speedup", "input_wait_fraction", "matmul_gflops", "loader", "models"} <= set(result)
    assert result["train_rows"] == 36 and result["classes"] == 6
    loader = result["loader"]
    assert loader["same_batches"] is True and loader["batch_size"] == 32 and loader["workers"] == 0
    # the headline ratios are the median of three runs, with the lowest and highest run beside them; the
    # loader shown is the median run's
    assert result["repeats"] == 3
    low, high = result["loader_speedup_spread"]
    assert 0 < low <= result["loader_speedup"] <= high
    assert result["loader_speedup"] == round(loader["ours_samples_per_s"] / loader["per_item_samples_per_s"], 2)
    # each rate is timed over whole passes adding up to a second: the faster loader makes more of them
    assert loader["ours_passes"] > loader["per_item_passes"] >= 1
    low, high = result["input_wait_spread"]
    assert 0.0 <= low <= result["input_wait_fraction"] <= high <= 1.0 and len(result["input_wait_by_epoch"]) == 1
    assert result["matmul_gflops"] > 0


def test_model_rows_pin_sizes_and_flops(result):
    rows = {m["name"]: m for m in result["models"]}
    assert list(rows) == ["arset-slide", "ltae", "random_forest"]
    slide = rows["arset-slide"]
    # arset preset inputs: 25 buckets × 13 channels (12 bands + NDVI); Conv1D(3, 5) on 13 channels:
    # 21 positions × 3 filters × 13 × 5 multiply-adds, then Dense(12 → 10) and Dense(10 → 6): FLOPs = 2 × MACs
    assert (slide["adapter"], slide["n_steps"], slide["parameters"]) == ("bucketed", 25, 394)
    assert slide["flops_per_sample"] == 2 * (21 * 3 * 13 * 5 + 12 * 10 + 10 * 6) == 8550
    assert slide["train_flops_per_sample"] > slide["flops_per_sample"]
    ltae = rows["ltae"]
    assert (ltae["adapter"], ltae["n_steps"]) == ("sequence", 64) and ltae["flops_per_sample"] > 1e6
    for row in (slide, ltae):
        assert row["train_samples_per_s"] > 0 and row["infer_samples_per_s"] > 0
        assert row["infer_gflops"] == pytest.approx(
            row["flops_per_sample"] * row["infer_samples_per_s"] / 1e9, rel=0.05, abs=1e-3
        )
        assert row["infer_of_matmul"] == pytest.approx(
            row["infer_gflops"] / result["matmul_gflops"], rel=0.05, abs=1e-4
        )
    forest = rows["random_forest"]
    assert forest["kind"] == "trees" and forest["flops_per_sample"] is None and forest["parameters"] > 0


def test_markdown_table_has_one_row_per_model(result):
    text = bench_train_markdown(result)
    assert "input-wait fraction" in text and f"{result['loader_speedup']:.1f}×" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 3 and table[1].startswith("| arset-slide | bucketed × 25 | 394 |")


def test_item_dataset_matches_the_vectorised_loader():
    store = decode_series(synthetic_series(20, seed=2))
    rows = store.rows_of("train")
    features = FeatureConfig(indices=("NDVI",))
    spec = InputSpec(
        adapter=ADAPTER_PRESETS["arset"],
        features=features,
        normalization=fit_normalization(store, rows, features=features),
    )
    targets = np.arange(rows.size) % 3
    ours = next(iter(BatchLoader(store, rows, targets, spec, batch_size=rows.size)))
    theirs = next(iter(torch.utils.data.DataLoader(ItemDataset(store, rows, targets, spec), batch_size=rows.size)))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert ours[1].any(dim=1).all() and ours[0].shape == (rows.size, 25, 13)


def test_bad_options_name_the_input():
    with pytest.raises(InputError, match="unknown models"):
        bench_train(models=("resnet",), quiet=True)
    with pytest.raises(InputError, match="n_samples"):
        bench_train(n_samples=3, quiet=True)
