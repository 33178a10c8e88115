"""Training: Lightning module and data module, callbacks, TensorBoard figures, model bundles, prediction."""

from inseason.labels import LabelClass
from inseason.train.bundle import Bundle, load_bundle, write_bundle
from inseason.train.config import TRAIN_PRESETS, TrainConfig, train_config
from inseason.train.module import TrainingDiverged
from inseason.train.predict import Predictor, as_of_days, predict_series
from inseason.train.run import RunSummary, train

__all__ = [
    "TRAIN_PRESETS",
    "Bundle",
    "LabelClass",
    "Predictor",
    "RunSummary",
    "TrainConfig",
    "TrainingDiverged",
    "as_of_days",
    "load_bundle",
    "predict_series",
    "train",
    "train_config",
    "write_bundle",
]
