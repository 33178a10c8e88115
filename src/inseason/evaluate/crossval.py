"""``cross-validate``: k-fold cross-validation of several models on identical folds, in one command.

The folds are those of ``inseason split --folds`` (the series' own when it has them, else made by
`inseason.series.split.run_split` into ``OUT/folds.parquet``, with its leakage audit and its refusal of a fold
column that leaks). For each fold ``k`` the table ``OUT/folds/fold-k.parquet`` holds fold ``k`` as ``test`` and
the other folds as ``train`` and ``validation`` (carved from them: grouped by field where there are field ids,
else by block for a block split, else stratified random), so every model trains, stops early and is evaluated
on the same rows. Each (model, fold) gets a run folder ``OUT/MODEL/fold-k`` (``train`` with the model's preset,
as ``train --model MODEL`` resolves it, then ``evaluate`` on the test split into its ``evaluation.json``).

``OUT/summary.json`` (written whole after every finished pair; `read_cross_validation` reads it):

- ``kind`` (``"cross-validation"``), ``schema_version`` (1), ``complete`` (every pair finished), ``series``,
  ``folds_table``, ``by``, ``folds`` (fold names), ``seed``, ``options`` (the request's options a resumed run
  must repeat), ``metrics`` (``overall_accuracy``, ``macro_f1``, ``kappa``), ``test`` (the paired test's name);
- ``fold_sizes``: fold name → ``{"train", "validation", "test"}`` samples;
- ``leakage_audit``: ``{"leak_free", "leaks", "definition_leaks"}`` of the folds;
- ``models``: model name → ``{"folds": [{"fold", "run", "n", <metrics>}], "mean": {<metric>: value},
  "std": {…} (sample standard deviation over folds), "pooled": {<metrics>, "n"} (of the folds' summed end-of-
  season confusion matrices)}``, the finished folds only;
- ``comparisons``: one entry per pair of models (in the order given) and metric, over the folds both
  finished: ``{"models": [a, b], "metric", "differences" (a − b per fold), "mean", "std", "t", "df",
  "p_value"}``; ``t`` and ``p_value`` are null with fewer than two folds or no spread in the differences.

The paired test is Nadeau and Bengio's corrected resampled t-test (Machine Learning 52, 2003): the folds'
training sets overlap, so the plain paired t-test's variance ``s²/k`` is too small; the correction uses
``(1/k + n_test/n_train)·s²``, with ``n_test/n_train`` the mean ratio of the folds' test and training sizes.

Resuming: finished pairs (``summary.json`` and ``evaluation.json`` in their run folders) are skipped, an
interrupted network training resumes from its last checkpoint, a pair with nothing to resume starts over.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import model_validator
from scipy import stats

from inseason.config import StageRequest
from inseason.errors import InputError, OutputError
from inseason.evaluate.run import EVALUATION_FILE, EvaluateRequest, run_evaluate
from inseason.metrics import metrics_from_confusion
from inseason.models import list_models
from inseason.series.audit import audit_split, split_options
from inseason.series.geometry import block_groups, field_groups, planar_xy
from inseason.series.split import SplitRequest, group_assignment, random_assignment, run_split
from inseason.storage import atomic_path, output_lock, write_bytes
from inseason.tables import read_table
from inseason.train import TrainConfig, TrainRequest, run_train, train_config
from inseason.train.config import model_preset

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: The summary's file in the cross-validation folder (``inseason report`` recognises the folder by it).
SUMMARY_FILE = "summary.json"
#: Where folds made by the run are written in the cross-validation folder.
FOLDS_FILE = "folds.parquet"
#: The metrics compared, in the order printed.
CV_METRICS: tuple[str, ...] = ("overall_accuracy", "macro_f1", "kappa")
PAIRED_TEST = "Nadeau-Bengio corrected resampled t-test"
_KIND = "cross-validation"
_DEFAULT_FOLDS = 5
_DEFAULT_BY = "field"


class CrossValidateRequest(StageRequest):
    """What ``cross-validate`` is asked: models compared by k-fold cross-validation on one series table.

    Built alike by ``inseason cross-validate`` and `cross_validate`; `run_cross_validate` does the work.

    Attributes:
        series: the series table (a local Parquet file; its own folds are used when it has them).
        out: the cross-validation folder (new, or an earlier run's to resume).
        models: registry model names, each trained with its preset (as ``train --model NAME``).
        folds: the number of folds (at least 2); None: the table's own folds, else 5.
        by: how folds are made: ``field``, ``block`` or ``random``; None: the table's own folds' method, else
            ``field``.
        block_size: the side of a block in metres (``by="block"``).
        buffer: the least distance in metres between a sample and a higher-ranked fold (not for ``random``).
        seed: the seed of the folds, the validation carve and the evaluation's bootstrap.
        validation: the share of each fold's training part carved as validation, in (0, 0.5].
        overrides: dotted training options applied to every model's preset (``{"epochs": 1}``).
        n_boot: bootstrap replicates of each fold's evaluation (at least 1).
        allow_leakage: use folds that leak by their own definition.
        quiet: no progress bars.
    """

    series: Path
    out: Path
    models: tuple[str, ...]
    folds: int | None = None
    by: Literal["field", "block", "random"] | None = None
    block_size: float | int = 2000.0
    buffer: float | int = 0.0
    seed: int = 0
    validation: float = 0.15
    overrides: dict[str, Any] | None = None
    n_boot: int = 200
    allow_leakage: bool = False
    quiet: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse no models, repeated or unknown ones, fewer than 2 folds and a validation share out of range."""
        if not self.models:
            raise InputError("cross-validate needs at least one model: give --models, e.g. random_forest,tempcnn")
        repeated = sorted({m for m in self.models if self.models.count(m) > 1})
        if repeated:
            raise InputError(f"models {repeated} are given twice in --models: name each model once")
        unknown = [m for m in self.models if m not in list_models()]
        if unknown:
            raise InputError(f"unknown models {unknown} in --models: choose among {', '.join(list_models())}")
        if self.folds is not None and self.folds < 2:
            raise InputError(f"--folds {self.folds}: cross-validation needs at least 2 folds")
        if not 0 < self.validation <= 0.5:
            raise InputError(f"--validation {self.validation} must be a share in (0, 0.5] of each fold's training part")
        if self.n_boot < 1:
            raise InputError(f"--n-boot {self.n_boot} must be at least 1")
        return self


@dataclass(frozen=True)
class CrossValidateResult:
    """What ``cross-validate`` did: the summary written and how many (model, fold) pairs ran.

    Attributes:
        out: the cross-validation folder.
        summary_json: ``OUT/summary.json``.
        folds_table: the table whose fold column was used (the series itself or ``OUT/folds.parquet``).
        folds: the fold names.
        models: the model names, as given.
        summary: the summary document (see this module's docstring).
        ran: the pairs trained or evaluated by this run.
        reused: the finished pairs an earlier run left, skipped.
    """

    out: Path
    summary_json: Path
    folds_table: Path
    folds: tuple[str, ...]
    models: tuple[str, ...]
    summary: dict[str, Any]
    ran: int
    reused: int


def cross_validate(
    series: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    models: Sequence[str],
    folds: int | None = None,
    by: str | None = None,
    block_size: float = 2000.0,
    buffer: float = 0.0,
    seed: int = 0,
    validation: float = 0.15,
    overrides: Mapping[str, Any] | None = None,
    n_boot: int = 200,
    allow_leakage: bool = False,
    quiet: bool = True,
) -> CrossValidateResult:
    """Cross-validate ``models`` on the folds of ``series``: `run_cross_validate` by keywords.

    Args:
        series: the series table.
        out: the cross-validation folder.
        models: registry model names.
        folds: the number of folds; None: the table's own folds, else 5.
        by: ``field``, ``block`` or ``random``; None: the table's own folds' method, else ``field``.
        block_size: the side of a block in metres.
        buffer: the least distance in metres between a sample and a higher-ranked fold.
        seed: the seed of the folds, the validation carve and the bootstrap.
        validation: the share of each fold's training part carved as validation.
        overrides: dotted training options applied to every model's preset.
        n_boot: bootstrap replicates of each fold's evaluation.
        allow_leakage: use folds that leak by their own definition.
        quiet: no progress bars.

    Returns:
        The summary written and the pairs run (`CrossValidateResult`).

    Raises:
        InputError: see `run_cross_validate`.
        OutputError: see `run_cross_validate`.
    """
    return run_cross_validate(
        CrossValidateRequest.of(
            series=Path(series),
            out=Path(out),
            models=tuple(models),
            folds=folds,
            by=by,
            block_size=block_size,
            buffer=buffer,
            seed=seed,
            validation=validation,
            overrides=None if overrides is None else dict(overrides),
            n_boot=n_boot,
            allow_leakage=allow_leakage,
            quiet=quiet,
        )
    )


def run_cross_validate(
    request: CrossValidateRequest, *, after_pair: Callable[[Mapping[str, Any]], None] | None = None
) -> CrossValidateResult:
    """Train and evaluate every model on every fold of the series and write the comparison's summary.

    Args:
        request: the series, the folder, the models and the folds' options (checked when it was built).
        after_pair: called with the summary written after each (fold, model) pair, run or reused; whatever it
            raises stops the cross-validation there, its folder consistent (a search prunes a poor trial so).

    Returns:
        The summary written and the pairs run.

    Raises:
        InputError: the series is missing, unreadable or not a series table; the folds cannot be made or leak
            (without ``allow_leakage``); a class has no training samples in some fold; a model's options are
            invalid; or ``out`` holds a cross-validation made with other options.
        OutputError: ``out`` is a file, or another run holds it.
    """
    out = request.out
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file: give a folder for the cross-validation's run folders")
    configs = {name: model_config(name, request.overrides) for name in request.models}  # bad options: before work
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out, verb="cross-validate"):
        _check_previous(out, request)
        folds_table, by, audit = _folds(request)
        table = read_table(folds_table, what="series")
        names = _fold_names(table)
        fold_tables, sizes = {}, {}
        parts = {name: _fold_split(table, name, by=by, request=request) for name in names}
        _check_classes(table, parts, folds_table=folds_table)
        for name in names:
            fold_tables[name], sizes[name] = _write_fold_table(table, parts[name], out / "folds" / f"{name}.parquet")
        state = _State(request=request, folds_table=folds_table, by=by, names=names, sizes=sizes, audit=audit)
        ran = reused = 0
        for name, model in itertools.product(names, request.models):
            run = out / model / name
            if _finished(run):
                reused += 1
            else:
                _train_and_evaluate(run, configs[model], fold_tables[name], request=request, by=by)
                ran += 1
            state.record(model, name, run)
            partial = state.summary(complete=False)
            _write_summary(out, partial)
            if after_pair is not None:
                after_pair(partial)
        summary = state.summary(complete=True)
        _write_summary(out, summary)
    return CrossValidateResult(
        out=out,
        summary_json=out / SUMMARY_FILE,
        folds_table=folds_table,
        folds=tuple(names),
        models=request.models,
        summary=summary,
        ran=ran,
        reused=reused,
    )


