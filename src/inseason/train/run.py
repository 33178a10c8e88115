"""``train``: a series table and a config in, a run folder out (DESIGN §1, §2).

The run folder holds ``config.yaml`` (the resolved config), ``tensorboard/`` (event files),
``checkpoints/`` (``last.ckpt`` for resuming, ``best.ckpt`` on the monitored validation metric), the model
bundle (``model.json`` + ``weights.safetensors``, from the best checkpoint) and ``summary.json``. A
classical baseline's run folder has the same files without checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import lightning as L
import numpy as np
import pyarrow as pa
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from pydantic import InstanceOf, model_validator

from inseason.config import StageRequest, dump_yaml
from inseason.data import (
    InputSpec,
    SeriesStore,
    WindowRule,
    decode_series,
    feature_names,
    fit_normalization,
    window_labels,
    window_rule_of,
)
from inseason.data.store import recorded_season_start
from inseason.errors import InputError, OutputError
from inseason.labels import LabelClass, cdl_classes
from inseason.metrics import confusion_matrix, validation_metrics
from inseason.models import Model, create_model, model_info, model_spec
from inseason.season import DEFAULT_START
from inseason.storage import LOCK_NAME, atomic_path, output_lock
from inseason.tables import read_table
from inseason.train.bundle import MANIFEST, load_bundle, write_bundle
from inseason.train.calibration import Calibration, calibrate, calibration_days
from inseason.train.callbacks import AtomicCheckpointIO, LoaderPosition, StepCheckpoint, TensorBoardExtras
from inseason.train.classical import fit_trees
from inseason.train.config import TrainConfig, check_model_adapter, dotted_options, train_config
from inseason.train.datamodule import SeriesDataModule
from inseason.train.defaults import adapt_to_data
from inseason.train.distill import check_teacher, with_teacher_inputs
from inseason.train.module import CropTypeModule
from inseason.train.predict import Predictor
from inseason.train.schedule import planned_epochs, resolve_epochs
from inseason.train.tensorboard_log import class_tags, flat_hparams, write_confusion, write_epoch_metrics, write_hparams
from inseason.train.validation import ValidationRows, table_field_ids, validation_rows

log = logging.getLogger(__name__)

#: CDL code whose colour the No Crop Growing class takes (Fallow/Idle Cropland).
FALLOW = 61
_COUNT_CHUNK = 65_536
#: ``monitor`` option → the logged value checkpointing and early stopping follow: the score, its ties broken
#: by the validation loss (`inseason.train.module.TIE_BREAK`), or the loss alone.
_MONITOR = {
    "val_macro_f1": ("val/macro_f1_then_loss", "max"),
    "val_oa": ("val/oa_then_loss", "max"),
    "val_loss": ("val/loss", "min"),
}


class TrainRequest(StageRequest):
    """What a training run is asked to do: the series table, the run folder and the run's options.

    The CLI builds it from its flags (the preset, YAML file and ``--set`` options resolved into ``config`` by
    `train_config`), the Python API from `train`'s keywords. Extra Lightning callbacks are live observers
    of the trainer, not options: they are a keyword of `run_train`, not a field. A request naming its table
    by path round-trips through ``model_dump()``; an in-memory table or store travels as the object itself.

    Attributes:
        series: the series table with a split column: a parquet path or ``s3://`` URI, an Arrow table or a
            decoded `SeriesStore`.
        out: the run folder (new or empty, or an interrupted run's with ``resume``).
        config: the run's `TrainConfig` (None: the defaults).
        overrides: dotted options applied on top of ``config`` (``{"optimizer.lr": 0.01}``).
        resume: continue an interrupted run in ``out`` from its last step checkpoint; it ends as an
            uninterrupted run would.
        quiet: hide the progress bars.
    """

    series: str | InstanceOf[pa.Table] | InstanceOf[SeriesStore]
    out: Path
    config: TrainConfig | None = None
    overrides: dict[str, Any] | None = None
    resume: bool = False
    quiet: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse invalid overrides and a model designed for another adapter than the config's.

        A distillation run takes its teacher's adapter (`inseason.train.distill.check_teacher` checks the model
        against it once the teacher is read).
        """
        config = self.resolved_config()
        if config.distill.teacher is None:
            check_model_adapter(config)
        return self

    def resolved_config(self) -> TrainConfig:
        """The run's config: ``config`` (or the defaults) with ``overrides`` applied.

        Returns:
            The validated config, as config.yaml records it.

        Raises:
            InputError: an override names an unknown option or has a wrong type or value.
        """
        config = self.config or TrainConfig()
        if not self.overrides:
            return config
        return train_config(overrides={**dotted_options(config.model_dump(mode="json")), **self.overrides})


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports: where it is, the best epoch and the validation metrics of the bundle.

    Its fields are summary.json's document, key by key (written with `dataclasses.asdict`, as ``--json``
    prints it); the paths of the run folder's files are properties.

    Attributes:
        out: the run folder, as given.
        model: the registry name of the trained model.
        best_epoch: the epoch whose weights are bundled (0 for a classical baseline; −1 on ranks other than
            zero of a multi-process run).
        epochs_run: the epochs trained (0 for a classical baseline).
        metrics: the validation metrics of the bundled weights, the schema of model.json's ``metrics`` less
            its ``split`` and ``best_epoch`` (see `inseason.metrics.validation_metrics`; empty on ranks other
            than zero).
        resumed: whether the run continued an interrupted one from its last checkpoint.
        validation: the validation rows' origin (`inseason.train.validation.ValidationRows.record`): the
            split, whether it was carved from train (the table had none), by what and what share, and the
            training and validation row counts.
        calibration: the bundle's temperature scaling, as model.json's ``calibration`` records it
            (`inseason.train.calibration.Calibration`: temperature, NLL and ECE before and after), or None
            (``calibrate: false``, or ranks other than zero).
    """

    out: str
    model: str
    best_epoch: int
    epochs_run: int
    metrics: dict[str, Any]
    resumed: bool
    validation: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        return Path(self.out)

    @property
    def model_json(self) -> Path:
        """The bundle's manifest, model.json (beside weights.safetensors)."""
        return self.run_dir / MANIFEST

    @property
    def summary_json(self) -> Path:
        """summary.json, this result as written."""
        return self.run_dir / "summary.json"

    @property
    def config_yaml(self) -> Path:
        """config.yaml, the run's resolved `TrainConfig`."""
        return self.run_dir / "config.yaml"

    @property
    def tensorboard(self) -> Path:
        """The folder of the run's TensorBoard event files (``tensorboard --logdir`` it)."""
        return self.run_dir / "tensorboard"


