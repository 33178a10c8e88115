"""How a run writes TensorBoard: tag names, one step per epoch, restart marks and hyper-parameters.

Every per-epoch record of a run (scalars, the confusion image, histograms, the learning rate) is written at
the same step, the epoch number (0-based, as ``summary.json``'s ``best_epoch``); a classical baseline writes
its one validation record at step 0 the same way. A process that resumes a run marks a restart at the first
step it writes, so TensorBoard drops what the interrupted process had logged from that step on and no point
appears twice. At the end, the resolved config (flattened to scalars) and the run's final metrics go to
TensorBoard's hparams plugin, so the HPARAMS tab lists the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.writer import FileWriter

from inseason.train.figures import confusion_image

HParam = bool | int | float | str

#: Characters TensorBoard accepts in a tag besides letters and digits ('/' nests, so not in a class name).
_INVALID = re.compile(r"[^\w.\-]+")
#: Prefix of the final metrics in the hparams plugin (and their scalar tags).
FINAL = "final"


def class_tags(names: Sequence[str]) -> list[str]:
    """A tag-safe, readable and unique name for each class, in order, for per-class tags.

    A slash (which TensorBoard reads as a nesting level) becomes ``-`` (``Grassland/Pasture`` →
    ``Grassland-Pasture``), ``&`` becomes ``and``, whitespace and any other character TensorBoard would
    rewrite become ``_``; names that end up alike get ``_2``, ``_3``, … and an empty one becomes
    ``class_<i>``.

    Args:
        names: the class names.

    Returns:
        One tag part per name.
    """
    tags: list[str] = []
    taken: set[str] = set()
    for i, name in enumerate(names):
        tag = str(name).replace("/", "-").replace("\\", "-").replace("&", " and ")
        tag = _INVALID.sub("_", tag.strip()).strip("_") or f"class_{i}"
        unique, n = tag, 1
        while unique.casefold() in taken:
            n += 1
            unique = f"{tag}_{n}"
        taken.add(unique.casefold())
        tags.append(unique)
    return tags


def flat_hparams(values: Mapping[str, Any], prefix: str = "") -> dict[str, HParam]:
    """The scalar leaves of a nested config as dotted keys (``optimizer.lr``, ``model.params.filters``).

    Lists and tuples of scalars become one comma-separated string (``features.indices`` → ``"NDVI"``) so
    they can be compared across runs; unset options (``None``) and other values are left out.

    Args:
        values: the config as JSON-like values (``TrainConfig.model_dump(mode="json")``).
        prefix: the dotted prefix of ``values``'s keys.

    Returns:
        Dotted key → bool, int, float or str.
    """
    flat: dict[str, HParam] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
            flat[name] = ", ".join(str(v) for v in value)
    return flat


def _file_writer(writer: SummaryWriter) -> FileWriter:
    """The writer's own event file writer (reopened if closed), as torch's ``add_hparams`` uses it."""
    file_writer: FileWriter = writer._get_file_writer()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
    return file_writer


def _hparams_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    return Summary(
        value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR)]
    )


def write_hparams(
    writer: SummaryWriter, hparams: Mapping[str, HParam], metrics: Mapping[str, float], *, step: int
) -> None:
    """Record a run's hyper-parameters and final metrics for TensorBoard's hparams plugin.

    Writes the plugin's experiment (the hyper-parameter and metric names), session start (the values)
    and session end (success) records, and each metric as a scalar ``final/<name>`` at ``step`` (the
    plugin reads the metric values from those scalars).

    Args:
        writer: the run's summary writer (its log folder is the session).
        hparams: dotted name → value (see `flat_hparams`).
        metrics: metric name → final value.
        step: the step of the metric scalars (the best epoch).
    """
    start = plugin_data_pb2.SessionStartInfo()
    infos = []
    for name, value in hparams.items():
        if isinstance(value, bool):  # before int: a bool is an int in Python
            start.hparams[name].bool_value, kind = value, "DATA_TYPE_BOOL"
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value, kind = float(value), "DATA_TYPE_FLOAT64"
        else:
            start.hparams[name].string_value, kind = str(value), "DATA_TYPE_STRING"
        infos.append(api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(kind)))
    tags = {name: f"{FINAL}/{name}" for name in metrics}
    experiment = api_pb2.Experiment(
        hparam_infos=infos, metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in tags.values()]
    )
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    file_writer = _file_writer(writer)
    file_writer.add_summary(
        _hparams_summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))
    )
    file_writer.add_summary(
        _hparams_summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start))
    )
    for name, tag in tags.items():
        writer.add_scalar(tag, float(metrics[name]), step)
    file_writer.add_summary(
        _hparams_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))
    )
    writer.flush()


def mark_restart(writer: SummaryWriter, step: int) -> None:
    """Mark that this process writes from ``step`` on.

    TensorBoard drops the records an earlier process wrote to the same folder at ``step`` or later (the
    same mark as ``SummaryWriter(purge_step=...)``).

    Args:
        writer: the run's summary writer.
        step: the first step this process writes.
    """
    _file_writer(writer).add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))


def write_epoch_metrics(
    writer: SummaryWriter,
    stage: str,
    *,
    step: int,
    tags: Sequence[str],
    oa: float,
    macro_f1: float,
    f1: Sequence[float] | np.ndarray,
    loss: float | None = None,
) -> None:
    """Write the epoch scalars of one stage (``train`` or ``val``) at ``step``.

    Tags: ``<stage>/loss`` (when given), ``<stage>/oa``, ``<stage>/macro_f1`` and ``<stage>_f1/<class>``
    per class (the class part from `class_tags`, so per-class curves sit in their own group).

    Args:
        writer: the run's summary writer.
        stage: ``train`` or ``val``.
        step: the epoch number.
        tags: `class_tags` of the class names, in the order of ``f1``.
        oa: overall accuracy.
        macro_f1: macro-averaged F1.
        f1: per-class F1.
        loss: the epoch's mean loss (None: not logged, e.g. for a classical baseline).
    """
    if loss is not None:
        writer.add_scalar(f"{stage}/loss", float(loss), step)
    writer.add_scalar(f"{stage}/oa", float(oa), step)
    writer.add_scalar(f"{stage}/macro_f1", float(macro_f1), step)
    for tag, value in zip(tags, f1):
        writer.add_scalar(f"{stage}_f1/{tag}", float(value), step)


def write_confusion(writer: SummaryWriter, confusion: np.ndarray, class_names: Sequence[str], *, step: int) -> None:
    """Write the validation confusion matrix as a labelled image (``val/confusion_matrix``) at ``step``.

    Args:
        writer: the run's summary writer.
        confusion: [K, K] counts (rows: true class, columns: predicted class).
        class_names: the K class names.
        step: the epoch number.
    """
    writer.add_image(
        "val/confusion_matrix", confusion_image(np.asarray(confusion), class_names), step, dataformats="HWC"
    )
