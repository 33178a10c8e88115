"""Wall-to-wall in-season maps: block-wise reads, model inference, COG/STAC outputs, double-crop timing."""

from inseason.predict.double_crop import crop_sequence, score_transitions, transition_dates, transition_table
from inseason.predict.maps import MapRun, bundle_fingerprint, predict_map

__all__ = [
    "MapRun",
    "bundle_fingerprint",
    "crop_sequence",
    "predict_map",
    "score_transitions",
    "transition_dates",
    "transition_table",
]
