"""``tune``: search a model's training options with Optuna; the best config comes out as YAML ``train`` takes.

The output folder holds ``study.db`` (Optuna's SQLite store of every trial, so a killed search resumes where
it stopped), ``trials/NNNN/`` (each trial's run folder, as ``inseason train`` writes it), ``best.yaml`` (the
best trial's resolved config, rewritten whenever a trial beats it) and ``summary.json`` (the `TuneResult`).

A trial trains the model with the config the search drew and scores it on the validation split (macro-F1 of
the bundled weights); a network reports its validation macro-F1 after every epoch, so that the pruner stops
a trial that falls behind the others at the same epoch. The sampler is Optuna's TPE, seeded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import lightning as L
import numpy as np
import optuna
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from optuna.trial import FrozenTrial, TrialState
from pydantic import Field, InstanceOf, model_validator

from inseason.config import StageRequest, dump_yaml
from inseason.errors import InputError, OutputError
from inseason.evaluate import CrossValidateRequest, run_cross_validate
from inseason.models import model_info
from inseason.progress import progress_bar
from inseason.storage import LOCK_NAME, atomic_path, output_lock
from inseason.tables import read_table
from inseason.train import TrainConfig, TrainingDiverged, TrainRequest, run_train, train_config
from inseason.train.config import check_model_adapter, dotted_options
from inseason.tune.space import SearchSpace, describe, search_space, suggest

log = logging.getLogger(__name__)

STUDY_NAME = "tune"
STUDY_DB = "study.db"
BEST_YAML = "best.yaml"
#: The validation metric a network reports after each epoch (as `inseason.train.module.CropTypeModule` logs it).
EPOCH_METRIC = "val/macro_f1"
#: Bootstrap resamples of each fold's evaluation in a cross-validated trial (only the point scores are used).
CV_N_BOOT = 20
#: Columns of a series table whose values make its fingerprint (with the row count and the schema).
_FINGERPRINT_COLUMNS = ("sample_id", "year", "label", "split")


class TuneRequest(StageRequest):
    """What a search is asked to do: the series table, the output folder, the config searched around and how.

    Attributes:
        series: the series table with a split column: a parquet path or ``s3://`` URI, or an Arrow table.
        out: the search's folder (new, or a killed or finished search's to resume or extend).
        config: the training config the trials start from (None: the defaults); its model is the one tuned.
        overrides: dotted options applied on top of ``config``.
        space: the search space's changes to the model's default space: dotted key → distribution spec
            (``{low, high, log, step}`` or ``{choices}``), or None to take a key out (see `inseason.tune.space`).
        trials: trials the study should hold when the search ends (finished trials of a resumed search count).
        objective: ``validation`` (macro-F1 on the validation split) or ``cv`` (mean test macro-F1 over the
            folds of `inseason.evaluate.crossval`; a trial is pruned fold by fold on its running mean).
        folds: ``cv``: the number of folds (None: the table's own folds, else 5).
        by: ``cv``: how folds are made, ``field``, ``block`` or ``random`` (None: the table's own, else field).
        pruner: ``median`` (Optuna's MedianPruner), ``hyperband`` or ``none``.
        seed: seed of the sampler (TPE).
        quiet: hide the progress bar.
    """

    series: str | InstanceOf[pa.Table]
    out: Path
    config: TrainConfig | None = None
    overrides: dict[str, Any] | None = None
    space: dict[str, Any] | None = None
    trials: int = Field(20, ge=1, le=100_000)
    objective: Literal["validation", "cv"] = "validation"
    folds: int | None = Field(None, ge=2, le=100)
    by: Literal["field", "block", "random"] | None = None
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    quiet: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse a model designed for another adapter, a search-space key it does not take, folds without cv."""
        check_model_adapter(self.resolved_config())
        self.resolved_space()
        if self.objective != "cv" and (self.folds is not None or self.by is not None):
            raise InputError("--folds and --by are options of --objective cv: drop them or add --objective cv")
        return self

    def resolved_config(self) -> TrainConfig:
        """The config the trials start from: ``config`` (or the defaults) with ``overrides`` applied.

        Returns:
            The validated config.

        Raises:
            InputError: an override names an unknown option or has a wrong type or value.
        """
        config = self.config or TrainConfig()
        if not self.overrides:
            return config
        return train_config(overrides={**dotted_options(config.model_dump(mode="json")), **self.overrides})

    def resolved_space(self) -> SearchSpace:
        """The search space: the model's default space with ``space`` applied.

        Returns:
            Dotted key → Optuna distribution.

        Raises:
            InputError: a key the model does not take, or a malformed distribution.
        """
        return search_space(self.resolved_config(), self.space)


@dataclass(frozen=True)
class TuneResult:
    """What a search reports: the best trial, its config file and every trial (summary.json's document).

    Attributes:
        out: the search's folder, as given.
        model: the registry name of the tuned model.
        objective: ``validation`` or ``cv``.
        metric: the name of the value maximised (``macro_f1``).
        best_value: the best trial's value (None when no trial completed).
        best_trial: the best trial's number (None when no trial completed).
        best_params: the best trial's values, dotted key → value.
        best_config: best.yaml, the best trial's resolved config (None when no trial completed).
        space: dotted key → the distribution searched, in words.
        trials: one row per trial: ``number``, ``state`` (complete, pruned, fail, running), ``value``,
            ``params``, ``run`` (its run folder) and what its run reported (``overall_accuracy``, ``kappa``,
            ``best_epoch``, ``epochs_run``; ``error`` for a failed one).
        resumed: whether the study held trials before this search started.
    """

    out: str
    model: str
    objective: str
    metric: str
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any]
    best_config: str | None
    space: dict[str, str]
    trials: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False

    @property
    def study_db(self) -> Path:
        """The SQLite file of the study (``optuna-dashboard sqlite:///PATH`` shows it)."""
        return Path(self.out) / STUDY_DB

    @property
    def summary_json(self) -> Path:
        """summary.json, this result as written."""
        return Path(self.out) / "summary.json"


class PruneOnValidation(L.Callback):
    """Report a network's validation macro-F1 to an Optuna trial after each epoch; stop a trial the pruner prunes.

    The trial ends with `optuna.TrialPruned` raised from the trainer (the run folder keeps its checkpoints).

    Args:
        trial: the Optuna trial of the run.
        monitor: the logged validation metric reported.
    """

    def __init__(self, trial: optuna.Trial, monitor: str = EPOCH_METRIC) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Report this epoch's value and raise `optuna.TrialPruned` when the pruner says so.

        Args:
            trainer: the trainer.
            pl_module: the module trained.

        Raises:
            optuna.TrialPruned: the pruner stops the trial at this epoch.
        """
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at epoch {epoch} ({self.monitor} {value:.4f})")


def series_fingerprint(table: pa.Table) -> str:
    """A fingerprint of a series table that does not depend on where it is stored.

    The row count, the schema's column names and types, and the values of its sample id, year, label and
    split columns (those it has): a study made on one table is refused on another, or on the same table
    split anew.

    Args:
        table: the series table.

    Returns:
        16 hex digits.
    """
    digest = hashlib.sha256()
    digest.update(str(table.num_rows).encode())
    digest.update(json.dumps([[f.name, str(f.type)] for f in table.schema]).encode())
    for name in _FINGERPRINT_COLUMNS:
        if name not in table.schema.names:
            continue
        column = pc.fill_null(table.column(name).cast(pa.string()), "\x00").combine_chunks()
        digest.update(name.encode())
        digest.update("\x1f".join(column.to_pylist()).encode())
    return digest.hexdigest()[:16]


class _TrialFailed(Exception):
    """A trial whose config the data or the model refused, or whose training diverged: the search goes on."""


def _pruner(name: str, config: TrainConfig, objective: str = "validation") -> optuna.pruners.BasePruner:
    """The pruner of ``--pruner``: its steps are a run's epochs (``config.epochs``), or the folds of a ``cv`` trial."""
    if objective == "cv":  # a step is a fold: the mean macro-F1 of the first k folds, the same folds in every trial
        if name == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        if name == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
        return optuna.pruners.NopPruner()
    if name == "median":  # epochs None: set from the data size at training time
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=(config.epochs or 8) // 4)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.epochs or "auto")
    return optuna.pruners.NopPruner()


@contextmanager
def _optuna_logs_through_logging() -> Iterator[None]:
    """Optuna's records through the root logger (the CLI's one-line handler, ``--verbose``), not its own handler."""
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    try:
        yield
    finally:
        optuna.logging.disable_propagation()
        optuna.logging.enable_default_handler()


def tune(
    series: str | os.PathLike[str] | pa.Table,
    *,
    out: str | os.PathLike[str],
    config: TrainConfig | None = None,
    overrides: dict[str, Any] | None = None,
    space: dict[str, Any] | None = None,
    trials: int = 20,
    objective: Literal["validation", "cv"] = "validation",
    folds: int | None = None,
    by: Literal["field", "block", "random"] | None = None,
    pruner: Literal["median", "hyperband", "none"] = "median",
    seed: int = 0,
    quiet: bool = True,
) -> TuneResult:
    """Search the training options of a model on a series table; the keyword form of `run_tune`.

    Args:
        series: the series table with a split column (a parquet path or ``s3://`` URI, or an Arrow table).
        out: the search's folder (new, or a search's to resume or extend).
        config: the training config the trials start from (None: the defaults).
        overrides: dotted options applied on top of ``config``.
        space: changes to the model's default search space (dotted key → distribution spec, or None).
        trials: trials the study should hold when the search ends.
        objective: ``validation`` or ``cv``.
        folds: ``cv``: the number of folds (None: the table's own folds, else 5).
        by: ``cv``: ``field``, ``block`` or ``random`` folds (None: the table's own, else field).
        pruner: ``median``, ``hyperband`` or ``none``.
        seed: seed of the sampler.
        quiet: hide the progress bar.

    Returns:
        The search's result (see `TuneResult`).

    Raises:
        InputError: an invalid option or search space; a study in ``out`` made for another model, objective
            or series table; the first trial's training refused the data.
    """
    request = TuneRequest.of(
        series=os.fspath(series) if isinstance(series, str | os.PathLike) else series,
        out=Path(out),
        config=config,
        overrides=overrides,
        space=space,
        trials=trials,
        objective=objective,
        folds=folds,
        by=by,
        pruner=pruner,
        seed=seed,
        quiet=quiet,
    )
    return run_tune(request)


def run_tune(request: TuneRequest) -> TuneResult:
    """Run (or resume) a search: trials until the study holds ``request.trials``, then best.yaml and a summary.

    Trials a killed search left running are marked failed and their values are tried again first; their run
    folders are deleted. A trial whose config the model refuses or whose training diverges is recorded as
    failed and the search goes on; when no trial has completed yet, the refusal stops the search instead (it
    is most likely the data's, and every trial would meet it).

    Args:
        request: the series table, the folder and the search's options (checked when it was built).

    Returns:
        The search's result, also written to ``summary.json``.

    Raises:
        InputError: the series table cannot be read; ``study.db`` holds a study made for another model,
            objective or series table; the first trial's training refused the data or the config.
        OutputError: ``out`` is not empty and holds no study.
    """
    out, series = request.out, request.series
    table = series if isinstance(series, pa.Table) else read_table(series, what="series")
    base, space = request.resolved_config(), request.resolved_space()
    fingerprint = series_fingerprint(table)
    if out.is_dir() and not (out / STUDY_DB).exists() and any(p.name != LOCK_NAME for p in out.iterdir()):
        raise OutputError(f"{out} is not empty and holds no study ({STUDY_DB}): choose another --out")
    with output_lock(out, verb="tune"), _optuna_logs_through_logging():
        storage = optuna.storages.RDBStorage(f"sqlite:///{out.resolve() / STUDY_DB}")
        try:
            resumed = any(s.study_name == STUDY_NAME for s in storage.get_all_studies())
            existing = 0
            if resumed:
                study_id = storage.get_study_id_from_name(STUDY_NAME)
                _check_study(storage.get_study_user_attrs(study_id), request, base, fingerprint, out)
                existing = len(storage.get_all_trials(study_id, deepcopy=False))
            study = optuna.create_study(
                storage=storage,
                study_name=STUDY_NAME,
                direction="maximize",
                sampler=optuna.samplers.TPESampler(seed=request.seed + existing),  # a resumed search draws anew
                pruner=_pruner(request.pruner, base, request.objective),
                load_if_exists=True,
            )
            if not resumed:
                study.set_user_attr("fingerprint", fingerprint)
                study.set_user_attr("model", base.model.name)
                study.set_user_attr("objective", request.objective)
                study.set_user_attr("folds", request.folds)
                study.set_user_attr("by", request.by)
            _retry_killed(study, storage, out)
            done = sum(1 for t in study.get_trials(deepcopy=False) if _counts(t))
            _optimize(study, request, base, space, table, done=done)
            return _finish(study, request, base, space, resumed=resumed)
        finally:
            storage.remove_session()
            storage.engine.dispose()


def _check_study(attrs: dict[str, Any], request: TuneRequest, base: TrainConfig, fingerprint: str, out: Path) -> None:
    """Refuse to resume a study made for another series table, model or objective.

    Raises:
        InputError: the study's recorded fingerprint, model or objective differs from this search's.
    """
    where = out / STUDY_DB
    if attrs.get("fingerprint") != fingerprint:
        raise InputError(
            f"{where} was made on another series table (fingerprint {attrs.get('fingerprint')}, this table's is "
            f"{fingerprint}): choose another --out, or tune on the table the study was made on"
        )
    current = {"model": base.model.name, "objective": request.objective, "folds": request.folds, "by": request.by}
    for key, value in current.items():
        if attrs.get(key) != value:
            raise InputError(
                f"{where} is a study of {key} {attrs.get(key)!r}, not {value!r}: choose another --out, "
                f"or resume it with {key} {attrs.get(key)!r}"
            )


def _counts(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards ``trials``: finished, and not one a killed search left running."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) and not trial.user_attrs.get(
        "killed", False
    )


def _retry_killed(study: optuna.Study, storage: optuna.storages.RDBStorage, out: Path) -> None:
    """Retry the trials a killed or interrupted search cut short: delete their folders, enqueue their values.

    A trial a kill left running is marked failed (``killed``); one interrupted (Ctrl-C) is failed already and
    marked ``killed: interrupted`` by the objective. The numbers retried are kept in the study's ``retried``
    attribute, so that each is retried once. The search holds the folder's lock, so no other search is
    running them.
    """
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    retried = set(study.user_attrs.get("retried", []))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.FAIL)):
        if trial.number in retried or (trial.state == TrialState.FAIL and not trial.user_attrs.get("killed")):
            continue
        if trial.state == TrialState.RUNNING:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, "killed", True)
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        shutil.rmtree(_run_dir(out, trial.number), ignore_errors=True)
        if trial.params:
            study.enqueue_trial(trial.params, skip_if_exists=False)
        retried.add(trial.number)
        study.set_user_attr("retried", sorted(retried))
        log.info("trial %d was cut short by a killed or interrupted search: it is tried again", trial.number)


