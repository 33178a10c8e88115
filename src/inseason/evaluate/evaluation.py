"""One evaluation of a predictor on a series table, as a JSON-ready dict.

The dict is the input of the HTML report and of ``inseason evaluate --json``. The evaluation dict
(``schema_version`` 2; `read_evaluation` refuses other versions); every number is a plain float/int,
undefined values are ``null``, month-days are ``"MM-DD"``, calendar dates ISO ``"YYYY-MM-DD"``:

- ``schema_version`` (2), ``title`` (str), ``config`` (the run's resolved config, any JSON object),
  ``leakage_audit`` (the split's audit, any JSON object, or null);
- ``data``: ``n_samples``, ``years``, ``bands``, ``scales``, ``class_counts`` (name → rows),
  ``observations_per_sample`` (``min``/``median``/``max``), ``first_date``, ``last_date``, plus any extra
  summary the caller passes;
- ``classes``: list of ``{"name", "code" (CDL code or null), "color" ("#rrggbb")}``, in model output order;
- ``season_start`` (month-day), ``target_f1``;
- ``end_of_season``: the month-day the end-of-season (headline) metrics are scored as of: each season's
  last day (`season_end`; ``"12-31"`` for seasons starting 1 January), so a reader knows which date
  "end of season" is;
- end-of-season metrics (as of ``end_of_season`` in each row's season): ``overall_accuracy``, ``macro_f1``,
  ``weighted_f1``, ``kappa``, ``n``, ``per_class`` (list of ``{"name", "precision", "recall", "f1",
  "support", "predicted"}``), ``classes_without_support`` (names), ``confusion`` (``counts``,
  ``by_truth``, ``by_prediction``: K×K lists, rows truth), ``intervals`` (``overall_accuracy``,
  ``macro_f1``, ``weighted_f1``, ``kappa``: ``[low, high]`` or null; ``per_class_f1``: list of those;
  ``level``; ``resampled``: the resampling unit, ``"location+field"`` (every season of a location — same
  ``sample_id`` or same x/y — together, joined with fields across years) or ``"block"`` (blocks, which
  hold all seasons of their locations); ``n_clusters``: how many such units the bootstrap draws from;
  see `inseason.evaluate.bootstrap.resampling_clusters`). The in-season curve's intervals resample the
  same clusters;
- ``best_as_of``: ``{"as_of": "MM-DD", "overall_accuracy", "macro_f1", "kappa"}`` of the in-season
  curve's date with the highest macro-F1 (the earliest of equal ones), or null when no date has a
  macro-F1;
- ``sample_size``: ``{"n" (end-of-season test samples), "min_per_class" (fewest test samples of a class
  present in the test split, 0 when none), "classes_below" (present classes with fewer than
  `MIN_SAMPLES_PER_CLASS` (5) test samples), "too_small" (fewer than `MIN_TEST_SAMPLES` (30) samples or
  some ``classes_below``), "warning" (one sentence for a person, null when not too small)}``; classes of
  the label map absent from the test split are not counted here (they are in ``classes_without_support``
  and have no F1);
- ``by_as_of_date``: list, in season order, of ``{"as_of": "MM-DD", ...the same metrics keys...}``;
- ``calibration``: how well the probabilities' confidence matches the accuracy: ``{"temperature" (the T the
  predictor divides its logits by, 1 when uncalibrated), "n_bins", "ece_before", "ece_after" (expected
  calibration error at the end of the season of the probabilities before and after temperature scaling,
  `inseason.metrics.expected_calibration_error`), "by_as_of_date": [{"as_of", "ece_before", "ece_after"}]}``
  (absent in evaluations written before calibration existed);
- ``earliest_date``: class name → first as-of month-day whose F1 ≥ ``target_f1``, or null;
- ``course_windows``: null or ``{"window_days", "step_days", "n_windows", "windows": [{"index",
  "start_offset_days", "n", "overall_accuracy", "macro_f1"}], ...pooled metrics keys..., "published":
  {"overall_accuracy": 0.756, "macro_f1": 0.602, "n_pixels", "n_windows", "window_accuracy_range":
  [low, high], "source"}}`` (the course's own figures under the same protocol, to print beside ours);
- ``importance``: ``{"bands": [<permutation result>, ...]|null, "periods": [<permutation result>, ...]|null,
  "attention": {"day_of_season": [...], "weight": [...]}|null}``, one permutation result per importance
  as-of date (`importance_dates`: early, middle and last date of the curve), where a permutation result is
  ``{"by", "metric", "as_of", "baseline", "n_repeats", "features": [{"name", "importance", "std",
  "n_observations"}]}``;
- ``spatial``: ``{"by": "field"|"block", "block_size": float|null, "crs": str|null, "groups": [{"group",
  "n", "correct", "accuracy", "x", "y", "majority_label"}]}``;
- ``map``: ``{"crs": str|null, "x": [...], "y": [...], "year": [season], "truth": [class index],
  "prediction": [class index], "confidence": [0..1]}`` at the end of the season;
- ``samples``: the time-series viewer's samples, list of ``{"sample_id" (str), "label", "year", "dates"
  (ISO), "bands": {band: [reflectance]}, "ndvi": [...]|null, "scl": [...]|null, "as_of": [{"date" (ISO),
  "label", "probability"}]}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import model_validator

from inseason.config import SeasonStart, StageRequest
from inseason.errors import InputError
from inseason.evaluate.bootstrap import (
    SpatialByField,
    bootstrap_intervals,
    check_level,
    check_n_boot,
    resampling_clusters,
)
from inseason.evaluate.curves import check_target_f1, course_windows, in_season_curve, predict_at, targets_at
from inseason.evaluate.importance import permutation_importance
from inseason.evaluate.metrics import SampleSize, classification_metrics, sample_size_check
from inseason.evaluate.predictor import PredictFn, StorePredictFn, Targets, class_indices
from inseason.evaluate.schedule import check_month_days, resolve_as_of, season_end
from inseason.evaluate.series_arrays import flatten_series
from inseason.evaluate.spatial import accuracy_by_group
from inseason.labels import cdl_class, rgb_hex
from inseason.metrics import ECE_BINS, expected_calibration_error
from inseason.season import DEFAULT_START, days_since_epoch
from inseason.series.geometry import block_ids, block_labels
from inseason.storage import write_bytes
from inseason.tables import series_bands
from inseason.train.calibration import untempered

SCHEMA_VERSION = 2

log = logging.getLogger(__name__)

#: Colours for classes without a CDL code (a qualitative palette, colour-blind friendly first).
FALLBACK_COLORS = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#999999",
    "#8c564b",
    "#17becf",
)


def class_entries(
    classes: Sequence[str], *, codes: Sequence[int | None], colors: Sequence[str | None] | None = None
) -> list[dict[str, Any]]:
    """``{"name", "code", "color"}`` per class, coloured as CDL colours its code.

    Args:
        classes: class names.
        codes: each class's CDL code, or None.
        colors: each class's own colour (``"#rrggbb"``, the model's label map), used when it has no CDL
            code; None or a None entry falls back to a fixed palette.

    Returns:
        One entry per class.
    """
    entries = []
    for k, (name, code) in enumerate(zip(classes, codes, strict=True)):
        color = (colors[k] if colors is not None else None) or FALLBACK_COLORS[k % len(FALLBACK_COLORS)]
        if code is not None:
            color = rgb_hex(cdl_class(code).color)
        entries.append({"name": name, "code": code, "color": color})
    return entries


def codes_from_table(table: pa.Table, *, classes: Sequence[str]) -> list[int | None]:
    """Each class's source code, when all its rows share one ``label_code``.

    Args:
        table: series rows with ``label`` and ``label_code``.
        classes: class names.

    Returns:
        The code of each class, None where its rows carry none or several.
    """
    seen: dict[str, set[int]] = {name: set() for name in classes}
    for label, code in zip(table.column("label").to_pylist(), table.column("label_code").to_pylist()):
        if label in seen and code is not None:
            seen[label].add(int(code))
    return [next(iter(codes)) if len(codes) == 1 else None for codes in seen.values()]


def data_summary(table: pa.Table, *, classes: Sequence[str]) -> dict[str, Any]:
    """Rows, seasons, bands, class counts, observation counts and date range of a series table.

    Args:
        table: series rows.
        classes: class names to count.

    Returns:
        The evaluation dict's ``data`` entry (see the module docstring).
    """
    bands, scales = series_bands(table.schema)
    flat = flatten_series(table)
    per_row = np.bincount(flat.row, minlength=table.num_rows)
    labels = table.column("label").to_pylist()
    dates = table.column("dates").combine_chunks().flatten()
    first = pc.min(dates).as_py() if len(dates) else None
    last = pc.max(dates).as_py() if len(dates) else None
    return {
        "n_samples": table.num_rows,
        "years": sorted(set(table.column("year").to_pylist())),
        "bands": bands,
        "scales": scales,
        "class_counts": {name: labels.count(name) for name in classes},
        "observations_per_sample": {
            "min": int(per_row.min()),
            "median": float(np.median(per_row)),
            "max": int(per_row.max()),
        },
        "first_date": None if first is None else first.isoformat(),
        "last_date": None if last is None else last.isoformat(),
    }


def viewer_samples(
    table: pa.Table,
    *,
    classes: Sequence[str],
    probabilities: np.ndarray,
    as_of: Sequence[str],
    season_start: str,
    n_samples: int,
    seed: int,
) -> list[dict[str, Any]]:
    """The time-series viewer's samples: a few rows with their series and predictions.

    Classes are taken in turn, rows at random within a class. Each sample has its band series in
    reflectance, NDVI when B04 and B08 exist, SCL, and the predicted class at each as-of date.

    Args:
        table: series rows.
        classes: class names, in the predictor's output order.
        probabilities: ``[dates, rows, classes]`` of the in-season curve.
        as_of: the curve's month-days.
        season_start: month-day the seasons start.
        n_samples: most samples to give.
        seed: seed of the choice.

    Returns:
        The evaluation dict's ``samples`` entry (see the module docstring).
    """
    bands, scales = series_bands(table.schema)
    y_true = class_indices(table, classes=classes)
    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.flatnonzero(y_true == k))) for k in range(len(classes))]
    chosen: list[int] = []
    while len(chosen) < n_samples and any(pools):
        for pool in pools:
            if pool and len(chosen) < n_samples:
                chosen.append(int(pool.pop(0)))
    flat = flatten_series(table)
    years = table.column("year").to_pylist()
    ids = table.column("sample_id").to_pylist()
    samples = []
    for row in sorted(chosen):
        obs = flat.row == row
        reflectance = flat.values[obs].astype(np.float64) * np.asarray(scales)
        series = {band: [round(float(v), 4) for v in reflectance[:, b]] for b, band in enumerate(bands)}
        ndvi = None
        if "B04" in bands and "B08" in bands:
            red, nir = reflectance[:, bands.index("B04")], reflectance[:, bands.index("B08")]
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = (nir - red) / (nir + red)
            ndvi = [round(float(v), 4) if np.isfinite(v) else None for v in ratio]
        days = flat.day[obs]
        predictions = [
            {
                "date": resolve_as_of(md, years[row], start=season_start).isoformat(),
                "label": classes[int(probabilities[d, row].argmax())],
                "probability": round(float(probabilities[d, row].max()), 4),
            }
            for d, md in enumerate(as_of)
        ]
        samples.append(
            {
                "sample_id": str(ids[row]),
                "label": classes[int(y_true[row])],
                "year": int(years[row]),
                "dates": [(np.datetime64(int(day), "D")).astype(str) for day in days],
                "bands": series,
                "ndvi": ndvi,
                "scl": None if flat.scl is None else [int(v) for v in flat.scl[obs]],
                "as_of": predictions,
            }
        )
    return samples


def end_of_season_month_day(years: Sequence[int] | np.ndarray, *, season_start: str = DEFAULT_START) -> str:
    """The month-day ``"MM-DD"`` the end-of-season metrics are scored as of.

    It is the last day of the season (`season_end`) of the earliest of ``years``: the same month-day in
    every season, except 02-28/02-29 for seasons starting 1 March.

    Args:
        years: the seasons of the rows.
        season_start: month-day the seasons start.

    Returns:
        The month-day.

    Raises:
        InputError: no years (an empty table).
    """
    if len(years) == 0:
        raise InputError("no seasons to evaluate: the split has no test samples (check --split)")
    return season_end(int(np.min(years)), start=season_start).strftime("%m-%d")


class BestAsOf(TypedDict):
    """The in-season curve's best date and its scores (the evaluation's ``best_as_of`` entry).

    Attributes:
        as_of: the month-day ``"MM-DD"``.
        overall_accuracy: overall accuracy as of that date.
        macro_f1: macro-F1 as of that date (the highest of the curve).
        kappa: Cohen's kappa as of that date, None where undefined.
    """

    as_of: str
    overall_accuracy: float
    macro_f1: float
    kappa: float | None


def best_as_of(by_as_of_date: Sequence[Mapping[str, Any]]) -> BestAsOf | None:
    """The in-season curve's best date: the as-of date with the highest macro-F1 (the earliest of equal ones).

    Args:
        by_as_of_date: the curve's metrics dicts, in season order.

    Returns:
        ``{"as_of", "overall_accuracy", "macro_f1", "kappa"}`` of that date, or None when no date has a
        macro-F1.
    """
    best: Mapping[str, Any] | None = None
    for row in by_as_of_date:
        if row["macro_f1"] is not None and (best is None or row["macro_f1"] > best["macro_f1"]):
            best = row
    if best is None:
        return None
    return BestAsOf(
        as_of=best["as_of"], overall_accuracy=best["overall_accuracy"], macro_f1=best["macro_f1"], kappa=best["kappa"]
    )


def importance_dates(as_of: Sequence[str]) -> list[str]:
    """The as-of dates importance is measured at: early in the season, its middle and its last date.

    Early is a third of the way along the curve, the middle two thirds, so a reader sees which bands and
    periods matter as the season builds up, not only at its end.

    Args:
        as_of: the curve's month-days, in season order.

    Returns:
        Up to three month-days; fewer dates give each once.
    """
    if not as_of:
        return []
    n = len(as_of)
    return list(dict.fromkeys(as_of[i] for i in ((n - 1) // 3, 2 * (n - 1) // 3, n - 1)))


class EvaluatePredictorRequest(StageRequest):
    """What `run_evaluate_predictor` is asked: a predictor's classes and how to score it on a series table.

    Built by `evaluate_predictor` (and by ``inseason evaluate`` through `inseason.evaluate.run.run_evaluate`,
    from the model bundle); the predictor, the table and the targets rule are arguments of
    `run_evaluate_predictor`, not options. Bootstrap intervals resample clusters of `resampling_clusters`:
    every season of a location together, joined with fields across years (``spatial_by="field"``) or with
    blocks of ``block_size`` (``spatial_by="block"``).

    Attributes:
        classes: class names, in the predictor's output order.
        class_codes: each class's CDL code or None; default: read from the table's ``label_code``.
        class_colors: each class's colour for classes without a CDL code (the model's label map).
        bands: the model's band order, checked against the table's when given.
        as_of: month-days of the in-season curve; default every 15 days from day 90 to day 303 of the
            season (`season_as_of_schedule`: 1 April–31 October for seasons starting 1 January).
        season_start: month-day the seasons start.
        target_f1: the F1 whose earliest date is reported, in (0, 1].
        spatial_by: ``"field"`` or ``"block"``: accuracy groups and bootstrap clusters.
        block_size: block side in map units (metres), for ``spatial_by="block"``.
        n_boot: bootstrap replicates (at least 1).
        level: confidence level, strictly between 0 and 1.
        importance: measure permutation importance by band and by period.
        importance_repeats: permutations per feature, so importance's noise shows beside it.
        importance_as_of: month-days importance is measured as of; default `importance_dates` of the curve.
        course_protocol: add the ARSET course's window protocol (`course_windows`).
        n_viewer_samples: samples for the time-series viewer.
        max_map_points: most test points on the map.
        config: the run's resolved config.
        leakage_audit: the split's leakage audit.
        extra_summary: more ``data`` entries (run, model, split...).
        title: the report's title.
        seed: seed of the bootstrap, permutations and choices.
        temperature: the temperature the predictor's probabilities are calibrated with (a model bundle's,
            `inseason.train.Bundle.temperature`): the ECE before calibration is that of the probabilities with
            it undone (`inseason.train.calibration.untempered`); 1: they are reported as they are.
        quiet: hide progress bars.
    """

    classes: tuple[str, ...]
    class_codes: tuple[int | None, ...] | None = None
    class_colors: tuple[str | None, ...] | None = None
    bands: tuple[str, ...] | None = None
    as_of: tuple[str, ...] | None = None
    season_start: SeasonStart = DEFAULT_START
    target_f1: float = 0.8
    spatial_by: SpatialByField = "field"
    block_size: float = 2000.0
    n_boot: int = 1000
    level: float = 0.95
    importance: bool = True
    importance_repeats: int = 5
    importance_as_of: tuple[str, ...] | None = None
    course_protocol: bool = False
    n_viewer_samples: int = 24
    max_map_points: int = 20_000
    config: dict[str, Any] | None = None
    leakage_audit: dict[str, Any] | None = None
    extra_summary: dict[str, Any] | None = None
    title: str = "inseason evaluation"
    seed: int = 0
    temperature: float = 1.0
    quiet: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse class codes, a target F1, as-of dates and bootstrap options the evaluation cannot use."""
        if not self.temperature > 0:
            raise InputError(f"temperature {self.temperature} is not positive: give the model bundle's temperature")
        if self.class_codes is not None:
            _check_codes(self.class_codes, self.classes)
        check_target_f1(self.target_f1)
        if self.as_of is not None:
            check_month_days(self.as_of)
        check_n_boot(self.n_boot)
        check_level(self.level)
        return self


