"""LSTM and GRU classifiers over the observed dates of a series (recurrent baselines).

A one-direction network (``bidirectional=False``) is *incremental*: it reads a series one observation at a
time in date order, so its state after the observations up to a date is all it needs to go on. A map can
then be carried from one as-of date to the next by reading only the new observations (`advance`), every
as-of date of a season comes out of one pass, and an in-season update costs what the new scenes cost.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from inseason.errors import InputError
from inseason.models.inputs import prepare_inputs
from inseason.models.positions import day_encoding
from inseason.models.registry import register_model


@runtime_checkable
class Incremental(Protocol):
    """A network that reads a series one observation at a time, in date order (see `RecurrentClassifier`)."""

    incremental: bool

    def initial_state(self, n: int) -> torch.Tensor:
        """The state before any observation.

        Args:
            n: the number of series.

        Returns:
            float32 [n, S].
        """

    def advance(self, state: torch.Tensor, values: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """The state after one more observation of each series.

        Args:
            state: float32 [n, S].
            values: the observation's input channels [n, C].
            doy: its day of season [n].

        Returns:
            float32 [n, S].
        """

    def classify(self, state: torch.Tensor) -> torch.Tensor:
        """Class logits from a state.

        Args:
            state: float32 [n, S].

        Returns:
            Logits [n, K].
        """


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

    @property
    def incremental(self) -> bool:
        """True when the network reads the series in one direction only (`advance` then applies)."""
        return not self.rnn.bidirectional

    @property
    def state_size(self) -> int:
        """The numbers an incremental network keeps per series between observations.

        The hidden (and, for an LSTM, cell) state of every layer.
        """
        per_layer = self.rnn.hidden_size * (2 if isinstance(self.rnn, nn.LSTM) else 1)
        return int(self.rnn.num_layers * per_layer)

    def initial_state(self, n: int) -> torch.Tensor:
        """The state before any observation, float32 [n, `state_size`] (zeros, as the recurrence starts).

        Args:
            n: the number of series.

        Returns:
            Zeros [n, state_size].
        """
        return torch.zeros(n, self.state_size, device=next(self.parameters()).device)

    def advance(self, state: torch.Tensor, values: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """The state after one more observation of each series: the recurrence of `forward`, one step.

        Folding `advance` over a series' observations in date order from `initial_state` and then calling
        `classify` gives `forward`'s logits (in eval mode, where dropout is off).

        Args:
            state: float32 [n, state_size].
            values: the next observation of each series, float32 [n, bands] (the model's input channels).
            doy: its day of season, int64 [n].

        Returns:
            The new state, float32 [n, state_size].

        Raises:
            InputError: the network reads both directions (it is not incremental).
        """
        if not self.incremental:
            raise InputError(
                "a bidirectional recurrent network cannot be advanced one observation at a time: "
                "train it with model.params.bidirectional=false"
            )
        x = torch.cat([values, day_encoding(doy, self.day_channels, period=self.period)], dim=-1)
        hidden, lstm = self.rnn.hidden_size, isinstance(self.rnn, nn.LSTM)
        width = hidden * (2 if lstm else 1)
        states = []
        for layer in range(self.rnn.num_layers):
            h = state[:, layer * width : layer * width + hidden]
            gi = nn.functional.linear(
                x, getattr(self.rnn, f"weight_ih_l{layer}"), getattr(self.rnn, f"bias_ih_l{layer}")
            )
            gh = nn.functional.linear(
                h, getattr(self.rnn, f"weight_hh_l{layer}"), getattr(self.rnn, f"bias_hh_l{layer}")
            )
            if lstm:  # gates i, f, g, o (PyTorch's order)
                c = state[:, layer * width + hidden : (layer + 1) * width]
                i, f, g, o = (gi + gh).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                x = torch.sigmoid(o) * torch.tanh(c)
                states += [x, c]
            else:  # gates r, z, n (PyTorch's order)
                ir, iz, in_ = gi.chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                x = (1 - z) * torch.tanh(in_ + r * hn) + z * h
                states.append(x)
        return torch.cat(states, dim=1)

    def classify(self, state: torch.Tensor) -> torch.Tensor:
        """Class logits [n, classes] from the state after a series' last observation (see `advance`).

        Args:
            state: float32 [n, state_size].

        Returns:
            Logits [n, classes].
        """
        width = self.state_size // self.rnn.num_layers
        top = state[:, (self.rnn.num_layers - 1) * width :][:, : self.rnn.hidden_size]
        logits: torch.Tensor = self.head(top)
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
