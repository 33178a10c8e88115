"""`inseason evaluate`: a trained run's model bundle scored on one split of a series table."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from pydantic import model_validator

from inseason.config import StageRequest
from inseason.data import SEASON_END, SeriesStore, build_batch, decode_series
from inseason.data.store import leakage_audit
from inseason.errors import InputError
from inseason.evaluate.bootstrap import SpatialByField, check_n_boot
from inseason.evaluate.curves import check_target_f1
from inseason.evaluate.evaluation import (
    EvaluatePredictorRequest,
    EvaluateResult,
    run_evaluate_predictor,
    write_evaluation,
)
from inseason.evaluate.importance import attention_profile
from inseason.evaluate.schedule import check_month_days
from inseason.labels import cdl_classes, rgb_hex
from inseason.storage import output_lock
from inseason.tables import read_table
from inseason.train import Bundle, LabelClass, Predictor, load_bundle

#: Where `evaluate_run` writes the evaluation inside the run folder (and `inseason report` looks for it).
EVALUATION_FILE = "evaluation.json"


class EvaluateRequest(StageRequest):
    """What the ``evaluate`` stage is asked: a run's model bundle scored on one split of a series table.

    Built alike by ``inseason evaluate`` and `evaluate_run`; `run_evaluate` does the work.

    Attributes:
        run: the training run folder holding the model bundle.
        series: the split series table.
        split: the split to evaluate.
        as_of: month-days of the in-season curve; default every 15 days from day 90 to day 303 of the
            season (`season_as_of_schedule`: 1 April–31 October for seasons starting 1 January).
        target_f1: the F1 whose earliest date is reported, in (0, 1].
        by: ``"field"`` or ``"block"``: accuracy groups and bootstrap clusters.
        block_size: block side in metres, for ``by="block"``.
        course_protocol: add the ARSET course's window protocol.
        n_boot: bootstrap replicates (at least 1).
        importance: compute the band and period permutation importance. It is most of the cost: one model
            pass over the split per band or period, repeat and date (docs/scaling.md).
        importance_repeats: permutations per band or period (at least 1).
        seed: seed of the bootstrap and permutations.
        out: where to write the evaluation; default ``run/evaluation.json``.
        quiet: hide progress bars.
    """

    run: Path
    series: Path
    split: str = "test"
    as_of: tuple[str, ...] | None = None
    target_f1: float = 0.8
    by: SpatialByField = "field"
    block_size: float = 2000.0
    course_protocol: bool = False
    n_boot: int = 1000
    importance: bool = True
    importance_repeats: int = 5
    seed: int = 0
    out: Path | None = None
    quiet: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse options the evaluation cannot use (target F1, as-of dates, bootstrap, importance repeats).

        Checked before any file is read.
        """
        check_target_f1(self.target_f1)
        if self.as_of is not None:
            check_month_days(self.as_of)
        check_n_boot(self.n_boot)
        if self.importance_repeats < 1:
            raise InputError(f"importance_repeats={self.importance_repeats}: permute each band or period at least once")
        return self


