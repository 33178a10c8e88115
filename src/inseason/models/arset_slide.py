"""The small Conv1D network shown on the NASA ARSET course slides (349 parameters on 20 × 12, 6 classes)."""

from __future__ import annotations

import torch
from torch import nn

from inseason.errors import InputError
from inseason.models.inputs import prepare_inputs
from inseason.models.registry import register_model


@register_model("arset-slide")
class ArsetSlideNet(nn.Module):
    """Conv1D(3, 5) → MaxPool(5) → Flatten → Dense(10, ReLU) → Dense(classes), as on the ARSET slides.

    Source: NASA ARSET, "Training & Testing ML Models for Irregularly-Spaced Time Series of Imagery"
    (slides): input 20 steps × 12 bands, 6 classes, exactly 349 parameters. Like the course's Keras layers
    the convolution is unpadded and has no activation; masked buckets enter as zeros (the course's padding).
    """

    adapter = "bucketed"
    reproduces = "NASA ARSET course slides: Conv1D(3, 5), MaxPool(5), Dense(10), 349 parameters on 20 x 12"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        filters: int = 3,
        kernel_size: int = 5,
        pool_size: int = 5,
        hidden: int = 10,
    ) -> None:
        super().__init__()
        pooled = (n_steps - kernel_size + 1) // pool_size
        if pooled < 1:
            raise InputError(
                f"arset-slide needs at least {kernel_size + pool_size - 1} time steps, not {n_steps}: use more buckets"
            )
        self.n_bands, self.n_steps = n_bands, n_steps
        self.conv = nn.Conv1d(n_bands, filters, kernel_size)
        self.pool = nn.MaxPool1d(pool_size)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(filters * pooled, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of a batch of bucketed series (``doy`` is implied by the bucket index)."""
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        logits: torch.Tensor = self.head(self.pool(self.conv(values.transpose(1, 2))))
        return logits