def _label_map(store: SeriesStore, train_rows: np.ndarray, *, rule: WindowRule | None) -> list[LabelClass]:
    """Classes of the training split (sorted by name) with their source codes and a colour each.

    The window rule's target class joins them (No Crop Growing: no source code, the CDL Fallow/Idle colour).
    """
    cdl = cdl_classes()
    classes = []
    names = {str(label) for label in store.labels[train_rows]}
    for name in sorted(names | ({rule.target} if rule is not None else set())):
        if rule is not None and name == rule.target and name not in names:
            classes.append(LabelClass(name=name, codes=(), color=cdl[FALLOW].color))
            continue
        codes, counts = np.unique(store.label_codes[train_rows][store.labels[train_rows] == name], return_counts=True)
        main = int(codes[np.argmax(counts)])  # -1: an imported label without a source code
        color = store.label_colors.get(name)  # the label map's colour (e.g. grey for Other) ...
        if color is None and main in cdl and cdl[main].name.casefold() == name.casefold():
            color = cdl[main].color  # ... else the CDL colour of the class's own code ...
        if color is None:  # ... else a fixed shade of its own
            red, green, blue = (int(c) for c in np.random.default_rng(sum(name.encode())).integers(40, 220, 3))
            color = (red, green, blue)
        first, second = store.label_crops.get(name, (None, None))  # a double crop's sequence, for maps
        classes.append(
            LabelClass(
                name=name,
                codes=tuple(int(c) for c in codes if c >= 0),
                color=color,
                first_crop=first,
                second_crop=second,
            )
        )
    return classes


