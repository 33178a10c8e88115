"""The ensemble kinds: members built through the registry, averaged probabilities, independent training.

The contract every registered model shares (outputs, masks, as-of inputs, size, bundle round trip, seeds,
bands) covers ``ensemble`` and ``ensemble-sequence`` in test_registry_contract.py; this file tests what is
particular to them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
from torch import nn

from inseason.errors import InputError
from inseason.models import create_model, model_from_spec, model_info, model_spec, parameter_count
from inseason.models.ensemble import Ensemble, average_log_probabilities
from tests.train.helpers import module_for

ToyTensors = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
SMALL = {"filters": 8, "hidden": 16}


def tempcnn_parameters(bands: int, steps: int, classes: int) -> int:
    """TempCNN with its defaults (64 filters of 5, Dense(256)) and the mask channel, as pinned for tempcnn."""
    convs = (bands + 1) * 5 * 64 + 64 + 2 * (64 * 5 * 64 + 64)
    return convs + 3 * 2 * 64 + (64 * steps * 256 + 256) + 2 * 256 + (256 * classes + classes)


def test_parameter_count_of_the_default_ensemble_is_pinned() -> None:
    """Three default TempCNNs on 25 steps × 12 bands, 7 classes: three times tempcnn's pinned 457 863."""
    model = create_model("ensemble", n_bands=12, n_steps=25, n_classes=7, seed=0)
    assert tempcnn_parameters(12, 25, 7) == 457_863
    assert parameter_count(model) == 3 * 457_863 == 1_373_589
    assert model_spec(model)["members"] == ["tempcnn", "tempcnn", "tempcnn"]


def test_the_two_kinds_take_one_adapter_each() -> None:
    assert (model_info("ensemble").adapter, model_info("ensemble-sequence").adapter) == ("bucketed", "sequence")
    assert model_info("ensemble-sequence").defaults["members"] == ["ltae", "ltae", "ltae"]
    assert model_info("ensemble").neural and model_info("ensemble-sequence").neural


def test_eval_output_is_the_log_of_the_averaged_member_probabilities(toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=5)
    model = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seed=1, member_params=SMALL).eval()
    assert isinstance(model, Ensemble)
    with torch.no_grad():
        output = model(values, mask, doy)
        probabilities = torch.stack([member(values, mask, doy).softmax(dim=1) for member in model.members])
    torch.testing.assert_close(output.exp(), probabilities.mean(dim=0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(output.softmax(dim=1), probabilities.mean(dim=0), rtol=1e-5, atol=1e-6)
    # the members disagree (distinct initialisations), so the average is none of them
    assert not torch.allclose(probabilities[0], probabilities[1], atol=1e-3)


def test_average_log_probabilities_is_stable_for_extreme_logits() -> None:
    logits = torch.tensor([[[1000.0, 0.0]], [[0.0, 1000.0]]])  # two members, one sample, two classes, each sure
    torch.testing.assert_close(average_log_probabilities(logits).exp(), torch.tensor([[0.5, 0.5]]))


def test_members_are_the_registry_networks_with_their_seeds() -> None:
    model = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seeds=[5, 6, 5], member_params=SMALL)
    assert isinstance(model, Ensemble)
    alone = create_model("tempcnn", n_bands=4, n_steps=12, n_classes=3, seed=6, **SMALL)
    assert model_spec(model.members[1]) == model_spec(alone)
    for (key, mine), theirs in zip(model.members[1].state_dict().items(), alone.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs), key
    assert torch.equal(model.members[0].head[-1].weight, model.members[2].head[-1].weight)  # same seed, same start
    assert not torch.equal(model.members[0].head[-1].weight, model.members[1].head[-1].weight)


def test_without_seeds_members_start_apart_and_follow_the_model_seed() -> None:
    first = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seed=3, member_params=SMALL)
    again = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seed=3, member_params=SMALL)
    other = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seed=4, member_params=SMALL)
    assert isinstance(first, Ensemble) and isinstance(again, Ensemble) and isinstance(other, Ensemble)
    heads = [member.head[-1].weight for member in first.members]
    assert not torch.equal(heads[0], heads[1]) and not torch.equal(heads[1], heads[2])
    assert torch.equal(first.members[2].head[-1].weight, again.members[2].head[-1].weight)
    assert not torch.equal(first.members[0].head[-1].weight, other.members[0].head[-1].weight)


def test_mixed_architectures_and_per_member_options_round_trip_through_the_spec() -> None:
    model = create_model(
        "ensemble",
        n_bands=4,
        n_steps=12,
        n_classes=3,
        members=["tempcnn", "arset"],
        member_params=[{"filters": 8, "hidden": 16}, {}],
        seeds=[0, 1],
    )
    assert isinstance(model, Ensemble)
    assert [model_spec(member)["name"] for member in model.members] == ["tempcnn", "arset"]
    assert model_spec(model.members[0])["filters"] == 8
    spec = model_spec(model)
    rebuilt = model_from_spec(json.loads(json.dumps(spec)))
    assert model_spec(rebuilt) == spec and parameter_count(rebuilt) == parameter_count(model)
    assert set(rebuilt.state_dict()) == set(model.state_dict())
    assert parameter_count(model) == sum(parameter_count(member) for member in model.members)


