"""Tests of inseason.sources (AOI, CDL, label points, sampling, STAC, vector labels)."""
