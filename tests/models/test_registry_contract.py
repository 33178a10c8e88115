"""Every registered model against the shared contract: registering a model is all it takes to be tested here.

Networks and tree baselines alike: one output row of K per sample, masked steps that change nothing, inputs
cut at an as-of day, the size the registry reports, and a round trip through the model bundle
(``weights.safetensors`` + ``model.json``). A tree baseline has no output before a fit, so it is fitted on the
toy problem first; its outputs are class probabilities where a network's are logits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from inseason.data import AdapterConfig, FeatureConfig, InputSpec, Normalization
from inseason.errors import InputError
from inseason.models import Model, create_model, list_models, model_info, model_spec, parameter_count
from inseason.season import DEFAULT_START
from inseason.train.bundle import WEIGHTS, LabelClass, load_bundle, write_bundle

ToyBatch = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

MODELS = list_models()
NETWORKS = [name for name in MODELS if model_info(name).neural]
BANDS, STEPS, CLASSES = 4, 12, 3  # the toy batch: bucket t sits on day 5 t + 2, so days 2 to 57
#: Options that only make a model quicker to fit here; a model not named is tested with its defaults.
QUICK: dict[str, dict[str, int]] = {
    "random_forest": {"n_estimators": 10},
    "gradient_boosting": {"max_iter": 10, "min_samples_leaf": 5},
}


def ready(name: str, toy_batch: ToyBatch, *, seed: int = 0) -> Model:
    """A model of ``name`` for the toy inputs, ready to predict: a network in eval mode, a tree baseline fitted."""
    model = create_model(name, n_bands=BANDS, n_steps=STEPS, n_classes=CLASSES, seed=seed, **QUICK.get(name, {}))
    if isinstance(model, torch.nn.Module):
        return model.eval()
    values, mask, doy, y = toy_batch(samples=60, steps=STEPS, bands=BANDS, classes=CLASSES)
    return model.fit(values, mask, doy, y)


def outputs(model: Model, values: np.ndarray, mask: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Per-sample outputs [B, K]: a network's logits, a tree baseline's class probabilities."""
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(torch.from_numpy(values), torch.from_numpy(mask), torch.from_numpy(doy)).numpy()
    return model.predict_proba(values, mask, doy)


