"""Bootstrap confidence intervals that resample whole clusters of samples, or single samples.

Whole clusters are resampled when the samples are grouped, because pixels of one field, and the seasons of
one place, are not independent. `resampling_clusters` defines the clusters of an evaluation (DESIGN §3):
every season of one location together, joined with fields across years (``by="field"``) or with square
blocks (``by="block"``), so one place's several seasons never count as independent draws.

Each group's confusion matrix is computed once; a replicate is a multinomial draw of group counts and its
confusion matrix the weighted sum, so thousands of replicates cost a matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pydantic import BeforeValidator
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from inseason.errors import InputError
from inseason.evaluate.metrics import SUMMARY_METRICS, summary_from_confusion
from inseason.series.geometry import NO_BLOCK, block_ids

#: Name of the resampling unit of each grouping (``intervals["resampled"]`` of the evaluation dict).
RESAMPLED_UNIT = {"field": "location+field", "block": "block"}

#: How an evaluation groups its samples for the bootstrap and the accuracy map (``--by``).
SpatialBy = Literal["field", "block"]


def check_spatial_by(by: object) -> SpatialBy:
    """``by`` as a spatial grouping: ``"field"`` or ``"block"``, else the user's error.

    Args:
        by: the grouping asked for.

    Returns:
        The grouping.

    Raises:
        InputError: ``by`` is neither ``"field"`` nor ``"block"``.
    """
    if by == "field":
        return "field"
    if by == "block":
        return "block"
    raise InputError(f"spatial grouping {by!r}: choose 'field' or 'block'")


#: A request's spatial grouping field: `SpatialBy`, anything else refused with `check_spatial_by`'s message.
SpatialByField = Annotated[SpatialBy, BeforeValidator(check_spatial_by)]


def check_n_boot(n_boot: int) -> None:
    """Refuse a bootstrap without replicates.

    Args:
        n_boot: bootstrap replicates asked for.

    Raises:
        InputError: ``n_boot`` is below 1.
    """
    if n_boot < 1:
        raise InputError(f"n_boot={n_boot}: the bootstrap needs at least one replicate")


def check_level(level: float) -> None:
    """Refuse a confidence level outside (0, 1).

    Args:
        level: the confidence level of the intervals.

    Raises:
        InputError: ``level`` is not strictly between 0 and 1.
    """
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must lie strictly between 0 and 1")


def group_indices(groups: Sequence[Any] | np.ndarray | None, *, n: int) -> np.ndarray:
    """Dense group index (0..G-1) of each of ``n`` samples, numbered in order of first appearance.

    Args:
        groups: a group id per sample (any hashable; None or NaN: the sample is a group of its own), or
            None for every sample its own group.
        n: number of samples.

    Returns:
        The int64 group index of each sample.

    Raises:
        InputError: ``groups`` does not have ``n`` entries.
    """
    if groups is None:
        return np.arange(n)
    values = np.asarray(groups, dtype=object)
    if values.shape != (n,):
        raise InputError(f"group ids have {values.shape[0] if values.ndim else 0} entries for {n} samples")
    keys = [
        ("sample", i) if v is None or (isinstance(v, float) and np.isnan(v)) else ("group", v)
        for i, v in enumerate(values.tolist())
    ]
    index: dict[Any, int] = {}
    return np.array([index.setdefault(key, len(index)) for key in keys], dtype=np.int64)


def _key_codes(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    """Dense code (0..) of each value of an Arrow column, -1 where the value is null."""
    encoded = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
    encoded = encoded.combine_chunks().dictionary_encode()
    codes: npt.NDArray[np.int64] = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes


#: Decimals of map units (metres) to which two points must agree to be one location: a millimetre, so
#: float noise from reprojecting the same pixel centre in two seasons does not split a location.
LOCATION_DECIMALS = 3


def _point_codes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Dense code of each distinct ``(x, y)`` point (to `LOCATION_DECIMALS`), -1 where a coordinate is NaN."""
    codes = np.full(x.shape, -1, dtype=np.int64)
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.any():
        points = np.round(np.stack([x[finite], y[finite]], axis=1), LOCATION_DECIMALS) + 0.0  # -0.0 is 0.0
        _, inverse = np.unique(points, axis=0, return_inverse=True)
        codes[finite] = inverse.reshape(-1)
    return codes


