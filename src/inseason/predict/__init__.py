"""Wall-to-wall in-season maps: block-wise reads, model inference, COG/STAC outputs, double-crop timing."""

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
