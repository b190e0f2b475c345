"""The version of the harness: one place, read by the package, the wheel and the reports."""

__version__ = "0.1.0"
