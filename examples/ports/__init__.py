"""A minimal correct example of every port in harness/ports.py (see docs/PLUGINS.md)."""
