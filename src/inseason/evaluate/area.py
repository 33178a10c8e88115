"""Area-weighted accuracy and area estimates of a map from a stratified sample (Olofsson et al. 2014).

The paper is "Good practices for estimating area and assessing accuracy of land change", Remote Sens.
Environ. 148. The strata are the map classes: ``sample_counts[i, j]`` counts sample units mapped as class
``i`` whose reference class is ``j`` (rows: map, columns: reference, as in the paper), and
``mapped_area[i]`` is the area of class ``i`` in the map. Estimates are of population proportions, so
they correct the map's own area counts for its errors; standard errors follow the paper's equations 5
and 10-12.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inseason.errors import InputError

#: Normal quantile for the 95 % intervals the paper reports.
Z_95 = 1.959964


def area_weighted_accuracy(
    sample_counts: np.ndarray, mapped_area: Sequence[float], *, classes: Sequence[str], z: float = Z_95
) -> dict[str, Any]:
    """Olofsson et al. (2014) estimates of a map's accuracies and of the true area of each class.

    Overall, user's and producer's accuracies and the area of each reference class, each with its standard
    error and a ``z``-score confidence half-width; areas are in the units of ``mapped_area``.

    Args:
        sample_counts: ``[K, K]`` sample units, rows the mapped class, columns the reference class.
        mapped_area: area of each class in the map (the strata's sizes).
        classes: the K class names, in the matrix's order.
        z: normal quantile of the confidence half-widths (default 95 %).

    Returns:
        ``{"overall_accuracy", "overall_se", "overall_ci", "total_area", "per_class": [{"name",
        "mapped_area", "area", "area_se", "area_ci", "users_accuracy", "users_se", "producers_accuracy",
        "producers_se"}]}``; a producer's accuracy without reference area is None.

    Raises:
        InputError: shapes that do not match the classes, negative or all-zero areas, or a stratum with
            fewer than two sample units (no variance estimate).
    """
    n = np.asarray(sample_counts, dtype=np.float64)
    area_map = np.asarray(mapped_area, dtype=np.float64)
    k = len(classes)
    if n.shape != (k, k) or area_map.shape != (k,):
        raise InputError(
            f"area-weighted accuracy needs a {k}x{k} sample-count matrix and {k} mapped areas, "
            f"got {n.shape} and {area_map.shape}"
        )
    if (area_map < 0).any() or area_map.sum() <= 0:
        raise InputError("mapped areas must be non-negative and not all zero")
    n_row = n.sum(axis=1)
    thin = [name for name, count in zip(classes, n_row) if count < 2]
    if thin:
        raise InputError(f"map classes {thin} have fewer than 2 sample units: sample each stratum at least twice")
    total = area_map.sum()
    weight = area_map / total
    row_share = n / n_row[:, None]  # n_ij / n_i.
    proportion = weight[:, None] * row_share  # p_ij, equation 4
    ref_share = proportion.sum(axis=0)  # p_.j
    users = np.diag(row_share)
    with np.errstate(invalid="ignore", divide="ignore"):
        producers = np.diag(proportion) / ref_share
    overall = float(np.trace(proportion))
    var_users = users * (1 - users) / (n_row - 1)
    var_overall = float(np.sum(weight**2 * users * (1 - users) / (n_row - 1)))
    cell_var = row_share * (1 - row_share) / (n_row - 1)[:, None]
    var_share = (weight[:, None] ** 2 * cell_var).sum(axis=0)  # equation 10
    est_ref_area = (area_map[:, None] * row_share).sum(axis=0)  # N_.j estimated
    var_producers = np.empty(k)
    for j in range(k):
        others = sum(area_map[i] ** 2 * cell_var[i, j] for i in range(k) if i != j)
        with np.errstate(invalid="ignore", divide="ignore"):
            var_producers[j] = (
                area_map[j] ** 2 * (1 - producers[j]) ** 2 * var_users[j] + producers[j] ** 2 * others
            ) / est_ref_area[j] ** 2
    per_class = []
    for j, name in enumerate(classes):
        se_area = total * np.sqrt(var_share[j])
        per_class.append(
            {
                "name": name,
                "mapped_area": float(area_map[j]),
                "area": float(total * ref_share[j]),
                "area_se": float(se_area),
                "area_ci": float(z * se_area),
                "users_accuracy": float(users[j]),
                "users_se": float(np.sqrt(var_users[j])),
                "producers_accuracy": _finite(producers[j]),
                "producers_se": _finite(np.sqrt(var_producers[j])),
            }
        )
    se_overall = float(np.sqrt(var_overall))
    return {
        "overall_accuracy": overall,
        "overall_se": se_overall,
        "overall_ci": z * se_overall,
        "total_area": float(total),
        "per_class": per_class,
    }


def _finite(value: float) -> float | None:
    """``value`` as a float, None when it is NaN or infinite."""
    return float(value) if np.isfinite(value) else None