@dataclass(frozen=True)
class EvaluateResult:
    """One evaluation: the evaluation document, where it was written, and its headline.

    Attributes:
        evaluation: the evaluation document (``schema_version`` 2, as this module's docstring defines it):
            what ``evaluation.json`` holds, the report draws and ``inseason evaluate --json`` prints from.
        path: the evaluation JSON written; None when nothing was written (`evaluate_predictor`).
        end_of_season: the month-day the headline metrics are scored as of (``"12-31"`` for seasons
            starting 1 January).
        overall_accuracy: end-of-season overall accuracy.
        macro_f1: end-of-season macro-F1.
        kappa: end-of-season Cohen's kappa; None where undefined.
        n: end-of-season test samples.
        best_as_of: the in-season curve's date with the highest macro-F1 and its scores; None when no date
            has a macro-F1.
        sample_size: whether the test set is large enough for the figures to mean something.
    """

    evaluation: dict[str, Any]
    path: Path | None
    end_of_season: str
    overall_accuracy: float
    macro_f1: float
    kappa: float | None
    n: int
    best_as_of: BestAsOf | None
    sample_size: SampleSize

    @classmethod
    def from_evaluation(cls, evaluation: dict[str, Any], *, path: Path | None = None) -> EvaluateResult:
        """The result of an evaluation document: the document itself and its headline, read from it.

        Args:
            evaluation: the evaluation document (held, not copied).
            path: where it was written, if it was.

        Returns:
            The result.
        """
        best, size = evaluation["best_as_of"], evaluation["sample_size"]
        return cls(
            evaluation=evaluation,
            path=path,
            end_of_season=str(evaluation["end_of_season"]),
            overall_accuracy=float(evaluation["overall_accuracy"]),
            macro_f1=float(evaluation["macro_f1"]),
            kappa=None if evaluation["kappa"] is None else float(evaluation["kappa"]),
            n=int(evaluation["n"]),
            best_as_of=None
            if best is None
            else BestAsOf(
                as_of=best["as_of"],
                overall_accuracy=best["overall_accuracy"],
                macro_f1=best["macro_f1"],
                kappa=best["kappa"],
            ),
            sample_size=SampleSize(
                n=size["n"],
                min_per_class=size["min_per_class"],
                classes_below=size["classes_below"],
                too_small=size["too_small"],
                warning=size["warning"],
            ),
        )


