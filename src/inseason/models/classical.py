"""Classical baselines on the same bucketed inputs: random forest and gradient boosting (scikit-learn).

They take the networks' ``(values, mask, doy)`` as numpy arrays, flatten each series to one row of
``n_steps × n_bands`` features with masked steps as NaN (both estimators route missing values natively),
and keep the fitted trees as plain arrays (:mod:`inseason.models.trees`), so prediction, feature
importances and persistence (``state_dict``/``load_state_dict``, safetensors-ready) never need pickle.
With the bucketed adapter a step is a fixed calendar bucket, so ``doy`` adds nothing and is not a feature.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from inseason.errors import InputError
from inseason.models.registry import register_model
from inseason.models.trees import TreeEnsemble, export_gradient_boosting, export_random_forest


class TreeBaseline(ABC):
    """Shared fit/predict/persistence of the tree-ensemble baselines; subclasses choose the estimator."""

    adapter = "bucketed"
    averaged: bool

    def __init__(self, *, n_bands: int, n_steps: int, n_classes: int) -> None:
        self.n_bands, self.n_steps, self.n_classes = n_bands, n_steps, n_classes
        self.ensemble: TreeEnsemble | None = None

    def fit(self, values: np.ndarray, mask: np.ndarray, doy: np.ndarray, y: np.ndarray, *,
            sample_weight: np.ndarray | None = None) -> TreeBaseline:
        """Fit on ``values`` [B, T, C], ``mask`` [B, T], ``doy`` [B, T] and class indices ``y`` [B]; returns self.

        ``sample_weight`` [B] weights samples (e.g. for class balance).
        """
        features = self._features(values, mask, doy)
        y = np.asarray(y)
        if y.shape != (len(features),):
            raise InputError(f"labels must be one class index per sample ({len(features)}), got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and (y.min() < 0 or y.max() >= self.n_classes)):
            raise InputError(f"labels must be class indices in 0..{self.n_classes - 1}: check the label map")
        if len(np.unique(y)) < 2:
            raise InputError("the training labels hold fewer than two classes: a classifier needs at least two")
        self.ensemble = self._fit_ensemble(features, y, sample_weight)
        return self

    def predict_proba(self, values: np.ndarray, mask: np.ndarray, doy: np.ndarray) -> np.ndarray:
        """Class probabilities float32 [B, n_classes]; classes absent from training get probability 0."""
        ensemble = self._fitted()
        features = self._features(values, mask, doy)
        return ensemble.predict_proba(features, n_classes=self.n_classes).astype(np.float32)

    @property
    def feature_importances(self) -> np.ndarray:
        """Importance of each (step, band) input, float64 [n_steps, n_bands], summing to 1."""
        return self._fitted().importances.reshape(self.n_steps, self.n_bands)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The fitted trees as named numpy arrays, to save with ``safetensors.numpy.save_file``."""
        return self._fitted().arrays()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore fitted trees from :meth:`state_dict` arrays, refusing ones built for other input sizes."""
        ensemble = TreeEnsemble.from_arrays(state, averaged=self.averaged)
        if ensemble.importances.shape != (self.n_steps * self.n_bands,) or ensemble.classes.max() >= self.n_classes:
            raise InputError(f"tree weights do not fit {self.n_steps} steps × {self.n_bands} bands and "
                             f"{self.n_classes} classes: the weights and model.json come from different models")
        self.ensemble = ensemble

    @abstractmethod
    def _fit_ensemble(self, features: np.ndarray, y: np.ndarray,
                      sample_weight: np.ndarray | None) -> TreeEnsemble:
        """Fit the scikit-learn estimator and export its trees."""

    def _fitted(self) -> TreeEnsemble:
        """The fitted ensemble, or an error saying to fit or load one first."""
        if self.ensemble is None:
            raise InputError(f"{type(self).__name__} is not fitted: call fit() or load a trained bundle first")
        return self.ensemble

    def _features(self, values: np.ndarray, mask: np.ndarray, doy: np.ndarray) -> np.ndarray:
        """One float32 row of n_steps × n_bands features per sample, NaN where the step is masked."""
        values, mask, doy = np.asarray(values), np.asarray(mask, dtype=bool), np.asarray(doy)
        if values.ndim != 3 or mask.shape != values.shape[:2] or doy.shape != values.shape[:2]:
            raise InputError(f"inputs must be values [B, T, C], mask [B, T] and doy [B, T]; got "
                             f"{values.shape}, {mask.shape}, {doy.shape}: fix the input adapter")
        if values.shape[1:] != (self.n_steps, self.n_bands):
            raise InputError(f"model was built for {self.n_steps} steps × {self.n_bands} bands but the batch has "
                             f"{values.shape[1]} × {values.shape[2]}: use the adapter settings and bands it was "
                             "trained with")
        features = np.where(mask[..., None], values, np.nan).astype(np.float32)
        return features.reshape(len(features), -1)


@register_model("random_forest")
class RandomForestBaseline(TreeBaseline):
    """Random forest on the flattened bucketed series (Breiman 2001; scikit-learn ``RandomForestClassifier``).

    Source: L. Breiman, "Random Forests", Machine Learning 45, 2001 — the usual crop-mapping baseline
    (the USDA CDL itself is a decision-tree product). Feature importances are impurity decreases.
    """

    averaged = True

    def __init__(self, *, n_bands: int, n_steps: int, n_classes: int, n_estimators: int = 200,
                 max_depth: int | None = None, min_samples_leaf: int = 1, max_features: str | float = "sqrt",
                 n_jobs: int = 1, seed: int = 0) -> None:
        super().__init__(n_bands=n_bands, n_steps=n_steps, n_classes=n_classes)
        self.estimator = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth,
                                                min_samples_leaf=min_samples_leaf, max_features=max_features,
                                                n_jobs=n_jobs, random_state=seed)

    def _fit_ensemble(self, features: np.ndarray, y: np.ndarray,
                      sample_weight: np.ndarray | None) -> TreeEnsemble:
        """Fit the forest and export its trees."""
        return export_random_forest(self.estimator.fit(features, y, sample_weight=sample_weight))


@register_model("gradient_boosting")
class GradientBoostingBaseline(TreeBaseline):
    """Histogram gradient boosting on the flattened bucketed series (scikit-learn, LightGBM-style).

    Source: J. H. Friedman, "Greedy Function Approximation: A Gradient Boosting Machine", Annals of
    Statistics 29, 2001; G. Ke et al., "LightGBM", NeurIPS 2017 (histogram splits, native missing values).
    Feature importances are total split gains. Early stopping is off so a fit is deterministic from ``seed``.
    """

    averaged = False

    def __init__(self, *, n_bands: int, n_steps: int, n_classes: int, max_iter: int = 200,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 31, min_samples_leaf: int = 20,
                 l2_regularization: float = 0.0, seed: int = 0) -> None:
        super().__init__(n_bands=n_bands, n_steps=n_steps, n_classes=n_classes)
        self.estimator = HistGradientBoostingClassifier(
            max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
            min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization, early_stopping=False,
            random_state=seed)

    def _fit_ensemble(self, features: np.ndarray, y: np.ndarray,
                      sample_weight: np.ndarray | None) -> TreeEnsemble:
        """Fit the boosted trees and export them."""
        return export_gradient_boosting(self.estimator.fit(features, y, sample_weight=sample_weight))