def _class_counts(
    store: SeriesStore, rows: np.ndarray, spec: InputSpec, *, names: list[str], config: TrainConfig
) -> np.ndarray:
    """Training samples per class (float64 [K]) for the class prior and the loss weights.

    With a window rule a sample's class depends on its window, so the counts are those of one seeded draw
    of training windows (as training draws them), computed in chunks to bound memory.
    """
    index = {name: i for i, name in enumerate(names)}
    augment = config.augment if spec.window_rule is not None else None
    rng = np.random.default_rng([config.seed, 0, 0])
    counts = np.zeros(len(names), np.float64)
    for start in range(0, rows.size, _COUNT_CHUNK):
        labels = window_labels(
            store, rows[start : start + _COUNT_CHUNK], as_of=None, spec=spec, augment=augment, rng=rng
        )
        present, n = np.unique(labels.astype(str), return_counts=True)
        counts[[index[name] for name in present.tolist()]] += n
    return counts


def _check_splits(
    store: SeriesStore, config: TrainConfig, *, source: str, field_ids: np.ndarray | None
) -> ValidationRows:
    """The training and validation rows, refusing a table without a split or with an empty training split.

    The validation rows are carved from train when the table has none (see `validation_rows`).
    """
    if all(s is None for s in store.splits):
        raise InputError(f"{source} has no split: run inseason split first (or fill its split column)")
    rows = validation_rows(store, config, field_ids=field_ids, source=source)
    train_rows = rows.train
    known = set(store.labels[train_rows].tolist())
    for split in sorted({s for s in store.splits.tolist() if s is not None and s != config.train_split}):
        missing = sorted(set(store.labels[store.rows_of(split)].tolist()) - known)
        if missing:
            raise InputError(
                f"classes {missing} appear in split {split!r} but not in {config.train_split!r}: "
                "re-split so every class has training samples, or relabel them"
            )
    return rows


def _check_finite(store: SeriesStore, rows: np.ndarray) -> None:
    """Refuse ±inf band values in the rows trained and validated on (they make the loss NaN, not a clear error).

    Raises:
        InputError: a band holds an infinite value, named with its count.
    """
    values = store.values
    if not np.issubdtype(values.dtype, np.floating):
        return
    infinite = np.isinf(values[store.positions_of(rows)]).sum(axis=0)
    for band, count in zip(store.bands, infinite.tolist()):
        if count:
            raise InputError(
                f"the series table's values hold {count} infinite value(s) in band {band} (column values) of the "
                "training and validation rows: re-import the table so ±inf counts as missing, or fix those values"
            )


def _as_current(saved: Any) -> Any:
    """A saved config.yaml with the options added since it was written set to their defaults.

    A run started by an older version records no value for a newer option (``label_smoothing``, ``gce_q``);
    that option's default is what the run trained with, so it is no difference. The exception is ``loss``,
    whose default changed when it was already recorded: a run that records none trained with cross-entropy.
    A file that is no longer a valid config is returned as it is (and differs).
    """
    if isinstance(saved, dict) and "loss" not in saved:
        saved = {**saved, "loss": "cross_entropy"}
    try:
        return TrainConfig.model_validate(saved).model_dump(mode="json")
    except ValueError:
        return saved


def _prepare_out(out: Path, config: TrainConfig, *, resume: bool) -> bool:
    """Create or reuse the run folder (held by this run); returns whether a checkpoint will be resumed."""
    if (out / MANIFEST).exists():
        raise OutputError(f"{out} already holds a finished run: choose another --out")
    last = out / "checkpoints" / "last.ckpt"
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()) and not resume:
        raise OutputError(f"{out} is not empty: pass resume to continue its run or choose another --out")
    if resume and (out / "config.yaml").exists():
        saved = yaml.safe_load((out / "config.yaml").read_text())
        if _as_current(saved) != config.model_dump(mode="json"):
            raise InputError(
                f"the config differs from the one {out} was started with: resume with "
                f"{out / 'config.yaml'} or choose another --out"
            )
    if resume and not last.exists():
        log.warning("nothing to resume in %s (no checkpoints/last.ckpt): training from the first epoch", out)
    out.mkdir(parents=True, exist_ok=True)
    dump_yaml(config, out / "config.yaml")
    return resume and last.exists()


