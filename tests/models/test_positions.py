"""Calendar-true time: attention over dates, positions from day of season, gaps that change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from inseason.models import create_model
from inseason.models.ltae import LightweightTemporalAttention
from inseason.models.positions import day_encoding

ToyTensors = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


def test_ltae_temporal_module_has_112_000_parameters_at_the_reference_defaults() -> None:
    module = LightweightTemporalAttention(
        in_channels=128, n_steps=24, d_model=256, n_head=16, d_k=8, mlp=[256, 128], dropout=0.2, period=1000.0
    )
    assert sum(parameter.numel() for parameter in module.parameters()) == 112_000
    model = create_model("ltae", n_bands=10, n_steps=24, n_classes=20)
    assert sum(parameter.numel() for parameter in model.temporal_encoder.parameters()) == 112_000


@pytest.mark.parametrize("name", ["ltae", "transformer"])
def test_attention_is_a_distribution_over_the_observed_dates(name: str, toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=5)
    mask[2] = False
    model = create_model(name, n_bands=4, n_steps=12, n_classes=3, seed=0).eval()
    with torch.no_grad():
        attention = model.attention(values, mask, doy)
    assert attention.shape == (5, 12)
    assert (attention >= 0).all() and (attention[~mask] == 0).all()
    totals = attention.sum(dim=1)
    assert torch.allclose(totals[[0, 1, 3, 4]], torch.ones(4), atol=1e-5)
    assert totals[2] == 0


@pytest.mark.parametrize("name", ["ltae", "transformer", "lstm", "gru"])
def test_the_day_of_season_is_an_input(name: str, toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=4)
    model = create_model(name, n_bands=4, n_steps=12, n_classes=3, seed=0).eval()
    later = torch.where(mask, doy + 40, doy)
    with torch.no_grad():
        assert not torch.allclose(model(values, mask, later), model(values, mask, doy), atol=1e-4)


def test_transformer_positions_come_from_dates_not_from_slots(toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=4)
    model = create_model("transformer", n_bands=4, n_steps=12, n_classes=3, seed=0).eval()
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(
            model(values[:, order], mask[:, order], doy[:, order]), model(values, mask, doy), atol=1e-5
        )


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_models_ignore_where_the_gaps_are(name: str, toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=4)
    model = create_model(name, n_bands=4, n_steps=12, n_classes=3, seed=0).eval()
    front = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
    packed = [
        torch.gather(tensor, 1, front if tensor.ndim == 2 else front.unsqueeze(-1).expand_as(tensor))
        for tensor in (values, mask, doy)
    ]
    with torch.no_grad():
        assert torch.allclose(model(*packed), model(values, mask, doy), atol=1e-5)


def test_day_encoding_is_sin_cos_of_the_day_at_geometric_frequencies() -> None:
    encoded = day_encoding(torch.tensor([[0, 100]]), 4, period=1000.0)
    assert encoded.shape == (1, 2, 4)
    slow = torch.tensor(100.0 / 1000**0.5)
    fast = torch.tensor(100.0)
    expected = torch.tensor(
        [[0.0, 1.0, 0.0, 1.0], [torch.sin(fast), torch.cos(fast), torch.sin(slow), torch.cos(slow)]]
    )
    assert torch.allclose(encoded[0], expected, atol=1e-6)
