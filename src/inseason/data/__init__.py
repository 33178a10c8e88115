"""Training data path: the ragged series store, input adapters, features, augmentations and loaders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inseason.lazy import lazy_exports

if TYPE_CHECKING:  # the API; at run time each name's module is imported on its first use (inseason.lazy)
    from inseason.data.adapters import ADAPTER_PRESETS, AdapterConfig, gather_bucketed, gather_sequence
    from inseason.data.batches import SEASON_END, AugmentConfig, Batch, InputSpec, build_batch, window_labels
    from inseason.data.features import INDICES, FeatureConfig, compute_features, feature_names
    from inseason.data.loader import BatchLoader
    from inseason.data.normalize import Normalization, fit_normalization
    from inseason.data.store import SeriesStore, decode_series, load_series
    from inseason.data.synthetic import synthetic_series
    from inseason.data.windows import WindowRule, not_growing, window_rule_of

__all__ = [
    "ADAPTER_PRESETS",
    "INDICES",
    "SEASON_END",
    "AdapterConfig",
    "AugmentConfig",
    "Batch",
    "BatchLoader",
    "FeatureConfig",
    "InputSpec",
    "Normalization",
    "SeriesStore",
    "WindowRule",
    "build_batch",
    "compute_features",
    "decode_series",
    "feature_names",
    "fit_normalization",
    "gather_bucketed",
    "gather_sequence",
    "load_series",
    "not_growing",
    "synthetic_series",
    "window_labels",
    "window_rule_of",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
