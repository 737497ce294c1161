"""Helpers for Cellar's tests: distributions built in memory, a local index, real installers."""
