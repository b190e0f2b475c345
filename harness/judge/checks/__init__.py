"""Checkers: pure functions from a History to Evidence, one module per evidence area."""
