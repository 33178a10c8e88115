"""Toy batches for the model tests: small, seeded, separable by construction."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run torch on one thread: the test machine's cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_toy_batch(
    *, samples: int = 48, steps: int = 12, bands: int = 4, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(values, mask, doy, y)``: class ``k`` lifts band ``k`` in the first half of the season.

    About a quarter of the steps are masked (never all of a sample's); masked steps hold NaN and doy 0,
    the worst a loader could hand over, and bucket ``t`` sits on day ``5 t + 2``.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(samples) % classes
    values = rng.normal(0.0, 0.3, size=(samples, steps, bands)).astype(np.float32)
    values[np.arange(samples), : steps // 2, y] += 1.5
    mask = rng.random((samples, steps)) > 0.25
    mask[:, 0] = True
    doy = np.where(mask, 5 * np.arange(steps) + 2, 0).astype(np.int64)
    values[~mask] = np.nan
    return values, mask, doy, y


def make_toy_tensors(**options: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`make_toy_batch` as torch tensors (float32, bool, int64, int64)."""
    values, mask, doy, y = make_toy_batch(**options)
    return torch.from_numpy(values), torch.from_numpy(mask), torch.from_numpy(doy), torch.from_numpy(y)


ToyBatch = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
ToyTensors = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


@pytest.fixture
def toy_batch() -> ToyBatch:
    """The toy batch maker (numpy)."""
    return make_toy_batch


@pytest.fixture
def toy_tensors() -> ToyTensors:
    """The toy batch maker (torch)."""
    return make_toy_tensors
