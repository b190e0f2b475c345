"""Tests of the harness; they mirror the layout of the ``harness`` package."""