def model_config(name: str, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The training config of ``train --model NAME``: its preset, else the inputs its registry entry is made for.

    Args:
        name: a registry model name.
        overrides: dotted options applied last (the split names are always ``train`` and ``validation``).

    Returns:
        The resolved config.

    Raises:
        InputError: an override names an unknown option or has a wrong type or value.
    """
    options: dict[str, Any] = {**(overrides or {}), "model.name": name}
    options.update({"train_split": "train", "val_split": "validation"})
    return train_config(preset=model_preset(name), overrides=options)


def read_cross_validation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a cross-validation summary (``OUT/summary.json``, or the folder holding it).

    Args:
        path: the cross-validation folder or its summary file.

    Returns:
        The summary document (see this module's docstring).

    Raises:
        InputError: the file is missing, not JSON, or not a cross-validation summary of this schema.
    """
    path = Path(path)
    file = path / SUMMARY_FILE if path.is_dir() else path
    try:
        document = json.loads(file.read_text())
    except FileNotFoundError:
        raise InputError(f"{file} does not exist: run inseason cross-validate first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{file} is not JSON ({exc})") from None
    if not is_cross_validation(document):
        raise InputError(
            f"{file} is not a cross-validation summary of schema {SCHEMA_VERSION}: give the folder "
            "inseason cross-validate --out wrote"
        )
    return dict(document)


def cross_validation_in(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The cross-validation summary of a folder, None when the folder holds none (a run folder, a file).

    Args:
        folder: any path.

    Returns:
        The summary document, or None.
    """
    file = Path(folder) / SUMMARY_FILE
    if not file.is_file():
        return None
    try:
        document = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return dict(document) if is_cross_validation(document) else None


def is_cross_validation(document: object) -> bool:
    """Whether a JSON document is a cross-validation summary of this schema.

    Args:
        document: a parsed JSON document.

    Returns:
        True for a summary `run_cross_validate` writes.
    """
    return (
        isinstance(document, dict)
        and document.get("kind") == _KIND
        and document.get("schema_version") == SCHEMA_VERSION
    )


def corrected_resampled_t(
    differences: Sequence[float], *, test_train_ratio: float
) -> tuple[float | None, float | None]:
    """Nadeau and Bengio's corrected resampled t-test of paired per-fold differences.

    Args:
        differences: one score difference per fold.
        test_train_ratio: the folds' test size over their training size (``1/(k-1)`` for equal folds).

    Returns:
        ``(t, two-sided p-value)`` with ``k − 1`` degrees of freedom; ``(None, None)`` with fewer than two
        differences or none of spread (the test is undefined there).
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.size < 2 or np.ptp(d) == 0:  # equal differences: no spread (their variance would be rounding noise)
        return None, None
    variance = float(d.var(ddof=1))
    scale = float(np.sqrt((1.0 / d.size + test_train_ratio) * variance))
    if not scale > 0:
        return None, None
    t = float(d.mean()) / scale
    return t, float(2 * stats.t.sf(abs(t), df=d.size - 1))


def _options(request: CrossValidateRequest) -> dict[str, Any]:
    """The request's options a resumed run must repeat (the models may differ: new ones are added)."""
    return {
        "series": str(request.series),
        "folds": request.folds,
        "by": request.by,
        "block_size": request.block_size,
        "buffer": request.buffer,
        "seed": request.seed,
        "validation": request.validation,
        "overrides": request.overrides or {},
        "n_boot": request.n_boot,
    }


def _check_previous(out: Path, request: CrossValidateRequest) -> None:
    """Refuse to resume a cross-validation an earlier run left in ``out`` with other options.

    Raises:
        InputError: ``out``'s summary was made with other options, or is not a cross-validation summary.
    """
    if not (out / SUMMARY_FILE).exists():
        return
    previous = read_cross_validation(out)
    if previous["options"] != json.loads(json.dumps(_options(request))):
        changed = sorted(k for k, v in _options(request).items() if previous["options"].get(k) != v)
        raise InputError(
            f"{out} holds a cross-validation made with other options ({', '.join(changed)}): give the same "
            "options to resume it, or another --out"
        )


def _fold_names(table: pa.Table) -> list[str]:
    """The fold names of a table's split column, in fold order."""
    names = {s for s in table.column("split").to_pylist() if s is not None}
    return sorted(names, key=lambda s: int(s.removeprefix("fold-")))


def _folds(request: CrossValidateRequest) -> tuple[Path, str, dict[str, Any]]:
    """The table with the fold column (the series', or one made into ``OUT/folds.parquet``), its method and audit.

    Raises:
        InputError: the series cannot be read; the folds leak by their own definition without
            ``allow_leakage``; split refuses the options.
    """
    series = request.series
    try:
        schema = pq.read_schema(series)
    except FileNotFoundError:
        raise InputError(f"series table {series} does not exist") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"series table {series} is not a readable Parquet file: {exc}") from None
    own = split_options(schema)
    has_folds = bool(own.get("folds")) and "split" in schema.names
    folds = request.folds or (own["folds"] if has_folds else _DEFAULT_FOLDS)
    by = request.by or (own["by"] if has_folds else _DEFAULT_BY)
    if has_folds and own["folds"] == folds and own["by"] == by:
        table = read_table(series, what="series")
        audit = audit_split(table)
        if audit["definition_leaks"] and not request.allow_leakage:
            raise InputError(
                f"the folds of {series} leak by their own definition ({', '.join(audit['definition_leaks'])}): "
                "re-split it with inseason split --folds, or pass --allow-leakage to use them anyway"
            )
        return series, by, audit
    made = request.out / FOLDS_FILE
    wanted = {"by": by, "folds": folds, "seed": request.seed, "block_size": request.block_size}
    wanted["buffer"] = request.buffer
    if made.exists():
        recorded = split_options(pq.read_schema(made))
        if {k: recorded.get(k) for k in wanted} == wanted:
            return made, by, audit_split(read_table(made, what="series"))
    if by == "random":
        log.info("random folds: pixels of one field fall into different folds, so the scores are inflated")
    result = run_split(
        SplitRequest.of(
            series=series,
            by=by,
            out=made,
            seed=request.seed,
            folds=folds,
            block_size=request.block_size,
            buffer=request.buffer,
            allow_leakage=request.allow_leakage,
            quiet=request.quiet,
        )
    )
    return made, by, result.audit


def _carve_groups(part: pa.Table, *, by: str, block_size: float) -> np.ndarray | None:
    """The groups a fold's validation is carved by: fields where every row has one, else blocks, else None."""
    field = part.column("field_id")
    xy = planar_xy(part)
    if not field.null_count:
        return field_groups(field.to_numpy(), xy)
    if by == "block" and xy is not None and not np.isnan(xy).any():
        return block_groups(xy, block_size, field)
    return None


def _fold_split(table: pa.Table, fold: str, *, by: str, request: CrossValidateRequest) -> np.ndarray:
    """The split of every row for one fold: ``test`` (the fold), ``train`` and ``validation`` (the others), or None.

    Validation is carved from the other folds, stratified, grouped as `_carve_groups` says; a class whose
    every training sample the carve took keeps its groups in train.
    """
    splits = np.array(table.column("split").to_pylist(), dtype=object)
    labels = np.array(table.column("label").to_pylist(), dtype=object).astype(str)
    result = np.full(len(splits), None, dtype=object)
    result[splits == fold] = "test"
    rows = np.flatnonzero(np.array([s is not None and s != fold for s in splits], dtype=bool))
    part = table.take(pa.array(rows))
    groups = _carve_groups(part, by=by, block_size=request.block_size)
    shares = np.array([1.0 - request.validation, request.validation])
    seed = request.seed + int(fold.removeprefix("fold-")) + 1
    if groups is None:
        index = random_assignment(labels[rows], fractions=shares, seed=seed, stratify=True)
    else:
        index = group_assignment(groups, labels[rows], shares=shares, seed=seed, stratify=True)
    for label in sorted(set(labels[rows]) - set(labels[rows][index == 0])):
        taken = (index == 1) & (labels[rows] == label)
        index[np.isin(groups, groups[taken]) if groups is not None else taken] = 0
    result[rows] = np.where(index == 0, "train", "validation")
    return result


def _check_classes(table: pa.Table, parts: Mapping[str, np.ndarray], *, folds_table: Path) -> None:
    """Refuse folds whose training part lacks a class of the table, naming the class and the fold.

    Raises:
        InputError: a class has no training sample in some fold.
    """
    labels = np.array(table.column("label").to_pylist(), dtype=object).astype(str)
    assigned = np.array([s is not None for s in table.column("split").to_pylist()])
    everything = set(labels[assigned])
    for fold, split in parts.items():
        missing = sorted(str(label) for label in everything - set(labels[split == "train"]))
        if missing:
            label = missing[0]
            n = int(((labels == label) & (split == "test")).sum())
            raise InputError(
                f"class {label!r} has no training samples in {fold} of {folds_table} (all {n} of its samples are "
                f"in {fold}{f'; nor do {missing[1:]}' if len(missing) > 1 else ''}): use fewer --folds, or "
                "merge or drop the class"
            )


def _write_fold_table(table: pa.Table, split: np.ndarray, path: Path) -> tuple[Path, dict[str, int]]:
    """Write one fold's table (train, validation, test) with its own leakage audit; the samples of each split."""
    index = table.schema.get_field_index("split")
    fold = table.set_column(index, "split", pa.array(split.tolist(), pa.string())).filter(
        pc.is_valid(pa.array(split.tolist(), pa.string()))
    )
    audit = audit_split(fold)
    meta = {**(table.schema.metadata or {}), b"inseason:audit": json.dumps(audit, default=str).encode()}
    meta.pop(b"inseason:normalization", None)  # the folds' statistics: train fits its own on its rows
    fold = fold.replace_schema_metadata(meta)
    sizes = {name: int((split == name).sum()) for name in ("train", "validation", "test")}
    if path.exists() and pq.read_schema(path).metadata == fold.schema.metadata:
        existing = pq.read_table(path, columns=["sample_id", "split"])
        if existing.equals(fold.select(["sample_id", "split"])):
            return path, sizes
    with atomic_path(path) as tmp:
        pq.write_table(fold, tmp)
    return path, sizes


def _finished(run: Path) -> bool:
    """Whether a (model, fold) run folder holds a finished training and its evaluation."""
    return (run / "summary.json").exists() and (run / EVALUATION_FILE).exists()


def _train_and_evaluate(
    run: Path, config: TrainConfig, fold_table: Path, *, request: CrossValidateRequest, by: str
) -> None:
    """Train (resuming an interrupted training) and evaluate one model on one fold into ``run``."""
    if not (run / "summary.json").exists():
        resume = (run / "checkpoints" / "last.ckpt").exists()
        if resume:
            for leftover in ("model.json", "weights.safetensors"):  # a bundle cut short: made again
                (run / leftover).unlink(missing_ok=True)
        elif run.exists():
            shutil.rmtree(run)  # nothing to resume (a classical fit or a network before its first checkpoint)
        log.info("training %s on %s%s", config.model.name, run.name, " (resumed)" if resume else "")
        run_train(TrainRequest.of(series=str(fold_table), out=run, config=config, resume=resume, quiet=request.quiet))
    log.info("evaluating %s on %s", config.model.name, run.name)
    run_evaluate(
        EvaluateRequest.of(
            run=run,
            series=fold_table,
            split="test",
            by="block" if by == "block" else "field",
            block_size=request.block_size,
            n_boot=request.n_boot,
            seed=request.seed,
            quiet=request.quiet,
        )
    )


class _State:
    """The per-fold scores gathered so far and the summary made of them."""

    def __init__(
        self,
        *,
        request: CrossValidateRequest,
        folds_table: Path,
        by: str,
        names: list[str],
        sizes: dict[str, dict[str, int]],
        audit: Mapping[str, Any],
    ) -> None:
        self.request, self.folds_table, self.by, self.names, self.sizes = request, folds_table, by, names, sizes
        self.audit = audit
        self.scores: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in request.models}
        self.confusions: dict[str, dict[str, tuple[list[str], np.ndarray]]] = {m: {} for m in request.models}

    def record(self, model: str, fold: str, run: Path) -> None:
        """Read one finished pair's end-of-season scores and confusion matrix from its evaluation."""
        evaluation = json.loads((run / EVALUATION_FILE).read_text())
        self.scores[model][fold] = {
            "fold": fold,
            "run": str(run),
            "n": int(evaluation["n"]),
            **{m: evaluation[m] for m in CV_METRICS},
        }
        classes = [c["name"] for c in evaluation["classes"]]
        self.confusions[model][fold] = (classes, np.asarray(evaluation["confusion"]["counts"], dtype=np.int64))

    def _pooled(self, model: str) -> dict[str, Any]:
        """The metrics of the model's folds' summed confusion matrices (classes aligned by name)."""
        classes = sorted({c for names, _ in self.confusions[model].values() for c in names})
        index = {c: i for i, c in enumerate(classes)}
        total = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for names, counts in self.confusions[model].values():
            where = np.array([index[c] for c in names], dtype=np.int64)
            total[np.ix_(where, where)] += counts
        pooled = metrics_from_confusion(total, classes=classes)
        return {**{m: pooled[m] for m in CV_METRICS}, "n": pooled["n"]}

    def _ratio(self, folds: Sequence[str]) -> float:
        """The mean test size over training size (train and validation) of ``folds``."""
        sizes = [self.sizes[f] for f in folds]
        return float(np.mean([s["test"] / max(s["train"] + s["validation"], 1) for s in sizes]))

    def summary(self, *, complete: bool) -> dict[str, Any]:
        """The summary document of the pairs recorded (see the module's docstring)."""
        models: dict[str, Any] = {}
        for model in self.request.models:
            folds = [self.scores[model][f] for f in self.names if f in self.scores[model]]
            entry: dict[str, Any] = {"folds": folds, "mean": {}, "std": {}, "pooled": None}
            for metric in CV_METRICS:
                values = [f[metric] for f in folds if f[metric] is not None]
                entry["mean"][metric] = float(np.mean(values)) if values else None
                entry["std"][metric] = float(np.std(values, ddof=1)) if len(values) > 1 else None
            if folds:
                entry["pooled"] = self._pooled(model)
            models[model] = entry
        comparisons = []
        for a, b in itertools.combinations(self.request.models, 2):
            common = [f for f in self.names if f in self.scores[a] and f in self.scores[b]]
            for metric in CV_METRICS:
                pairs = [(self.scores[a][f][metric], self.scores[b][f][metric]) for f in common]
                if not pairs or any(x is None or y is None for x, y in pairs):
                    continue
                d = np.array([x - y for x, y in pairs], dtype=np.float64)
                t, p = corrected_resampled_t(d.tolist(), test_train_ratio=self._ratio(common))
                comparisons.append(
                    {
                        "models": [a, b],
                        "metric": metric,
                        "folds": common,
                        "differences": d.tolist(),
                        "mean": float(d.mean()),
                        "std": float(d.std(ddof=1)) if d.size > 1 else None,
                        "t": t,
                        "df": d.size - 1,
                        "p_value": p,
                    }
                )
        return {
            "kind": _KIND,
            "schema_version": SCHEMA_VERSION,
            "complete": complete,
            "series": str(self.request.series),
            "folds_table": str(self.folds_table),
            "by": self.by,
            "folds": self.names,
            "seed": self.request.seed,
            "options": json.loads(json.dumps(_options(self.request))),
            "metrics": list(CV_METRICS),
            "test": PAIRED_TEST,
            "fold_sizes": self.sizes,
            "leakage_audit": {
                "leak_free": bool(self.audit.get("leak_free")),
                "leaks": list(self.audit.get("leaks", [])),
                "definition_leaks": list(self.audit.get("definition_leaks", [])),
            },
            "models": models,
            "comparisons": comparisons,
        }


def _write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    """Write ``OUT/summary.json`` whole."""
    write_bytes(out / SUMMARY_FILE, json.dumps(summary, indent=2).encode())
