"""Lightning callbacks of a run: loader position for mid-epoch resume, TensorBoard records, atomic checkpoints."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.tensorboard import SummaryWriter

from inseason.data import BatchLoader
from inseason.storage import atomic_path
from inseason.train.module import CropTypeModule
from inseason.train.tensorboard_log import class_tags, mark_restart, write_confusion, write_epoch_metrics


def _crop_module(pl_module: L.LightningModule) -> CropTypeModule:
    """The module of a run, whose metrics the TensorBoard records read."""
    if not isinstance(pl_module, CropTypeModule):
        raise TypeError(f"TensorBoardExtras records a CropTypeModule's metrics, not a {type(pl_module).__name__}'s")
    return pl_module


class LoaderPosition(L.Callback):
    """Keeps the training loader's position: its epoch, and the batches of the epoch finished.

    Lightning prefetches a batch ahead, so the loader itself cannot know which batches were trained on;
    the count of finished batches is what its ``state_dict`` stores for resuming mid-epoch. Lightning also
    stops iterating a sized loader after its last batch without exhausting it, so the loader's own epoch
    counter would never move on: every epoch start sets it to the trainer's epoch (a resumed epoch has no
    start hook; its loader state comes from the checkpoint).
    """

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The loader draws this epoch's order and augmentations.

        Args:
            trainer: the trainer.
            pl_module: the module being trained (unused).
        """
        loader = trainer.train_dataloader
        if isinstance(loader, BatchLoader):
            loader.epoch = trainer.current_epoch

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """One more batch of this epoch is done."""
        loader = trainer.train_dataloader
        if isinstance(loader, BatchLoader):
            loader.consumed += 1


def _write_metrics(
    writer: SummaryWriter,
    stage: str,
    epoch: int,
    tags: Sequence[str],
    values: dict[str, torch.Tensor],
    loss: torch.Tensor,
) -> None:
    """Write one stage's epoch scalars from the module's metric collection (``oa``, ``macro_f1``, ``f1``) and loss."""
    write_epoch_metrics(
        writer,
        stage,
        step=epoch,
        tags=tags,
        oa=float(values["oa"]),
        macro_f1=float(values["macro_f1"]),
        f1=values["f1"].cpu().numpy(),
        loss=float(loss),
    )


