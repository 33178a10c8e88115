"""The neural networks one by one: pinned sizes, learning a toy problem, the steps each takes.

The contract every registered model shares (outputs, masks, as-of inputs, size, bundle round trip, seeds,
bands) is tested in test_registry_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from inseason.errors import InputError
from inseason.models import create_model, list_models, model_info

ToyTensors = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
NEURAL_MODELS = [name for name in list_models() if model_info(name).neural]


def n_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)


def conv(inputs: int, filters: int, kernel: int) -> int:
    """Parameters of a Conv1D layer with bias."""
    return inputs * kernel * filters + filters


def dense(inputs: int, outputs: int) -> int:
    """Parameters of a dense layer with bias."""
    return inputs * outputs + outputs


def attention_layer(width: int) -> int:
    """Parameters of a multi-head attention block (fused in-projection and out-projection)."""
    return 3 * width * width + 3 * width + dense(width, width)


def rnn_layer(inputs: int, hidden: int, gates: int) -> int:
    """Parameters of one direction of one recurrent layer (two bias vectors per gate, as in PyTorch)."""
    return gates * (hidden * inputs + hidden * hidden + 2 * hidden)


EXPECTED_PARAMETERS = [
    # The ARSET slide network: Conv1D(3, 5) on 20 × 12 → MaxPool(5) (16 → 3 steps) → Dense(10) → Dense(6).
    ("arset-slide", dict(n_bands=12, n_steps=20, n_classes=6), conv(12, 3, 5) + dense(3 * 3, 10) + dense(10, 6), 349),
    # The ARSET course network on 25 × 12, 7 classes: 25 → 21 → 17 steps, MaxPool(2) → 8.
    (
        "arset",
        dict(n_bands=12, n_steps=25, n_classes=7),
        conv(12, 64, 5) + conv(64, 64, 5) + dense(64 * 8, 50) + dense(50, 7),
        50_455,
    ),
    # TempCNN on 25 × 12 + mask channel, 7 classes: 3 conv blocks with BatchNorm, Dense(256) + BatchNorm.
    (
        "tempcnn",
        dict(n_bands=12, n_steps=25, n_classes=7),
        conv(13, 64, 5) + conv(64, 64, 5) * 2 + 2 * 64 * 3 + dense(64 * 25, 256) + 2 * 256 + dense(256, 7),
        457_863,
    ),
    # InceptionTime on 73 × 10 + mask and position channels, 6 classes: kernels 9/17/35, six modules of
    # bottleneck 32 + three convs + pool conv (no biases) + BatchNorm(128), two 1×1 shortcuts, Dense head.
    (
        "inceptiontime",
        dict(n_bands=10, n_steps=73, n_classes=6),
        (12 * 32 + 32 * 32 * 61 + 12 * 32 + 256)
        + 5 * (128 * 32 + 32 * 32 * 61 + 128 * 32 + 256)
        + (12 * 128 + 256)
        + (128 * 128 + 256)
        + dense(128, 6),
        437_254,
    ),
    # MiniRocket on 73 × 10: 84 kernels × 119 biases = 9 996 fixed PPV features, only the Dense head is trained.
    ("minirocket", dict(n_bands=10, n_steps=73, n_classes=6), dense(84 * 119, 6), 59_982),
    # L-TAE: spectral MLP 10 → 64 → 128, the 112 000-parameter temporal module, decoder 128 → 64 → 32 → 20.
    (
        "ltae",
        dict(n_bands=10, n_steps=24, n_classes=20),
        dense(10, 64) + dense(64, 128) + 112_000 + dense(128, 64) + 2 * 64 + dense(64, 32) + 2 * 32 + dense(32, 20),
        132_212,
    ),
    # Transformer: embedding, 3 encoder layers (attention, 64 → 128 → 64, two LayerNorms), query pooling, head.
    (
        "transformer",
        dict(n_bands=12, n_steps=25, n_classes=6),
        dense(12, 64)
        + 3 * (attention_layer(64) + dense(64, 128) + dense(128, 64) + 4 * 64)
        + 64
        + attention_layer(64)
        + 2 * 64
        + dense(64, 6),
        118_470,
    ),
    # Bidirectional 2-layer LSTM (4 gates) on 12 bands + 16 day channels, hidden 128; LayerNorm + Dense head.
    (
        "lstm",
        dict(n_bands=12, n_steps=25, n_classes=6),
        2 * rnn_layer(28, 128, 4) + 2 * rnn_layer(256, 128, 4) + 2 * 256 + dense(256, 6),
        559_110,
    ),
    # The same with GRU cells (3 gates).
    (
        "gru",
        dict(n_bands=12, n_steps=25, n_classes=6),
        2 * rnn_layer(28, 128, 3) + 2 * rnn_layer(256, 128, 3) + 2 * 256 + dense(256, 6),
        419_846,
    ),
]


@pytest.mark.parametrize(
    ("name", "sizes", "formula", "pinned"), EXPECTED_PARAMETERS, ids=[case[0] for case in EXPECTED_PARAMETERS]
)
def test_parameter_count_is_pinned(name: str, sizes: dict[str, int], formula: int, pinned: int) -> None:
    assert formula == pinned
    assert n_parameters(create_model(name, **sizes)) == pinned


def test_tempcnn_without_mask_channel_is_the_published_network() -> None:
    model = create_model("tempcnn", n_bands=12, n_steps=25, n_classes=7, mask_channel=False)
    assert n_parameters(model) == 457_863 - 5 * 64


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_a_few_training_steps_reduce_the_loss_on_a_separable_toy_problem(name: str, toy_tensors: ToyTensors) -> None:
    values, mask, doy, y = toy_tensors(samples=48)
    model = create_model(name, n_bands=4, n_steps=12, n_classes=3, seed=0).train()
    # The 3-filter slide network learns slowly: a larger step lets 25 steps show it learning.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2 if name == "arset-slide" else 3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(values, mask, doy), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        final = nn.functional.cross_entropy(model(values, mask, doy), y).item()
        accuracy = (model(values, mask, doy).argmax(dim=1) == y).float().mean().item()
    assert final < 0.5 * losses[0]
    assert accuracy >= 0.9


@pytest.mark.parametrize(
    ("name", "steps", "relation"), [("arset", 13, "exactly"), ("tempcnn", 11, "exactly"), ("ltae", 13, "at most")]
)
def test_a_batch_with_other_steps_is_refused(name: str, steps: int, relation: str, toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=2, steps=steps)
    model = create_model(name, n_bands=4, n_steps=12, n_classes=3)
    with pytest.raises(InputError, match=f"built for {relation} 12 time steps but the batch has {steps}"):
        model(values, mask, doy)


@pytest.mark.parametrize("name", ["ltae", "transformer", "lstm", "gru"])
def test_sequence_models_take_shorter_sequences(name: str, toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=3, steps=7)
    model = create_model(name, n_bands=4, n_steps=12, n_classes=3, seed=0).eval()
    assert model(values, mask, doy).shape == (3, 3)
