"""Benchmarks: both sides of each comparison run in one process, one run; results are ratios."""
