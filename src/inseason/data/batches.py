"""One batch of model inputs from a set of rows: adapter gather, augmentations, channels, normalisation.

Everything is vectorised over the batch. The same function serves training (with a seeded generator and
augmentations) and evaluation/prediction (fixed as-of day, no randomness), so both see identical inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from inseason.config import StrictModel
from inseason.data.adapters import AdapterConfig, gather_bucketed, gather_sequence
from inseason.data.features import FeatureConfig, compute_features
from inseason.data.normalize import Normalization
from inseason.data.store import SeriesStore
from inseason.data.windows import WindowRule, relabelled

#: Day of season standing for "the whole season" (later than any observation).
SEASON_END = 399
#: Default share of training examples that see the whole season (see docs/defaults.md for the measurement).
WHOLE_SEASON = 0.0
#: Default distribution of the cut days of the other examples.
AS_OF_BIAS: Literal["uniform", "late"] = "uniform"


class AugmentConfig(StrictModel):
    """Training-time augmentations (evaluation never applies them)."""

    as_of: bool = Field(True, description="random as-of truncation: each sample sees its season up to a random day")
    min_as_of: int = Field(60, ge=0, le=SEASON_END, description="earliest random as-of day of season")
    whole_season: float = Field(
        WHOLE_SEASON,
        ge=0.0,
        le=1.0,
        description="share of training examples that see the whole season (not truncated; the others are cut)",
    )
    as_of_bias: Literal["uniform", "late"] = Field(
        AS_OF_BIAS,
        description="how cut days are drawn between min_as_of and the season's last observation: uniform, or "
        "late (a density rising linearly towards the end)",
    )
    random_window: bool = Field(
        True, description="bucketed, anchor=as_of: the window ends up to a quarter window before the as-of day"
    )
    obs_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="probability of dropping each observation")
    band_noise: float = Field(0.02, ge=0.0, le=1.0, description="Gaussian noise std added to normalised inputs")


@dataclass(frozen=True)
class InputSpec:
    """Everything needed to turn store rows into model inputs the same way at training and prediction time."""

    adapter: AdapterConfig
    features: FeatureConfig
    normalization: Normalization
    window_rule: WindowRule | None = None  # the label map's window rule (No Crop Growing), if any


@dataclass(frozen=True)
class Batch:
    """Model inputs of the shared tensor contract, as numpy: values [B,T,C], mask [B,T], doy [B,T].

    ``relabelled`` marks the windows the spec's window rule relabels (bool [B], all False without a rule).
    """

    values: np.ndarray  # float32
    mask: np.ndarray  # bool
    doy: np.ndarray  # int64
    rows: np.ndarray  # int64, the store rows
    relabelled: np.ndarray  # bool


def build_batch(
    store: SeriesStore,
    rows: np.ndarray,
    spec: InputSpec,
    *,
    as_of: np.ndarray | None = None,
    augment: AugmentConfig | None = None,
    rng: np.random.Generator | None = None,
) -> Batch:
    """Inputs for ``rows`` as of day of season ``as_of`` (per row; default: the whole season).

    The as-of day is moved back to the row's last observation on or before it, so a window ends on the
    last image the season had delivered by then, and observations after ``as_of`` can never change the
    inputs (a series cut at ``as_of`` gives identical inputs). Training draws its as-of days the same way.

    With ``augment`` (and ``rng``) the as-of day, the window end, dropped observations and band noise are
    drawn per sample. A sample that would lose all its observations to dropout keeps them.

    Args:
        store: The decoded series.
        rows: Store rows [B].
        spec: Adapter, channels, normalisation and window rule of the model.
        as_of: Day of season per row [B]; None: the whole season.
        augment: Training-time augmentations; None at evaluation and prediction.
        rng: The seeded generator the augmentations draw from (required with ``augment``).

    Returns:
        The batch; its ``relabelled`` marks the windows whose label the spec's window rule changes (see
        `window_labels`).
    """
    rows = np.asarray(rows, dtype=np.int64)
    positions, mask, doy = _gather(store, rows, spec.adapter, as_of=as_of, augment=augment, rng=rng)
    flat = positions[mask]
    channels = compute_features(
        store.values[flat],
        None if store.scl is None else store.scl[flat],
        bands=store.bands,
        scales=store.scales,
        config=spec.features,
    )
    channels = spec.normalization.apply(channels)
    if augment is not None and augment.band_noise > 0:
        assert rng is not None, "augmentation needs a seeded generator"
        channels = channels + rng.normal(0.0, augment.band_noise, channels.shape)
    values = np.zeros((*mask.shape, channels.shape[1]), np.float32)
    values[mask] = channels
    return Batch(
        values=values,
        mask=mask,
        doy=doy,
        rows=rows,
        relabelled=relabelled(store, rows, positions, mask, spec.window_rule),
    )


def window_labels(
    store: SeriesStore,
    rows: np.ndarray,
    *,
    as_of: np.ndarray | None,
    spec: InputSpec,
    augment: AugmentConfig | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The label (str, object [B]) of each row's window as of day of season ``as_of`` (None: whole season).

    The row's own label, except where the spec's window rule relabels the window the model sees (the
    `arset` label map's No Crop Growing rule): the targets to score a prediction as of that day against.
    With ``augment`` and ``rng`` the windows are drawn as `build_batch` draws training windows.

    Args:
        store: The decoded series.
        rows: Store rows [B].
        as_of: Day of season per row [B]; None: the whole season.
        spec: The model's input spec (its window rule decides the relabelling).
        augment: Training-time augmentations, drawn as `build_batch` draws them; None for fixed windows.
        rng: The seeded generator the augmentations draw from (required with ``augment``).

    Returns:
        The label (str, object [B]) of each row's window.
    """
    rows = np.asarray(rows, dtype=np.int64)
    labels: npt.NDArray[np.object_] = store.labels[rows].copy()
    if spec.window_rule is None:
        return labels
    positions, mask, _ = _gather(store, rows, spec.adapter, as_of=as_of, augment=augment, rng=rng)
    labels[relabelled(store, rows, positions, mask, spec.window_rule)] = spec.window_rule.target
    return labels


