"""Tree ensembles exported to arrays predict exactly what scikit-learn predicts, missing values included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from inseason.errors import InputError
from inseason.models.trees import TreeEnsemble, export_gradient_boosting, export_random_forest


def data(classes: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train features with some NaN, labels, and test features with NaN in other places."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(300, 6))
    labels = (features[:, 0] > 0).astype(int) + (classes > 2) * (features[:, 1] > 0.5).astype(int)
    features[rng.random(features.shape) < 0.1] = np.nan
    test = rng.normal(size=(500, 6))
    test[rng.random(test.shape) < 0.3] = np.nan
    return features, labels, test


@pytest.mark.parametrize("classes", [2, 3])
def test_random_forest_export_matches_scikit_learn(classes: int) -> None:
    features, labels, test = data(classes)
    forest = RandomForestClassifier(n_estimators=15, random_state=0).fit(features, labels)
    ensemble = export_random_forest(forest)
    assert np.allclose(ensemble.predict_proba(test, n_classes=classes), forest.predict_proba(test), atol=1e-12)
    assert np.allclose(ensemble.importances, forest.feature_importances_)


@pytest.mark.parametrize("classes", [2, 3])
def test_gradient_boosting_export_matches_scikit_learn(classes: int) -> None:
    features, labels, test = data(classes)
    model = HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0)
    model.fit(features, labels)
    ensemble = export_gradient_boosting(model)
    assert np.allclose(ensemble.predict_proba(test, n_classes=classes), model.predict_proba(test), atol=1e-9)
    assert ensemble.importances.sum() == pytest.approx(1.0)
    assert ensemble.importances[[0, 1]].sum() > 0.8


def test_columns_follow_the_classes_seen_in_training() -> None:
    features, labels, test = data(2)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, labels * 2)
    proba = export_random_forest(forest).predict_proba(test, n_classes=4)
    assert proba.shape == (500, 4)
    assert (proba[:, [1, 3]] == 0).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert np.allclose(proba[:, [0, 2]], forest.predict_proba(test))


def test_arrays_round_trip() -> None:
    features, labels, test = data(3)
    model = HistGradientBoostingClassifier(max_iter=5, early_stopping=False).fit(features, labels)
    ensemble = export_gradient_boosting(model)
    restored = TreeEnsemble.from_arrays(ensemble.arrays(), averaged=False)
    assert np.array_equal(restored.predict_proba(test, n_classes=3), ensemble.predict_proba(test, n_classes=3))
    with pytest.raises(InputError, match="tree ensemble weights lack roots"):
        TreeEnsemble.from_arrays({k: v for k, v in ensemble.arrays().items() if k != "roots"}, averaged=False)