class TensorBoardExtras(L.Callback):
    """All of a network run's TensorBoard records, at one step per epoch: the epoch number.

    Per epoch: training and validation loss, OA, macro-F1 and per-class F1, the learning rate the epoch
    trained with, the input-wait fraction, the labelled validation confusion image and (optionally) weight
    histograms. The input-wait fraction is the time between the end of one step and the start of the next
    (the trainer waiting for a batch) divided by the whole step time. The first record a process writes
    carries a restart mark (see `mark_restart`), so a resumed run shows each epoch once. The validation loss
    of every epoch is kept in the callback's state (saved in checkpoints), so the run's final metrics can
    name the best epoch's loss after a resume too.

    Metrics are computed on every rank (their computation synchronises ranks); rank zero writes.
    """

    def __init__(self, *, class_names: Sequence[str], histograms: bool) -> None:
        self.class_names = list(class_names)
        self.tags = class_tags(self.class_names)
        self.histograms = histograms
        self.val_loss: dict[int, float] = {}
        self._marked = False
        self._wait = self._busy = 0.0
        self._lr: float | None = None
        self._step_started: float | None = None
        self._step_ended: float | None = None

    def state_dict(self) -> dict[str, Any]:
        """The validation loss of each finished epoch (saved in checkpoints)."""
        return {"val_loss": {int(epoch): float(loss) for epoch, loss in self.val_loss.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the validation losses of the epochs before a resume."""
        self.val_loss = {int(epoch): float(loss) for epoch, loss in state_dict.get("val_loss", {}).items()}

    def _writer(self, trainer: L.Trainer) -> SummaryWriter | None:
        """Rank zero's summary writer (None elsewhere or without a TensorBoard logger).

        The first call of this process marks a restart at the current epoch.
        """
        if not isinstance(trainer.logger, TensorBoardLogger) or not trainer.is_global_zero:
            return None
        writer: SummaryWriter = trainer.logger.experiment
        if not self._marked:
            mark_restart(writer, trainer.current_epoch)
            self._marked = True
        return writer

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start counting wait and compute time for the epoch.

        Args:
            trainer: the trainer.
            pl_module: the module being trained.
        """
        self._wait = self._busy = 0.0
        self._step_ended = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Note that the batch arrived: the time since the previous step ended was spent waiting for input.

        Also notes the learning rate of the step (epoch schedulers step before the epoch's end hooks, and a
        resumed epoch has no start hook, so the rate an epoch trained with is read here).

        Args:
            trainer: the trainer.
            pl_module: the module being trained.
            batch: the batch (unused).
            batch_idx: its index in the epoch (unused).
        """
        if trainer.optimizers:
            self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])
        now = time.perf_counter()
        if self._step_ended is not None:
            self._wait += now - self._step_ended
        self._step_started = now

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """The step is done."""
        now = time.perf_counter()
        if self._step_started is not None:
            self._busy += now - self._step_started
        self._step_ended = now

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the epoch's training figures, learning rate, input-wait fraction and weight histograms.

        Runs before the module's own hook, which resets the training metrics after logging them.
        """
        module = _crop_module(pl_module)
        values, loss = module.train_metrics.compute(), module.train_loss.compute()
        writer = self._writer(trainer)
        if writer is None:
            return
        epoch = trainer.current_epoch
        _write_metrics(writer, "train", epoch, self.tags, values, loss)
        if self._lr is not None:
            writer.add_scalar("train/lr", self._lr, epoch)
        total = self._wait + self._busy
        writer.add_scalar("train/input_wait_fraction", self._wait / total if total > 0 else 0.0, epoch)
        if self.histograms:
            for name, parameter in module.network.named_parameters():
                writer.add_histogram(f"weights/{name}", parameter.detach().cpu(), epoch)
        writer.flush()  # on disk before a kill can take it

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the epoch's validation figures and confusion image (the module resets them after this hook)."""
        if trainer.sanity_checking:
            return
        module = _crop_module(pl_module)
        values, loss = module.val_metrics.compute(), module.val_loss.compute()
        confusion = module.val_confusion.compute().cpu().numpy()
        epoch = trainer.current_epoch
        self.val_loss[epoch] = float(loss)
        writer = self._writer(trainer)
        if writer is None:
            return
        _write_metrics(writer, "val", epoch, self.tags, values, loss)
        write_confusion(writer, confusion, self.class_names, step=epoch)
        writer.flush()


class StepCheckpoint(Checkpoint):
    """The resume checkpoint (``last.ckpt``), every ``every_n_steps`` optimizer steps and where resuming is exact.

    Lightning restores a checkpoint written on an epoch's last batch as a finished epoch: the resumed run
    skips that epoch's validation, its end hooks (TensorBoard's training records) and its learning-rate step,
    and ends with other weights and another best epoch. So a checkpoint due on an epoch's last batch is
    written at the epoch's end instead, after validation and the end hooks, from where Lightning resumes at
    the next epoch's start; one due on any other batch is written right after it. A run that is about to
    stop early writes no end-of-epoch checkpoint (the stop decision is not saved): a kill then resumes from
    the previous one and replays.

    Args:
        path: the checkpoint file.
        every_n_steps: optimizer steps between checkpoints.
    """

    def __init__(self, path: Path, *, every_n_steps: int) -> None:
        self.path, self.every_n_steps = Path(path), every_n_steps
        self._due_at_epoch_end = False

    def save(self, trainer: L.Trainer) -> None:
        """Write the checkpoint now (every rank takes part; rank zero writes).

        Args:
            trainer: the trainer.
        """
        trainer.save_checkpoint(self.path)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Write the checkpoint if one is due, or note it for the epoch's end on the epoch's last batch.

        Args:
            trainer: the trainer.
            pl_module: the module being trained (unused).
            outputs: the step's outputs (unused).
            batch: the batch (unused).
            batch_idx: its index in the epoch.
        """
        if trainer.global_step == 0 or trainer.global_step % self.every_n_steps != 0:
            return
        if batch_idx + 1 >= trainer.num_training_batches:
            self._due_at_epoch_end = True
        else:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the checkpoint due on the epoch's last batch (after the epoch's validation and end hooks).

        Args:
            trainer: the trainer.
            pl_module: the module being trained (unused).
        """
        due, self._due_at_epoch_end = self._due_at_epoch_end, False
        if due and not trainer.should_stop:
            self.save(trainer)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary name and renamed (a kill never leaves half a one), read ``weights_only``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """torch.save to ``.<name>.tmp`` next to ``path``, then an atomic rename.

        Args:
            checkpoint: the checkpoint Lightning built.
            path: where it goes.
            storage_options: unused (a local file system only).
        """
        with atomic_path(Path(path)) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """torch.load with ``weights_only=True`` whatever the caller asks: a checkpoint never unpickles objects.

        Args:
            path: the checkpoint file.
            map_location: where tensors go (as `torch.load`'s).
            weights_only: ignored (always True).

        Returns:
            The checkpoint.
        """
        checkpoint: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)
        return checkpoint
