"""Tests of inseason.testing (the loopback servers)."""
