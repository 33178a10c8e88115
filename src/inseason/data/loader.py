"""Batch loaders over a `SeriesStore`: seeded, resumable, sharded by rank, no per-item Dataset.

Each epoch's order is a pure function of (seed, epoch) and each batch's augmentation randomness a pure
function of (seed, epoch, batch), so a run resumed mid-epoch from ``state_dict()`` sees exactly the batches
an uninterrupted run would. Every rank draws the same order and takes its own interleaved share.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch

from inseason.data.batches import AugmentConfig, InputSpec, build_batch
from inseason.data.store import SeriesStore

Sampling = Literal["shuffle", "balanced", "sequential"]


class BatchLoader:
    """Iterable of ``(values, mask, doy, y)`` tensors for ``rows`` of ``store``.

    ``sampling``: ``sequential`` (deterministic evaluation order), ``shuffle`` (a seeded permutation per
    epoch) or ``balanced`` (rows drawn with probability inversely proportional to their class frequency).
    ``as_of`` fixes the day of season every row is seen at (evaluation); ``augment`` draws it per sample.
    ``consumed`` counts the batches of the current epoch the trainer has finished; `state_dict` stores it.
    ``relabel_to`` is the class index of windows the spec's window rule relabels (No Crop Growing); it is
    required when the spec has a rule, so each window's target follows what the window shows.
    ``drop_last`` leaves out an epoch's last, partial batch; ``drop_single`` only when it would hold one sample
    (training: batch normalisation cannot normalise a batch of one).
    """

    def __init__(
        self,
        store: SeriesStore,
        rows: np.ndarray,
        targets: np.ndarray,
        spec: InputSpec,
        *,
        batch_size: int,
        sampling: Sampling = "sequential",
        seed: int = 0,
        augment: AugmentConfig | None = None,
        as_of: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        drop_single: bool = False,
        relabel_to: int | None = None,
    ) -> None:
        if spec.window_rule is not None and relabel_to is None:
            raise ValueError("the input spec has a window rule: give relabel_to, the index of its target class")
        self.relabel_to = relabel_to
        self.store, self.rows, self.targets, self.spec = store, np.asarray(rows, np.int64), targets, spec
        self.batch_size, self.sampling, self.seed, self.augment = batch_size, sampling, seed, augment
        self.as_of, self.rank, self.world_size, self.drop_last = as_of, rank, world_size, drop_last
        self.drop_single = drop_single
        self.epoch = 0
        self.consumed = 0
        self._resume_at = 0

    def _order(self, epoch: int) -> np.ndarray:
        """Indices into ``rows`` this rank visits in ``epoch``."""
        n = self.rows.size
        rng = np.random.default_rng([self.seed, epoch, 0])
        if self.sampling == "shuffle":
            order = rng.permutation(n)
        elif self.sampling == "balanced":
            _, inverse, counts = np.unique(self.targets, return_inverse=True, return_counts=True)
            weight = 1.0 / counts[inverse]
            order = rng.choice(n, size=n, replace=True, p=weight / weight.sum())
        else:
            order = np.arange(n)
        if self.world_size > 1:
            padded = -(-n // self.world_size) * self.world_size
            order = np.resize(order, padded)[self.rank :: self.world_size]
        return order

    def __len__(self) -> int:
        n = -(-self.rows.size // self.world_size)
        full, left = divmod(n, self.batch_size)
        if self.drop_last or (self.drop_single and left == 1 and full > 0):
            return full
        return full + (left > 0)

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, ...]:
        """Batch ``index`` of ``epoch`` (a pure function of the seed, the epoch and the index).

        Args:
            epoch: The epoch, which fixes the order.
            index: The batch within the epoch.

        Returns:
            ``(values, mask, doy, y)`` tensors; ``y`` holds ``relabel_to`` where the window rule relabels.
        """
        order = self._order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        rows = self.rows[order]
        as_of = None if self.as_of is None else np.full(rows.size, self.as_of, np.int64)
        rng = np.random.default_rng([self.seed, epoch, index + 1]) if self.augment is not None else None
        built = build_batch(self.store, rows, self.spec, as_of=as_of, augment=self.augment, rng=rng)
        targets = np.array(self.targets[order], np.int64)
        if self.relabel_to is not None:
            targets[built.relabelled] = self.relabel_to
        return (
            torch.from_numpy(built.values),
            torch.from_numpy(built.mask),
            torch.from_numpy(built.doy),
            torch.from_numpy(targets),
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        epoch, start = self.epoch, self._resume_at
        self._resume_at = 0
        self.consumed = start
        for index in range(start, len(self)):
            yield self.batch(epoch, index)
        self.epoch = epoch + 1

    def state_dict(self) -> dict[str, Any]:
        """Position to resume from: the epoch and the number of its batches already trained on."""
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at the batch after the last one trained on (see `state_dict`)."""
        self.epoch, self._resume_at = int(state["epoch"]), int(state["consumed"])
        self.consumed = self._resume_at
