"""The batch loader: deterministic, resumable and sharded; balanced sampling evens out the classes."""

from __future__ import annotations

import numpy as np

from inseason.data import ADAPTER_PRESETS, AugmentConfig, BatchLoader
from tests.data.helpers import input_spec


def test_loader_is_deterministic_resumable_and_sharded(store):
    rows = store.rows_of("train")
    targets = np.arange(rows.size) % 3
    spec = input_spec(store, ADAPTER_PRESETS["arset"])

    def make(**kw):
        return BatchLoader(
            store, rows, targets, spec, batch_size=8, sampling="shuffle", seed=2, augment=AugmentConfig(), **kw
        )

    loader = make()
    first_epoch = [b[0] for b in loader]
    second_epoch = [b[0] for b in loader]
    assert len(first_epoch) == len(loader) == -(-rows.size // 8)
    assert not np.array_equal(first_epoch[0].numpy(), second_epoch[0].numpy())
    resumed = make()
    resumed.load_state_dict({"epoch": 1, "consumed": 2})
    again = [b[0] for b in resumed]
    assert len(again) == len(loader) - 2
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(again, second_epoch[2:]))
    shards = [
        BatchLoader(store, rows, targets, spec, batch_size=100, sampling="shuffle", seed=2, rank=r, world_size=2)
        for r in (0, 1)
    ]
    seen = np.concatenate([s._order(0) for s in shards])
    assert sorted(set(seen.tolist())) == list(range(rows.size))


def test_balanced_sampling_evens_out_classes(store):
    rows = store.rows_of("train")
    targets = np.where(np.arange(rows.size) < rows.size * 0.8, 0, 1)
    loader = BatchLoader(
        store, rows, targets, input_spec(store, ADAPTER_PRESETS["sequence"]), batch_size=16, sampling="balanced", seed=0
    )
    drawn = np.concatenate([targets[loader._order(e)] for e in range(20)])
    assert abs(drawn.mean() - 0.5) < 0.05


def test_a_last_batch_of_one_sample_is_dropped_only_when_asked(store):
    rows = store.rows_of("train")[:17]
    targets = np.zeros(rows.size, np.int64)
    spec = input_spec(store, ADAPTER_PRESETS["sequence"])

    def sizes(**kw):
        loader = BatchLoader(store, rows, targets, spec, batch_size=8, sampling="shuffle", seed=1, **kw)
        return [len(b[3]) for b in loader]

    assert sizes() == [8, 8, 1]
    assert sizes(drop_single=True) == [8, 8]  # training: batch norm cannot normalise one sample
    assert sizes(drop_last=True) == [8, 8]
    one = BatchLoader(store, rows[:1], targets[:1], spec, batch_size=8, drop_single=True)
    assert [len(b[3]) for b in one] == [1]  # a training split of one sample keeps its only batch
    two = BatchLoader(store, rows[:10], targets[:10], spec, batch_size=8, drop_single=True)
    assert [len(b[3]) for b in two] == [8, 2]  # two samples are a batch
