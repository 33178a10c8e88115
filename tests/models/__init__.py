"""Tests of inseason.models."""