def evaluate_run(
    run: str | os.PathLike[str],
    series: str | os.PathLike[str],
    *,
    split: str = "test",
    as_of: Sequence[str] | None = None,
    target_f1: float = 0.8,
    by: str = "field",
    block_size: float = 2000.0,
    course_protocol: bool = False,
    n_boot: int = 1000,
    importance: bool = True,
    importance_repeats: int = 5,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> EvaluateResult:
    """Evaluate the bundle in ``run`` on the rows of ``series`` whose split is ``split``: `run_evaluate` by keywords.

    Args:
        run: the training run folder holding the model bundle.
        series: the split series table.
        split: the split to evaluate.
        as_of: month-days of the in-season curve; default every 15 days from day 90 to day 303 of the
            season (`season_as_of_schedule`: 1 April–31 October for seasons starting 1 January).
        target_f1: the F1 whose earliest date is reported.
        by: ``"field"`` or ``"block"``: accuracy groups and bootstrap clusters.
        block_size: block side in metres, for ``by="block"``.
        course_protocol: add the ARSET course's window protocol.
        n_boot: bootstrap replicates.
        importance: compute the band and period permutation importance (most of the cost).
        importance_repeats: permutations per band or period.
        seed: seed of the bootstrap and permutations.
        out: where to write the evaluation; default ``run/evaluation.json``.
        quiet: hide progress bars.

    Returns:
        The evaluation written (its document in ``.evaluation``).

    Raises:
        InputError: the table has no split column or no rows in ``split``, labels the model does not know,
            or bad evaluation options.
    """
    return run_evaluate(
        EvaluateRequest.of(
            run=str(run),
            series=str(series),
            split=split,
            as_of=as_of,
            target_f1=target_f1,
            by=by,
            block_size=block_size,
            course_protocol=course_protocol,
            n_boot=n_boot,
            importance=importance,
            importance_repeats=importance_repeats,
            seed=seed,
            out=None if out is None else str(out),
            quiet=quiet,
        )
    )


def run_evaluate(request: EvaluateRequest) -> EvaluateResult:
    """Evaluate the bundle in ``request.run`` on the rows of ``request.series`` whose split is ``request.split``.

    Writes the evaluation document (`inseason.evaluate.evaluation`) to ``request.out``. The split's leakage
    audit (stored in the table by `inseason split`) goes into the evaluation so the report shows it. A test
    set too small for its figures to mean something is logged as a warning by `run_evaluate_predictor`.

    Args:
        request: the run, the series table, the split and the evaluation's options.

    Returns:
        The evaluation written: its document, its path and its headline.

    Raises:
        InputError: the table has no split column or no rows in the split, labels the model does not know,
            or bad evaluation options.
    """
    run, series, split = request.run, request.series, request.split
    bundle = load_bundle(run)
    table = read_table(series, what="series")
    if "split" not in table.column_names:
        raise InputError(f"series table {series} has no split column: run inseason split first")
    rows = table.filter(pc.equal(table.column("split"), split))
    if rows.num_rows == 0:
        found = sorted({s for s in table.column("split").to_pylist() if s is not None})
        raise InputError(f"series table {series} has no rows in split {split!r} (splits: {', '.join(found)})")
    bundle.class_index(rows.column("label").to_pylist())  # every label must be one the model knows
    scored = run_evaluate_predictor(
        BundlePredictFn(bundle),
        rows,
        EvaluatePredictorRequest.of(
            classes=bundle.class_names,
            class_codes=[_cdl_code(c) for c in bundle.classes],
            class_colors=[rgb_hex(c.color) for c in bundle.classes],
            bands=bundle.bands,
            as_of=request.as_of,
            season_start=bundle.season_start,
            target_f1=request.target_f1,
            spatial_by=request.by,
            block_size=request.block_size,
            n_boot=request.n_boot,
            importance=request.importance,
            importance_repeats=request.importance_repeats,
            course_protocol=request.course_protocol,
            config=bundle.manifest.get("config", {}),
            leakage_audit=leakage_audit(table.schema),
            extra_summary={
                "run": str(run),
                "model": bundle.manifest.get("model", {}).get("name"),
                "split": split,
                "series": str(series),
            },
            title=f"inseason evaluation of {run.name} on the {split} split",
            seed=request.seed,
            temperature=bundle.temperature,
            quiet=request.quiet,
        ),
        targets=_WindowTargets(bundle) if bundle.spec.window_rule is not None else None,
    )
    evaluation = scored.evaluation
    evaluation["importance"]["attention"] = _attention(bundle, rows)
    target = request.out if request.out is not None else run / EVALUATION_FILE
    with output_lock(target, verb="evaluate", file=True):
        path = write_evaluation(evaluation, target)
    return EvaluateResult.from_evaluation(evaluation, path=path)


class BundlePredictFn:
    """A bundle as the predictor of an evaluation (a `inseason.evaluate.predictor.StorePredictFn`).

    Called on a table it decodes it (`predict_series`); an evaluation instead decodes its table once with
    `decode` and predicts every as-of date and permutation from the store with `predict_store`.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.predictor = Predictor(bundle)

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> np.ndarray:
        """Class probabilities of ``table``'s rows as of ``as_of`` (see `inseason.evaluate.predictor.PredictFn`)."""
        return self.predictor.predict_proba(self.decode(table), as_of=as_of)

    def decode(self, table: pa.Table) -> SeriesStore:
        """``table`` decoded with the bundle's season start.

        Args:
            table: series rows.

        Returns:
            The store, rows in table order.
        """
        return decode_series(table, season=self.bundle.season_start)

    def predict_store(self, store: SeriesStore, *, as_of_day: np.ndarray) -> np.ndarray:
        """Class probabilities of every store row as of its own day of season.

        Args:
            store: a store from `decode` (its values may be permuted).
            as_of_day: ``[rows]`` the last day of season each row is seen.

        Returns:
            ``[rows, classes]`` calibrated probabilities.
        """
        return self.predictor.predict_proba(store, as_of=np.asarray(as_of_day, np.int64))


def _cdl_code(label: LabelClass) -> int | None:
    """The CDL code a class stands for: the code whose CDL name is its name (None for Other or own labels)."""
    for code in label.codes:
        if code in cdl_classes() and cdl_classes()[code].name.casefold() == label.name.casefold():
            return code
    return None


class _WindowTargets:
    """Targets as of a date under the bundle's window rule (the ARSET No Crop Growing rule), on tables or a store."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle, self.predictor = bundle, Predictor(bundle)

    def __call__(self, table: pa.Table, *, as_of: dt.date) -> np.ndarray:
        """Each row's class as of ``as_of`` under the window rule."""
        return self.predictor.window_targets(decode_series(table, season=self.bundle.season_start), as_of=as_of)

    def targets_store(self, store: SeriesStore, *, as_of_day: np.ndarray) -> np.ndarray:
        """Each store row's class as of its own day of season under the window rule."""
        return self.predictor.window_targets(store, as_of=np.asarray(as_of_day, np.int64))


def _attention(bundle: Bundle, rows: pa.Table, *, max_rows: int = 4096) -> dict[str, list[float]] | None:
    """Share of an attention model's attention by period of the season, over the rows at season's end."""
    attention = getattr(bundle.network, "attention", None)  # only attention models have one
    if not callable(attention):
        return None
    store = decode_series(rows, season=bundle.season_start)
    index = np.arange(min(len(store), max_rows), dtype=np.int64)
    batch = build_batch(store, index, bundle.spec, as_of=np.full(index.size, SEASON_END, np.int64))
    with torch.no_grad():
        weights = attention(
            torch.from_numpy(batch.values), torch.from_numpy(batch.mask), torch.from_numpy(batch.doy)
        ).numpy()
    return attention_profile(batch.doy, weights, batch.mask)
