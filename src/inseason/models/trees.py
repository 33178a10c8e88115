"""Fitted tree ensembles as plain arrays: exported from scikit-learn, evaluated with numpy, stored without pickle.

A :class:`TreeEnsemble` holds every node of every tree in flat arrays (split feature, threshold, side for
missing values, children, leaf outputs). That is all prediction needs, so a model bundle can keep a
random forest or a gradient-boosting model in ``weights.safetensors`` and load it without unpickling.
:class:`TreeBaseline` is the shared fit/predict/persistence of the tree baselines built on it (their
estimators and registration live in :mod:`inseason.models.classical`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inseason.errors import InputError

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

_ROWS_PER_CHUNK = 4096
_ARRAYS = (
    "feature",
    "threshold",
    "missing_left",
    "left",
    "right",
    "value",
    "roots",
    "baseline",
    "classes",
    "importances",
)


@dataclass(frozen=True)
class TreeEnsemble:
    """Flat node arrays of a fitted ensemble, and how its leaf outputs combine into class probabilities.

    ``value`` [nodes, outputs] holds leaf outputs; ``averaged`` ensembles (random forests) average leaf
    class fractions over trees, the others (gradient boosting) add leaf scores to ``baseline`` and apply
    a softmax (or a sigmoid with a single output). ``classes`` maps each probability column to a class
    index of the model; ``importances`` is one value per input feature, summing to 1.
    """

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    baseline: np.ndarray
    classes: np.ndarray
    importances: np.ndarray
    averaged: bool

    def arrays(self) -> dict[str, np.ndarray]:
        """The ensemble as named, contiguous numpy arrays (safetensors-ready).

        Returns:
            Node, class and importance arrays by name.
        """
        return {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], *, averaged: bool) -> TreeEnsemble:
        """Rebuild an ensemble from :meth:`arrays` (e.g. read back from safetensors).

        Args:
            arrays: The arrays by name.
            averaged: Whether leaf outputs are averaged (random forest) or summed (gradient boosting).

        Returns:
            The ensemble.

        Raises:
            InputError: An array is missing.
        """
        missing = [name for name in _ARRAYS if name not in arrays]
        if missing:
            raise InputError(f"tree ensemble weights lack {', '.join(missing)}: the bundle is incomplete")
        return cls(**{name: np.asarray(arrays[name]) for name in _ARRAYS}, averaged=averaged)

    def predict_proba(self, features: np.ndarray, *, n_classes: int) -> np.ndarray:
        """Class probabilities of feature rows.

        Args:
            features: Features [rows, n_features]; NaN is a missing value.
            n_classes: The model's number of classes.

        Returns:
            Float64 [rows, n_classes]; classes absent from training get 0.
        """
        chunks = [
            self._proba(features[start : start + _ROWS_PER_CHUNK]) for start in range(0, len(features), _ROWS_PER_CHUNK)
        ]
        present = np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes)))
        proba = np.zeros((len(features), n_classes))
        proba[:, self.classes] = present
        return proba

    def _proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities over the classes seen in training for one chunk of rows."""
        node = np.broadcast_to(self.roots, (len(features), len(self.roots))).copy()
        rows = np.arange(len(features))[:, None]
        while True:
            x = features[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node].astype(bool), x <= self.threshold[node])
            following = np.where(go_left, self.left[node], self.right[node])
            if np.array_equal(following, node):
                break
            node = following
        total: npt.NDArray[np.float64] = self.value[node].sum(axis=1)
        if self.averaged:
            return total / len(self.roots)
        raw: npt.NDArray[np.float64] = total + self.baseline
        if raw.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        raw = raw - raw.max(axis=1, keepdims=True)
        proba: npt.NDArray[np.float64] = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
        return proba


def export_random_forest(forest: RandomForestClassifier) -> TreeEnsemble:
    """Export a fitted random forest.

    Args:
        forest: The fitted forest; its class labels must be the model's class indices.

    Returns:
        The ensemble, leaf class fractions averaged over trees.
    """
    parts = []
    for estimator in forest.estimators_:
        tree = estimator.tree_
        leaf = tree.children_left < 0
        fractions = tree.value[:, 0, :]
        fractions = fractions / fractions.sum(axis=1, keepdims=True)
        parts.append(
            (
                tree.feature,
                tree.threshold,
                tree.missing_go_to_left,
                tree.children_left,
                tree.children_right,
                leaf,
                fractions * leaf[:, None],
            )
        )
    return _assemble(
        parts,
        baseline=np.zeros(len(forest.classes_)),
        classes=forest.classes_,
        importances=forest.feature_importances_,
        averaged=True,
    )


