"""The registry: names, options, specs, seeds and the errors a user can cause."""

from __future__ import annotations

import json

import pytest
import torch

from inseason.errors import InputError
from inseason.models import ADAPTERS, create_model, list_models, model_from_spec, model_info, model_spec, register_model


def test_every_architecture_of_the_issue_is_registered() -> None:
    assert list_models() == [
        "arset",
        "arset-slide",
        "ensemble",
        "ensemble-sequence",
        "gradient_boosting",
        "gru",
        "inceptiontime",
        "lstm",
        "ltae",
        "minirocket",
        "random_forest",
        "tempcnn",
        "transformer",
    ]


@pytest.mark.parametrize(
    ("name", "adapter", "neural"),
    [
        ("arset-slide", "bucketed", True),
        ("arset", "bucketed", True),
        ("tempcnn", "bucketed", True),
        ("inceptiontime", "bucketed", True),
        ("minirocket", "bucketed", True),
        ("ltae", "sequence", True),
        ("transformer", "sequence", True),
        ("lstm", "sequence", True),
        ("gru", "sequence", True),
        ("random_forest", "bucketed", False),
        ("gradient_boosting", "bucketed", False),
    ],
)
def test_model_info_names_the_adapter(name: str, adapter: str, neural: bool) -> None:
    info = model_info(name)
    assert (info.adapter, info.neural) == (adapter, neural)
    assert info.summary
    model = create_model(name, n_bands=3, n_steps=12, n_classes=2)
    assert model.adapter == adapter and adapter in ADAPTERS


def test_spec_records_sizes_and_resolved_defaults_as_json() -> None:
    model = create_model("ltae", n_bands=5, n_steps=10, n_classes=4, n_head=8, mlp=[256, 64])
    spec = model_spec(model)
    assert spec["name"] == "ltae" and (spec["n_bands"], spec["n_steps"], spec["n_classes"]) == (5, 10, 4)
    assert spec["n_head"] == 8 and spec["mlp"] == [256, 64] and spec["d_model"] == 256
    assert spec["decoder"] == [64, 32]
    assert json.loads(json.dumps(spec)) == spec
    assert model_spec("ltae") == {
        "name": "ltae",
        **{key: spec[key] for key in spec if key not in ("name", "n_bands", "n_steps", "n_classes", "n_head", "mlp")},
        "n_head": 16,
        "mlp": [256, 128],
    }


def test_model_from_spec_rebuilds_the_same_architecture() -> None:
    spec = model_spec(create_model("transformer", n_bands=4, n_steps=30, n_classes=3, n_layers=1))
    rebuilt = model_from_spec(json.loads(json.dumps(spec)))
    assert model_spec(rebuilt) == spec and len(rebuilt.encoder.layers) == 1


def test_seed_makes_initialisation_reproducible_without_touching_the_global_generator() -> None:
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    first = create_model("tempcnn", n_bands=3, n_steps=12, n_classes=2, seed=7)
    assert torch.equal(torch.rand(1), expected)
    second = create_model("tempcnn", n_bands=3, n_steps=12, n_classes=2, seed=7)
    other = create_model("tempcnn", n_bands=3, n_steps=12, n_classes=2, seed=8)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert not all(torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))


def test_seed_is_a_recorded_hyper_parameter_of_classical_baselines() -> None:
    spec = model_spec(create_model("random_forest", n_bands=2, n_steps=3, n_classes=2, seed=5))
    assert spec["seed"] == 5
    assert model_spec(model_from_spec(spec))["seed"] == 5
    assert model_spec(create_model("random_forest", n_bands=2, n_steps=3, n_classes=2))["seed"] == 0


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(InputError, match=r"unknown model 'resnet': choose one of arset, arset-slide"):
        create_model("resnet", n_bands=12, n_steps=25, n_classes=7)


def test_unknown_option_names_the_option_and_the_valid_ones() -> None:
    with pytest.raises(InputError, match=r"model 'tempcnn' has no option 'heads': its options are dropout"):
        create_model("tempcnn", n_bands=12, n_steps=25, n_classes=7, heads=4)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "12"])
