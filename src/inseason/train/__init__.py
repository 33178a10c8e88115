"""Training: Lightning module and data module, callbacks, TensorBoard figures, model bundles, prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inseason.lazy import lazy_exports

if TYPE_CHECKING:  # the API; at run time each name's module is imported on its first use (inseason.lazy)
    from inseason.labels import LabelClass
    from inseason.train.bundle import Bundle, load_bundle, read_manifest, write_bundle
    from inseason.train.config import TRAIN_PRESETS, TrainConfig, train_config
    from inseason.train.module import TrainingDiverged
    from inseason.train.onnx import BACKENDS, Backend, export_onnx
    from inseason.train.predict import Predictor, as_of_days, predict_series
    from inseason.train.run import TrainRequest, TrainResult, run_train, train

__all__ = [
    "BACKENDS",
    "TRAIN_PRESETS",
    "Backend",
    "Bundle",
    "LabelClass",
    "Predictor",
    "TrainConfig",
    "TrainRequest",
    "TrainResult",
    "TrainingDiverged",
    "as_of_days",
    "export_onnx",
    "load_bundle",
    "predict_series",
    "read_manifest",
    "run_train",
    "train",
    "train_config",
    "write_bundle",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
