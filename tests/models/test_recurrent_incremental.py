"""A one-direction recurrent network read one observation at a time gives the logits of its whole-series
forward pass: the state it carries between as-of dates is all an in-season map update needs."""

from __future__ import annotations

import pytest
import torch

from inseason.errors import InputError
from inseason.models import create_model
from inseason.models.recurrent import Incremental


def _batch(seed: int, n: int = 9, steps: int = 25, bands: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(n, steps, bands, generator=generator)
    mask = torch.rand(n, steps, generator=generator) > 0.4
    mask[0] = False
    mask[0, 7] = True  # one observation only
    mask[1, :] = True  # every step observed
    doy = torch.sort(torch.randint(0, 330, (n, steps), generator=generator), dim=1).values
    return values, mask, doy


@pytest.mark.parametrize("name", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_folding_advance_over_the_observations_gives_the_forward_logits(name: str, layers: int) -> None:
    model = create_model(
        name, n_bands=5, n_steps=25, n_classes=4, bidirectional=False, n_layers=layers, hidden=12, seed=layers
    ).eval()
    assert isinstance(model, Incremental) and model.incremental
    assert model.state_size == layers * 12 * (2 if name == "lstm" else 1)
    values, mask, doy = _batch(layers)
    with torch.no_grad():
        expected = model(values, mask, doy)
        state = model.initial_state(values.shape[0])
        assert state.shape == (9, model.state_size) and not state.any()
        for step in range(values.shape[1]):
            moved = model.advance(state, values[:, step], doy[:, step])
            state = torch.where(mask[:, step : step + 1], moved, state)  # a masked step is no observation
        got = model.classify(state)
    assert got.shape == (9, 4)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # the observations matter: reading one observation fewer moves the logits
    with torch.no_grad():
        fewer = mask.clone()
        fewer[1, -1] = False
        assert not torch.allclose(model(values, fewer, doy)[1], expected[1], atol=1e-4)


def test_a_bidirectional_network_is_not_incremental() -> None:
    model = create_model("gru", n_bands=5, n_steps=25, n_classes=4, hidden=8).eval()
    assert not model.incremental
    values, _, doy = _batch(0)
    with pytest.raises(InputError, match="bidirectional=false"):
        model.advance(model.initial_state(9), values[:, 0], doy[:, 0])
