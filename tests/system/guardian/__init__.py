"""Tests of the risk guardian and its API."""
