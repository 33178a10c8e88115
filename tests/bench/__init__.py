"""Tests of inseason.bench."""