def train(
    series: str | os.PathLike[str] | pa.Table | SeriesStore,
    *,
    out: str | os.PathLike[str],
    config: TrainConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    quiet: bool = True,
    callbacks: Sequence[L.Callback] = (),
) -> TrainResult:
    """Train a registry model on a series table's training split and write a run folder to ``out``.

    The keyword form of `run_train` (see `TrainRequest` for the options).

    Args:
        series: the series table (a parquet path or ``s3://`` URI, an Arrow table or a decoded store) with a
            split column.
        out: the run folder (new or empty, or an interrupted run's with ``resume``).
        config: the run's `TrainConfig` (None: the defaults).
        overrides: dotted options applied on top of ``config`` (``{"optimizer.lr": 0.01}``).
        resume: continue an interrupted run in ``out`` from its last step checkpoint; it ends as an
            uninterrupted run would.
        quiet: hide the progress bars.
        callbacks: extra Lightning callbacks for a network's trainer.

    Returns:
        The run's result, with the validation metrics of the bundled (best) weights (on ranks other than
        zero: no metrics and best epoch −1).

    Raises:
        InputError: an invalid option, a model designed for another adapter; the table cannot be read, has
            no split, an empty training or validation split, or classes in another split that the training
            split lacks; or a config that differs from the one the resumed run was started with.
        OutputError: ``out`` holds a finished run, or is not empty without ``resume``.
    """
    request = TrainRequest.of(
        series=os.fspath(series) if isinstance(series, str | os.PathLike) else series,
        out=Path(out),
        config=config,
        overrides=None if overrides is None else dict(overrides),
        resume=resume,
        quiet=quiet,
    )
    return run_train(request, callbacks=callbacks)


def run_train(request: TrainRequest, *, callbacks: Sequence[L.Callback] = ()) -> TrainResult:
    """Train a registry model on a series table's training split and write a run folder to ``request.out``.

    A classical baseline (``random_forest``, ``gradient_boosting``) is fitted once on ``as_of_copies``
    passes of the same loader (see `inseason.train.classical`) and bundled the same way; its run folder
    has no checkpoints, and its TensorBoard folder holds the validation scalars only. The seasons start on
    the config's ``season_start``; left unset, on the one the table records (``inseason import
    --season-start``), else 01-01; config.yaml and the bundle record the one used.

    Args:
        request: the series table, the run folder and the options (checked when the request was built).
        callbacks: extra Lightning callbacks for a network's trainer (live objects, so not in the request).

    Returns:
        The run's result, with the validation metrics of the bundled (best) weights (on ranks other than
        zero: no metrics and best epoch −1).

    Raises:
        InputError: the table cannot be read, has no split, an empty training or validation split, or
            classes in another split that the training split lacks, dates outside the seasons; a model
            parameter the model refuses, or a config that differs from the one the resumed run was started with.
        OutputError: ``out`` holds a finished run, or is not empty without ``resume``.
    """
    out, series = request.out, request.series
    table = series if isinstance(series, SeriesStore | pa.Table) else read_table(series, what="series")
    config = request.resolved_config()
    teacher = None if config.distill.teacher is None else load_bundle(config.distill.teacher)
    if teacher is not None:  # the student takes the teacher's inputs and season start
        config = with_teacher_inputs(config, teacher)
    config = _with_season_start(config, table)
    season = config.season_start or DEFAULT_START
    store = table if isinstance(table, SeriesStore) else decode_series(table, season=season)
    config = adapt_to_data(config, store)  # the preset's inputs fit to the data's cadence, season and bands
    source = f"series table {series}" if isinstance(series, (str, os.PathLike)) else "the series table"
    rows = _check_splits(store, config, source=source, field_ids=table_field_ids(table))
    train_rows, val_rows = rows.train, rows.validation
    if model_info(config.model.name).neural:  # epochs and early stopping from the data size unless set
        config = resolve_epochs(config, train_rows.size)
    _check_finite(store, np.concatenate([train_rows, val_rows]))
    if teacher is None:
        rule = window_rule_of(store, train_rows)
        classes = _label_map(store, train_rows, rule=rule)
        spec = InputSpec(
            adapter=config.adapter,
            features=config.features,
            normalization=fit_normalization(store, train_rows, features=config.features, seed=config.seed),
            window_rule=rule,
        )
    else:  # the teacher's inputs (normalisation and window rule included) and label map
        check_teacher(teacher, config=config, store=store, rows=np.concatenate([train_rows, val_rows]))
        spec, classes, rule = teacher.spec, list(teacher.classes), teacher.spec.window_rule
    names = [c.name for c in classes]
    index = {name: i for i, name in enumerate(names)}
    targets = np.array([index.get(str(label), -1) for label in store.labels], np.int64)
    channels = feature_names(store.bands, config.features, has_scl=store.scl is not None)
    L.seed_everything(config.seed, workers=False, verbose=False)
    network = create_model(
        config.model.name,
        n_bands=len(channels),
        n_steps=config.adapter.n_steps,
        n_classes=len(classes),
        seed=config.seed,
        **config.model.params,
    )
    if isinstance(network, torch.nn.Module):
        _check_devices(config)
    if request.resume:
        _check_resume_checkpoint(out / "checkpoints" / "last.ckpt")
    with output_lock(out, verb="train"):  # only once the model, the devices and the checkpoint are known good
        return _train_into(
            request,
            _Inputs(
                config=config,
                store=store,
                train_rows=train_rows,
                val_rows=val_rows,
                spec=spec,
                classes=classes,
                targets=targets,
                relabel_to=None if rule is None else index[rule.target],
                validation=rows.record(config.val_split),
                teacher=None if teacher is None else teacher.network,
            ),
            network,
            callbacks=callbacks,
        )


