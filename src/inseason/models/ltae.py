"""L-TAE (Garnot & Landrieu 2020): the Lightweight Temporal Attention Encoder, on pixel time series."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from inseason.errors import InputError
from inseason.models.inputs import attention_mask, prepare_inputs
from inseason.models.positions import day_encoding
from inseason.models.registry import register_model


class MaskedStepNorm(nn.Module):
    """Layer normalisation over (channels, steps) of each sample, with statistics from masked-in steps only.

    L-TAE's reference code normalises its projected input with ``LayerNorm((d_model, len_max_seq))``;
    this keeps its per-(channel, step) affine parameters but leaves padded steps out of the mean and
    variance, so padding cannot change the result.
    """

    def __init__(self, channels: int, steps: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(steps, channels))
        self.bias = nn.Parameter(torch.zeros(steps, channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` [B, T, channels] (T ≤ steps) using the steps where ``mask`` [B, T] is True."""
        weight = mask.unsqueeze(-1).to(x.dtype)
        count = (weight.sum(dim=(1, 2), keepdim=True) * x.shape[-1]).clamp(min=1.0)
        mean = (x * weight).sum(dim=(1, 2), keepdim=True) / count
        variance = (((x - mean) * weight) ** 2).sum(dim=(1, 2), keepdim=True) / count
        steps = x.shape[1]
        return (x - mean) / torch.sqrt(variance + self.eps) * self.weight[:steps] + self.bias[:steps]


class LightweightTemporalAttention(nn.Module):
    """The L-TAE temporal module: per-head learned master queries attend over the dates of a series.

    At the reference defaults (in_channels 128, d_model 256, 16 heads, d_k 8, MLP [256, 128], 24 steps)
    it has exactly 112 000 parameters. Positions are the sinusoidal encoding (period 1000) of the day of
    season, one ``d_model / n_head`` table repeated for each head as in the reference code.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        n_steps: int,
        d_model: int,
        n_head: int,
        d_k: int,
        mlp: Sequence[int],
        dropout: float,
        period: float,
    ) -> None:
        super().__init__()
        if d_model % n_head:
            raise InputError(f"ltae: d_model ({d_model}) must be a multiple of n_head ({n_head})")
        if not mlp or mlp[0] != d_model:
            raise InputError(f"ltae: mlp must start with d_model ({d_model}), not {list(mlp)}")
        self.n_head, self.d_k, self.period = n_head, d_k, period
        self.in_norm = nn.LayerNorm(in_channels)
        self.in_conv = nn.Linear(in_channels, d_model)
        self.step_norm = MaskedStepNorm(d_model, n_steps)
        self.query = nn.Parameter(torch.randn(n_head, d_k) * (2.0 / d_k) ** 0.5)
        self.key = nn.Linear(d_model, n_head * d_k)
        nn.init.normal_(self.key.weight, mean=0.0, std=(2.0 / d_k) ** 0.5)
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(mlp):
            layers += [nn.Linear(width_in, width_out), nn.BatchNorm1d(width_out), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(mlp[-1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``x`` [B, T, in_channels] into [B, mlp[-1]]; also return the attention [B, heads, T]."""
        x = self.step_norm(self.in_conv(self.in_norm(x)), mask)
        batch, steps, d_model = x.shape
        x = x + day_encoding(doy, d_model // self.n_head, period=self.period).repeat(1, 1, self.n_head)
        keys = self.key(x).view(batch, steps, self.n_head, self.d_k)
        scores = torch.einsum("bthk,hk->bht", keys, self.query) / self.d_k**0.5
        scores = scores.masked_fill(~attention_mask(mask).unsqueeze(1), float("-inf"))
        attention = torch.softmax(scores, dim=-1) * mask.unsqueeze(1).to(x.dtype)
        heads = x.view(batch, steps, self.n_head, d_model // self.n_head)
        encoded = torch.einsum("bht,bthc->bhc", attention, heads).reshape(batch, d_model)
        return self.out_norm(self.dropout(self.mlp(encoded))), attention


@register_model("ltae")
class LTAE(nn.Module):
    """Per-date spectral MLP → L-TAE temporal attention (positions from day of season) → MLP decoder.

    Source: V. Sainte Fare Garnot, L. Landrieu, "Lightweight Temporal Self-Attention for Classifying
    Satellite Images Time Series", AALTD 2020 (reference code defaults: in_channels 128, d_model 256,
    16 heads, d_k 8, MLP [256, 128], dropout 0.2, T = 1000; decoder [128, 64, 32]). The paper's
    pixel-set encoder is replaced by a per-date MLP because samples here are pixels, not parcels.
    """

    adapter = "sequence"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        encoder_hidden: int = 64,
        in_channels: int = 128,
        d_model: int = 256,
        n_head: int = 16,
        d_k: int = 8,
        mlp: Sequence[int] = (256, 128),
        dropout: float = 0.2,
        period: float = 1000.0,
        decoder: Sequence[int] = (64, 32),
    ) -> None:
        super().__init__()
        self.n_bands, self.n_steps = n_bands, n_steps
        self.spectral_encoder = nn.Sequential(
            nn.Linear(n_bands, encoder_hidden), nn.ReLU(), nn.Linear(encoder_hidden, in_channels)
        )
        self.temporal_encoder = LightweightTemporalAttention(
            in_channels=in_channels,
            n_steps=n_steps,
            d_model=d_model,
            n_head=n_head,
            d_k=d_k,
            mlp=mlp,
            dropout=dropout,
            period=period,
        )
        layers: list[nn.Module] = []
        width = mlp[-1]
        for hidden in decoder:
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        self.decoder = nn.Sequential(*layers, nn.Linear(width, n_classes))

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of up to ``n_steps`` observations per sample."""
        logits: torch.Tensor = self.decoder(self._encode(values, mask, doy)[0])
        return logits

    def attention(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Attention weight of each date, averaged over heads: the per-date importance.

        Args:
            values: Inputs [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T].

        Returns:
            Float32 [B, T], summing to 1 over the masked-in steps (0 for a sample without any).
        """
        return self._encode(values, mask, doy)[1].mean(dim=1)

    def _encode(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The temporal encoding [B, mlp[-1]] and the per-head attention [B, heads, T] of a batch."""
        values, doy = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps, exact_steps=False)
        encoded: tuple[torch.Tensor, torch.Tensor] = self.temporal_encoder(
            self.spectral_encoder(values), mask.bool(), doy
        )
        return encoded
