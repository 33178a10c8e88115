"""Pictures for TensorBoard drawn with numpy alone: the confusion matrix as an RGB image."""

from __future__ import annotations

import numpy as np

_LOW = np.array([247, 251, 255], np.float32)  # near-white: no samples
_HIGH = np.array([8, 48, 107], np.float32)  # dark blue: the whole row
_GRID = np.array([160, 160, 160], np.uint8)


def confusion_image(matrix: np.ndarray, *, cell: int = 24) -> np.ndarray:
    """A [H, W, 3] uint8 heat map of a confusion matrix (rows: true class, columns: predicted).

    Each row is normalised by its count so recall reads along the diagonal; cells are ``cell`` pixels
    wide with a one-pixel grey grid, and empty rows stay white.
    """
    matrix = np.asarray(matrix, np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    colours = (_LOW + (_HIGH - _LOW) * share[..., None]).round().astype(np.uint8)
    image = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    image[::cell, :] = _GRID
    image[:, ::cell] = _GRID
    return np.ascontiguousarray(image)
