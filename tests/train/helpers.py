"""Helpers shared by training tests."""

from __future__ import annotations

from torch import nn

from inseason.train.config import Loss, OptimizerConfig, ScheduleConfig
from inseason.train.module import CropTypeModule


def module_for(
    network: nn.Module, *, label_smoothing: float = 0.0, loss: Loss = "cross_entropy", gce_q: float = 0.7
) -> CropTypeModule:
    """The training module around ``network`` (three classes ``a b c``, no class weights, one epoch)."""
    return CropTypeModule(
        network,
        class_names=["a", "b", "c"],
        optimizer=OptimizerConfig(),
        schedule=ScheduleConfig(),
        epochs=1,
        class_weights=None,
        seed=0,
        label_smoothing=label_smoothing,
        loss=loss,
        gce_q=gce_q,
    )
