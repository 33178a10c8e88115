"""Distributed training: loaders shard by rank deterministically, and two CPU processes (Lightning DDP over
gloo) train to the metrics of one process.

Why the two runs can agree: with ``world_size`` ranks of batch ``B`` each, the ranks of step ``i`` together
see exactly the rows of step ``i`` of one process with batch ``world_size × B`` (the same seeded order,
interleaved), and DDP averages their gradients. With an unweighted mean loss, no dropout, no batch
normalisation and no random augmentation, the updates then differ only by floating-point rounding of the
all-reduce. Tolerance: validation metrics equal to 1e-6, weights equal to 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pyarrow as pa
import pytest
import torch
from safetensors.numpy import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from inseason.data import AdapterConfig, BatchLoader, FeatureConfig, InputSpec, decode_series, fit_normalization
from inseason.train import train

#: A run whose single-process and DDP updates agree (see the module docstring); ``batch_size`` per process.
DDP_OVERRIDES = {
    "model.name": "arset",
    "model.params": {"filters": 8, "hidden": 16, "dropout": 0.0},
    "adapter.kind": "bucketed",
    "features.indices": ["NDVI"],
    "epochs": 3,
    "loss": "cross_entropy",  # three fixed epochs: GCE (the default) learns too slowly to show it learned
    "optimizer.lr": 0.01,
    "balance": "none",
    "augment.as_of": False,
    "augment.random_window": False,
    "augment.obs_dropout": 0.0,
    "augment.band_noise": 0.0,
    "histograms": False,
    "accelerator": "cpu",
}


class _CloseProcessGroup(L.Callback):
    """Leave the gloo process group at teardown: spawned workers skip the atexit hook that would."""

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_ranks_together_see_the_single_process_batches(series_table: pa.Table) -> None:
    store = decode_series(series_table)
    rows = store.rows_of("train")
    targets = np.arange(store.labels.size, dtype=np.int64)  # each row's own index as its "class"
    features = FeatureConfig(indices=["NDVI"])
    spec = InputSpec(
        adapter=AdapterConfig(kind="bucketed"),
        features=features,
        normalization=fit_normalization(store, rows, features=features),
    )

    def loader(batch_size: int, rank: int = 0, world_size: int = 1) -> BatchLoader:
        return BatchLoader(
            store,
            rows,
            targets[rows],
            spec,
            batch_size=batch_size,
            sampling="shuffle",
            seed=5,
            rank=rank,
            world_size=world_size,
        )

    single, ranks = loader(24), [loader(12, rank, 2) for rank in (0, 1)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == -(-rows.size // 24)
    for epoch in (0, 1):
        for index in range(len(single)):
            whole = single.batch(epoch, index)[3].tolist()
            shares = [r.batch(epoch, index)[3].tolist() for r in ranks]
            assert not set(shares[0]) & set(shares[1])  # the ranks never share a row
            assert sorted(shares[0] + shares[1]) == sorted(whole)
            assert shares[0] == loader(12, 0, 2).batch(epoch, index)[3].tolist()  # a fresh loader agrees
    assert single.batch(0, 0)[3].tolist() != single.batch(1, 0)[3].tolist()  # a new order every epoch


def test_two_ddp_processes_match_one_process(series_table: pa.Table, tmp_path: Path) -> None:
    assert decode_series(series_table).rows_of("train").size % 24 == 0  # every step is full on both sides
    one = train(series_table, out=tmp_path / "one", overrides={**DDP_OVERRIDES, "batch_size": 24}, quiet=True)
    two = train(
        series_table,
        out=tmp_path / "ddp",
        overrides={**DDP_OVERRIDES, "batch_size": 12, "devices": 2, "strategy": "ddp_spawn"},
        quiet=True,
        callbacks=[_CloseProcessGroup()],
    )
    assert two.best_epoch == one.best_epoch  # (ddp_spawn's launching process does not see the loop's epoch count)
    for key in ("overall_accuracy", "macro_f1", "kappa"):
        assert abs(two.metrics[key] - one.metrics[key]) <= 1e-6, key
    assert one.metrics["overall_accuracy"] > 0.3  # it learned something (6 classes)
    weights_one, weights_two = (
        load_file(tmp_path / "one" / "weights.safetensors"),
        load_file(tmp_path / "ddp" / "weights.safetensors"),
    )
    assert weights_one.keys() == weights_two.keys()
    for name in weights_one:
        np.testing.assert_allclose(weights_two[name], weights_one[name], atol=1e-4, err_msg=name)
    boards = [
        EventAccumulator(str(tmp_path / run / "tensorboard" / "version_0"), size_guidance={"scalars": 0})
        for run in ("one", "ddp")
    ]
    for board in boards:
        board.Reload()
        assert [e.step for e in board.Scalars("val/oa")] == [0, 1, 2]  # rank zero alone writes, once an epoch
    for tag in ("val/oa", "val/loss", "final/val_loss", "final/val_macro_f1"):
        assert [e.value for e in boards[1].Scalars(tag)] == pytest.approx(
            [e.value for e in boards[0].Scalars(tag)], abs=1e-5
        ), tag
