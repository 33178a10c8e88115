"""Model input channels: the stored bands as reflectance, optional spectral indices and the SCL code.

Indices are computed per observation at batch time from the gathered rows only (cheap, vectorised), so the
store keeps the table's own values. SCL enters as a one-hot over the 12 L2A scene classes.

Bands are found by their Sentinel-2 names (``B04``) or by the STAC ``eo`` common names (``red``, ``nir``,
``swir16``...; MODIS/Landsat-style ``swir1``/``swir2`` too), matched case-insensitively, so imported tables
with their own band names get the same indices. An index the table already holds as a band (an ``NDVI``
column) is not derived again: the stored one is the channel.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from inseason.config import StrictModel
from inseason.errors import InputError
from inseason.tables import S2_COMMON_NAMES

#: Normalised-difference indices: name → (band a, band b), index = (a − b) / (a + b), by Sentinel-2 name.
INDICES: dict[str, tuple[str, str]] = {
    "NDVI": ("B08", "B04"),  # vegetation
    "NDWI": ("B03", "B08"),  # open water (McFeeters)
    "NDMI": ("B08", "B11"),  # canopy moisture
    "NDRE": ("B8A", "B05"),  # red edge
}
SCL_CLASSES = 12

#: Sentinel-2 band → its STAC ``eo`` common name (`inseason.tables.S2_COMMON_NAMES`).
COMMON_NAMES: dict[str, str] = S2_COMMON_NAMES
#: Other spellings of common names found in imported tables (lower case) → the common name.
_SYNONYMS: dict[str, str] = {
    "swir1": "swir16",
    "swir2": "swir22",
    "re1": "rededge1",
    "re2": "rededge2",
    "re3": "rededge3",
    "b8a": "nir08",
}

IndexName = Literal["NDVI", "NDWI", "NDMI", "NDRE"]


def common_name(band: str) -> str:
    """The STAC ``eo`` common name of a band: ``B04`` and ``Red`` are both ``red``.

    Args:
        band: A band name as the series table spells it.

    Returns:
        The common name, or the band's own name in lower case when it has none.
    """
    lower = band.strip().lower()
    upper = band.strip().upper()
    if upper in COMMON_NAMES:
        return COMMON_NAMES[upper]
    return _SYNONYMS.get(lower, lower)


def _band_index(bands: tuple[str, ...] | list[str], band: str) -> int | None:
    """Column of ``band`` (a Sentinel-2 name) in ``bands``, by its common name; None when absent."""
    wanted = COMMON_NAMES[band]
    for i, name in enumerate(bands):
        if common_name(name) == wanted:
            return i
    return None


def stored_index(bands: tuple[str, ...] | list[str], name: str) -> bool:
    """Whether the table stores index ``name`` as a band of its own (any case: ``ndvi``, ``NDVI``).

    Args:
        bands: The series table's bands.
        name: An index name of `INDICES`.

    Returns:
        True when a band has that name.
    """
    return any(b.strip().upper() == name for b in bands)


def derived_indices(
    bands: tuple[str, ...] | list[str], indices: tuple[str, ...] | list[str]
) -> list[tuple[str, int, int]]:
    """The indices to derive from ``bands``, with their two band columns; those the table stores are left out.

    Args:
        bands: The series table's bands.
        indices: Index names of `INDICES`, in channel order.

    Returns:
        ``(name, column a, column b)`` per derived index, in ``indices`` order.

    Raises:
        InputError: An index needs a band the table lacks (and the table does not store the index itself).
    """
    derived = []
    for name in indices:
        if stored_index(bands, name):
            continue
        a, b = (_band_index(bands, band) for band in INDICES[name])
        if a is None or b is None:
            missing = [band for band, i in zip(INDICES[name], (a, b), strict=True) if i is None]
            common = [COMMON_NAMES[band] for band in missing]
            raise InputError(
                f"feature {name} needs bands {missing} (common names {common}) that the series table lacks: "
                f"drop it from features.indices"
            )
        derived.append((name, a, b))
    return derived


def available_indices(
    bands: tuple[str, ...] | list[str], indices: tuple[str, ...] | list[str]
) -> tuple[tuple[str, ...], list[str]]:
    """The indices of ``indices`` a table can add as channels, and a note for each left out.

    A preset asks for its indices this way: a table without the bands, or storing the index as a band, is
    not refused; the index is just not derived.

    Args:
        bands: The series table's bands.
        indices: Index names of `INDICES`.

    Returns:
        The indices to derive, in ``indices`` order, and one note per index left out (why).
    """
    kept: list[str] = []
    notes: list[str] = []
    for name in indices:
        if stored_index(bands, name):
            notes.append(f"{name} is not derived: the series table has an {name} band")
            continue
        missing = [band for band in INDICES[name] if _band_index(bands, band) is None]
        if missing:
            common = " or ".join(COMMON_NAMES[band] for band in missing)
            notes.append(f"{name} is not derived: the series table has no {common} band ({', '.join(missing)})")
            continue
        kept.append(name)
    return tuple(kept), notes


class FeatureConfig(StrictModel):
    """Which derived channels the model sees besides the stored bands."""

    indices: tuple[IndexName, ...] = Field((), description="spectral indices appended to the bands")
    scl: bool = Field(False, description="append the SCL code one-hot (12 channels)")


def feature_names(bands: tuple[str, ...] | list[str], config: FeatureConfig, *, has_scl: bool) -> list[str]:
    """Channel names in model input order: the bands, the derived indices, then the SCL one-hot.

    An index the table stores as a band is not derived again (see `derived_indices`).

    Args:
        bands: The series table's bands, in stored order.
        config: The derived channels.
        has_scl: Whether the series table has an SCL column.

    Returns:
        One name per input channel.

    Raises:
        InputError: An index needs a band the table lacks (and it does not store the index), or SCL is asked
            for without an SCL column.
    """
    derived = derived_indices(bands, config.indices)
    if config.scl and not has_scl:
        raise InputError("features.scl is set but the series table has no scl column: set features.scl=false")
    names = list(bands) + [name for name, _, _ in derived]
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
    for _, column_a, column_b in derived_indices(bands, config.indices):
        a = reflectance[:, column_a]
        b = reflectance[:, column_b]
        total = a + b
        parts.append(np.divide(a - b, total, out=np.zeros_like(a), where=total != 0)[:, None])
    if config.scl:
        assert scl is not None, "feature_names() checks the SCL column first"
        parts.append(np.eye(SCL_CLASSES, dtype=np.float32)[np.minimum(scl, SCL_CLASSES - 1)])
    return np.concatenate(parts, axis=1) if len(parts) > 1 else reflectance
