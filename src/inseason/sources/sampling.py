"""Where to put label points in a label raster: stride, stratified and per-field sampling (vectorised numpy).

Every function works on the arrays of one label window (:class:`inseason.sources.cdl.LabelWindow`) and returns
row and column indices, sorted in raster order; randomness comes only from the ``numpy`` generator passed in,
so the same seed gives the same points.

* **stride** — every ``stride``-th pixel in rows and columns (the ARSET recipe: every 15th pixel). Positions are
  counted from the CRS origin, so a national CDL and any clip of it give the same points.
* **stratified** — at most ``per_class`` random pixels of each class; a class with fewer than
  ``min_per_class`` pixels available is dropped and reported (not sampled at all).
* **per_field** — ``n`` random pixels per field, where a field is a connected component (8-neighbour) of
  equal class, and only pixels whose centre lies at least ``buffer_m`` from every pixel of another field (or of
  no data, or beyond the window) qualify.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = [
    "RasterSample",
    "cap_per_group",
    "field_components",
    "interior_distance",
    "sample_per_field",
    "sample_stratified",
    "sample_stride",
]

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class RasterSample:
    """Sampled pixels (row, column indices into the window) and what the strategy left out.

    ``dropped`` maps a class code to its available pixel count for classes dropped by ``min_per_class``;
    ``fields_without_points`` counts fields too small (or too thin) for the edge buffer.
    """

    rows: np.ndarray
    cols: np.ndarray
    dropped: dict[int, int] = field(default_factory=dict)
    fields_without_points: int = 0


def cap_per_group(groups: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (ascending) of at most ``cap`` members of each group, drawn at random without replacement.

    One random key per member, a lexsort by (group, key) and a rank within each group select the members: no
    loop over members or groups.

    Args:
        groups: the group of each member, any 1-D integer or string array.
        cap: the most members kept per group.
        rng: the generator the random keys are drawn from.

    Returns:
        The kept members' positions in ``groups`` (int64, ascending).
    """
    groups = np.asarray(groups)
    n = len(groups)
    if n == 0 or cap <= 0:
        return np.empty(0, dtype=np.int64)
    keys = rng.random(n)
    order = np.lexsort((keys, groups))
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)
    return np.sort(order[rank < cap]).astype(np.int64)


def sample_stride(valid: np.ndarray, stride: int, *, origin: tuple[int, int] = (0, 0)) -> RasterSample:
    """Every ``stride``-th row and column where ``valid`` is True.

    A pixel is taken when ``(origin_row + row) % stride == 0`` and likewise for columns; ``origin`` is the
    window's position on the CRS-wide grid (:meth:`LabelWindow.grid_origin`).

    Args:
        valid: the window's pixels that may be sampled.
        stride: take every ``stride``-th row and column.
        origin: ``(row, column)`` of the window's first pixel on the CRS-wide grid.

    Returns:
        The sampled pixels, in raster order.

    Raises:
        ValueError: ``stride`` is below 1.
    """
    if stride < 1:
        raise ValueError("stride must be >= 1")
    height, width = valid.shape
    rows = np.flatnonzero((origin[0] + np.arange(height)) % stride == 0)
    cols = np.flatnonzero((origin[1] + np.arange(width)) % stride == 0)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    keep = valid[rr, cc]
    return RasterSample(rr[keep].astype(np.int64), cc[keep].astype(np.int64))


def sample_stratified(
    codes: np.ndarray, valid: np.ndarray, *, per_class: int, min_per_class: int = 0, rng: np.random.Generator
) -> RasterSample:
    """At most ``per_class`` random valid pixels of each class; classes with < ``min_per_class`` pixels dropped.

    Args:
        codes: the window's class codes.
        valid: the pixels that may be sampled.
        per_class: the most pixels kept per class.
        min_per_class: classes with fewer valid pixels are dropped (not sampled at all) and reported.
        rng: the generator the pixels are drawn with.

    Returns:
        The sampled pixels (raster order) and the dropped classes with their pixel counts.
    """
    rows, cols = np.nonzero(valid)
    classes = codes[rows, cols]
    values, counts = np.unique(classes, return_counts=True)
    too_few = values[counts < min_per_class]
    dropped = {int(v): int(c) for v, c in zip(values, counts) if c < min_per_class}
    keep = ~np.isin(classes, too_few)
    rows, cols, classes = rows[keep], cols[keep], classes[keep]
    chosen = cap_per_group(classes, per_class, rng)
    return RasterSample(rows[chosen].astype(np.int64), cols[chosen].astype(np.int64), dropped=dropped)