def weights(model: Model) -> dict[str, np.ndarray]:
    """The model's weights by name, as numpy (what the bundle stores)."""
    return {name: np.asarray(array) for name, array in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_outputs_one_row_of_k_per_sample(name: str, toy_batch: ToyBatch) -> None:
    values, mask, doy, _ = toy_batch(samples=5)
    out = outputs(ready(name, toy_batch), values, mask, doy)
    assert out.shape == (5, CLASSES) and out.dtype == np.float32
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_masked_steps_do_not_change_the_output(name: str, toy_batch: ToyBatch) -> None:
    model = ready(name, toy_batch)
    values, mask, doy, _ = toy_batch(samples=6, seed=2)
    reference = outputs(model, values, mask, doy)
    garbage = values.copy()
    garbage[~mask] = np.random.default_rng(0).normal(0.0, 100.0, (int((~mask).sum()), BANDS))
    elsewhere = np.where(mask, doy, 999)
    np.testing.assert_allclose(outputs(model, garbage, mask, elsewhere), reference, rtol=0, atol=1e-5)
    observed = values.copy()
    observed[mask] += 1.0
    assert not np.allclose(outputs(model, observed, mask, doy), reference, atol=1e-3)  # the observed steps count


@pytest.mark.parametrize("as_of", [0, 20, 40])
@pytest.mark.parametrize("name", MODELS)
def test_inputs_cut_at_an_as_of_day(name: str, as_of: int, toy_batch: ToyBatch) -> None:
    """As of day 0 nothing is observed yet; later days leave the season's later observations masked off."""
    model = ready(name, toy_batch)
    values, mask, doy, _ = toy_batch(samples=6, seed=3)
    seen = mask & (doy <= as_of)
    cut = outputs(model, np.where(seen[..., None], values, np.nan).astype(np.float32), seen, np.where(seen, doy, 0))
    assert cut.shape == (6, CLASSES) and np.isfinite(cut).all()
    later = mask & ~seen
    assert later.any()  # the rest of the season is in the tensors, masked off
    np.testing.assert_allclose(outputs(model, values, seen, doy), cut, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_is_what_the_weights_hold(name: str, toy_batch: ToyBatch) -> None:
    model = ready(name, toy_batch)
    count = parameter_count(model)
    assert count > 0
    if isinstance(model, torch.nn.Module):
        stored = weights(model)
        assert count == sum(stored[key].size for key, _ in model.named_parameters())
    else:  # a tree baseline's size is its nodes: one entry per node in every node array
        nodes = weights(model)
        assert all(nodes[key].shape[0] == count for key in ("feature", "threshold", "left", "right", "value"))


@pytest.mark.parametrize("name", MODELS)
def test_a_bundle_round_trip_gives_identical_outputs(name: str, toy_batch: ToyBatch, tmp_path: Path) -> None:
    model = ready(name, toy_batch)
    adapter = (
        AdapterConfig(kind="bucketed", window_days=5 * STEPS - 1, bucket_days=5)
        if model_info(name).adapter == "bucketed"
        else AdapterConfig(kind="sequence", max_obs=STEPS)
    )
    assert adapter.n_steps == STEPS
    write_bundle(
        tmp_path,
        network=model,
        model_spec=model_spec(model),
        spec=InputSpec(
            adapter=adapter,
            features=FeatureConfig(),
            normalization=Normalization(mean=np.zeros(BANDS, np.float32), std=np.ones(BANDS, np.float32)),
        ),
        bands=["B02", "B03", "B04", "B08"],
        classes=[LabelClass(name=f"class {k}", codes=(k + 1,), color=(k, k, k)) for k in range(CLASSES)],
        prior=np.full(CLASSES, 1 / CLASSES, np.float32),
        season_start=DEFAULT_START,
        fingerprint="toy",
        metrics={},
        config={},
    )
    rebuilt = load_bundle(tmp_path).network
    assert type(rebuilt) is type(model) and model_spec(rebuilt) == model_spec(model)
    assert parameter_count(rebuilt) == parameter_count(model)
    values, mask, doy, _ = toy_batch(samples=7, seed=4)
    assert np.array_equal(outputs(rebuilt, values, mask, doy), outputs(model, values, mask, doy))
    if isinstance(model, torch.nn.Module):
        assert set(load_file(tmp_path / WEIGHTS)) == set(model.state_dict())
    else:
        assert np.array_equal(rebuilt.feature_importances, model.feature_importances)


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_weights_and_outputs(name: str, toy_batch: ToyBatch) -> None:
    first, second = ready(name, toy_batch, seed=3), ready(name, toy_batch, seed=3)
    first_weights, second_weights = weights(first), weights(second)
    assert first_weights.keys() == second_weights.keys()
    for key, array in first_weights.items():
        assert np.array_equal(array, second_weights[key]), key
    values, mask, doy, _ = toy_batch(samples=4)
    assert np.array_equal(outputs(first, values, mask, doy), outputs(second, values, mask, doy))


@pytest.mark.parametrize("name", MODELS)
def test_a_batch_with_other_bands_is_refused(name: str, toy_batch: ToyBatch) -> None:
    model = ready(name, toy_batch)
    values, mask, doy, _ = toy_batch(samples=2, bands=BANDS + 1)
    with pytest.raises(InputError, match=rf"model was built for .*{BANDS} bands but the batch has"):
        outputs(model, values, mask, doy)


@pytest.mark.parametrize("name", NETWORKS)
def test_a_sample_without_observations_gets_finite_logits_and_gradients(name: str, toy_batch: ToyBatch) -> None:
    """Trees have no gradients; their finite output for an empty sample is the as-of day 0 case above."""
    values, mask, doy, _ = toy_batch(samples=3)
    mask[1], doy[1] = False, 0
    model = create_model(name, n_bands=BANDS, n_steps=STEPS, n_classes=CLASSES, seed=0)
    assert isinstance(model, torch.nn.Module)
    logits = model(torch.from_numpy(values), torch.from_numpy(mask), torch.from_numpy(doy))
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
