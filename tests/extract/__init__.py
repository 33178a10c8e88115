"""Tests of inseason.extract (scenes, quality, sample and the extract stage)."""