def _check_codes(codes: Sequence[int | None], classes: Sequence[str]) -> None:
    """Refuse class codes that are not one per class."""
    if len(codes) != len(classes):
        raise InputError(f"{len(codes)} class codes given for {len(classes)} classes: give one code (or None) each")


def evaluate_predictor(
    predict: PredictFn,
    table: pa.Table,
    *,
    classes: Sequence[str],
    class_codes: Sequence[int | None] | None = None,
    class_colors: Sequence[str | None] | None = None,
    bands: Sequence[str] | None = None,
    as_of: Sequence[str] | None = None,
    season_start: str = DEFAULT_START,
    target_f1: float = 0.8,
    spatial_by: str = "field",
    block_size: float = 2000.0,
    n_boot: int = 1000,
    level: float = 0.95,
    importance: bool = True,
    importance_repeats: int = 5,
    importance_as_of: Sequence[str] | None = None,
    course_protocol: bool = False,
    n_viewer_samples: int = 24,
    max_map_points: int = 20_000,
    config: Mapping[str, Any] | None = None,
    leakage_audit: Mapping[str, Any] | None = None,
    extra_summary: Mapping[str, Any] | None = None,
    title: str = "inseason evaluation",
    seed: int = 0,
    targets: Targets | None = None,
    temperature: float = 1.0,
    quiet: bool = True,
) -> EvaluateResult:
    """Everything the report shows about ``predict`` on ``table``: `run_evaluate_predictor` by keywords.

    End-of-season metrics, in-season curves, importance, accuracy by field or block, map points and viewer
    samples, as this module's docstring defines them. Bootstrap intervals resample clusters of
    `resampling_clusters`: every season of a location together, joined with fields across years
    (``spatial_by="field"``) or with blocks of ``block_size`` (``spatial_by="block"``). A test set too small
    for its figures to mean something (``sample_size``) is logged as a warning.

    Args:
        predict: the predictor.
        table: series rows, already restricted to the split to evaluate.
        classes: class names, in the predictor's output order.
        class_codes: each class's CDL code or None; default: read from the table's ``label_code``.
        class_colors: each class's colour for classes without a CDL code (the model's label map).
        bands: the model's band order, checked against the table's when given.
        as_of: month-days of the in-season curve; default every 15 days from day 90 to day 303 of the
            season (`season_as_of_schedule`: 1 April–31 October for seasons starting 1 January).
        season_start: month-day the seasons start.
        target_f1: the F1 whose earliest date is reported.
        spatial_by: ``"field"`` or ``"block"``: accuracy groups and bootstrap clusters.
        block_size: block side in map units (metres), for ``spatial_by="block"``.
        n_boot: bootstrap replicates.
        level: confidence level.
        importance: measure permutation importance by band and by period.
        importance_repeats: permutations per feature, so importance's noise shows beside it.
        importance_as_of: month-days importance is measured as of; default `importance_dates` of the curve.
        course_protocol: add the ARSET course's window protocol (`course_windows`).
        n_viewer_samples: samples for the time-series viewer.
        max_map_points: most test points on the map.
        config: the run's resolved config.
        leakage_audit: the split's leakage audit.
        extra_summary: more ``data`` entries (run, model, split...).
        title: the report's title.
        seed: seed of the bootstrap, permutations and choices.
        targets: the class to score each row against as of a date when a label rule depends on the
            observations (the ARSET No Crop Growing rule); None: every row keeps its label.
        temperature: the temperature the predictor's probabilities are calibrated with (1: uncalibrated);
            the evaluation's ``calibration`` reports the ECE before (with it undone) and after.
        quiet: hide progress bars.

    Returns:
        The evaluation (`EvaluateResult`; nothing is written): its document is JSON-ready (NaN as None).

    Raises:
        InputError: bands that differ from the model's, an unknown ``spatial_by``, class codes that do not
            match the classes, a non-positive block size, labels the model does not know, bad as-of dates,
            or a predictor output of the wrong shape.
    """
    return run_evaluate_predictor(
        predict,
        table,
        EvaluatePredictorRequest.of(
            classes=classes,
            class_codes=class_codes,
            class_colors=class_colors,
            bands=bands,
            as_of=as_of,
            season_start=season_start,
            target_f1=target_f1,
            spatial_by=spatial_by,
            block_size=block_size,
            n_boot=n_boot,
            level=level,
            importance=importance,
            importance_repeats=importance_repeats,
            importance_as_of=importance_as_of,
            course_protocol=course_protocol,
            n_viewer_samples=n_viewer_samples,
            max_map_points=max_map_points,
            config=config,
            leakage_audit=leakage_audit,
            extra_summary=extra_summary,
            title=title,
            seed=seed,
            temperature=temperature,
            quiet=quiet,
        ),
        targets=targets,
    )


