"""MiniRocket: its features and size, fixed kernels, biases fitted once and kept in the bundle, PPV on observed steps.

The shared contract (masks, as-of inputs, bundle round trip, seeds) is tested in test_registry_contract.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from inseason.data import synthetic_series
from inseason.models import create_model, model_from_spec, parameter_count
from inseason.models.rocket import MiniRocket, minirocket_dilations
from inseason.train import train
from inseason.train.bundle import load_bundle


def minirocket(**sizes: int) -> MiniRocket:
    """A MiniRocket of the registry."""
    model = create_model("minirocket", **{"n_bands": 4, "n_steps": 12, "n_classes": 3, "seed": 0, **sizes})
    assert isinstance(model, MiniRocket)
    return model


@pytest.mark.parametrize(
    ("n_steps", "dilations", "per_kernel"),
    [
        # A season of 5-day slots: dilations up to (73 − 1) / 8 = 9, the paper's 119 features per kernel.
        (73, (1, 2, 3, 4, 5, 6, 7, 8), (38, 23, 15, 11, 11, 7, 7, 7)),
        # 16-day composites: two dilations, each capped at 23 biases.
        (23, (1, 2), (23, 23)),
        (12, (1,), (12,)),
    ],
)
def test_dilations_and_features_follow_the_series_length(
    n_steps: int, dilations: tuple[int, ...], per_kernel: tuple[int, ...]
) -> None:
    assert minirocket_dilations(n_steps, features=10_000) == (dilations, per_kernel)
    assert all(8 * d <= n_steps - 1 for d in dilations)  # a dilated kernel fits in the series


@pytest.mark.parametrize(("n_steps", "features", "pinned"), [(73, 9_996, 59_982), (23, 3_864, 23_190)])
def test_parameter_count_is_pinned(n_steps: int, features: int, pinned: int) -> None:
    """10 bands, 6 classes: only the Dense head has parameters (the standardisation has no affine part)."""
    model = minirocket(n_bands=10, n_steps=n_steps, n_classes=6)
    assert model.n_features == features
    assert parameter_count(model) == features * 6 + 6 == pinned
    assert [name for name, _ in model.named_parameters()] == ["head.weight", "head.bias"]


def test_the_84_kernels_have_three_weights_of_two_and_sum_to_zero() -> None:
    model = minirocket(n_bands=1, mask_channel=False)
    weight = model.weight_0  # [84, 1 channel, 9]
    assert weight.shape == (84, 1, 9)
    placements = {tuple(np.flatnonzero(row == 2.0)) for row in weight[:, 0].numpy()}
    assert placements == set(itertools.combinations(range(9), 3))
    assert set(np.unique(weight.numpy())) == {-1.0, 2.0}
    assert torch.all(weight.sum(dim=-1) == 0)


def test_each_kernel_sees_a_subset_of_the_channels() -> None:
    """Up to 9 channels per (kernel, dilation), at least one; bands and the mask channel are all used somewhere."""
    model = minirocket(n_bands=10, n_steps=73, n_classes=6)
    for index in range(len(model.dilations)):
        used = getattr(model, f"weight_{index}").abs().sum(dim=-1) > 0  # [84, 11 channels]
        assert used.shape == (84, 11)
        assert used.sum(dim=1).min() >= 1 and used.sum(dim=1).max() <= 9
    assert torch.stack([getattr(model, f"weight_{i}").abs().sum(dim=(0, 2)) for i in range(8)]).sum(dim=0).min() > 0


def test_the_first_training_call_fits_the_biases_and_later_calls_keep_them(toy_tensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=32)
    model = minirocket()
    with torch.no_grad():
        model.eval()(values, mask, doy)
    assert not model.fitted and torch.all(model.bias_0 == 0)  # evaluation never fits
    model.train()(values, mask, doy)
    assert model.fitted
    biases = model.bias_0.clone()
    assert biases.abs().sum() > 0
    other, other_mask, other_doy, _ = toy_tensors(samples=32, seed=5)
    model(other, other_mask, other_doy)
    assert torch.equal(model.bias_0, biases)


def test_biases_are_quantiles_of_one_sample_per_kernel(toy_tensors) -> None:
    """Each kernel's biases come from one sample: they rise with the quantile levels and lie within its outputs."""
    values, mask, doy, _ = toy_tensors(samples=16)
    model = minirocket()
    model.fit(values, mask, doy)
    levels = model.quantiles.view(12, 84).T  # [84 kernels, 12 biases]
    biases = model.bias_0
    for kernel in range(84):
        order = torch.argsort(levels[kernel])
        # (interpolating between two equal outputs can come out an ulp lower at the higher level)
        assert torch.all(torch.diff(biases[kernel, order]) >= -1e-6)
    x = torch.cat([torch.nan_to_num(values).transpose(1, 2) * mask.unsqueeze(1), mask.unsqueeze(1).float()], dim=1)
    outputs = torch.nn.functional.conv1d(x, model.weight_0, padding=4)  # [16, 84, 12]
    observed = outputs.masked_fill(~mask.unsqueeze(1), float("nan"))
    low = torch.nan_to_num(observed, nan=float("inf")).amin(dim=(0, 2))
    high = torch.nan_to_num(observed, nan=float("-inf")).amax(dim=(0, 2))
    assert torch.all(biases >= low.unsqueeze(1) - 1e-5) and torch.all(biases <= high.unsqueeze(1) + 1e-5)


