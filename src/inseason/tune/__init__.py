"""``tune``: hyper-parameter search over a model's options with Optuna (issue #19, in progress)."""
