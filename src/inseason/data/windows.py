"""Window-level label rules: the label a model window carries can depend on what the window shows.

The ARSET course's "No Crop Growing" rule (REFERENCE, `inseason.labels.no_crop_growing`): a crop sample
whose last two valid SCL values within the window are not 4 (vegetation) is labelled "No Crop Growing"
for that window (bare soil before planting or after harvest). The series table's label map records the
rule (``inseason:label_map`` ``rules``); it is applied here vectorised over a batch of gathered windows, to
training batches and to evaluation targets as of a date alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from inseason.data.store import SeriesStore
from inseason.labels import INVALID_SCL, NO_CROP_GROWING, SCL_VEGETATION, cdl_classes

#: The rule name in a label map's ``rules``.
NO_CROP_GROWING_RULE = "no_crop_growing"


@dataclass(frozen=True)
class WindowRule:
    """The No Crop Growing rule of a label map: the class names it may relabel and the class they become."""

    crops: tuple[str, ...]
    target: str = NO_CROP_GROWING

    def to_json(self) -> dict[str, Any]:
        """Plain values for model.json.

        Returns:
            ``{"rule", "crops", "target"}``.
        """
        return {"rule": NO_CROP_GROWING_RULE, "crops": list(self.crops), "target": self.target}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> WindowRule | None:
        """Inverse of `to_json`.

        Args:
            data: The ``window_rule`` entry of a model.json.

        Returns:
            The rule; None for None or an empty entry (a model without a window rule).
        """
        if not data:
            return None
        return cls(crops=tuple(data["crops"]), target=str(data["target"]))


def window_rule_of(store: SeriesStore, rows: np.ndarray) -> WindowRule | None:
    """The store's No Crop Growing rule, if its label map has one, for the classes of ``rows``.

    The rule relabels crop classes only: a class is a crop class when every CDL source code of its
    samples in ``rows`` is a crop or double crop (for `arset`: Corn, Cotton, Rice, Soybeans, Cultivated;
    not Uncultivated).

    Args:
        store: The decoded series.
        rows: The rows whose classes count (the training rows).

    Returns:
        The rule, or None when the label map has none.
    """
    if NO_CROP_GROWING_RULE not in store.label_rules:
        return None
    table = cdl_classes()
    labels, codes = store.labels[rows], store.label_codes[rows]
    crops = []
    for name in sorted({str(label) for label in labels}):
        of_class = np.unique(codes[labels == name]).tolist()
        if name != NO_CROP_GROWING and all(code in table and table[code].is_crop for code in of_class):
            crops.append(name)
    return WindowRule(crops=tuple(crops))


def not_growing(scl: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whether each window's last two valid SCL values (of the steps in ``mask``, in time order) are not vegetation.

    A window without a valid value is False; one with a single valid value is judged on it. Vectorised
    form of `inseason.labels.no_crop_growing`.

    Args:
        scl: Each step's SCL code, uint8 [B, T].
        mask: The steps the window holds, bool [B, T].

    Returns:
        Bool [B].
    """
    valid = mask & ~np.isin(scl, sorted(INVALID_SCL))
    from_end = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]  # valid steps from here to the window's end
    last_two = valid & (from_end <= 2)
    bare: npt.NDArray[np.bool_] = valid.any(axis=1) & ~(last_two & (scl == SCL_VEGETATION)).any(axis=1)
    return bare


def relabelled(
    store: SeriesStore, rows: np.ndarray, positions: np.ndarray, mask: np.ndarray, rule: WindowRule | None
) -> np.ndarray:
    """Which windows (gathered observation ``positions`` [B, T] with ``mask``) the rule relabels.

    Args:
        store: The decoded series.
        rows: Store rows [B].
        positions: Flat observation positions [B, T] (−1 where masked).
        mask: The steps each window holds, bool [B, T].
        rule: The window rule, if any.

    Returns:
        Bool [B]; all False without a rule or without SCL values in the store.
    """
    if rule is None or store.scl is None:
        return np.zeros(rows.size, bool)
    crop = np.isin(store.labels[rows].astype(str), list(rule.crops))
    scl = store.scl[np.maximum(positions, 0)] if store.scl.size else np.zeros(positions.shape, np.uint8)
    changed: npt.NDArray[np.bool_] = crop & not_growing(scl, mask)
    return changed
