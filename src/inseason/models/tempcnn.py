"""TempCNN (Pelletier, Webb & Petitjean 2019): temporal convolutions for satellite image time series."""

from __future__ import annotations

import torch
from torch import nn

from inseason.models.inputs import prepare_inputs
from inseason.models.registry import register_model


@register_model("tempcnn")
class TempCNN(nn.Module):
    """Three Conv1D(64, 5) + BatchNorm + ReLU + Dropout blocks → Dense(256) + BatchNorm + ReLU + Dropout → Dense.

    Source: C. Pelletier, G. I. Webb, F. Petitjean, "Temporal Convolutional Neural Network for the
    Classification of Satellite Image Time Series", Remote Sensing 11(5), 2019 (filters 64, kernel 5,
    'same' padding, dropout 0.2, a 256-unit dense layer). With ``mask_channel`` (default) the bucket mask
    is an extra input channel, so an empty bucket is told apart from an observation at the band means —
    this matters for in-season inputs where the late buckets are all empty.
    """

    adapter = "bucketed"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        filters: int = 64,
        kernel_size: int = 5,
        hidden: int = 256,
        dropout: float = 0.2,
        mask_channel: bool = True,
    ) -> None:
        super().__init__()
        self.n_bands, self.n_steps, self.mask_channel = n_bands, n_steps, mask_channel
        blocks: list[nn.Module] = []
        channels = n_bands + int(mask_channel)
        for _ in range(3):
            blocks += [
                nn.Conv1d(channels, filters, kernel_size, padding="same"),
                nn.BatchNorm1d(filters),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
            channels = filters
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(filters * n_steps, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of a batch of bucketed series (``doy`` is implied by the bucket index)."""
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        if self.mask_channel:
            values = torch.cat([values, mask.unsqueeze(-1).to(values.dtype)], dim=-1)
        logits: torch.Tensor = self.head(self.features(values.transpose(1, 2)))
        return logits