def connected_keys(keys: Sequence[np.ndarray], *, n: int) -> np.ndarray:
    """The cluster of each row, where two rows are in one cluster when they share any key.

    Rows sharing a key value, directly or through other rows, form one cluster (connected components of the
    bipartite graph rows–key values); a row with no key is a cluster of its own.

    Args:
        keys: one array per key, giving that key's dense code (0..) per row, -1 for none.
        n: number of rows.

    Returns:
        The cluster index (0..C-1, numbered in order of first row) of each row.

    Raises:
        InputError: a key array does not have ``n`` entries.
    """
    offsets = n
    rows, nodes = [], []
    for codes in keys:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (n,):
            raise InputError(f"cluster keys have {codes.shape[0] if codes.ndim else 0} entries for {n} samples")
        known = np.flatnonzero(codes >= 0)
        rows.append(known)
        nodes.append(codes[known] + offsets)
        offsets += int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 0
    row_index = np.concatenate(rows) if rows else np.empty(0, np.int64)
    node_index = np.concatenate(nodes) if nodes else np.empty(0, np.int64)
    graph = coo_matrix((np.ones(row_index.size, dtype=np.int8), (row_index, node_index)), shape=(offsets, offsets))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels[:n], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # renumber clusters by their first row
    return order[inverse].astype(np.int64)


def resampling_clusters(table: pa.Table, *, by: str = "field", block_size: float = 2000.0) -> tuple[np.ndarray, str]:
    """The bootstrap's resampling clusters of a series table's rows and the unit's name.

    A location is every row with the same ``sample_id`` or the same ``x``/``y`` point (to the
    millimetre, `LOCATION_DECIMALS`), whatever the season, so a place's seasons are resampled together
    (extracted label points are numbered per season, so for them the point is what links seasons).
    ``by="field"`` joins locations with fields: rows sharing a ``field_id`` (a vector file's parcel keeps
    its id across years; CDL components are numbered per year) or a location, directly or through other
    rows, form one cluster ("location+field");
    ``by="block"`` joins locations with square blocks of ``block_size`` map units ("block"), the split's
    own grid (`inseason.series.geometry.block_ids`), so the bootstrap's blocks are the audit's. Rows
    without coordinates fall back to their ``sample_id``; a row with neither key is alone.

    Args:
        table: series rows (columns ``sample_id``, ``x``, ``y``; ``field_id`` for ``by="field"``).
        by: ``"field"`` or ``"block"``.
        block_size: block side in map units (metres), for ``by="block"``.

    Returns:
        ``(cluster index per row (0..C-1), unit name)``.

    Raises:
        InputError: an unknown ``by`` or a non-positive block size.
    """
    by = check_spatial_by(by)
    n = table.num_rows
    x = _float_column(table, "x")
    y = _float_column(table, "y")
    keys = [_key_codes(table.column("sample_id")) if "sample_id" in table.column_names else np.full(n, -1, np.int64)]
    if by == "field":
        keys.append(_point_codes(x, y))
        if "field_id" in table.column_names:
            keys.append(_key_codes(table.column("field_id")))
    else:
        blocks = block_ids(np.column_stack([x, y]), block_size)
        keys.append(_key_codes(pa.array(blocks, mask=blocks == NO_BLOCK)))
    return connected_keys(keys, n=n), RESAMPLED_UNIT[by]