def run_evaluate_predictor(
    predict: PredictFn, table: pa.Table, request: EvaluatePredictorRequest, *, targets: Targets | None = None
) -> EvaluateResult:
    """Everything the report shows about ``predict`` on ``table``: the evaluation document and its headline.

    End-of-season metrics, in-season curves, importance, accuracy by field or block, map points and viewer
    samples, as this module's docstring defines them. A test set too small for its figures to mean something
    (``sample_size``) is logged as a warning. Nothing is written (`write_evaluation` does).

    Args:
        predict: the predictor.
        table: series rows, already restricted to the split to evaluate.
        request: the classes and the evaluation's options.
        targets: the class to score each row against as of a date when a label rule depends on the
            observations (the ARSET No Crop Growing rule); None: every row keeps its label.

    Returns:
        The evaluation, with no path.

    Raises:
        InputError: bands that differ from the model's, a non-positive block size, labels the model does not
            know, as-of dates outside a season, importance repeats below 1, or a predictor output of the wrong
            shape.
    """
    r = request
    classes = list(r.classes)
    if r.bands is not None and list(series_bands(table.schema)[0]) != list(r.bands):
        raise InputError(
            f"the series table's bands {series_bands(table.schema)[0]} differ from the model's "
            f"{list(r.bands)}: build the series with the bands the model was trained on"
        )
    spatial_by, block_size, seed, quiet = r.spatial_by, r.block_size, r.seed, r.quiet
    y_true = y_default = class_indices(table, classes=classes)
    codes = list(r.class_codes) if r.class_codes is not None else codes_from_table(table, classes=classes)
    _check_codes(codes, classes)
    x = table.column("x").to_numpy(zero_copy_only=False).astype(np.float64)
    y = table.column("y").to_numpy(zero_copy_only=False).astype(np.float64)
    if spatial_by == "field":
        groups = np.asarray(table.column("field_id").to_pylist(), dtype=object)
    else:
        groups = block_labels(block_ids(np.column_stack([x, y]), block_size))
    clusters, unit = resampling_clusters(table, by=spatial_by, block_size=block_size)
    store = predict.decode(table) if isinstance(predict, StorePredictFn) else None  # decoded once for every pass
    curve = in_season_curve(
        predict,
        table,
        classes=classes,
        as_of=None if r.as_of is None else list(r.as_of),
        season_start=r.season_start,
        target_f1=r.target_f1,
        groups=clusters,
        n_boot=r.n_boot,
        level=r.level,
        seed=seed,
        targets=targets,
        store=store,
        quiet=quiet,
    )
    years = table.column("year").to_numpy(zero_copy_only=False).astype(np.int64)
    end_day = np.array([days_since_epoch(season_end(int(yr), start=r.season_start)) for yr in years])
    final = predict_at(predict, table, end_day=end_day, n_classes=len(classes), store=store)
    y_true = targets_at(targets, table, end_day=end_day, default=y_true, store=store)
    y_pred = final.argmax(axis=1)
    metrics = classification_metrics(y_true, y_pred, classes=classes)
    metrics["intervals"] = {
        **bootstrap_intervals(
            y_true, y_pred, n_classes=len(classes), groups=clusters, n_boot=r.n_boot, seed=seed, level=r.level
        ),
        "resampled": unit,
        "n_clusters": int(clusters.max()) + 1,
    }
    size = sample_size_check([entry["support"] for entry in metrics["per_class"]], classes=classes)
    if size["too_small"]:
        log.warning("%s", size["warning"])
    importance_result: dict[str, Any] = {"bands": None, "periods": None, "attention": None}
    if r.importance:
        dates = list(r.importance_as_of) if r.importance_as_of is not None else importance_dates(curve.as_of)
        for key, by in (("bands", "band"), ("periods", "period")):
            importance_result[key] = [
                permutation_importance(
                    predict,
                    table,
                    classes=classes,
                    by=by,
                    as_of=date,
                    season_start=r.season_start,
                    n_repeats=r.importance_repeats,
                    seed=seed,
                    store=store,
                    quiet=quiet,
                )
                for date in dates
            ]
    crs = table.column("crs")[0].as_py() if "crs" in table.column_names else None
    rng = np.random.default_rng(seed)
    shown = np.sort(rng.permutation(table.num_rows)[: r.max_map_points])
    evaluation: dict[str, Any] = _null_nan(
        {
            "schema_version": SCHEMA_VERSION,
            "title": r.title,
            "config": dict(r.config or {}),
            "leakage_audit": None if r.leakage_audit is None else dict(r.leakage_audit),
            "data": {**data_summary(table, classes=classes), **dict(r.extra_summary or {})},
            "classes": class_entries(
                classes, codes=codes, colors=None if r.class_colors is None else list(r.class_colors)
            ),
            "season_start": r.season_start,
            "target_f1": r.target_f1,
            **metrics,
            "end_of_season": end_of_season_month_day(years, season_start=r.season_start),
            "best_as_of": best_as_of(curve.by_as_of_date),
            "sample_size": size,
            "by_as_of_date": curve.by_as_of_date,
            "calibration": calibration_report(
                final,
                y_true,
                curve_probabilities=curve.probabilities,
                curve_truth=[
                    targets_at(
                        targets,
                        table,
                        end_day=_end_days(table, month_day, r.season_start),
                        default=y_default,
                        store=store,
                    )
                    for month_day in curve.as_of
                ]
                if targets is not None
                else [y_default] * len(curve.as_of),
                as_of=curve.as_of,
                temperature=r.temperature,
            ),
            "earliest_date": curve.earliest_date,
            "course_windows": course_windows(predict, table, classes=classes, quiet=quiet)
            if r.course_protocol
            else None,
            "importance": importance_result,
            "spatial": {
                "by": spatial_by,
                "block_size": block_size if spatial_by == "block" else None,
                "crs": crs,
                "groups": accuracy_by_group(y_true, y_pred, groups=groups, x=x, y=y, classes=classes),
            },
            "map": {
                "crs": crs,
                "x": x[shown].tolist(),
                "y": y[shown].tolist(),
                "year": years[shown].tolist(),
                "truth": y_true[shown].tolist(),
                "prediction": y_pred[shown].tolist(),
                "confidence": final[shown].max(axis=1).round(4).tolist(),
            },
            "samples": viewer_samples(
                table,
                classes=classes,
                probabilities=curve.probabilities,
                as_of=curve.as_of,
                season_start=r.season_start,
                n_samples=r.n_viewer_samples,
                seed=seed,
            ),
        }
    )
    return EvaluateResult.from_evaluation(evaluation)


