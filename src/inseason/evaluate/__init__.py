"""Evaluation of a crop-type predictor on a test split (DESIGN §1, §3).

Metrics with grouped bootstrap intervals, area-weighted accuracy, accuracy by calendar as-of date,
permutation importance by band and period, accuracy across space. Everything works from a predictor
callable ``predict(table, *, as_of) -> probabilities`` (the protocol `inseason.evaluate.predictor.PredictFn`;
`inseason.train.Predictor` is the bundle-backed class), so no trained model is needed to test it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inseason.lazy import lazy_exports

if TYPE_CHECKING:  # the API; at run time each name's module is imported on its first use (inseason.lazy)
    from inseason.evaluate.area import area_weighted_accuracy
    from inseason.evaluate.bootstrap import bootstrap_intervals, resampling_clusters
    from inseason.evaluate.crossval import CrossValidateRequest, CrossValidateResult, run_cross_validate
    from inseason.evaluate.curves import (
        COURSE_PUBLISHED,
        InSeasonCurve,
        course_windows,
        earliest_dates,
        in_season_curve,
    )
    from inseason.evaluate.evaluation import (
        SCHEMA_VERSION,
        EvaluatePredictorRequest,
        EvaluateResult,
        best_as_of,
        evaluate_predictor,
        read_evaluation,
        run_evaluate_predictor,
        write_evaluation,
    )
    from inseason.evaluate.fake import fake_evaluation, fake_series
    from inseason.evaluate.importance import attention_profile, permutation_importance
    from inseason.evaluate.metrics import (
        MIN_SAMPLES_PER_CLASS,
        MIN_TEST_SAMPLES,
        classification_metrics,
        confusion_matrix,
        normalise_confusion,
        sample_size_check,
    )
    from inseason.evaluate.predictor import PredictFn
    from inseason.evaluate.schedule import as_of_schedule, resolve_as_of
    from inseason.evaluate.spatial import accuracy_by_group

__all__ = [
    "COURSE_PUBLISHED",
    "MIN_SAMPLES_PER_CLASS",
    "MIN_TEST_SAMPLES",
    "SCHEMA_VERSION",
    "CrossValidateRequest",
    "CrossValidateResult",
    "EvaluatePredictorRequest",
    "EvaluateResult",
    "InSeasonCurve",
    "PredictFn",
    "accuracy_by_group",
    "area_weighted_accuracy",
    "as_of_schedule",
    "attention_profile",
    "best_as_of",
    "bootstrap_intervals",
    "classification_metrics",
    "confusion_matrix",
    "course_windows",
    "earliest_dates",
    "evaluate_predictor",
    "fake_evaluation",
    "fake_series",
    "in_season_curve",
    "normalise_confusion",
    "permutation_importance",
    "read_evaluation",
    "resampling_clusters",
    "resolve_as_of",
    "run_cross_validate",
    "run_evaluate_predictor",
    "sample_size_check",
    "write_evaluation",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
