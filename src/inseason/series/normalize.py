"""Robust per-band normalisation statistics from the training split only (never constants in code)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

#: At most this many observations are drawn (with the split's seed) to compute the statistics.
MAX_OBSERVATIONS = 200_000


def band_values(values: pa.Array | pa.ChunkedArray, bands: int) -> np.ndarray:
    """The observations of a ``values`` list column as an (n, bands) float64 array.

    Args:
        values: the series table's ``values`` column (a list of per-date band lists per row).
        bands: the number of bands.

    Returns:
        One row per observation, one column per band.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    flat: np.ndarray = values.flatten().flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float64).reshape(-1, bands)


def robust_stats(sample: np.ndarray, bands: list[str]) -> dict[str, Any]:
    """Per band: median, quartiles, 2nd/98th percentiles, mean and standard deviation, in stored units.

    Args:
        sample: the observations (n × bands); NaN values are ignored.
        bands: the band names.

    Returns:
        ``bands``, ``observations``, ``units`` and one list per statistic (``p02``, ``q25``, ``median``,
        ``q75``, ``p98``, ``iqr``, ``mean``, ``std``) with a value per band (NaN or None without observations).
    """
    q = np.nanpercentile(sample, [2, 25, 50, 75, 98], axis=0) if len(sample) else np.full((5, len(bands)), np.nan)
    stats = {"bands": bands, "observations": len(sample), "units": "stored (multiply by inseason:scales)"}
    for name, row in zip(("p02", "q25", "median", "q75", "p98"), q):
        stats[name] = [round(float(v), 6) for v in row]
    stats["iqr"] = [round(float(b - a), 6) for a, b in zip(q[1], q[3])]
    stats["mean"] = [round(float(v), 6) for v in np.nanmean(sample, axis=0)] if len(sample) else [None] * len(bands)
    stats["std"] = [round(float(v), 6) for v in np.nanstd(sample, axis=0)] if len(sample) else [None] * len(bands)
    return stats


class TrainingSample:
    """Draws observations of the training rows, chunk by chunk, with a seeded rate that caps the total."""

    def __init__(self, *, expected: int, seed: int, cap: int = MAX_OBSERVATIONS) -> None:
        self.rate = min(1.0, cap / expected) if expected else 1.0
        self.rng = np.random.default_rng(seed)
        self.parts: list[np.ndarray] = []
        self.groups: list[np.ndarray] = []

    def add(self, observations: np.ndarray, group: np.ndarray) -> None:
        """Offer a chunk of observations; a seeded share of them is kept.

        Args:
            observations: the chunk's observations (n × bands).
            group: per observation, the split of its series.
        """
        keep = self.rng.random(len(observations)) < self.rate
        self.parts.append(observations[keep])
        self.groups.append(group[keep])

    def stats(self, bands: list[str], *, train: set[str]) -> dict[str, Any]:
        """Statistics of the drawn observations whose group is in ``train``.

        Args:
            bands: the band names.
            train: the splits whose observations count (the training split).

        Returns:
            The `robust_stats` of those observations.
        """
        if not self.parts:
            return robust_stats(np.empty((0, len(bands))), bands)
        sample, group = np.concatenate(self.parts), np.concatenate(self.groups)
        return robust_stats(sample[np.isin(group, list(train))], bands)
