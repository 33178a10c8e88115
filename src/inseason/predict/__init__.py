"""Wall-to-wall in-season maps: block-wise reads, model inference, COG/STAC outputs, double-crop timing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inseason.lazy import lazy_exports

if TYPE_CHECKING:  # the API; at run time each name's module is imported on its first use (inseason.lazy)
    from inseason.predict.double_crop import crop_sequence, score_transitions, transition_dates, transition_table
    from inseason.predict.maps import MapRun, PredictRequest, bundle_fingerprint, predict_map, run_predict

__all__ = [
    "MapRun",
    "PredictRequest",
    "bundle_fingerprint",
    "crop_sequence",
    "predict_map",
    "run_predict",
    "score_transitions",
    "transition_dates",
    "transition_table",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
