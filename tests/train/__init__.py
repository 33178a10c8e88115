"""Tests of inseason.train."""