def _with_season_start(config: TrainConfig, table: pa.Table | SeriesStore) -> TrainConfig:
    """``config`` with the season start resolved: the user's, else the one the table records, else 01-01.

    A decoded store's days already count from its own season start, so a config that names another is refused.

    Raises:
        InputError: the config names a season start other than the one a decoded store was decoded with, or
            the table's recorded season start is not a month-day.
    """
    if isinstance(table, SeriesStore):
        if config.season_start not in (None, table.season):
            raise InputError(
                f"the series store was decoded with season start {table.season}, the config asks for "
                f"{config.season_start}: decode it with that season start or leave season_start unset"
            )
        recorded: str | None = table.season
    else:
        recorded = recorded_season_start(table.schema)
    if config.season_start is not None:
        return config
    return config.model_copy(update={"season_start": recorded or DEFAULT_START})


@dataclass(frozen=True)
class _Inputs:
    """What `run_train` checked and derived before taking the run folder."""

    config: TrainConfig
    store: SeriesStore
    train_rows: np.ndarray
    val_rows: np.ndarray
    spec: InputSpec
    classes: list[LabelClass]
    targets: np.ndarray
    relabel_to: int | None
    validation: dict[str, Any]
    teacher: Model | None = None  # the network the run distils (`inseason.train.distill`)


def _train_into(
    request: TrainRequest, inputs: _Inputs, network: Model, *, callbacks: Sequence[L.Callback]
) -> TrainResult:
    """The writing part of `run_train`, in the held run folder: config.yaml, the fit, the bundle, the summary."""
    out, quiet, config, store = request.out, request.quiet, inputs.config, inputs.store
    train_rows, val_rows, spec, classes, targets = (
        inputs.train_rows,
        inputs.val_rows,
        inputs.spec,
        inputs.classes,
        inputs.targets,
    )
    names, relabel_to = [c.name for c in classes], inputs.relabel_to
    resuming = _prepare_out(out, config, resume=request.resume)
    counts = _class_counts(store, train_rows, spec, names=names, config=config)
    parts = _BundleParts(
        spec=spec,
        bands=store.bands,
        classes=classes,
        prior=(counts / counts.sum()).astype(np.float32),
        season_start=config.season_start or DEFAULT_START,
        fingerprint=store.fingerprint,
        config=config.model_dump(mode="json"),
        training_region=_training_region(store, train_rows),
    )
    if not isinstance(network, torch.nn.Module):  # a classical baseline (its registry entry is not neural)
        fit_trees(
            network, store, train_rows, targets[train_rows], spec, config=config, relabel_to=relabel_to, quiet=quiet
        )
        metrics, confusion, calibration = _finish_bundle(
            out, network, parts, store=store, val_rows=val_rows, config=config, best_epoch=0
        )
        _log_tree_metrics(out, metrics, confusion, class_names=names, config=config)
        return _write_summary(
            out,
            TrainResult(
                out=str(out),
                model=config.model.name,
                best_epoch=0,
                epochs_run=0,
                metrics=metrics,
                resumed=False,
                validation=inputs.validation,
                calibration=None if calibration is None else calibration.to_json(),
            ),
        )
    trainer, best_epoch, best_val_loss = _fit_network(
        network,
        data=SeriesDataModule(
            store,
            train_rows=train_rows,
            val_rows=val_rows,
            targets=targets,
            spec=spec,
            config=config,
            relabel_to=relabel_to,
        ),
        class_names=names,
        counts=counts,
        out=out,
        config=config,
        resuming=resuming,
        quiet=quiet,
        callbacks=callbacks,
        teacher=inputs.teacher if isinstance(inputs.teacher, torch.nn.Module) else None,
    )
    if not trainer.is_global_zero:
        return TrainResult(
            out=str(out),
            model=config.model.name,
            best_epoch=-1,
            epochs_run=trainer.current_epoch,
            metrics={},
            resumed=resuming,
            validation=inputs.validation,
        )
    metrics, _, calibration = _finish_bundle(
        out, network, parts, store=store, val_rows=val_rows, config=config, best_epoch=best_epoch
    )
    _log_final(out, config, metrics, best_epoch=best_epoch, val_loss=best_val_loss)
    return _write_summary(
        out,
        TrainResult(
            out=str(out),
            model=config.model.name,
            best_epoch=best_epoch,
            epochs_run=trainer.current_epoch,
            metrics=metrics,
            resumed=resuming,
            validation=inputs.validation,
            calibration=None if calibration is None else calibration.to_json(),
        ),
    )


