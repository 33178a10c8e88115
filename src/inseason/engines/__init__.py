"""Engines schedule pure per-unit functions (a scene, a partition, a map block); they compute nothing."""
