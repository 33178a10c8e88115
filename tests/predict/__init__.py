"""Tests of inseason.predict (block reads, maps, COGs, double crops)."""
