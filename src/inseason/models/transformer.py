"""A Transformer encoder over the dates of a series, with day-of-season positions and a key-padding mask."""

from __future__ import annotations

import torch
from torch import nn

from inseason.models.inputs import attention_mask, prepare_inputs
from inseason.models.positions import day_encoding
from inseason.models.registry import register_model


@register_model("transformer")
class TransformerClassifier(nn.Module):
    """Linear embedding + sinusoidal day-of-season positions → Transformer encoder → attention pooling → Dense.

    Sources: A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (encoder, sinusoidal positions);
    M. Rußwurm, M. Körner, "Self-attention for raw optical Satellite Time Series Classification", ISPRS
    J. 2020 (the encoder applied to raw Sentinel-2 series; BreizhCrops). Padded observations are hidden
    from attention by the key-padding mask; one learned query pools the encoded dates, and its weights
    are the per-date importance :meth:`attention` returns.
    """

    adapter = "sequence"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        d_model: int = 64,
        n_head: int = 4,
        n_layers: int = 3,
        d_feedforward: int = 128,
        dropout: float = 0.1,
        period: float = 1000.0,
    ) -> None:
        super().__init__()
        self.n_bands, self.period = n_bands, period
        self.embedding = nn.Linear(n_bands, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_head, d_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.query = nn.Parameter(torch.randn(1, 1, d_model) * d_model**-0.5)
        self.pool = nn.MultiheadAttention(d_model, n_head, dropout=dropout, batch_first=True)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, n_classes))

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of a batch of observation sequences (any length)."""
        logits: torch.Tensor = self.head(self._encode(values, mask, doy)[0])
        return logits

    def attention(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Pooling attention of each date, averaged over heads: the per-date importance.

        Args:
            values: Inputs [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T].

        Returns:
            Float32 [B, T], summing to 1 over the masked-in steps (0 for a sample without any).
        """
        return self._encode(values, mask, doy)[1]

    def _encode(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pooled encoding [B, d_model] and the pooling attention [B, T] of a batch."""
        values, doy = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=None)
        tokens = self.embedding(values)
        tokens = tokens + day_encoding(doy, tokens.shape[-1], period=self.period)
        padding = ~attention_mask(mask)
        encoded = self.encoder(tokens, src_key_padding_mask=padding)
        query = self.query.expand(values.shape[0], -1, -1)
        pooled, weights = self.pool(
            query, encoded, encoded, key_padding_mask=padding, need_weights=True, average_attn_weights=True
        )
        return pooled.squeeze(1), weights.squeeze(1) * mask.to(weights.dtype)