def _end_days(table: pa.Table, month_day: str, season_start: str) -> np.ndarray:
    """Each row's as-of day (days since the epoch) of ``month_day`` in its season."""
    years = table.column("year").to_numpy(zero_copy_only=False).astype(np.int64)
    return np.array([days_since_epoch(resolve_as_of(month_day, int(y), start=season_start)) for y in years])


def calibration_report(
    final: np.ndarray,
    y_true: np.ndarray,
    *,
    curve_probabilities: np.ndarray,
    curve_truth: Sequence[np.ndarray],
    as_of: Sequence[str],
    temperature: float,
) -> dict[str, Any]:
    """The evaluation's ``calibration`` entry: ECE before and after temperature scaling, overall and by date.

    Args:
        final: end-of-season probabilities ``[rows, classes]`` (calibrated with ``temperature``).
        y_true: the class each row is scored against at the end of the season.
        curve_probabilities: the in-season curve's probabilities ``[dates, rows, classes]``.
        curve_truth: the class each row is scored against as of each of the curve's dates.
        as_of: the curve's month-days.
        temperature: the temperature the probabilities are calibrated with (1: uncalibrated).

    Returns:
        ``{"temperature", "n_bins", "ece_before", "ece_after", "by_as_of_date": [{"as_of", "ece_before",
        "ece_after"}]}``.
    """

    def both(probabilities: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        return {
            "ece_before": expected_calibration_error(untempered(probabilities, temperature), truth),
            "ece_after": expected_calibration_error(probabilities, truth),
        }

    return {
        "temperature": float(temperature),
        "n_bins": ECE_BINS,
        **both(final, y_true),
        "by_as_of_date": [
            {"as_of": month_day, **both(curve_probabilities[d], curve_truth[d])} for d, month_day in enumerate(as_of)
        ],
    }


def _null_nan(value: Any) -> Any:
    """``value`` with every NaN float (coordinates missing, undefined numbers) replaced by None (JSON null)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _null_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_null_nan(v) for v in value]
    return value


def write_evaluation(evaluation: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write an evaluation dict as JSON (strict: no NaN), atomically (`inseason.storage.write_bytes`).

    Args:
        evaluation: the evaluation dict.
        path: the JSON file to write.

    Returns:
        The path written.
    """
    path = Path(path)
    write_bytes(path, json.dumps(evaluation, allow_nan=False, indent=1).encode("utf-8"))
    return path


def read_evaluation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an evaluation JSON written by `write_evaluation`.

    Args:
        path: the JSON file.

    Returns:
        The evaluation dict.

    Raises:
        InputError: the file is missing, not JSON, or not an evaluation of `SCHEMA_VERSION`.
    """
    try:
        evaluation = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"evaluation file {path} does not exist: run inseason evaluate first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"evaluation file {path} is not JSON ({exc}): run inseason evaluate again") from None
    if not isinstance(evaluation, dict) or evaluation.get("schema_version") != SCHEMA_VERSION:
        raise InputError(
            f"evaluation file {path} is not an inseason evaluation of schema version {SCHEMA_VERSION}: "
            "run inseason evaluate again"
        )
    return evaluation