def test_a_sequence_ensemble_takes_sequence_members(toy_tensors: ToyTensors) -> None:
    values, mask, doy, _ = toy_tensors(samples=3, steps=7)
    model = create_model(
        "ensemble-sequence",
        n_bands=4,
        n_steps=12,
        n_classes=3,
        seed=0,
        members=["ltae", "transformer"],
        member_params=[{"d_model": 32, "n_head": 4, "d_k": 4, "mlp": [32, 32]}, {"d_model": 16, "n_layers": 1}],
    ).eval()
    assert model(values, mask, doy).shape == (3, 3)  # shorter sequences, as its members take


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("ensemble", {"members": ["tempcnn", "ltae"]}, r"members must take one input adapter, but tempcnn is "),
        ("ensemble", {"members": ["ltae", "ltae"]}, r"takes bucketed members .* use model 'ensemble-sequence'"),
        ("ensemble-sequence", {"members": ["tempcnn"]}, r"takes sequence members .* use model 'ensemble'"),
        ("ensemble", {"members": ["random_forest"]}, r"'random_forest' is a tree baseline"),
        ("ensemble", {"members": ["ensemble"]}, r"an ensemble cannot be a member"),
        ("ensemble", {"members": ["tempcn"]}, r"'tempcn' is not a registered model"),
        ("ensemble", {"members": []}, r"must be a non-empty list of model names"),
        ("ensemble", {"members": "tempcnn"}, r"must be a non-empty list of model names"),
        ("ensemble", {"seeds": [1, 2]}, r"'seeds' .* must be a list of 3 integers of 0 or more"),
        ("ensemble", {"seeds": [1, 2, -1]}, r"'seeds' .* must be a list of 3 integers of 0 or more"),
        ("ensemble", {"member_params": [{}]}, r"'member_params' .* a list of 3 objects, one per member"),
        ("ensemble", {"member_params": {"filters": 0}}, r"member 0 \(tempcnn\): .*'filters'"),
        ("ensemble", {"member_params": {"width": 3}}, r"member 0 \(tempcnn\): model 'tempcnn' has no option 'width'"),
    ],
)
def test_bad_members_are_refused_in_one_line(kind: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        create_model(kind, n_bands=4, n_steps=12, n_classes=3, **options)
    assert "\n" not in str(caught.value)
    assert f"model {kind!r}" in str(caught.value)


def test_training_gives_each_member_the_gradient_of_its_own_loss(toy_tensors: ToyTensors) -> None:
    """Not the gradient of the averaged output's loss, which would make the members co-adapt."""
    values, mask, doy, y = toy_tensors(samples=16)
    options = {**SMALL, "dropout": 0.0}  # (BatchNorm uses the batch's statistics in training mode: deterministic)
    model = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seeds=[0, 1, 2], member_params=options)
    assert isinstance(model, Ensemble)
    model.train()
    module_for(model).training_step((values, mask, doy, y), 0).backward()
    own = []
    for i, member in enumerate(model.members):
        alone = create_model("tempcnn", n_bands=4, n_steps=12, n_classes=3, seed=i, **options).train()
        nn.functional.cross_entropy(alone(values, mask, doy), y).backward()
        for (name, mine), theirs in zip(member.named_parameters(), alone.parameters(), strict=True):
            assert mine.grad is not None and theirs.grad is not None
            torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-4, atol=1e-7, msg=name)
        own.append(alone.head[-1].weight.grad)
    model.zero_grad()
    nn.functional.cross_entropy(model(values, mask, doy), y).backward()  # the averaged output's loss: avoided
    averaged = model.members[0].head[-1].weight.grad
    assert averaged is not None and not torch.allclose(averaged, own[0], atol=1e-4)


def test_the_logged_training_loss_is_the_ensemble_output_s(toy_tensors: ToyTensors) -> None:
    values, mask, doy, y = toy_tensors(samples=16)
    model = create_model("ensemble", n_bands=4, n_steps=12, n_classes=3, seed=0, member_params=SMALL).eval()
    module = module_for(model)  # eval mode: no dropout, BatchNorm running statistics, so both passes agree
    loss = module.training_step((values, mask, doy, y), 0)
    with torch.no_grad():
        members = torch.stack([member(values, mask, doy) for member in model.members])
        own = sum(nn.functional.cross_entropy(logits, y) for logits in members)
        ensemble = nn.functional.cross_entropy(model(values, mask, doy), y)
    torch.testing.assert_close(loss.detach(), torch.as_tensor(own))
    torch.testing.assert_close(module.train_loss.compute(), ensemble)


def test_an_ensemble_of_other_architectures_learns_the_toy_problem(toy_tensors: ToyTensors) -> None:
    """TempCNN, InceptionTime and MiniRocket averaged, each trained on its own loss through the module's hook."""
    values, mask, doy, y = toy_tensors(samples=48)
    model = create_model(
        "ensemble",
        n_bands=4,
        n_steps=12,
        n_classes=3,
        seed=0,
        members=["tempcnn", "inceptiontime", "minirocket"],
        member_params=[SMALL, {"filters": 8, "bottleneck": 8, "kernel_size": 10, "depth": 3}, {"features": 840}],
    )
    assert isinstance(model, Ensemble)
    module = module_for(model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for step in range(25):
        optimizer.zero_grad()
        loss = module.training_step((values, mask, doy, y), step)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        members = [(member(values, mask, doy).argmax(dim=1) == y).float().mean().item() for member in model.members]
        accuracy = (model(values, mask, doy).argmax(dim=1) == y).float().mean().item()
    assert min(members) >= 0.8 and accuracy >= 0.9