def _fit_network(
    network: torch.nn.Module,
    *,
    data: SeriesDataModule,
    class_names: list[str],
    counts: np.ndarray,
    out: Path,
    config: TrainConfig,
    resuming: bool,
    quiet: bool,
    callbacks: Sequence[L.Callback],
    teacher: torch.nn.Module | None = None,
) -> tuple[L.Trainer, int, float | None]:
    """Train ``network`` with Lightning (resuming from ``last.ckpt`` when asked) and load its best weights.

    Returns the trainer, the best epoch (−1 on ranks other than zero, which load nothing) and the
    validation loss of that epoch (None where unknown).
    """
    weights = (
        torch.tensor(counts.sum() / (len(class_names) * np.maximum(counts, 1)), dtype=torch.float32)
        if config.balance == "weighted"
        else None
    )
    module = CropTypeModule(
        network,
        class_names=class_names,
        optimizer=config.optimizer,
        schedule=config.schedule,
        epochs=planned_epochs(config),
        class_weights=weights,
        seed=config.seed,
        label_smoothing=config.label_smoothing,
        loss=config.loss,
        gce_q=config.gce_q,
        teacher=teacher,
        distill_weight=config.distill.weight,
        distill_temperature=config.distill.temperature,
    )
    monitor, mode = _MONITOR[config.monitor]
    checkpoints = out / "checkpoints"
    board = TensorBoardExtras(class_names=class_names, histograms=config.histograms)
    run_callbacks: list[L.Callback] = [
        LoaderPosition(),
        board,
        ModelCheckpoint(
            dirpath=checkpoints, filename="best", monitor=monitor, mode=mode, save_top_k=1, enable_version_counter=False
        ),
        # after the best checkpoint's callback (Lightning keeps checkpoint callbacks in this order, after the
        # others, early stopping included): an end-of-epoch resume checkpoint records the epoch's best
        StepCheckpoint(checkpoints / "last.ckpt", every_n_steps=config.checkpoint_every_n_steps),
        *callbacks,
    ]
    if config.patience:
        run_callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.patience))
    profiler = None
    if config.profile:
        from lightning.pytorch.profilers import PyTorchProfiler

        profiler = PyTorchProfiler(
            dirpath=out / "profile",
            filename="trace",
            schedule=torch.profiler.schedule(wait=1, warmup=1, active=3, repeat=1),
        )
    with _lightning_logs_quiet():
        trainer = L.Trainer(
            max_epochs=planned_epochs(config),
            accelerator=config.accelerator,
            devices=config.devices,
            strategy=config.strategy,
            logger=TensorBoardLogger(out, name="tensorboard", version=0, default_hp_metric=False),
            callbacks=run_callbacks,
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=not quiet,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=1,
            profiler=profiler,
            use_distributed_sampler=False,
        )
    with warnings.catch_warnings(), _lightning_logs_quiet():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")  # a resume
        trainer.fit(
            module,
            datamodule=data,
            ckpt_path=str(checkpoints / "last.ckpt") if resuming else None,
            weights_only=True,  # also forced by AtomicCheckpointIO, which reads it
        )
    if not trainer.is_global_zero:
        return trainer, -1, None
    best = torch.load(checkpoints / "best.ckpt", map_location="cpu", weights_only=True)
    network.load_state_dict(
        {k.removeprefix("network."): v for k, v in best["state_dict"].items() if k.startswith("network.")}
    )
    network.eval()
    best_epoch = int(best.get("epoch", trainer.current_epoch))
    # the best checkpoint carries the board's per-epoch validation losses (also after ddp_spawn, whose
    # workers' callbacks are not this process's)
    losses = best.get("callbacks", {}).get(board.state_key, {}).get("val_loss", {})
    return trainer, best_epoch, losses.get(best_epoch, board.val_loss.get(best_epoch))


