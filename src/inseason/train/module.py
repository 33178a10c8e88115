"""The Lightning module: a registry network, its loss, optimizer, schedule and epoch metrics.

Metric states are persistent, so a checkpoint taken mid-epoch carries the partial training metrics and a
resumed run reports the same epoch figures as an uninterrupted one. Dropout randomness is reseeded from
(seed, global step) before every step for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from inseason.errors import InseasonError
from inseason.train.config import Loss, OptimizerConfig, ScheduleConfig
from inseason.train.losses import distillation_loss, training_loss


class TrainingDiverged(InseasonError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


def _metrics(n_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "oa": MulticlassAccuracy(n_classes, average="micro"),
            "macro_f1": MulticlassF1Score(n_classes, average="macro"),
            "f1": MulticlassF1Score(n_classes, average="none"),
        }
    )


#: Weight of the validation loss that breaks ties of validation macro-F1 (or OA) when choosing the epoch to
#: keep and deciding to stop: at most 0.001 (loss clipped to 10), below any difference one validation sample
#: makes. Without it a validation score that reaches its ceiling early (1.0 on an easy validation split) keeps
#: that first, under-trained epoch and stops the run a patience later, however much the loss still falls.
TIE_BREAK = 1e-4


class CropTypeModule(L.LightningModule):
    """Trains ``network`` (shared tensor contract) on a class-weighted loss (`inseason.train.losses`)."""

    class_weights: torch.Tensor  # a buffer (moves with the module), registered in __init__

    def __init__(
        self,
        network: nn.Module,
        *,
        class_names: list[str],
        optimizer: OptimizerConfig,
        schedule: ScheduleConfig,
        epochs: int,
        class_weights: torch.Tensor | None,
        seed: int,
        label_smoothing: float = 0.0,
        loss: Loss = "cross_entropy",
        gce_q: float = 0.7,
        teacher: nn.Module | None = None,
        distill_weight: float = 0.0,
        distill_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.label_smoothing, self.loss, self.gce_q = label_smoothing, loss, gce_q
        self.network = network
        # the teacher is not a submodule: it is neither trained, checkpointed nor put in train mode
        self._teacher = [teacher.eval().requires_grad_(False)] if teacher is not None else []
        self.distill_weight, self.distill_temperature = distill_weight, distill_temperature
        self.class_names = class_names
        self.optimizer_config, self.schedule_config, self.epochs, self.seed = optimizer, schedule, epochs, seed
        self.register_buffer(
            "class_weights",
            class_weights if class_weights is not None else torch.ones(len(class_names)),
            persistent=False,
        )
        n = len(class_names)
        self.train_metrics, self.val_metrics = _metrics(n), _metrics(n)
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.val_confusion = MulticlassConfusionMatrix(n)
        for metric in (self.train_metrics, self.val_metrics, self.train_loss, self.val_loss, self.val_confusion):
            metric.persistent(True)

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_classes] of the network."""
        logits: torch.Tensor = self.network(values, mask, doy)
        return logits

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Reseed torch's generator from (seed, step) so dropout does not depend on where a run resumed.

        Args:
            batch: the batch about to be trained on (unused).
            batch_idx: its index in the epoch (unused).
        """
        torch.manual_seed(self.seed * 1_000_003 + self.global_step * 7919 + self.global_rank)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        """The training loss of one batch; a non-finite loss stops the run before it is checkpointed.

        A network with ``forward_members`` (an ensemble, `inseason.models.ensemble`) is trained on the sum of
        its members' own losses, so that each member learns as it would alone instead of the members fitting
        their average together; the logged loss and metrics are those of the ensemble's averaged output, the
        figures validation reports.
        """
        values, mask, doy, y = batch
        teacher = self._teacher_logits(values, mask, doy)
        forward_members = getattr(self.network, "forward_members", None)
        if callable(forward_members):
            logits, members = forward_members(values, mask, doy)
            loss = torch.stack([self._training_loss(member, y, teacher) for member in members]).sum()
            logged = nn.functional.cross_entropy(logits.detach(), y, weight=self.class_weights)
        else:
            logits = self(values, mask, doy)
            loss = self._training_loss(logits, y, teacher)
            logged = nn.functional.cross_entropy(logits.detach(), y, weight=self.class_weights)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss.item()} at step {self.global_step}: lower "
                "optimizer.lr or check the series values; the last good checkpoint is kept"
            )
        self.train_loss.update(logged.detach(), weight=y.numel())
        self.train_metrics.update(logits.detach(), y)
        return loss

    def _teacher_logits(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor | None:
        """The teacher's logits of the batch (None without a teacher), on the batch's device."""
        if not self._teacher:
            return None
        teacher = self._teacher[0].to(values.device)
        with torch.no_grad():
            logits: torch.Tensor = teacher(values, mask, doy)
        return logits.float()

    def _training_loss(self, logits: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None) -> torch.Tensor:
        """The loss optimised: ``loss``, class-weighted (`inseason.train.losses`), blended with the teacher's term."""
        hard = training_loss(
            logits, y, loss=self.loss, weight=self.class_weights, q=self.gce_q, label_smoothing=self.label_smoothing
        )
        if teacher is None:
            return hard
        soft = distillation_loss(logits, teacher, temperature=self.distill_temperature)
        return (1.0 - self.distill_weight) * hard + self.distill_weight * soft

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        """Accumulate validation loss, metrics and the confusion matrix."""
        values, mask, doy, y = batch
        logits = self(values, mask, doy)
        self.val_loss.update(nn.functional.cross_entropy(logits, y, weight=self.class_weights), weight=y.numel())
        self.val_metrics.update(logits, y)
        self.val_confusion.update(logits, y)

    def _log_epoch(self, stage: str, loss: MeanMetric, metrics: MetricCollection) -> None:
        """Hand the epoch's loss, OA and macro-F1 to Lightning, then reset the metrics.

        Lightning uses them for the checkpoint and early-stopping monitors; `TensorBoardExtras` writes them,
        with per-class F1, to TensorBoard.
        """
        values, mean_loss = metrics.compute(), loss.compute()
        self.log(f"{stage}/loss", mean_loss, sync_dist=False, logger=False)
        self.log(f"{stage}/oa", values["oa"], logger=False)
        self.log(f"{stage}/macro_f1", values["macro_f1"], logger=False)
        if stage == "val":  # what checkpointing and early stopping follow (`inseason.train.run._MONITOR`)
            tie_break = TIE_BREAK * torch.clamp(mean_loss, 0.0, 10.0)
            self.log("val/oa_then_loss", values["oa"] - tie_break, logger=False)
            self.log("val/macro_f1_then_loss", values["macro_f1"] - tie_break, logger=False)
        loss.reset()
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        """Record the epoch's training loss, OA and macro-F1 and reset them."""
        self._log_epoch("train", self.train_loss, self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        """Record validation figures (callbacks have written them and the confusion matrix by now) and reset."""
        self.val_confusion.reset()
        self._log_epoch("val", self.val_loss, self.val_metrics)

    def configure_optimizers(self) -> Any:
        """The configured optimizer and per-epoch learning-rate schedule (with optional linear warm-up)."""
        config = self.optimizer_config
        params = self.network.parameters()
        optimizers: dict[str, Callable[[], torch.optim.Optimizer]] = {
            "adam": lambda: torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay),
            "adamw": lambda: torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay),
            "sgd": lambda: torch.optim.SGD(
                params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            ),
            "rmsprop": lambda: torch.optim.RMSprop(
                params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            ),
            "adagrad": lambda: torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay),
        }
        optimizer = optimizers[config.name]()
        schedule = self.schedule_config
        if schedule.name == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=schedule.gamma, patience=max(1, schedule.step_size // 5)
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val/loss"}}
        warmup, total = schedule.warmup_epochs, max(self.epochs, 1)

        def factor(epoch: int) -> float:
            if epoch < warmup:
                return (epoch + 1) / (warmup + 1)
            e = epoch - warmup
            if schedule.name == "cosine":
                return 0.5 * (1 + math.cos(math.pi * e / max(total - warmup, 1)))
            if schedule.name == "step":
                return schedule.gamma ** (e // schedule.step_size)
            if schedule.name == "exponential":
                return schedule.gamma**e
            return 1.0

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