def _float_column(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 (nulls NaN); all NaN when the table lacks it."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    values: npt.NDArray[np.float64] = table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return values.astype(np.float64)


def replicate_weights(n_groups: int, *, n_boot: int, seed: int) -> np.ndarray:
    """How many times each group is drawn in each of ``n_boot`` bootstrap replicates.

    The draws are deterministic from ``seed``: reuse them across as-of dates for comparable bands.

    Args:
        n_groups: number of groups (G).
        n_boot: number of replicates.
        seed: seed of the draws.

    Returns:
        ``[n_boot, G]`` float64 counts, each replicate summing to G.

    Raises:
        InputError: ``n_boot`` is below 1.
    """
    check_n_boot(n_boot)
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)


def bootstrap_confusions(
    y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int, group_index: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Confusion matrices of the bootstrap replicates described by ``weights``.

    Args:
        y_true: true class index of each sample.
        y_pred: predicted class index of each sample.
        n_classes: number of classes (K).
        group_index: group (0..G-1) of each sample (`group_indices`).
        weights: ``[n_boot, G]`` draws of each group (`replicate_weights`).

    Returns:
        ``[n_boot, K, K]`` confusion matrices, rows truth.
    """
    n_groups = weights.shape[1]
    cell = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    per_group = np.zeros((n_groups, n_classes * n_classes))
    np.add.at(per_group, (group_index, cell), 1.0)
    return (weights @ per_group).reshape(-1, n_classes, n_classes)


def intervals_from_confusions(confusions: np.ndarray, *, level: float = 0.95) -> dict[str, Any]:
    """Percentile intervals of the summary metrics and of each class's F1 over replicate confusion matrices.

    Args:
        confusions: ``[n_boot, K, K]`` replicate confusion matrices (`bootstrap_confusions`).
        level: confidence level of the intervals.

    Returns:
        ``{metric: [low, high] | None, "per_class_f1": [[low, high] | None, ...], "level"}`` for the
        summary metrics; None where a metric is undefined in too many replicates.

    Raises:
        InputError: ``level`` is not strictly between 0 and 1.
    """
    check_level(level)
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    summary = summary_from_confusion(confusions)
    tp = np.diagonal(confusions, axis1=-2, axis2=-1)
    support = confusions.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support > 0, 2 * tp / (support + confusions.sum(axis=-2)), np.nan)
    out: dict[str, Any] = {name: _interval(summary[name], tails) for name in SUMMARY_METRICS}
    out["per_class_f1"] = [_interval(f1[:, k], tails) for k in range(f1.shape[1])]
    out["level"] = level
    return out


def _interval(values: np.ndarray, tails: list[float]) -> list[float] | None:
    """Percentiles ``tails`` of the finite ``values``; None when fewer than half are finite."""
    finite = values[np.isfinite(values)]
    if finite.size < 0.5 * values.size or finite.size == 0:
        return None
    low, high = np.percentile(finite, tails)
    return [float(low), float(high)]


def bootstrap_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_classes: int,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Bootstrap percentile intervals of OA, macro-F1, weighted F1, kappa and per-class F1.

    Args:
        y_true: true class index of each sample.
        y_pred: predicted class index of each sample.
        n_classes: number of classes.
        groups: cluster of each sample (field, block or `resampling_clusters` ids) to resample whole, or
            None to resample single samples.
        n_boot: number of replicates.
        seed: seed of the draws.
        level: confidence level.

    Returns:
        The intervals, as `intervals_from_confusions` gives them.

    Raises:
        InputError: no samples, or bad ``groups``, ``n_boot`` or ``level``.
    """
    index = group_indices(groups, n=len(y_true))
    if index.size == 0:
        raise InputError("no samples to bootstrap: the split has no test samples")
    weights = replicate_weights(int(index.max()) + 1, n_boot=n_boot, seed=seed)
    confusions = bootstrap_confusions(y_true, y_pred, n_classes=n_classes, group_index=index, weights=weights)
    return intervals_from_confusions(confusions, level=level)
