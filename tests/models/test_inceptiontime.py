"""InceptionTime: its size for a stated input, kernel lengths scaled to the series, its calendar channels.

The shared contract (masks, as-of inputs, bundle round trip, seeds) is tested in test_registry_contract.py.
"""

from __future__ import annotations

import pytest
import torch

from inseason.models import create_model, parameter_count
from inseason.models.inceptiontime import inception_kernel_sizes


def inception_module(inputs: int, kernels: tuple[int, int, int], *, filters: int = 32, bottleneck: int = 32) -> int:
    """Parameters of one module: bottleneck, three convs and the pool's 1×1 conv (no biases), BatchNorm."""
    return inputs * bottleneck + bottleneck * filters * sum(kernels) + inputs * filters + 2 * 4 * filters


def shortcut(inputs: int, width: int = 128) -> int:
    """Parameters of a residual shortcut: 1×1 conv without bias, BatchNorm."""
    return inputs * width + 2 * width


@pytest.mark.parametrize(
    ("n_steps", "kernels", "pinned"),
    [
        # A season of 5-day slots (the preset's input): the paper's 40/20/10 capped at half of 73 steps.
        (73, (9, 17, 35), 437_254),
        # A season of 16-day composites: 23 slots.
        (23, (3, 5, 11), 179_206),
    ],
)
def test_parameter_count_is_pinned(n_steps: int, kernels: tuple[int, int, int], pinned: int) -> None:
    """10 bands + mask + position channels, 6 classes: 6 modules, shortcuts after the 3rd and 6th, a Dense head."""
    formula = (
        inception_module(12, kernels) + 5 * inception_module(128, kernels) + shortcut(12) + shortcut(128) + 128 * 6 + 6
    )
    assert formula == pinned
    model = create_model("inceptiontime", n_bands=10, n_steps=n_steps, n_classes=6)
    assert isinstance(model, torch.nn.Module)
    assert model.kernel_sizes == kernels
    assert parameter_count(model) == pinned


def test_each_calendar_channel_is_one_more_input_channel() -> None:
    """An input channel costs 32 (bottleneck) + 32 (pool conv) + 128 (first shortcut) weights."""
    full = parameter_count(create_model("inceptiontime", n_bands=10, n_steps=73, n_classes=6))
    bare = create_model(
        "inceptiontime", n_bands=10, n_steps=73, n_classes=6, mask_channel=False, position_channel=False
    )
    assert parameter_count(bare) == full - 2 * (32 + 32 + 128)


@pytest.mark.parametrize(
    ("kernel_size", "n_steps", "expected"),
    [
        (40, 1000, (9, 19, 39)),  # long series: the paper's lengths, made odd
        (40, 73, (9, 17, 35)),
        (40, 23, (3, 5, 11)),
        (40, 12, (3, 3, 5)),
        (40, 4, (3, 3, 3)),
        (20, 73, (5, 9, 19)),
    ],
)
def test_kernel_lengths_are_odd_and_fit_the_series(kernel_size: int, n_steps: int, expected: tuple[int, ...]) -> None:
    assert inception_kernel_sizes(kernel_size, n_steps) == expected


def test_the_position_channel_tells_when_a_pattern_sits() -> None:
    """The same green-up a month later is another input to a network with the position channel.

    Short kernels (3 slots: the six modules reach 6 slots either side) keep the shifted pattern away from
    the series' edges, so without the position the convolutions and the average over all slots cannot tell
    the two apart.
    """
    torch.manual_seed(0)
    values = torch.zeros(2, 73, 3)
    values[0, 20:30] = 1.0
    values[1, 26:36] = 1.0
    mask = torch.ones(2, 73, dtype=torch.bool)
    doy = torch.arange(73).expand(2, 73) * 5
    for position, differ in ((True, True), (False, False)):
        model = create_model(
            "inceptiontime", n_bands=3, n_steps=73, n_classes=4, seed=0, kernel_size=6, position_channel=position
        ).eval()
        with torch.no_grad():
            logits = model(values, mask, doy)
        assert (not torch.allclose(logits[0], logits[1], atol=1e-5)) is differ


def test_the_pooling_averages_only_observed_slots() -> None:
    """In-season, the empty later slots weigh nothing: the output is that of the observed part alone."""
    model = create_model("inceptiontime", n_bands=2, n_steps=24, n_classes=3, seed=0).eval()
    values = torch.randn(1, 24, 2)
    mask = torch.zeros(1, 24, dtype=torch.bool)
    mask[0, :10] = True
    doy = torch.arange(24).unsqueeze(0) * 5
    with torch.no_grad():
        features = []

        def keep(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
            features.append(inputs[0])

        handle = model.head.register_forward_hook(keep)
        model(values, mask, doy)
        handle.remove()
    assert isinstance(model.head, torch.nn.Linear)
    # the pooled vector is the mean of the last block's map over the 10 observed slots: recompute it
    x = torch.cat(
        [
            values.transpose(1, 2) * mask.unsqueeze(1),
            mask.unsqueeze(1).float(),
            ((torch.arange(24) + 0.5) / 24).view(1, 1, 24),
        ],
        dim=1,
    )
    residual = x
    with torch.no_grad():
        for index, block in enumerate(model.blocks):
            x = block(x)
            if index % 3 == 2:
                x = torch.relu(x + model.shortcuts[index // 3](residual))
                residual = x
    torch.testing.assert_close(features[0], x[:, :, :10].mean(dim=2))