def test_ppv_counts_observed_steps_as_a_direct_count_does(toy_tensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=5, steps=30)
    model = minirocket(n_steps=30)
    model.fit(values, mask, doy)
    features = model.transform(values, mask, doy).numpy()
    x = np.concatenate([np.nan_to_num(values.numpy()) * mask.numpy()[..., None], mask.numpy()[..., None]], axis=2)
    expected = []
    for index, dilation in enumerate(model.dilations):
        weight = getattr(model, f"weight_{index}").numpy()  # [84, 5, 9]
        padded = np.pad(x, ((0, 0), (4 * dilation, 4 * dilation), (0, 0)))
        conv = np.stack(
            [np.einsum("bjc,kcj->bk", padded[:, t : t + 8 * dilation + 1 : dilation], weight) for t in range(30)],
            axis=2,
        )  # [B, 84, T]
        bias = getattr(model, f"bias_{index}").numpy()
        inside = (np.arange(30) >= 4 * dilation) & (np.arange(30) < 30 - 4 * dilation)
        uses_padding = getattr(model, f"padded_{index}").numpy()
        counted = mask.numpy()[:, None, :] & (uses_padding[:, None] | inside[None, :])[None]  # [B, 84, T]
        shares = []
        for tie in (1e-4, -1e-4):  # a bias is one of its sample's outputs: ties may round either way
            above = conv[:, :, None, :] > bias[None, :, :, None] + tie
            shares.append((above & counted[:, :, None, :]).sum(-1) / np.maximum(counted.sum(-1), 1)[:, :, None])
        expected.append(np.stack(shares).reshape(2, 5, -1))
    low, high = np.concatenate(expected, axis=2)
    assert np.all(features >= low - 1e-6) and np.all(features <= high + 1e-6)
    assert 0.05 < features.mean() < 0.95


def test_a_batch_without_observations_leaves_the_model_unfitted(toy_tensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=4)
    mask[:] = False
    model = minirocket().train()
    logits = model(values, mask, doy)
    assert torch.isfinite(logits).all() and not model.fitted


def test_training_moves_only_the_head(toy_tensors) -> None:
    values, mask, doy, y = toy_tensors(samples=32)
    model = minirocket().train()
    model(values, mask, doy)
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers() if not name.startswith("norm.")}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(values, mask, doy), y).backward()
        optimizer.step()
    for name, buffer in model.named_buffers():
        if name in buffers:
            assert torch.equal(buffer, buffers[name]), name


def test_a_trained_run_bundles_the_fitted_biases(tmp_path: Path) -> None:
    """Through the training loop: the biases are fitted on the first batch and reloaded from the bundle."""
    table = synthetic_series(120, seed=3)
    overrides = {
        "model.name": "minirocket",
        "model.params": {"features": 2_000},
        "adapter.kind": "bucketed",
        "adapter.anchor": "season",
        "adapter.window_days": 365,
        "adapter.bucket_days": 5,
        "features.indices": [],
        "epochs": 2,
        "batch_size": 32,
    }
    result = train(table, out=tmp_path / "run", overrides=overrides)
    assert result.epochs_run == 2
    bundle = load_bundle(tmp_path / "run")
    network = bundle.network
    assert isinstance(network, MiniRocket) and network.fitted and network.bias_0.abs().sum() > 0
    assert parameter_count(network) == network.n_features * 6 + 6
    rebuilt = model_from_spec(network.spec)
    assert isinstance(rebuilt, MiniRocket) and not rebuilt.fitted  # the spec alone rebuilds an unfitted model
