"""Tests of inseason.data (store, adapters, features, normalisation, batches, windows, loader)."""
