"""Benchmarks that print ratios against raw baselines measured in the same run."""
