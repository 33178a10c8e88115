"""Spatially correlated random fields, the raw material of field variability and clouds."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian_field(
    rng: np.random.Generator, shape: tuple[int, int], *, scale_px: float, beta: float = 3.0
) -> np.ndarray:
    """A zero-mean, unit-variance random field with a power-law spectrum (``k**-beta``).

    ``scale_px`` is the correlation length in pixels: wavelengths shorter than it are damped, so larger
    values give larger, smoother blobs (clouds, soil patches).

    Args:
        rng: the generator of the white noise.
        shape: the field's (rows, cols).
        scale_px: the correlation length in pixels.
        beta: the spectrum's power-law exponent.

    Returns:
        The float32 field.
    """
    h, w = shape
    white = rng.standard_normal((h, w)).astype(np.float32)
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k0 = 1.0 / max(scale_px, 1.0)
    amplitude = (k * k + k0 * k0) ** (-beta / 4.0)
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(h, w)).astype(np.float32)
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def upsampled_field(
    rng: np.random.Generator, shape: tuple[int, int], *, factor: int, scale_px: float, beta: float = 3.0
) -> np.ndarray:
    """A smooth field made on a grid ``factor`` times coarser and interpolated up: cheap for big rasters.

    Args:
        rng: the generator of the white noise.
        shape: the field's (rows, cols).
        factor: how many times coarser the field is made.
        scale_px: the correlation length in pixels of the fine grid.
        beta: the spectrum's power-law exponent.

    Returns:
        The float32 field of ``shape``.
    """
    coarse = (-(-shape[0] // factor) + 1, -(-shape[1] // factor) + 1)
    field = gaussian_field(rng, coarse, scale_px=scale_px / factor, beta=beta)
    fine = ndimage.zoom(field, factor, order=1, prefilter=False, grid_mode=False)
    return np.ascontiguousarray(fine[: shape[0], : shape[1]])