def _run_dir(out: Path, number: int) -> Path:
    """The run folder of trial ``number``."""
    return out / "trials" / f"{number:04d}"


def _optimize(
    study: optuna.Study, request: TuneRequest, base: TrainConfig, space: SearchSpace, table: pa.Table, *, done: int
) -> None:
    """Run trials until the study holds ``request.trials`` that count, rewriting best.yaml after each."""
    remaining = request.trials - done
    if remaining <= 0:
        return
    neural = model_info(base.model.name).neural
    base_options = dotted_options(base.model_dump(mode="json"))

    series_path = _series_path(request, table) if request.objective == "cv" else None

    def objective(trial: optuna.Trial) -> float:
        config = train_config(overrides={**base_options, **suggest(trial, space)})
        run_dir = _run_dir(request.out, trial.number)
        trial.set_user_attr("run", str(run_dir.relative_to(request.out)))
        try:
            if series_path is not None:
                return _cv_value(trial, config, run_dir, request=request, series=series_path)
            result = run_train(
                TrainRequest.of(series=table, out=run_dir, config=config, quiet=True),
                callbacks=[PruneOnValidation(trial)] if neural else (),
            )
        except KeyboardInterrupt:
            trial.set_user_attr("killed", "interrupted")  # Optuna records it as failed: retried on resume
            raise
        except (InputError, TrainingDiverged) as error:
            trial.set_user_attr("error", str(error))
            completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if isinstance(error, InputError) and not completed:
                raise
            raise _TrialFailed(str(error)) from error
        for key in ("overall_accuracy", "kappa"):
            trial.set_user_attr(key, float(result.metrics[key]))
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epochs_run", result.epochs_run)
        return float(result.metrics["macro_f1"])

    with progress_bar(quiet=request.quiet) as progress:
        task = progress.add_task("tune", total=request.trials, completed=done)

        def after(study: optuna.Study, trial: FrozenTrial) -> None:
            _write_best(study, request.out, base)
            progress.advance(task)

        study.optimize(objective, n_trials=remaining, catch=(_TrialFailed,), callbacks=[after])