def test_sizes_must_be_positive_integers(size: object) -> None:
    with pytest.raises(InputError, match="n_bands must be a positive integer"):
        create_model("lstm", n_bands=size, n_steps=25, n_classes=7)  # type: ignore[arg-type]


def test_options_must_be_json_values() -> None:
    with pytest.raises(InputError, match="options must be JSON values"):
        create_model("lstm", n_bands=2, n_steps=25, n_classes=7, hidden=object())


def test_incomplete_spec_is_refused() -> None:
    with pytest.raises(InputError, match="model spec lacks n_steps"):
        model_from_spec({"name": "lstm", "n_bands": 2, "n_classes": 3})


def test_too_few_steps_for_a_flattening_network_say_so() -> None:
    with pytest.raises(InputError, match="arset needs at least 10 time steps, not 9"):
        create_model("arset", n_bands=12, n_steps=9, n_classes=7)
    with pytest.raises(InputError, match="arset-slide needs at least 9 time steps, not 8"):
        create_model("arset-slide", n_bands=12, n_steps=8, n_classes=6)


def test_registering_needs_an_adapter_and_a_unique_name() -> None:
    class NoAdapter(torch.nn.Module):
        def __init__(self, *, n_bands: int, n_steps: int, n_classes: int) -> None:
            super().__init__()

    with pytest.raises(ValueError, match="adapter must be one of"):
        register_model("no-adapter")(NoAdapter)
    with pytest.raises(ValueError, match="registered twice"):
        register_model("lstm")(NoAdapter)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("tempcnn", {"filters": -4}, r"option 'filters' \(model.params.filters\) must be a positive integer, not -4"),
        ("tempcnn", {"filters": 0}, r"option 'filters' .* must be a positive integer, not 0"),
        ("tempcnn", {"hidden": 2.5}, r"option 'hidden' .* must be a positive integer, not 2.5"),
        ("tempcnn", {"kernel_size": "5"}, r"option 'kernel_size' .* must be a positive integer, not '5'"),
        ("tempcnn", {"mask_channel": 1}, r"option 'mask_channel' .* must be true or false, not 1"),
        ("tempcnn", {"dropout": 1.0}, r"option 'dropout' .* must be at least 0 and below 1, not 1.0"),
        ("lstm", {"period": -1.0}, r"option 'period' .* must be above 0, not -1.0"),
        ("lstm", {"period": "long"}, r"option 'period' .* must be a number, not 'long'"),
        ("ltae", {"mlp": [256, -1]}, r"option 'mlp' .* must be a list of positive integers, not \[256, -1\]"),
        ("random_forest", {"max_depth": 0}, r"option 'max_depth' .* must be a positive integer or null, not 0"),
        ("random_forest", {"n_jobs": 0}, r"option 'n_jobs' .* must be a positive number of processes or -1"),
        ("gradient_boosting", {"l2_regularization": -0.1}, r"option 'l2_regularization' .* must be 0 or more"),
    ],
)
def test_invalid_option_values_name_the_option(name: str, options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        create_model(name, n_bands=12, n_steps=25, n_classes=7, **options)
    assert "\n" not in str(caught.value)


def test_valid_edge_values_are_accepted() -> None:
    assert create_model("tempcnn", n_bands=3, n_steps=8, n_classes=2, filters=1, dropout=0.0, mask_channel=False)
    assert create_model("random_forest", n_bands=3, n_steps=8, n_classes=2, max_depth=None, n_jobs=-1)


def test_options_that_do_not_fit_together_are_an_input_error() -> None:
    # each option is valid alone; the attention cannot split d_model=64 into 5 heads
    with pytest.raises(InputError, match=r"model 'transformer' cannot be built with options \{'n_head': 5\}"):
        create_model("transformer", n_bands=3, n_steps=8, n_classes=2, n_head=5)
