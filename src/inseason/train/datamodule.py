"""The Lightning data module: loaders over one decoded store, sharded deterministically by rank."""

from __future__ import annotations

import lightning as L
import numpy as np

from inseason.data import BatchLoader, InputSpec, SeriesStore
from inseason.train.config import TrainConfig


class SeriesDataModule(L.LightningDataModule):
    """Training loader (seeded shuffle or balanced sampling, augmented) and a deterministic validation loader.

    ``relabel_to`` is the class index windows take when the spec's window rule relabels them (both loaders).
    """

    def __init__(
        self,
        store: SeriesStore,
        *,
        train_rows: np.ndarray,
        val_rows: np.ndarray,
        targets: np.ndarray,
        spec: InputSpec,
        config: TrainConfig,
        relabel_to: int | None = None,
    ) -> None:
        super().__init__()
        self.store, self.train_rows, self.val_rows, self.targets = store, train_rows, val_rows, targets
        self.spec, self.config, self.relabel_to = spec, config, relabel_to
        if config.batch_size is None:
            raise ValueError("the config's batch size is unresolved: call resolve_epochs first")
        self.batch_size: int = config.batch_size

    def _shard(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> BatchLoader:
        """Rows of the training split; the epoch counter follows the trainer (also after a resume)."""
        rank, world_size = self._shard()
        config = self.config
        loader = BatchLoader(
            self.store,
            self.train_rows,
            self.targets[self.train_rows],
            self.spec,
            batch_size=self.batch_size,
            sampling="balanced" if config.balance == "sampler" else "shuffle",
            drop_single=True,
            seed=config.seed,
            augment=config.augment,
            rank=rank,
            world_size=world_size,
            relabel_to=self.relabel_to,
        )
        if self.trainer is not None:
            # the epoch the fit loop trains next: ``current_epoch`` lags it by one while a run resumes from a
            # checkpoint written at an epoch's end (processed, not yet completed), when this loader is built
            progress = self.trainer.fit_loop.epoch_progress.current  # typed as its base class by Lightning
            loader.epoch = int(getattr(progress, "processed", self.trainer.current_epoch))
        return loader

    def val_dataloader(self) -> BatchLoader:
        """Rows of the validation split in table order, as of ``val_as_of`` (no augmentation)."""
        rank, world_size = self._shard()
        return BatchLoader(
            self.store,
            self.val_rows,
            self.targets[self.val_rows],
            self.spec,
            batch_size=self.batch_size,
            sampling="sequential",
            seed=self.config.seed,
            as_of=self.config.val_as_of,
            rank=rank,
            world_size=world_size,
            relabel_to=self.relabel_to,
        )
