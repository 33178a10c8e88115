"""Tests of inseason.report."""