def _series_path(request: TuneRequest, table: pa.Table) -> Path:
    """The series table as the local Parquet file cross-validation reads (an Arrow table: ``OUT/series.parquet``)."""
    if isinstance(request.series, str):
        return Path(request.series)
    path = request.out / "series.parquet"
    if not path.exists():
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    return path


def _cv_value(trial: optuna.Trial, config: TrainConfig, run_dir: Path, *, request: TuneRequest, series: Path) -> float:
    """Cross-validate a trial's config into its run folder; its mean test macro-F1 over the folds.

    The folds are the same in every trial (the table's own, or made with the search's seed).
    """
    name = config.model.name

    def after_pair(summary: Mapping[str, Any]) -> None:
        scores = summary["models"][name]
        done, value = len(scores["folds"]), scores["mean"]["macro_f1"]
        if value is None or done >= len(summary["folds"]):
            return
        trial.report(float(value), step=done - 1)
        if trial.should_prune():
            trial.set_user_attr("pruned_at_fold", done - 1)
            raise optuna.TrialPruned(
                f"trial {trial.number} pruned after {done} of {len(summary['folds'])} folds (mean macro-F1 {value:.4f})"
            )

    result = run_cross_validate(
        CrossValidateRequest.of(
            series=series,
            out=run_dir,
            models=(name,),
            folds=request.folds,
            by=request.by,
            seed=request.seed,
            overrides=dotted_options(config.model_dump(mode="json")),
            n_boot=CV_N_BOOT,
            quiet=True,
        ),
        after_pair=after_pair,
    )
    scores = result.summary["models"][name]
    for key in ("overall_accuracy", "kappa"):
        trial.set_user_attr(key, float(scores["mean"][key]))
    trial.set_user_attr("macro_f1_std", float(scores["std"]["macro_f1"]))
    trial.set_user_attr("folds", len(result.folds))
    return float(scores["mean"]["macro_f1"])


