"""``label_smoothing`` smooths the loss optimised, not the loss logged or validated."""

from __future__ import annotations

import torch
from torch import nn

from inseason.train.module import CropTypeModule
from tests.train.helpers import module_for


class _Fixed(nn.Module):
    """Returns the logits it was built with, whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        return self.logits


def _module(logits: torch.Tensor, smoothing: float) -> CropTypeModule:
    return module_for(_Fixed(logits), label_smoothing=smoothing)


def test_the_training_loss_is_smoothed_and_the_logged_one_is_not() -> None:
    logits = torch.tensor([[4.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    y = torch.tensor([0, 1])
    batch = (torch.zeros(2, 3, 1), torch.ones(2, 3, dtype=torch.bool), torch.zeros(2, 3), y)
    plain, smoothed = _module(logits, 0.0), _module(logits, 0.2)
    loss_plain, loss_smoothed = plain.training_step(batch, 0), smoothed.training_step(batch, 0)
    assert torch.isclose(loss_plain, nn.functional.cross_entropy(logits, y))
    assert torch.isclose(loss_smoothed, nn.functional.cross_entropy(logits, y, label_smoothing=0.2))
    assert loss_smoothed > loss_plain  # confident right answers cost more when labels are smoothed
    assert torch.isclose(smoothed.train_loss.compute(), nn.functional.cross_entropy(logits, y))  # logged: plain
