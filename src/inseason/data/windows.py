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
        """Plain values for model.json."""
        return {"rule": NO_CROP_GROWING_RULE, "crops": list(self.crops), "target": self.target}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> WindowRule | None:
        """Inverse of `to_json` (None stays None: a model without a window rule)."""
        if not data:
            return None
        return cls(crops=tuple(data["crops"]), target=str(data["target"]))


def window_rule_of(store: SeriesStore, rows: np.ndarray) -> WindowRule | None:
    """The store's No Crop Growing rule, if its label map has one, for the classes of ``rows``.

    The rule relabels crop classes only: a class is a crop class when every CDL source code of its
    samples in ``rows`` is a crop or double crop (for `arset`: Corn, Cotton, Rice, Soybeans, Cultivated;
    not Uncultivated).
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
    """Bool [B]: the window's last two valid SCL values (of the steps in ``mask``, in time order) are not
    vegetation. A window without a valid value is False; one with a single valid value is judged on it.

    ``scl`` (uint8 [B, T]) holds each step's SCL code, ``mask`` (bool [B, T]) the steps the window holds.
    Vectorised form of `inseason.labels.no_crop_growing`.
    """
    valid = mask & ~np.isin(scl, sorted(INVALID_SCL))
    from_end = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]  # valid steps from here to the window's end
    last_two = valid & (from_end <= 2)
    return valid.any(axis=1) & ~(last_two & (scl == SCL_VEGETATION)).any(axis=1)


def relabelled(
    store: SeriesStore, rows: np.ndarray, positions: np.ndarray, mask: np.ndarray, rule: WindowRule | None
) -> np.ndarray:
    """Bool [B]: which windows (gathered observation ``positions`` [B, T] with ``mask``) the rule relabels.

    All False without a rule or without SCL values in the store.
    """
    if rule is None or store.scl is None:
        return np.zeros(rows.size, bool)
    crop = np.isin(store.labels[rows].astype(str), list(rule.crops))
    scl = store.scl[np.maximum(positions, 0)] if store.scl.size else np.zeros(positions.shape, np.uint8)
    return crop & not_growing(scl, mask)
