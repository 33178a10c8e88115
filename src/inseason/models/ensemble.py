"""Ensembles: several registry networks (seeds or architectures) averaged, saved and loaded as one model.

Averaging independently trained networks is how the time-series classification benchmarks are won
(HIVE-COTE, the InceptionTime paper's five-network ensemble, Ismail Fawaz et al. 2020). An ensemble here is
one registry model: its spec names the members, their options and seeds, and its state dict holds every
member's weights (``members.<i>.…``), so the bundle stays one ``model.json`` and one ``weights.safetensors``.

Its ``forward`` returns the log of the members' averaged class probabilities (so ``softmax`` of it is that
average), in training and evaluation mode alike. Training must not fit that average — members would
co-adapt instead of erring independently — so :meth:`Ensemble.forward_members` also hands over each member's
own logits, and the training module (`inseason.train.module.CropTypeModule`) sums the members' own losses
whenever a network has that method.

The registry records one input adapter per model name, and a bucketed and a sequence network cannot take the
same tensors, so there are two names: ``ensemble`` (bucketed members, three TempCNNs by default) and
``ensemble-sequence`` (sequence members, three L-TAEs by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from inseason.errors import InputError
from inseason.models.registry import create_model, list_models, model_info, register_model


@register_model("ensemble")
class Ensemble(nn.Module):
    """Bucketed networks (three seeded TempCNNs by default) whose class probabilities are averaged.

    Options: ``members``, registry names of networks for the bucketed adapter (repeat a name for several
    seeds of it, mix names for several architectures); ``member_params``, one options object for every
    member or a list of one per member (null: each member's defaults); ``seeds``, one initialisation seed per
    member (null: drawn from the model's own seed, so distinct members start apart and the same seed gives
    the same ensemble).
    """

    adapter = "bucketed"
    #: Options the registry's generic check (judged by the default) cannot judge: checked here.
    checks_own_options: ClassVar[frozenset[str]] = frozenset({"members", "member_params", "seeds"})

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        members: list[str] = ["tempcnn", "tempcnn", "tempcnn"],  # noqa: B006 (the registry reads a JSON default)
        member_params: dict[str, Any] | list[dict[str, Any]] | None = None,
        seeds: list[int] | None = None,
    ) -> None:
        super().__init__()
        kind = self.registered_name()
        names = _member_names(kind, members, adapter=self.adapter)
        params = _member_params(kind, member_params, len(names))
        member_seeds = _member_seeds(kind, seeds, len(names))
        built = []
        for i, (name, options, seed) in enumerate(zip(names, params, member_seeds, strict=True)):
            try:
                member = create_model(name, n_bands=n_bands, n_steps=n_steps, n_classes=n_classes, seed=seed, **options)
            except InputError as exc:
                raise InputError(f"model {kind!r}: member {i} ({name}): {exc}") from None
            assert isinstance(member, nn.Module)  # _member_names admits networks only
            built.append(member)
        self.members = nn.ModuleList(built)

    @classmethod
    def registered_name(cls) -> str:
        """The registry name of this ensemble kind.

        Returns:
            ``"ensemble"`` or ``"ensemble-sequence"``.
        """
        return "ensemble" if cls.adapter == "bucketed" else "ensemble-sequence"

    def forward_members(
        self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ensemble's output and each member's own logits, for training each member on its own loss.

        Args:
            values: Inputs float32 [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T].

        Returns:
            ``(log_mean_probabilities [B, K], member_logits [M, B, K])``.
        """
        logits = torch.stack([member(values, mask, doy) for member in self.members])
        return average_log_probabilities(logits), logits

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Log of the members' averaged class probabilities [B, K] (``softmax`` of it is that average)."""
        return self.forward_members(values, mask, doy)[0]


@register_model("ensemble-sequence")
class SequenceEnsemble(Ensemble):
    """Sequence networks (three seeded L-TAEs by default) whose class probabilities are averaged.

    The same as ``ensemble`` (see there) for members that take the sequence adapter's observations.
    """

    adapter = "sequence"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        members: list[str] = ["ltae", "ltae", "ltae"],  # noqa: B006 (the registry reads a JSON default)
        member_params: dict[str, Any] | list[dict[str, Any]] | None = None,
        seeds: list[int] | None = None,
    ) -> None:
        super().__init__(
            n_bands=n_bands,
            n_steps=n_steps,
            n_classes=n_classes,
            members=members,
            member_params=member_params,
            seeds=seeds,
        )