def _check_devices(config: TrainConfig) -> None:
    """Refuse a GPU run where there is no GPU, and more devices than there are, before anything is written.

    Raises:
        InputError: ``accelerator=gpu`` without a GPU, or ``devices`` above the GPUs available.
    """
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if config.accelerator == "gpu" and gpus == 0:
        raise InputError("no GPU is available here: use accelerator=cpu or auto")
    if config.accelerator != "cpu" and gpus and config.devices > gpus:
        raise InputError(
            f"devices={config.devices} but {gpus} GPU{'s are' if gpus > 1 else ' is'} available here: "
            f"set devices to {gpus} or fewer"
        )


def _check_resume_checkpoint(path: Path) -> None:
    """Make sure the resume checkpoint loads as plain tensors and values (``weights_only``), before any write.

    Raises:
        InputError: the checkpoint holds pickled objects, is truncated or corrupted, or is not a training
            checkpoint.
    """
    if not path.exists():
        return
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any reason torch gives: pickled objects, truncation, garbage
        refused = isinstance(error, pickle.UnpicklingError) and "weights only" in str(error).lower()
        reason = "it holds pickled Python objects, not only tensors" if refused else "it is truncated or corrupted"
        raise InputError(
            f"{path} cannot be loaded safely ({reason}): delete {path.parent} to start the run over, "
            "or train without --resume into another folder"
        ) from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "loops", "global_step"} <= checkpoint.keys():
        raise InputError(
            f"{path} is not a training checkpoint of inseason: delete {path.parent} to start the run over, "
            "or train without --resume into another folder"
        )


@dataclass(frozen=True)
class _BundleParts:
    """What a bundle records besides the model and its metrics."""

    spec: InputSpec
    bands: tuple[str, ...]
    classes: list[LabelClass]
    prior: np.ndarray
    season_start: str
    fingerprint: str
    config: dict[str, Any]
    training_region: list[float] | None


def _training_region(store: SeriesStore, rows: np.ndarray) -> list[float] | None:
    """[west, south, east, north] of the lon/lat of ``rows`` (None when the table has no coordinates)."""
    if store.lon is None or store.lat is None:
        return None
    lon, lat = store.lon[rows], store.lat[rows]
    known = np.isfinite(lon) & np.isfinite(lat)
    if not known.any():
        return None
    return [float(lon[known].min()), float(lat[known].min()), float(lon[known].max()), float(lat[known].max())]


def _finish_bundle(
    out: Path,
    network: Model,
    parts: _BundleParts,
    *,
    store: SeriesStore,
    val_rows: np.ndarray,
    config: TrainConfig,
    best_epoch: int,
) -> tuple[dict[str, Any], np.ndarray, Calibration | None]:
    """Write the bundle, score it on the validation split and rewrite model.json with those metrics.

    The scores come through `Predictor`, what users will run. With ``config.calibrate`` a temperature is
    fitted on the validation rows' uncalibrated log-probabilities as of the validation day and the in-season
    days before it (`calibration_days`) and recorded in model.json (`inseason.train.calibration`); the
    class each row gets, hence the metrics, does not depend on it. Returns the metrics, the [K, K] confusion
    counts and the calibration (None without ``calibrate``).
    """

    def write(metrics: dict[str, Any], calibration: Calibration | None = None) -> None:
        write_bundle(
            out,
            network=network,
            model_spec=model_spec(network),
            spec=parts.spec,
            bands=parts.bands,
            classes=parts.classes,
            prior=parts.prior,
            season_start=parts.season_start,
            fingerprint=parts.fingerprint,
            metrics=metrics,
            config=parts.config,
            training_region=parts.training_region,
            leakage_audit=store.leakage_audit,
            calibration=calibration,
        )

    write({})
    predictor = Predictor(load_bundle(out), calibrated=False)
    scores, observed = predictor.log_probabilities(store, rows=val_rows, as_of=config.val_as_of)
    truth = predictor.window_targets(store, rows=val_rows, as_of=config.val_as_of)
    predicted = scores.argmax(axis=1)
    metrics = validation_metrics(truth, predicted, [c.name for c in parts.classes])
    calibration = None
    if config.calibrate:
        days = calibration_days(config.val_as_of)
        fit_scores, fit_truth = [scores[observed]], [truth[observed]]
        for day in days[:-1]:  # the last is the validation day, scored above
            day_scores, day_observed = predictor.log_probabilities(store, rows=val_rows, as_of=day)
            day_truth = predictor.window_targets(store, rows=val_rows, as_of=day)
            fit_scores.append(day_scores[day_observed])
            fit_truth.append(day_truth[day_observed])
        if sum(t.size for t in fit_truth):
            calibration = calibrate(np.concatenate(fit_scores), np.concatenate(fit_truth), as_of_days=days)
    write({"split": config.val_split, "best_epoch": best_epoch, **metrics}, calibration)
    confusion = confusion_matrix(truth, predicted, n_classes=len(parts.classes)).astype(np.int64)
    return metrics, confusion, calibration


