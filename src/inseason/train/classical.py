"""Fitting the classical baselines (random forest, gradient boosting) on the networks' own data path.

A tree ensemble has no epochs, so its training set is built up front by the same `BatchLoader` a network
trains from: one pass over the training rows as of the whole season, plus ``as_of_copies − 1`` passes with
the configured augmentations (random as-of truncation, random window, observation dropout, band noise),
each seeded like a network's epoch. One model then serves every in-season date, as a network does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from inseason.data import BatchLoader, InputSpec, SeriesStore
from inseason.models.trees import TreeBaseline
from inseason.progress import progress_bar
from inseason.train.config import TrainConfig
from inseason.train.schedule import MAX_BATCH


def tree_inputs(
    store: SeriesStore,
    rows: np.ndarray,
    targets: np.ndarray,
    spec: InputSpec,
    *,
    config: TrainConfig,
    relabel_to: int | None = None,
    quiet: bool = True,
) -> tuple[np.ndarray, ...]:
    """Build a tree baseline's training inputs from ``config.as_of_copies`` loader passes over ``rows``.

    Pass 0 is unaugmented and sees the whole season; pass ``k`` ≥ 1 draws its augmentations from
    (seed, k) exactly like training epoch ``k`` of a network.

    Args:
        store: the decoded series table.
        rows: the training rows.
        targets: class index of each of ``rows``.
        spec: the input recipe (adapter, features, normalisation, window rule).
        config: the run's config (passes, batch size, seed, augmentations).
        relabel_to: the class that windows the spec's window rule relabels get (None: no rule).
        quiet: hide the progress bar.

    Returns:
        The stacked ``(values, mask, doy, y)`` numpy arrays of all passes.
    """
    parts: list[tuple[np.ndarray, ...]] = []
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("inputs", total=config.as_of_copies)
        for copy in range(config.as_of_copies):
            loader = BatchLoader(
                store,
                rows,
                targets,
                spec,
                batch_size=config.batch_size or MAX_BATCH,
                sampling="sequential",
                seed=config.seed,
                augment=config.augment if copy else None,
                relabel_to=relabel_to,
            )
            loader.epoch = copy
            parts.extend(tuple(t.numpy() for t in batch) for batch in loader)
            bar.advance(task)
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))


def balance_weights(y: np.ndarray, *, n_classes: int, balance: str) -> np.ndarray | None:
    """Class-balancing sample weights for a tree baseline.

    Trees take class balance as sample weights; a resampled training set would only duplicate rows.

    Args:
        y: class index of each training sample.
        n_classes: the number of classes K.
        balance: the config's ``balance`` (``none``, ``weighted`` or ``sampler``).

    Returns:
        Per-sample weights n / (K · count of its class) for ``weighted`` or ``sampler``; None for ``none``.
    """
    if balance == "none":
        return None
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights: npt.NDArray[np.float64] = (y.size / (n_classes * np.maximum(counts, 1)))[y]
    return weights


def fit_trees(
    model: TreeBaseline,
    store: SeriesStore,
    rows: np.ndarray,
    targets: np.ndarray,
    spec: InputSpec,
    *,
    config: TrainConfig,
    relabel_to: int | None = None,
    quiet: bool = True,
) -> TreeBaseline:
    """Fit a tree baseline on the training inputs of `tree_inputs`, class-balanced as ``config.balance`` says.

    Args:
        model: the unfitted tree baseline.
        store: the decoded series table.
        rows: the training rows.
        targets: class index of each of ``rows``.
        spec: the input recipe.
        config: the run's config.
        relabel_to: the class that windows the spec's window rule relabels get (None: no rule).
        quiet: hide the progress bar.

    Returns:
        The fitted model.
    """
    values, mask, doy, y = tree_inputs(store, rows, targets, spec, config=config, relabel_to=relabel_to, quiet=quiet)
    weights = balance_weights(y, n_classes=model.n_classes, balance=config.balance)
    return model.fit(values, mask, doy, y, sample_weight=weights)
