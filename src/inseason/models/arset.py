"""The Conv1D network the NASA ARSET course trains (about 50 000 parameters on 25 × 12, 7 classes)."""

from __future__ import annotations

import torch
from torch import nn

from inseason.errors import InputError
from inseason.models.inputs import prepare_inputs
from inseason.models.registry import register_model


@register_model("arset")
class ArsetNet(nn.Module):
    """Conv1D(64, 5, ReLU) ×2 → Dropout(0.5) → MaxPool(2) → Dense(50, ReLU) → Dense(classes): the ARSET network.

    Source: NASA ARSET, "Training & Testing ML Models for Irregularly-Spaced Time Series of Imagery"
    (the network trained in the course's notebooks on 25 five-day buckets, with Adam and categorical
    cross-entropy). Convolutions are unpadded as in Keras; masked buckets enter as zeros, the course's
    padding, so this network reproduces the recipe rather than improving on it.
    """

    adapter = "bucketed"
    reproduces = "NASA ARSET course notebooks: Conv1D(64, 5) x 2, Dropout(0.5), MaxPool(2), Dense(50)"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        filters: int = 64,
        kernel_size: int = 5,
        dropout: float = 0.5,
        pool_size: int = 2,
        hidden: int = 50,
    ) -> None:
        super().__init__()
        pooled = (n_steps - 2 * (kernel_size - 1)) // pool_size
        if pooled < 1:
            raise InputError(
                f"arset needs at least {2 * (kernel_size - 1) + pool_size} time steps, not {n_steps}: use more buckets"
            )
        self.n_bands, self.n_steps = n_bands, n_steps
        self.features = nn.Sequential(
            nn.Conv1d(n_bands, filters, kernel_size),
            nn.ReLU(),
            nn.Conv1d(filters, filters, kernel_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.MaxPool1d(pool_size),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(filters * pooled, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of a batch of bucketed series (``doy`` is implied by the bucket index)."""
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        logits: torch.Tensor = self.head(self.features(values.transpose(1, 2)))
        return logits
