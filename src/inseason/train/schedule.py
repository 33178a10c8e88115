"""How a network trains when the config leaves it open: batch size, epochs and early stopping from the data size.

A batch of 128 on 90 training samples is one optimizer step an epoch: early stopping then measures patience
in single steps, and the whole run is a hundred steps. A config whose ``batch_size`` is unset gets the largest
power of two that gives at least `MIN_STEPS_PER_EPOCH` steps an epoch, between `MIN_BATCH` and `MAX_BATCH`
(16 below 256 training samples, 128 from 1 024).

A fixed number of epochs is too short on large data and needlessly short on small data (few optimizer steps
per epoch), so a config whose ``epochs`` is unset trains for about `TARGET_STEPS` optimizer steps, clipped
to `MIN_EPOCHS`..`MAX_EPOCHS` epochs, and stops early once the monitored validation metric has not improved
for a fifth of those epochs (at least `MIN_PATIENCE`). Explicit values are never changed: ``epochs`` set
keeps its value, and ``patience`` set keeps its own; ``patience`` unset with ``epochs`` set means no early
stopping (the user asked for that many epochs). The resolved values are what config.yaml records, so a
resumed run (whose saved config is compared with the resolved one) trains as long as it was going to.
See ``docs/defaults.md`` (Validation, epochs and in-season truncation) for the measurements.
"""

from __future__ import annotations

import math

from inseason.train.config import TrainConfig

#: Smallest batch of a run whose batch size is unset.
MIN_BATCH = 16
#: Largest batch of a run whose batch size is unset (the size before it followed the data).
MAX_BATCH = 128
#: Optimizer steps an epoch a run whose batch size is unset has at least (above `MIN_BATCH` samples × this).
MIN_STEPS_PER_EPOCH = 8
#: Optimizer steps a run whose epochs are unset aims at (before clipping to the epoch range).
TARGET_STEPS = 5000
#: Fewest epochs of a run whose epochs are unset (large data: early stopping ends it when it stops improving).
MIN_EPOCHS = 20
#: Most epochs of a run whose epochs are unset (small data: few steps per epoch).
MAX_EPOCHS = 150
#: Least patience (epochs without improvement before stopping) of a run whose epochs are unset.
MIN_PATIENCE = 10


def auto_batch_size(n_train: int, *, devices: int = 1) -> int:
    """The batch size for ``n_train`` training samples when the config leaves it open.

    Args:
        n_train: the training samples (rows of the training split).
        devices: devices training together (each step sees a batch on each).

    Returns:
        The largest power of two with at least `MIN_STEPS_PER_EPOCH` steps an epoch, clipped to
        `MIN_BATCH`..`MAX_BATCH`.
    """
    per_device = max(n_train, 1) / (MIN_STEPS_PER_EPOCH * max(devices, 1))
    power = 2 ** math.floor(math.log2(per_device)) if per_device >= 1 else 1
    return int(min(MAX_BATCH, max(MIN_BATCH, power)))


def auto_epochs(n_train: int, *, batch_size: int, devices: int = 1) -> tuple[int, int]:
    """Epochs and early-stopping patience for ``n_train`` training samples when the config leaves them open.

    Args:
        n_train: the training samples (rows of the training split).
        batch_size: samples per optimizer step on one device.
        devices: devices training together (each step sees ``batch_size`` samples on each).

    Returns:
        ``(epochs, patience)``: about `TARGET_STEPS` steps clipped to `MIN_EPOCHS`..`MAX_EPOCHS` epochs, and
        a fifth of those epochs (at least `MIN_PATIENCE`).
    """
    steps_per_epoch = max(1, math.ceil(max(n_train, 1) / (batch_size * max(devices, 1))))
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
    return epochs, max(MIN_PATIENCE, epochs // 5)


def resolve_epochs(config: TrainConfig, n_train: int) -> TrainConfig:
    """``config`` with ``batch_size``, ``epochs`` and ``patience`` set: the user's values, else from the data size.

    Args:
        config: the run's config (``batch_size``/``epochs``/``patience`` None: from the data size).
        n_train: the training samples.

    Returns:
        The config with integer ``batch_size``, ``epochs`` and ``patience`` (unchanged when all were set).
    """
    batch_size = config.batch_size or auto_batch_size(n_train, devices=config.devices)
    config = config.model_copy(update={"batch_size": batch_size})
    if config.epochs is not None and config.patience is not None:
        return config
    epochs, patience = auto_epochs(n_train, batch_size=batch_size, devices=config.devices)
    if config.epochs is not None:  # the user asked for that many epochs: no early stopping unless asked
        return config.model_copy(update={"patience": 0})
    return config.model_copy(
        update={"epochs": epochs, "patience": patience if config.patience is None else config.patience}
    )


def planned_epochs(config: TrainConfig) -> int:
    """The epochs of a resolved config (see `resolve_epochs`).

    Args:
        config: a config that went through `resolve_epochs`.

    Returns:
        Its epochs.

    Raises:
        ValueError: the config's epochs were never resolved (a programming error).
    """
    if config.epochs is None:
        raise ValueError("the config's epochs are unresolved: call resolve_epochs first")
    return config.epochs