def _gather(
    store: SeriesStore,
    rows: np.ndarray,
    adapter: AdapterConfig,
    *,
    as_of: np.ndarray | None,
    augment: AugmentConfig | None,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observation positions, mask and day of season [B, T] of each row's window (see `build_batch`)."""
    as_of = np.full(rows.size, SEASON_END, np.int64) if as_of is None else np.asarray(as_of, np.int64)
    keep = None
    if augment is None:
        as_of = observed_as_of(store, rows, as_of)
        window_end = as_of
    else:
        assert rng is not None, "augmentation needs a seeded generator"
        as_of = observed_as_of(store, rows, _random_as_of(store, rows, as_of, augment, rng))
        window_end = as_of
        if adapter.kind == "bucketed" and augment.random_window and adapter.anchor == "as_of":
            window_end = _random_window_end(store, rows, as_of, adapter, rng)
        if augment.obs_dropout > 0:
            width = adapter.window_days + 1 if adapter.kind == "bucketed" else adapter.max_obs
            keep = rng.random((rows.size, width)) >= augment.obs_dropout

    def gather(subset: np.ndarray | slice, kept: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The adapter's gather for ``rows[subset]``."""
        if adapter.kind == "bucketed":
            return gather_bucketed(store, rows[subset], window_end=window_end[subset], config=adapter, keep=kept)
        return gather_sequence(store, rows[subset], as_of=as_of[subset], config=adapter, keep=kept)

    positions, mask, doy = gather(slice(None), keep)
    if keep is not None:
        lost = np.flatnonzero(~mask.any(axis=1))  # a sample that would lose all its observations to dropout keeps them
        if lost.size:
            positions[lost], mask[lost], doy[lost] = gather(lost, None)
    return positions, mask, doy


def observed_as_of(store: SeriesStore, rows: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """Day of season of each row's last observation on or before ``as_of`` (−1 where there is none).

    Only observations up to ``as_of`` are looked at, so the result is the same for a full-season series
    and for the same series cut at ``as_of``.

    Args:
        store: The decoded series.
        rows: Store rows [B].
        as_of: Day of season per row [B].

    Returns:
        Day of season per row, int64 [B].
    """
    ends = store.end_positions(rows, np.asarray(as_of, np.int64))
    seen = ends > store.offsets[rows]
    if not seen.any():
        return np.full(rows.size, -1, np.int64)
    days: npt.NDArray[np.int64] = np.where(seen, store.doy[np.maximum(ends - 1, 0)], -1).astype(np.int64)
    return days


def _first_day(store: SeriesStore, rows: np.ndarray) -> np.ndarray:
    """Day of season of each row's first observation (0 for a row without observations)."""
    counts = store.counts[rows]
    if store.doy.size == 0:
        return np.zeros(rows.size, np.int64)
    return np.where(counts > 0, store.doy[np.minimum(store.offsets[rows], store.doy.size - 1)], 0).astype(np.int64)


def _random_as_of(
    store: SeriesStore, rows: np.ndarray, as_of: np.ndarray, augment: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """A day between the first observation (or ``min_as_of``) and the last one on or before ``as_of``.

    A share ``whole_season`` of the rows keeps ``as_of`` (the whole season when training); the others draw
    their day uniformly, or with ``as_of_bias="late"`` from a density rising linearly to the last day
    (``low + sqrt(u) · span``). Later observations never shift the draw. With the defaults of old
    (``whole_season=0``, uniform) the generator is drawn from exactly as before.
    """
    if not augment.as_of:
        return as_of
    high = np.maximum(observed_as_of(store, rows, as_of), 0)
    low = np.minimum(np.maximum(_first_day(store, rows), augment.min_as_of), high)
    whole = rng.random(rows.size) < augment.whole_season if augment.whole_season > 0 else None
    u = rng.random(rows.size)
    if augment.as_of_bias == "late":
        u = np.sqrt(u)
    drawn: npt.NDArray[np.int64] = np.minimum(low + np.floor(u * (high - low + 1)).astype(np.int64), high)
    if whole is not None:
        drawn = np.where(whole, as_of, drawn)
    return drawn


def _random_window_end(
    store: SeriesStore, rows: np.ndarray, as_of: np.ndarray, adapter: AdapterConfig, rng: np.random.Generator
) -> np.ndarray:
    """A window end up to a quarter window before ``as_of`` (never before the row's first observation)."""
    low = np.clip(as_of - adapter.window_days // 4, _first_day(store, rows), as_of)
    drawn: npt.NDArray[np.int64] = low + np.floor(rng.random(rows.size) * (as_of - low + 1)).astype(np.int64)
    return drawn
