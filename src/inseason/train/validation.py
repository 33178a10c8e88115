"""The validation rows of a run: the table's validation split, or a part carved from train when it has none.

Most real tables (and ``inseason import`` tables) come with train and test only. Training needs a
validation part to pick the best epoch and to stop early, so when the table has no rows in the default
validation split, `validation_rows` carves ``validation_share`` of the training rows (15 % by default):
stratified by class, grouped so that no field is on both sides (by ``field_id`` where the table has one,
else by ``sample_id``, so a place observed in several seasons stays on one side), seeded by the run's seed
with `inseason.series.split.group_assignment`, the machinery of ``inseason split``. A class too small to
give groups to both sides stays whole in train. The rows carved stay ``train`` in the table; the run's
summary.json records what was carved (`ValidationRows.record`) and the run says so in one warning line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.series.split import group_assignment
from inseason.train.config import TrainConfig

log = logging.getLogger(__name__)

#: The validation split's name when the config does not name another.
DEFAULT_VALIDATION = "validation"


@dataclass(frozen=True)
class ValidationRows:
    """The training and validation rows of a run, and how the validation rows were found.

    Attributes:
        train: the training rows (int64, ascending).
        validation: the validation rows (int64, ascending).
        carved: whether ``validation`` was carved from the training split (the table had none).
        by: what the carving kept together: ``"field"`` (``field_id``) or ``"sample"`` (``sample_id``); None
            when nothing was carved.
        share: the share of the training rows asked for; None when nothing was carved.
    """

    train: np.ndarray
    validation: np.ndarray
    carved: bool = False
    by: str | None = None
    share: float | None = None

    def record(self, split: str) -> dict[str, Any]:
        """What summary.json records of the validation rows.

        Args:
            split: the config's validation split name.

        Returns:
            ``{"split", "carved", "by", "share", "train_rows", "validation_rows"}``.
        """
        return {
            "split": split,
            "carved": self.carved,
            "by": self.by,
            "share": self.share,
            "train_rows": int(self.train.size),
            "validation_rows": int(self.validation.size),
        }


def group_keys(store: SeriesStore, field_ids: np.ndarray | None) -> tuple[np.ndarray, str]:
    """A group key per store row: its field where it has one, else its sample; and what grouped most rows.

    Args:
        store: the decoded series.
        field_ids: each row's ``field_id`` (object, None where unknown), or None when the table has none.

    Returns:
        ``(keys, by)``: a str key per row, and ``"field"`` when any row has a field, else ``"sample"``.
    """
    samples = np.array([f"s:{s}" for s in store.sample_ids.tolist()], dtype=object)
    if field_ids is None:
        return samples, "sample"
    known = np.array([f is not None and not (isinstance(f, float) and np.isnan(f)) for f in field_ids.tolist()])
    if not known.any():
        return samples, "sample"
    keys = samples.copy()
    keys[known] = np.array([f"f:{f}" for f in field_ids[known].tolist()], dtype=object)
    return keys, "field"


def table_field_ids(table: pa.Table | SeriesStore) -> np.ndarray | None:
    """The ``field_id`` column of a series table (object, None where null); None for a store or no column.

    Args:
        table: the series table, or a decoded store (which keeps no field ids).

    Returns:
        The field ids in row order, or None.
    """
    if isinstance(table, SeriesStore) or "field_id" not in table.column_names:
        return None
    return np.asarray(table.column("field_id").to_pylist(), dtype=object)


def carve_validation(
    store: SeriesStore, train_rows: np.ndarray, *, groups: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``train_rows`` into training and validation rows: grouped, stratified by class, seeded.

    Args:
        store: the decoded series (its labels stratify).
        train_rows: the rows of the training split.
        groups: a group key per store row (`group_keys`): a group is never on both sides.
        share: the validation share of ``train_rows`` (0 < share < 1).
        seed: the seed of the assignment.

    Returns:
        ``(train, validation)`` rows, int64 ascending. Validation rows of a class that kept no training row
        go back to train, so every validated class is trained on.
    """
    rows = np.sort(np.asarray(train_rows, np.int64))
    labels = store.labels[rows].astype(str)
    side = group_assignment(
        groups[rows].astype(str), labels, shares=np.array([1.0 - share, share]), seed=seed, stratify=True
    )
    trained = set(labels[side == 0].tolist())
    side[(side == 1) & ~np.isin(labels, sorted(trained))] = 0
    return rows[side == 0], rows[side == 1]


def validation_rows(
    store: SeriesStore, config: TrainConfig, *, field_ids: np.ndarray | None, source: str
) -> ValidationRows:
    """The run's training and validation rows: the table's splits, or validation carved from train.

    Carved when the table has no rows in the validation split, the config names the default one
    (``validation``; a split named on purpose must exist) and ``validation_share`` is above 0.

    Args:
        store: the decoded series (with a split column).
        config: the run's config (``train_split``, ``val_split``, ``validation_share``, ``seed``).
        field_ids: each row's ``field_id`` (`table_field_ids`), or None.
        source: how messages name the table.

    Returns:
        The rows and how the validation rows were found.

    Raises:
        InputError: the training split is empty; the validation split is empty and cannot be carved (a
            split named on purpose, ``validation_share=0``, or too few training groups to give some to both
            sides).
    """
    train = store.rows_of(config.train_split)
    if train.size == 0:
        raise InputError(f"the series table has no rows in split {config.train_split!r}: check train_split/val_split")
    validation = store.rows_of(config.val_split)
    if validation.size:
        return ValidationRows(train=train, validation=validation)
    if config.val_split != DEFAULT_VALIDATION or config.validation_share == 0:
        raise InputError(
            f"the series table has no rows in split {config.val_split!r}: check train_split/val_split"
            + ("" if config.val_split != DEFAULT_VALIDATION else ", or set validation_share above 0 to carve one")
        )
    groups, by = group_keys(store, field_ids)
    kept, carved = carve_validation(store, train, groups=groups, share=config.validation_share, seed=config.seed)
    if carved.size == 0:
        raise InputError(
            f"{source} has no {config.val_split!r} rows and its {train.size} training rows are too few "
            f"{by}s to carve a validation part from: split it with inseason split"
        )
    log.warning(
        "%s has no %r split: validation is %d of its %d training rows (%.0f%%, by %s, stratified by class, seed %d)",
        source,
        config.val_split,
        carved.size,
        train.size,
        100 * carved.size / train.size,
        by,
        config.seed,
    )
    return ValidationRows(train=kept, validation=carved, carved=True, by=by, share=config.validation_share)
