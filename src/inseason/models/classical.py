"""Classical baselines on the same bucketed inputs: random forest and gradient boosting (scikit-learn).

They take the networks' ``(values, mask, doy)`` as numpy arrays, flatten each series to one row of
``n_steps × n_bands`` features with masked steps as NaN (both estimators route missing values natively),
and keep the fitted trees as plain arrays (:mod:`inseason.models.trees`), so prediction, feature
importances and persistence (``state_dict``/``load_state_dict``, safetensors-ready) never need pickle.
With the bucketed adapter a step is a fixed calendar bucket, so ``doy`` adds nothing and is not a feature.
"""

from __future__ import annotations

import numpy as np

from inseason.models.registry import register_model
from inseason.models.trees import TreeBaseline, TreeEnsemble, export_gradient_boosting, export_random_forest


@register_model("random_forest")
class RandomForestBaseline(TreeBaseline):
    """Random forest on the flattened bucketed series (Breiman 2001; scikit-learn ``RandomForestClassifier``).

    Source: L. Breiman, "Random Forests", Machine Learning 45, 2001 — the usual crop-mapping baseline
    (the USDA CDL itself is a decision-tree product). Feature importances are impurity decreases.
    """

    averaged = True

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        n_estimators: int = 200,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | float = "sqrt",
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__(n_bands=n_bands, n_steps=n_steps, n_classes=n_classes)
        from sklearn.ensemble import RandomForestClassifier  # here: a map worker of a network never needs it

        self.estimator = RandomForestClassifier(
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            n_jobs=n_jobs,
            random_state=seed,
        )

    def _fit_ensemble(self, features: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> TreeEnsemble:
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

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(n_bands=n_bands, n_steps=n_steps, n_classes=n_classes)
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.estimator = HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=learning_rate,
            max_leaf_nodes=max_leaf_nodes,
            min_samples_leaf=min_samples_leaf,
            l2_regularization=l2_regularization,
            early_stopping=False,
            random_state=seed,
        )

    def _fit_ensemble(self, features: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> TreeEnsemble:
        """Fit the boosted trees and export them."""
        return export_gradient_boosting(self.estimator.fit(features, y, sample_weight=sample_weight))
