"""Tests of inseason.synth (the synthetic world)."""