def _classes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[slice, slice] | None]]:
    """Padded dense class index (0 = no label, 1-pixel border of 0) and its class bounding boxes."""
    padded = np.pad(np.where(codes > 0, codes, 0), 1)
    values, dense = np.unique(padded, return_inverse=True)
    dense = dense.reshape(padded.shape)
    if values[0] != 0:  # cannot happen (the border is 0), kept for clarity
        dense = dense + 1
    return values, dense, ndimage.find_objects(dense)


def _grow(sl: tuple[slice, slice]) -> tuple[slice, slice]:
    rows, cols = sl
    return slice(rows.start - 1, rows.stop + 1), slice(cols.start - 1, cols.stop + 1)


def field_components(codes: np.ndarray) -> np.ndarray:
    """Field ids (int64, 1…N, 0 where the code is 0): connected components (8-neighbour) of equal code.

    Ids are numbered by each field's first pixel in raster order, so they do not depend on class codes.

    Args:
        codes: the window's class codes (0: no label).

    Returns:
        The field id of every pixel, in the shape of ``codes``.
    """
    _, dense, slices = _classes(codes)
    labels = np.zeros(dense.shape, dtype=np.int64)
    offset = 0
    for k, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        sl = _grow(sl)
        member = dense[sl] == k
        lab, n = ndimage.label(member, structure=_EIGHT)
        labels[sl][member] = lab[member] + offset
        offset += n
    labels = labels[1:-1, 1:-1]
    flat = labels.ravel()
    ids, first = np.unique(flat, return_index=True)
    nonzero = ids != 0
    renumber = np.zeros(int(ids.max()) + 1 if len(ids) else 1, dtype=np.int64)
    order = np.argsort(first[nonzero], kind="stable")
    renumber[ids[nonzero][order]] = np.arange(1, int(nonzero.sum()) + 1)
    return renumber[labels]


def interior_distance(codes: np.ndarray, res_m: tuple[float, float]) -> np.ndarray:
    """Metres from each pixel centre to the nearest pixel centre of another code (or no data / beyond the window).

    One Euclidean distance transform per class, on the class's bounding box only.

    Args:
        codes: the window's class codes (0: no label).
        res_m: the pixel size in metres, (x, y).

    Returns:
        The distance of every pixel in metres (float64), 0 where the code is 0.
    """
    _, dense, slices = _classes(codes)
    dist = np.zeros(dense.shape, dtype=np.float64)
    rx, ry = res_m
    for k, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        sl = _grow(sl)
        member = dense[sl] == k
        d = ndimage.distance_transform_edt(member, sampling=(ry, rx))
        dist[sl][member] = d[member]
    return dist[1:-1, 1:-1]


def sample_per_field(
    codes: np.ndarray,
    valid: np.ndarray,
    *,
    n: int,
    buffer_m: float,
    res_m: tuple[float, float],
    rng: np.random.Generator,
    fields: np.ndarray | None = None,
) -> RasterSample:
    """``n`` random pixels per field whose centres lie ≥ ``buffer_m`` from any other field's pixels.

    A pixel of side (rx, ry) centred d metres from another pixel's centre is at least d − hypot(rx, ry)/2 from
    any point of it, so a pixel qualifies when ``interior_distance − hypot(rx, ry)/2 ≥ buffer_m``. Fields with
    valid pixels but none that qualifies are counted in ``fields_without_points``.

    Args:
        codes: the window's class codes (0: no label).
        valid: the pixels that may be sampled.
        n: the most pixels per field.
        buffer_m: the distance in metres a pixel must keep from other fields, no data and the window's edge.
        res_m: the pixel size in metres, (x, y).
        rng: the generator the pixels are drawn with.
        fields: the field ids of :func:`field_components`, when already computed.

    Returns:
        The sampled pixels (raster order) and the count of fields without points.
    """
    fields = field_components(codes) if fields is None else fields
    half_diagonal = math.hypot(*res_m) / 2
    interior = interior_distance(codes, res_m) - half_diagonal >= buffer_m
    rows, cols = np.nonzero(valid & interior)
    ids = fields[rows, cols]
    chosen = cap_per_group(ids, n, rng)
    candidates = np.unique(fields[valid])
    without = len(np.setdiff1d(candidates[candidates != 0], ids))
    return RasterSample(rows[chosen].astype(np.int64), cols[chosen].astype(np.int64), fields_without_points=without)
