"""Random forest and gradient boosting on the networks' inputs: fit, predict, importances, refused weights.

The contract every registered model shares (masked steps as missing values, seeds, the pickle-free bundle
round trip) is tested in test_registry_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from inseason.errors import InputError
from inseason.models import create_model
from inseason.models.trees import TreeBaseline

ToyBatch = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
CLASSICAL = ("random_forest", "gradient_boosting")
SMALL = {"random_forest": {"n_estimators": 30}, "gradient_boosting": {"max_iter": 30, "min_samples_leaf": 5}}


def fitted(name: str, toy_batch: ToyBatch, *, seed: int = 0) -> TreeBaseline:
    """A baseline fitted on the toy problem (bucketed: 12 steps × 4 bands, 3 classes)."""
    values, mask, doy, y = toy_batch(samples=90)
    return create_model(name, n_bands=4, n_steps=12, n_classes=3, seed=seed, **SMALL[name]).fit(values, mask, doy, y)


@pytest.mark.parametrize("name", CLASSICAL)
def test_separates_the_toy_classes_on_new_samples(name: str, toy_batch: ToyBatch) -> None:
    model = fitted(name, toy_batch)
    values, mask, doy, y = toy_batch(samples=60, seed=1)
    proba = model.predict_proba(values, mask, doy)
    assert proba.shape == (60, 3) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (proba.argmax(axis=1) == y).mean() >= 0.9


@pytest.mark.parametrize("name", CLASSICAL)
def test_feature_importances_point_at_the_informative_steps(name: str, toy_batch: ToyBatch) -> None:
    importances = fitted(name, toy_batch).feature_importances
    assert importances.shape == (12, 4)
    assert importances.sum() == pytest.approx(1.0)
    assert importances[:6, :3].sum() > 0.6


@pytest.mark.parametrize("name", CLASSICAL)
def test_weights_for_other_sizes_are_refused(name: str, toy_batch: ToyBatch) -> None:
    state = fitted(name, toy_batch).state_dict()
    other = create_model(name, n_bands=5, n_steps=12, n_classes=3)
    with pytest.raises(InputError, match="tree weights do not fit 12 steps × 5 bands and 3 classes"):
        other.load_state_dict(state)


def test_classes_absent_from_training_get_zero_probability(toy_batch: ToyBatch) -> None:
    values, mask, doy, y = toy_batch(samples=60)
    model = create_model("gradient_boosting", n_bands=4, n_steps=12, n_classes=5, max_iter=10)
    model.fit(values, mask, doy, np.array([0, 2, 4])[y])
    proba = model.predict_proba(values, mask, doy)
    assert proba.shape == (60, 5) and (proba[:, [1, 3]] == 0).all()


def test_sample_weights_shift_the_decision(toy_batch: ToyBatch) -> None:
    values, mask, doy, y = toy_batch(samples=60)
    noise = np.random.default_rng(0).normal(size=values.shape).astype(np.float32)
    plain = create_model("random_forest", n_bands=4, n_steps=12, n_classes=3, n_estimators=20)
    weighted = create_model("random_forest", n_bands=4, n_steps=12, n_classes=3, n_estimators=20)
    plain.fit(noise, mask, doy, y)
    weighted.fit(noise, mask, doy, y, sample_weight=np.where(y == 1, 50.0, 1.0))
    assert weighted.predict_proba(noise, mask, doy)[:, 1].mean() > plain.predict_proba(noise, mask, doy)[:, 1].mean()


def test_user_mistakes_are_clear_errors(toy_batch: ToyBatch) -> None:
    values, mask, doy, y = toy_batch(samples=30)
    model = create_model("random_forest", n_bands=4, n_steps=12, n_classes=3, n_estimators=5)
    with pytest.raises(InputError, match="RandomForestBaseline is not fitted: call fit"):
        model.predict_proba(values, mask, doy)
    with pytest.raises(InputError, match=r"class indices in 0..2"):
        model.fit(values, mask, doy, y + 1)
    with pytest.raises(InputError, match="fewer than two classes"):
        model.fit(values, mask, doy, np.zeros_like(y))
    with pytest.raises(InputError, match="one class index per sample"):
        model.fit(values, mask, doy, y[:-1])
    with pytest.raises(InputError, match="built for 12 steps × 4 bands but the batch has 12 × 3"):
        model.fit(values[..., :3], mask, doy, y)
