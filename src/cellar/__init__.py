"""Cellar: build, keep current and serve a private PyPI."""

__version__ = "0.1.0"
