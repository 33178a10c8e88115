"""Training tests (a package, so their module names do not clash with tests/bench/test_train.py)."""
