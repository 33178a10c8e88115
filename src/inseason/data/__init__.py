"""Training data path: the ragged series store, input adapters, features, augmentations and loaders."""

from inseason.data.adapters import ADAPTER_PRESETS, AdapterConfig, gather_bucketed, gather_sequence
from inseason.data.batches import SEASON_END, AugmentConfig, Batch, InputSpec, build_batch
from inseason.data.features import INDICES, FeatureConfig, compute_features, feature_names
from inseason.data.loader import BatchLoader
from inseason.data.normalize import Normalization, fit_normalization
from inseason.data.store import SeriesStore, decode_series, load_series
from inseason.data.synthetic import synthetic_series

__all__ = ["ADAPTER_PRESETS", "INDICES", "SEASON_END", "AdapterConfig", "AugmentConfig", "Batch", "BatchLoader",
           "FeatureConfig", "InputSpec", "Normalization", "SeriesStore", "build_batch", "compute_features",
           "decode_series", "feature_names", "fit_normalization", "gather_bucketed", "gather_sequence",
           "load_series", "synthetic_series"]
