"""Tests of inseason.engines (the local and Spark engines)."""
