"""Verification and stress-test harness for concurrent multi-symbol trading engines."""

__version__ = "0.1.0"
