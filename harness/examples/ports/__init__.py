"""A minimal correct example of every port in harness/system/ports.py (see docs/PLUGINS.md)."""
