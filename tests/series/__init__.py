"""Tests of inseason.series."""
