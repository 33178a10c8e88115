"""LSTM and GRU classifiers over the observed dates of a series (recurrent baselines)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from inseason.models.inputs import prepare_inputs
from inseason.models.positions import day_encoding
from inseason.models.registry import register_model


class RecurrentClassifier(nn.Module):
    """Observed dates only, in date order, with a day-of-season encoding → stacked (bi)RNN → Dense.

    Masked steps are squeezed out before the recurrence (observations are moved to the front and the
    batch is packed), so gaps and padding never enter the hidden state; the day encoding tells the
    network how far apart consecutive observations are. The last hidden state of each direction of the
    top layer is classified.
    """

    adapter = "sequence"
    cell: type[nn.LSTM] | type[nn.GRU]

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        hidden: int = 128,
        n_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.2,
        day_channels: int = 16,
        period: float = 1000.0,
    ) -> None:
        super().__init__()
        self.n_bands, self.day_channels, self.period = n_bands, day_channels, period
        self.rnn = self.cell(
            n_bands + day_channels,
            hidden,
            num_layers=n_layers,
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        directions = 2 if bidirectional else 1
        self.head = nn.Sequential(
            nn.LayerNorm(hidden * directions), nn.Dropout(dropout), nn.Linear(hidden * directions, n_classes)
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of a batch of observation sequences (any length)."""
        values, doy = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=None)
        steps = torch.cat([values, day_encoding(doy, self.day_channels, period=self.period)], dim=-1)
        order = torch.sort((~mask.bool()).to(torch.uint8), dim=1, stable=True).indices
        steps = torch.gather(steps, 1, order.unsqueeze(-1).expand_as(steps))
        lengths = mask.bool().sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(steps, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        hidden = state[0] if isinstance(state, tuple) else state
        directions = 2 if self.rnn.bidirectional else 1
        last = hidden[-directions:].transpose(0, 1).reshape(values.shape[0], -1)
        logits: torch.Tensor = self.head(last)
        return logits


@register_model("lstm")
class LSTMClassifier(RecurrentClassifier):
    """Bidirectional LSTM over the observed dates (Hochreiter & Schmidhuber 1997).

    Source: the LSTM baseline of M. Rußwurm, M. Körner, "Multi-Temporal Land Cover Classification with
    Sequential Recurrent Encoders", ISPRS IJGI 2018, and of BreizhCrops (Rußwurm et al. 2020).
    """

    cell = nn.LSTM


@register_model("gru")
class GRUClassifier(RecurrentClassifier):
    """Bidirectional GRU over the observed dates (Cho et al. 2014), a lighter recurrent baseline.

    Source: K. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder", EMNLP 2014;
    used as a crop-type baseline alongside the LSTM in the satellite time series literature.
    """

    cell = nn.GRU
