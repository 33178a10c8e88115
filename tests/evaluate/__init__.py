"""Tests of inseason.evaluate."""
