"""Generalized cross-entropy: its values, weights and gradients, and the option that selects it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inseason.errors import InputError
from inseason.train.config import train_config
from inseason.train.losses import generalized_cross_entropy, training_loss
from tests.train.helpers import module_for

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [-1.0, 0.0, 3.0]])
Y = torch.tensor([0, 1, 0])  # the third sample's label is one the network finds improbable


def _p_label(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)


def test_gce_is_one_minus_p_to_the_q_over_q() -> None:
    p = _p_label(LOGITS, Y)
    expected = ((1 - p**0.7) / 0.7).mean()
    assert torch.isclose(generalized_cross_entropy(LOGITS, Y, q=0.7), expected)
    assert torch.isclose(generalized_cross_entropy(LOGITS, Y, q=1.0), (1 - p).mean())  # mean absolute error


def test_gce_tends_to_cross_entropy_as_q_tends_to_zero() -> None:
    ce = nn.functional.cross_entropy(LOGITS, Y)
    assert torch.isclose(generalized_cross_entropy(LOGITS, Y, q=1e-4), ce, rtol=1e-3)
    assert not torch.isclose(generalized_cross_entropy(LOGITS, Y, q=0.7), ce, rtol=1e-1)


def test_gce_weights_samples_by_class_as_cross_entropy_does() -> None:
    weight = torch.tensor([1.0, 3.0, 0.5])
    p = _p_label(LOGITS, Y)
    per = (1 - p**0.5) / 0.5
    w = weight[Y]
    assert torch.isclose(generalized_cross_entropy(LOGITS, Y, q=0.5, weight=weight), (w * per).sum() / w.sum())
    # with equal weights the weighted mean is the plain mean
    assert torch.isclose(
        generalized_cross_entropy(LOGITS, Y, q=0.5, weight=torch.full((3,), 2.0)),
        generalized_cross_entropy(LOGITS, Y, q=0.5),
    )


def test_an_improbable_label_pulls_less_under_gce_than_under_cross_entropy() -> None:
    """GCE's gradient is cross-entropy's times p_y ** q: the sample whose label the network doubts (often a
    wrong one) weighs less beside the others than under cross-entropy."""

    def grad_norms(loss_fn) -> torch.Tensor:  # type: ignore[no-untyped-def]
        logits = LOGITS.clone().requires_grad_(True)
        loss_fn(logits).backward()
        assert logits.grad is not None
        return logits.grad.norm(dim=1)

    ce = grad_norms(lambda z: nn.functional.cross_entropy(z, Y))
    gce = grad_norms(lambda z: generalized_cross_entropy(z, Y, q=0.7))
    p = _p_label(LOGITS, Y)
    assert torch.allclose(gce, ce * p**0.7, rtol=1e-5)
    assert (gce[2] / gce[0]) < (ce[2] / ce[0]) / 4


def test_training_loss_dispatches_on_the_option() -> None:
    gce = training_loss(LOGITS, Y, loss="gce", weight=None, q=0.7, label_smoothing=0.0)
    ce = training_loss(LOGITS, Y, loss="cross_entropy", weight=None, q=0.7, label_smoothing=0.1)
    assert torch.isclose(gce, generalized_cross_entropy(LOGITS, Y, q=0.7))
    assert torch.isclose(ce, nn.functional.cross_entropy(LOGITS, Y, label_smoothing=0.1))


class _Fixed(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_the_module_optimises_gce_and_logs_cross_entropy() -> None:
    module = module_for(_Fixed(LOGITS), loss="gce", gce_q=0.7)
    batch = (torch.zeros(3, 4, 1), torch.ones(3, 4, dtype=torch.bool), torch.zeros(3, 4), Y)
    loss = module.training_step(batch, 0)
    assert torch.isclose(loss, generalized_cross_entropy(LOGITS, Y, q=0.7))
    assert torch.isclose(module.train_loss.compute(), nn.functional.cross_entropy(LOGITS, Y))


def test_networks_default_to_gce_and_cross_entropy_is_an_option() -> None:
    for preset in ("tempcnn", "ltae", "inceptiontime", "ensemble"):
        config = train_config(preset=preset)
        assert config.loss == "gce" and config.gce_q == 0.7
    assert train_config(preset="arset").loss == "cross_entropy"  # the course's recipe, whatever the default
    assert train_config(preset="tempcnn", overrides={"loss": "cross_entropy"}).loss == "cross_entropy"


def test_label_smoothing_needs_cross_entropy() -> None:
    with pytest.raises(InputError, match="label_smoothing applies to loss cross_entropy, not gce"):
        train_config(preset="tempcnn", overrides={"label_smoothing": 0.1})
    config = train_config(preset="tempcnn", overrides={"label_smoothing": 0.1, "loss": "cross_entropy"})
    assert config.label_smoothing == 0.1


@pytest.mark.parametrize("q", [0, -0.5, 1.5])
def test_gce_q_outside_zero_one_is_refused(q: float) -> None:
    with pytest.raises(InputError, match="gce_q"):
        train_config(preset="tempcnn", overrides={"gce_q": q})
