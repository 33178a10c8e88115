"""``tune``: hyper-parameter search over a model's training options with Optuna (issue #19).

`run_tune` (or its keyword form `tune`) searches the options of one model around a training config: a
search space per model (`inseason.tune.space`), trials trained and scored as ``inseason train`` does,
poor trials pruned after each epoch, the study stored in SQLite so a killed search resumes, and the best
config written as YAML that ``inseason train --config`` takes.
"""

from inseason.tune.run import PruneOnValidation, TuneRequest, TuneResult, run_tune, series_fingerprint, tune
from inseason.tune.space import SearchSpace, default_space, describe, load_space, search_space, suggest

__all__ = [
    "PruneOnValidation",
    "SearchSpace",
    "TuneRequest",
    "TuneResult",
    "default_space",
    "describe",
    "load_space",
    "run_tune",
    "search_space",
    "series_fingerprint",
    "suggest",
    "tune",
]