def average_log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """The log of the average of the members' class probabilities, computed stably in log space.

    Args:
        logits: Member logits [M, B, K].

    Returns:
        ``log(mean_m softmax(logits[m]))`` [B, K].
    """
    return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - math.log(logits.shape[0])


def _member_names(kind: str, members: Any, *, adapter: str) -> list[str]:
    """Check the member names: a non-empty list of registered networks that all take ``adapter``.

    Raises:
        InputError: not a list of names, an unknown name, a tree baseline or an ensemble as a member, or
            members of another or of mixed input adapters.
    """
    where = f"model {kind!r}: option 'members' (model.params.members)"
    if not isinstance(members, Sequence) or isinstance(members, str) or not members:
        raise InputError(f"{where} must be a non-empty list of model names, not {members!r}")
    known = list_models()
    for name in members:
        if not isinstance(name, str) or name not in known:
            raise InputError(f"{where}: {name!r} is not a registered model: choose from {', '.join(known)}")
        if name.startswith("ensemble"):
            raise InputError(f"{where}: an ensemble cannot be a member of an ensemble; list its members instead")
        if not model_info(name).neural:
            raise InputError(f"{where}: {name!r} is a tree baseline; members must be neural networks")
    adapters = {name: model_info(name).adapter for name in members}
    if len(set(adapters.values())) > 1:
        described = ", ".join(f"{name} is {value}" for name, value in adapters.items())
        raise InputError(
            f"{where}: members must take one input adapter, but {described}: "
            "choose members of one adapter (bucketed: 'ensemble', sequence: 'ensemble-sequence')"
        )
    other = next(iter(adapters.values()))
    if other != adapter:
        sibling = "ensemble" if other == "bucketed" else "ensemble-sequence"
        raise InputError(
            f"{where}: {kind!r} takes {adapter} members but {', '.join(adapters)} take the {other} adapter: "
            f"use model {sibling!r}"
        )
    return list(members)


def _member_params(kind: str, member_params: Any, count: int) -> list[dict[str, Any]]:
    """One options object per member from null, one object for all, or a list of one per member.

    Raises:
        InputError: neither an object nor a list of ``count`` objects.
    """
    if member_params is None:
        return [{} for _ in range(count)]
    if isinstance(member_params, Mapping):
        return [dict(member_params) for _ in range(count)]
    if (
        isinstance(member_params, Sequence)
        and not isinstance(member_params, str)
        and len(member_params) == count
        and all(isinstance(options, Mapping) for options in member_params)
    ):
        return [dict(options) for options in member_params]
    raise InputError(
        f"model {kind!r}: option 'member_params' (model.params.member_params) must be one options object for "
        f"every member or a list of {count} objects, one per member, not {member_params!r}"
    )


def _member_seeds(kind: str, seeds: Any, count: int) -> list[int]:
    """One seed per member: as given, or drawn from torch's generator (which `create_model` seeds).

    Raises:
        InputError: not a list of ``count`` integers of 0 or more.
    """
    if seeds is None:
        return [int(seed) for seed in torch.randint(0, 2**31 - 1, (count,))]
    if (
        not isinstance(seeds, Sequence)
        or isinstance(seeds, str)
        or len(seeds) != count
        or not all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in seeds)
    ):
        raise InputError(
            f"model {kind!r}: option 'seeds' (model.params.seeds) must be a list of {count} integers of 0 or "
            f"more, one per member, or null, not {seeds!r}"
        )
    return list(seeds)
