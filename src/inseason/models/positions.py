"""Sinusoidal encoding of the day of season: calendar-true positions for attention and recurrent models.

Positions come from the acquisition date (days since the season start), never from the index of an
observation in its series, so two pixels imaged on different days are told apart (DESIGN §3).
"""

from __future__ import annotations

import torch


def day_encoding(doy: torch.Tensor, dim: int, *, period: float = 1000.0) -> torch.Tensor:
    """Encode days ``doy`` [...] as float32 [..., dim]: sin on even, cos on odd channels (Vaswani et al. 2017).

    Channel ``i`` has angular frequency ``period ** (-2 * (i // 2) / dim)``.

    Args:
        doy: Days of season, any shape.
        dim: Number of channels.
        period: The longest wavelength's scale; 1000 is the value L-TAE (Garnot & Landrieu 2020) uses for days.

    Returns:
        The encoding, float32 [..., dim].
    """
    channel = torch.arange(dim, device=doy.device)
    frequency = period ** (-2.0 * torch.div(channel, 2, rounding_mode="floor").float() / dim)
    angle = doy.float().unsqueeze(-1) * frequency
    return torch.where(channel % 2 == 0, torch.sin(angle), torch.cos(angle))