def _best(study: optuna.Study) -> FrozenTrial | None:
    """The best completed trial (None when none completed)."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(completed, key=lambda t: (float(t.value or 0.0), -t.number)) if completed else None


def _write_best(study: optuna.Study, out: Path, base: TrainConfig) -> None:
    """Write best.yaml (atomically) when there is a best trial.

    The config its run trained with (the run folder's config.yaml, as ``train`` resolved it); for a
    cross-validated trial, the starting config with the trial's values (its folds trained on fold tables).
    """
    best = _best(study)
    if best is None:
        return
    trained = out / best.user_attrs["run"] / "config.yaml"
    if trained.exists():
        config = train_config(path=trained)
    else:
        config = train_config(overrides={**dotted_options(base.model_dump(mode="json")), **best.params})
    dump_yaml(config, out / BEST_YAML)


def _row(trial: FrozenTrial) -> dict[str, Any]:
    """A trial as a row of the summary."""
    row: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": None if trial.value is None else float(trial.value),
        "params": dict(trial.params),
    }
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        last = max(trial.intermediate_values)
        row["value"] = float(trial.intermediate_values[last])
        if "pruned_at_fold" not in trial.user_attrs:  # a cross-validated trial's steps are folds
            row["pruned_at_epoch"] = last
    row.update(trial.user_attrs)
    return row


def _finish(
    study: optuna.Study, request: TuneRequest, base: TrainConfig, space: SearchSpace, *, resumed: bool
) -> TuneResult:
    """best.yaml and summary.json of the study as it stands; the result."""
    _write_best(study, request.out, base)
    best = _best(study)
    result = TuneResult(
        out=str(request.out),
        model=base.model.name,
        objective=request.objective,
        metric="macro_f1",
        best_value=None if best is None else float(np.float64(best.value or 0.0)),
        best_trial=None if best is None else best.number,
        best_params={} if best is None else dict(best.params),
        best_config=None if best is None else str(request.out / BEST_YAML),
        space={key: describe(distribution) for key, distribution in space.items()},
        trials=[_row(t) for t in study.get_trials(deepcopy=False)],
        resumed=resumed,
    )
    with atomic_path(request.out / "summary.json") as tmp:
        tmp.write_text(json.dumps(asdict(result), indent=2, default=str))
    return result
