"""Knowledge distillation: a small map network trained on a big teacher's probabilities (``train --teacher``).

A map's cost is the network's forward pass on every pixel and as-of date (`inseason bench predict`), so the
network that maps a continent should be small. Trained on labels alone a small network loses accuracy; trained
to match a strong teacher's probabilities as well (Hinton, Vinyals & Dean 2015) it keeps most of it, since
the teacher's second choices say which crops look alike when. The student sees exactly the teacher's inputs —
the same calendar grid, features, normalisation and window rule, on the same in-season truncations of the
same batches — and predicts the teacher's label map, so it drops into every place the teacher goes (`predict`,
`evaluate`). `inseason bench predict --student` measures both side by side.
"""

from __future__ import annotations

import numpy as np
import torch

from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.models import model_info
from inseason.train.bundle import Bundle
from inseason.train.config import TrainConfig

__all__ = ["check_teacher", "with_teacher_inputs"]


def check_teacher(teacher: Bundle, *, config: TrainConfig, store: SeriesStore, rows: np.ndarray) -> None:
    """Refuse a teacher that cannot teach the config's model on ``store``.

    Args:
        teacher: the loaded teacher bundle (``distill.teacher``).
        config: the run's config.
        store: the decoded series table the run trains on.
        rows: its training and validation rows.

    Raises:
        InputError: the teacher is not a network, was trained on other bands or another season start, or the
            run's model is not a network designed for the teacher's adapter; or the training labels are not in
            the teacher's label map.
    """
    path = config.distill.teacher
    where = f"teacher {path}"
    if not isinstance(teacher.network, torch.nn.Module):
        raise InputError(f"{where} is a classical baseline: distil a network (its logits are what the student learns)")
    if teacher.bands != store.bands:
        raise InputError(
            f"{where} was trained on bands {list(teacher.bands)}, the series table has {list(store.bands)}: "
            "distil on series of the teacher's bands"
        )
    if teacher.season_start != store.season:
        raise InputError(
            f"{where} counts days from {teacher.season_start}, the series are decoded from {store.season}: "
            f"set season_start={teacher.season_start}"
        )
    student = model_info(config.model.name)
    if not student.neural:
        raise InputError(f"model {config.model.name!r} is not a network: a teacher trains networks only")
    if student.adapter != teacher.spec.adapter.kind:
        raise InputError(
            f"model {config.model.name!r} is designed for the {student.adapter} adapter, {where} takes "
            f"{teacher.spec.adapter.kind} inputs: the student sees the teacher's inputs, so choose a model of "
            f"that adapter (tempcnn-small for a bucketed teacher)"
        )
    labels = sorted({str(label) for label in store.labels[rows]} - set(teacher.class_names))
    if labels:
        raise InputError(
            f"labels {labels} of the series table are not in {where}'s label map ({', '.join(teacher.class_names)}): "
            "distil on the labels the teacher was trained on"
        )


def with_teacher_inputs(config: TrainConfig, teacher: Bundle) -> TrainConfig:
    """``config`` with the teacher's inputs: its adapter, features and season start, nothing adapted to the data.

    Args:
        config: the run's config.
        teacher: the loaded teacher.

    Returns:
        The config the run trains (and config.yaml records) with.

    Raises:
        InputError: the config names another season start than the teacher's.
    """
    if config.season_start not in (None, teacher.season_start):
        raise InputError(
            f"season_start={config.season_start}, but teacher {config.distill.teacher} counts days from "
            f"{teacher.season_start}: the student takes the teacher's season start (leave season_start unset)"
        )
    return config.model_copy(
        update={
            "adapter": teacher.spec.adapter,
            "features": teacher.spec.features,
            "season_start": teacher.season_start,
            "adapt": (),
        }
    )