def export_gradient_boosting(model: HistGradientBoostingClassifier) -> TreeEnsemble:
    """Export a fitted histogram gradient-boosting classifier.

    Args:
        model: The fitted classifier (numerical features only); its class labels must be the model's class
            indices.

    Returns:
        The ensemble, leaf scores summed onto the baseline prediction.

    Raises:
        InputError: The model has categorical splits.
    """
    outputs = np.ravel(model._baseline_prediction).shape[0]
    gains = np.zeros(model.n_features_in_)
    parts = []
    for iteration in model._predictors:
        for column, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            if nodes["is_categorical"].any():
                raise InputError(
                    "gradient boosting with categorical splits cannot be exported: use numerical features only"
                )
            value = np.zeros((len(nodes), outputs))
            value[:, column] = np.where(leaf, nodes["value"], 0.0)
            np.add.at(gains, nodes["feature_idx"][~leaf], nodes["gain"][~leaf])
            parts.append(
                (
                    nodes["feature_idx"],
                    nodes["num_threshold"],
                    nodes["missing_go_to_left"],
                    nodes["left"].astype(np.int64),
                    nodes["right"].astype(np.int64),
                    leaf,
                    value,
                )
            )
    importances = gains / gains.sum() if gains.sum() > 0 else gains
    return _assemble(
        parts,
        baseline=np.ravel(model._baseline_prediction),
        classes=model.classes_,
        importances=importances,
        averaged=False,
    )


def _assemble(
    parts: Sequence[tuple[np.ndarray, ...]],
    *,
    baseline: np.ndarray,
    classes: np.ndarray,
    importances: np.ndarray,
    averaged: bool,
) -> TreeEnsemble:
    """Concatenate per-tree node arrays, offsetting child indices; leaves point to themselves."""
    columns: dict[str, list[np.ndarray]] = {
        name: [] for name in ("feature", "threshold", "missing_left", "left", "right", "value")
    }
    roots, offset = [], 0
    for feature, threshold, missing_left, left, right, leaf, value in parts:
        here = np.arange(len(leaf)) + offset
        columns["feature"].append(np.where(leaf, 0, feature).astype(np.int64))
        columns["threshold"].append(np.where(leaf, 0.0, threshold).astype(np.float64))
        columns["missing_left"].append(np.asarray(missing_left, dtype=np.uint8))
        columns["left"].append(np.where(leaf, here, np.asarray(left, dtype=np.int64) + offset))
        columns["right"].append(np.where(leaf, here, np.asarray(right, dtype=np.int64) + offset))
        columns["value"].append(np.asarray(value, dtype=np.float64))
        roots.append(offset)
        offset += len(leaf)
    return TreeEnsemble(
        **{name: np.concatenate(arrays) for name, arrays in columns.items()},
        roots=np.asarray(roots, dtype=np.int64),
        baseline=np.asarray(baseline, dtype=np.float64),
        classes=np.asarray(classes, dtype=np.int64),
        importances=np.asarray(importances, dtype=np.float64),
        averaged=averaged,
    )


class TreeBaseline(ABC):
    """Shared fit/predict/persistence of the tree-ensemble baselines; subclasses choose the estimator."""

    adapter = "bucketed"
    averaged: bool

    def __init__(self, *, n_bands: int, n_steps: int, n_classes: int) -> None:
        self.n_bands, self.n_steps, self.n_classes = n_bands, n_steps, n_classes
        self.ensemble: TreeEnsemble | None = None

    def fit(
        self,
        values: np.ndarray,
        mask: np.ndarray,
        doy: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None = None,
    ) -> TreeBaseline:
        """Fit the trees on a batch of the networks' inputs; masked steps are missing values.

        Args:
            values: Inputs [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T] (not a feature: a bucket is a fixed calendar step).
            y: Class indices [B].
            sample_weight: Weight of each sample [B] (e.g. for class balance).

        Returns:
            self, fitted.

        Raises:
            InputError: The inputs do not fit the model's sizes, or the labels are not class indices of at
                least two classes.
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
        """Class probabilities of a batch of the networks' inputs.

        Args:
            values: Inputs [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T].

        Returns:
            Float32 [B, n_classes]; classes absent from training get probability 0.

        Raises:
            InputError: The model is not fitted, or the inputs do not fit its sizes.
        """
        ensemble = self._fitted()
        features = self._features(values, mask, doy)
        return ensemble.predict_proba(features, n_classes=self.n_classes).astype(np.float32)

    @property
    def node_count(self) -> int:
        """Number of tree nodes of the fitted ensemble, the size of a tree baseline."""
        return int(self._fitted().feature.size)

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
            raise InputError(
                f"tree weights do not fit {self.n_steps} steps × {self.n_bands} bands and "
                f"{self.n_classes} classes: the weights and model.json come from different models"
            )
        self.ensemble = ensemble

    @abstractmethod
    def _fit_ensemble(self, features: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> TreeEnsemble:
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
            raise InputError(
                f"inputs must be values [B, T, C], mask [B, T] and doy [B, T]; got "
                f"{values.shape}, {mask.shape}, {doy.shape}: fix the input adapter"
            )
        if values.shape[1:] != (self.n_steps, self.n_bands):
            raise InputError(
                f"model was built for {self.n_steps} steps × {self.n_bands} bands but the batch has "
                f"{values.shape[1]} × {values.shape[2]}: use the adapter settings and bands it was "
                "trained with"
            )
        features = np.where(mask[..., None], values, np.nan).astype(np.float32)
        return features.reshape(len(features), -1)
