"""Per-channel z-score statistics, computed on the training split only and stored in the model bundle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inseason.data.features import FeatureConfig, compute_features
from inseason.data.store import SeriesStore

_MAX_OBSERVATIONS = 500_000


@dataclass(frozen=True)
class Normalization:
    """Mean and standard deviation of each input channel (float32 [C])."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, channels: np.ndarray) -> np.ndarray:
        """Z-score channels in place-free float32 arithmetic.

        Args:
            channels: Input channels [..., C].

        Returns:
            The normalised channels, same shape.
        """
        normalised: np.ndarray = (channels - self.mean) / self.std
        return normalised

    def to_json(self) -> dict[str, list[float]]:
        """Plain lists for model.json.

        Returns:
            ``{"mean": [...], "std": [...]}``.
        """
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Normalization:
        """Inverse of `to_json`.

        Args:
            data: The ``normalization`` entry of a model.json.

        Returns:
            The statistics as float32 arrays.
        """
        return cls(mean=np.asarray(data["mean"], np.float32), std=np.asarray(data["std"], np.float32))


def fit_normalization(store: SeriesStore, rows: np.ndarray, *, features: FeatureConfig, seed: int = 0) -> Normalization:
    """Statistics over the observations of ``rows`` (a seeded subsample when there are very many).

    Observations with a non-finite channel are left out. One-hot SCL channels keep mean 0 and std 1 so
    they stay 0/1 after normalisation.

    Args:
        store: The decoded series.
        rows: The training rows.
        features: The derived channels the model sees.
        seed: Seed of the subsample.

    Returns:
        Per-channel mean and standard deviation (at least 1e-6).
    """
    positions = store.positions_of(rows)
    if positions.size > _MAX_OBSERVATIONS:
        positions = np.sort(np.random.default_rng(seed).choice(positions, _MAX_OBSERVATIONS, replace=False))
    channels = compute_features(
        store.values[positions],
        None if store.scl is None else store.scl[positions],
        bands=store.bands,
        scales=store.scales,
        config=features,
    ).astype(np.float64)
    finite = np.isfinite(channels).all(axis=1)
    channels = channels[finite]
    mean = channels.mean(axis=0) if channels.size else np.zeros(channels.shape[1])
    std = channels.std(axis=0) if channels.size else np.ones(channels.shape[1])
    if features.scl:
        mean[-12:], std[-12:] = 0.0, 1.0
    return Normalization(mean=mean.astype(np.float32), std=np.maximum(std, 1e-6).astype(np.float32))