def _log_tree_metrics(
    out: Path, metrics: dict[str, Any], confusion: np.ndarray, *, class_names: list[str], config: TrainConfig
) -> None:
    """TensorBoard records of a classical baseline, written as a network's are.

    Its validation OA, macro-F1, per-class F1 and confusion image at step 0 (its one "epoch"), then its
    hyper-parameters and metrics.
    """
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(out / "tensorboard" / "version_0")) as writer:
        write_epoch_metrics(
            writer,
            "val",
            step=0,
            tags=class_tags(class_names),
            oa=metrics["overall_accuracy"],
            macro_f1=metrics["macro_f1"],
            f1=[metrics["per_class"][name]["f1"] for name in class_names],
        )
        write_confusion(writer, confusion, class_names, step=0)
    _log_final(out, config, metrics, best_epoch=0, val_loss=None)


def _log_final(
    out: Path, config: TrainConfig, metrics: dict[str, Any], *, best_epoch: int, val_loss: float | None
) -> None:
    """The run's resolved config (flattened) and final validation metrics for TensorBoard's HPARAMS tab.

    The metrics are those of the bundle (``final/val_oa``, ``final/val_macro_f1``, ``final/val_kappa``, as in
    summary.json), the best epoch and, for networks, the validation loss of that epoch; written at the best
    epoch's step in a new event file of the run's TensorBoard folder.
    """
    from torch.utils.tensorboard import SummaryWriter

    final = {
        "val_oa": metrics["overall_accuracy"],
        "val_macro_f1": metrics["macro_f1"],
        "val_kappa": metrics["kappa"],
        "best_epoch": best_epoch,
    }
    if val_loss is not None:
        final["val_loss"] = val_loss
    logdir = out / "tensorboard" / "version_0"
    _wait_for_a_later_second(logdir)
    with SummaryWriter(str(logdir)) as writer:
        write_hparams(writer, flat_hparams(config.model_dump(mode="json")), final, step=best_epoch)


def _wait_for_a_later_second(
    logdir: Path, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Wait, at most a second, until a new event file in ``logdir`` sorts after every file already there.

    TensorBoard reads a folder's event files in name order, and a name is ``events.out.tfevents.<second>.
    <host>.<pid>.<counter>``: two files of one second sort by their counter as text, so ``.10`` comes before
    ``.9``. Read in that order, the training file's restart mark would drop the final records written after it.
    """
    stamps = [p.name.split(".")[3] for p in logdir.glob("events.out.tfevents.*")]
    newest = max((int(stamp) for stamp in stamps if stamp.isdigit()), default=0)
    while int(clock()) <= newest:
        sleep(0.05)


def _write_summary(out: Path, summary: TrainResult) -> TrainResult:
    """Write summary.json (temporary name, then rename) and return ``summary``."""
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(asdict(summary), indent=2))
    return summary


@contextmanager
def _lightning_logs_quiet() -> Iterator[None]:
    """Lightning's informational messages (accelerators available, tips, "fit stopped") off for the block.

    Lightning logs them through its own handler and the root logger, so they would show twice next to
    the progress bar; warnings and errors still come through.
    """
    names = ("lightning.pytorch", "lightning.fabric", "lightning")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
