"""Tests of inseason.cli: one file per group of verbs (world, data, model) and what every verb shares (common)."""
