"""Helpers shared by training tests."""

from __future__ import annotations

from torch import nn

from inseason.train.config import OptimizerConfig, ScheduleConfig
from inseason.train.module import CropTypeModule


def module_for(network: nn.Module, *, label_smoothing: float = 0.0) -> CropTypeModule:
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
    )
