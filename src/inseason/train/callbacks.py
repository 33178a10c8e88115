"""Lightning callbacks of a run: loader position for mid-epoch resume, TensorBoard extras, atomic checkpoints."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from inseason.data import BatchLoader
from inseason.train.figures import confusion_image


class LoaderPosition(L.Callback):
    """Counts the training batches finished in the epoch, before the step checkpoint is written.

    Lightning prefetches a batch ahead, so the loader itself cannot know which batches were trained on;
    this count is what its ``state_dict`` stores for resuming mid-epoch.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """One more batch of this epoch is done."""
        loader = trainer.train_dataloader
        if isinstance(loader, BatchLoader):
            loader.consumed += 1


class TensorBoardExtras(L.Callback):
    """Confusion-matrix image, weight histograms and the input-wait fraction, once per epoch.

    The input-wait fraction is the time between the end of one step and the start of the next (the
    trainer waiting for a batch) divided by the whole step time.
    """

    def __init__(self, *, histograms: bool) -> None:
        self.histograms = histograms
        self._wait = self._busy = 0.0
        self._step_started = self._step_ended = None

    def _writer(self, trainer: L.Trainer) -> Any:
        return None if trainer.logger is None else trainer.logger.experiment

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start counting wait and compute time for the epoch."""
        self._wait = self._busy = 0.0
        self._step_ended = time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        """The batch arrived: the time since the previous step ended was spent waiting for input."""
        now = time.perf_counter()
        if self._step_ended is not None:
            self._wait += now - self._step_ended
        self._step_started = now

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """The step is done."""
        now = time.perf_counter()
        if self._step_started is not None:
            self._busy += now - self._step_started
        self._step_ended = now

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log the input-wait fraction and weight histograms."""
        total = self._wait + self._busy
        pl_module.log("train/input_wait_fraction", self._wait / total if total > 0 else 0.0)
        writer = self._writer(trainer)
        if self.histograms and writer is not None and trainer.is_global_zero:
            for name, parameter in pl_module.network.named_parameters():
                writer.add_histogram(f"weights/{name}", parameter.detach().cpu(), trainer.global_step)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the epoch's confusion matrix (the module resets it after this hook) as an image."""
        writer = self._writer(trainer)
        confusion = pl_module.val_confusion.compute().cpu()
        if writer is not None and trainer.is_global_zero and not trainer.sanity_checking:
            writer.add_image("val/confusion_matrix", confusion_image(confusion.numpy()), trainer.global_step,
                             dataformats="HWC")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary name and renamed, so a kill never leaves half a checkpoint."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """torch.save to ``.<name>.tmp`` next to ``path``, then an atomic rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        torch.save(checkpoint, tmp)
        tmp.replace(path)
