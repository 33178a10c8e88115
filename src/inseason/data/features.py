"""Model input channels: the stored bands as reflectance, optional spectral indices and the SCL code.

Indices are computed per observation at batch time from the gathered rows only (cheap, vectorised), so the
store keeps the table's own values. SCL enters as a one-hot over the 12 L2A scene classes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from inseason.config import StrictModel
from inseason.errors import InputError

#: Normalised-difference indices: name → (band a, band b), index = (a − b) / (a + b).
INDICES: dict[str, tuple[str, str]] = {
    "NDVI": ("B08", "B04"),  # vegetation
    "NDWI": ("B03", "B08"),  # open water (McFeeters)
    "NDMI": ("B08", "B11"),  # canopy moisture
    "NDRE": ("B8A", "B05"),  # red edge
}
SCL_CLASSES = 12

IndexName = Literal["NDVI", "NDWI", "NDMI", "NDRE"]


class FeatureConfig(StrictModel):
    """Which derived channels the model sees besides the stored bands."""

    indices: tuple[IndexName, ...] = Field((), description="spectral indices appended to the bands")
    scl: bool = Field(False, description="append the SCL code one-hot (12 channels)")


def feature_names(bands: tuple[str, ...] | list[str], config: FeatureConfig, *, has_scl: bool) -> list[str]:
    """Channel names in model input order: the bands, the indices, then the SCL one-hot.

    Args:
        bands: The series table's bands, in stored order.
        config: The derived channels.
        has_scl: Whether the series table has an SCL column.

    Returns:
        One name per input channel.

    Raises:
        InputError: An index needs a band the table lacks, or SCL is asked for without an SCL column.
    """
    for name in config.indices:
        missing = [b for b in INDICES[name] if b not in bands]
        if missing:
            raise InputError(
                f"feature {name} needs bands {missing} that the series table lacks: drop it from features.indices"
            )
    if config.scl and not has_scl:
        raise InputError("features.scl is set but the series table has no scl column: set features.scl=false")
    names = list(bands) + list(config.indices)
    if config.scl:
        names += [f"SCL{code}" for code in range(SCL_CLASSES)]
    return names


def compute_features(
    raw: np.ndarray, scl: np.ndarray | None, *, bands: tuple[str, ...], scales: np.ndarray, config: FeatureConfig
) -> np.ndarray:
    """Model input channels for gathered observations (checked by `feature_names` first).

    Args:
        raw: Stored values [M, C] of M observations.
        scl: Their SCL codes [M] (None when the table has none; needed with ``config.scl``).
        bands: Band names of the C columns.
        scales: Band scales [C] from stored value to reflectance.
        config: The derived channels.

    Returns:
        Channels [M, C'] float32.
    """
    reflectance = raw.astype(np.float32) * scales.astype(np.float32)
    parts = [reflectance]
    for name in config.indices:
        a = reflectance[:, bands.index(INDICES[name][0])]
        b = reflectance[:, bands.index(INDICES[name][1])]
        total = a + b
        parts.append(np.divide(a - b, total, out=np.zeros_like(a), where=total != 0)[:, None])
    if config.scl:
        assert scl is not None, "feature_names() checks the SCL column first"
        parts.append(np.eye(SCL_CLASSES, dtype=np.float32)[np.minimum(scl, SCL_CLASSES - 1)])
    return np.concatenate(parts, axis=1) if len(parts) > 1 else reflectance
