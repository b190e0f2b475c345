"""What `pip install trading-harness` gives a user: a name of its own, the examples, the extras."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import harness


def test_the_distribution_has_a_name_of_its_own_on_the_index():
    # "harness" on the package index is an unrelated project; the import package keeps its name.
    dist = importlib.metadata.distribution("trading-harness")
    assert dist.metadata["Name"] == "trading-harness"
    assert {ep.value for ep in dist.entry_points if ep.group == "console_scripts"} == {"harness.cli.main:main"}


def test_each_optional_service_is_an_extra():
    extras = set(importlib.metadata.metadata("trading-harness").get_all("Provides-Extra") or ())
    assert {"filelock", "api", "docker", "report"} <= extras


def test_the_examples_ship_inside_the_package():
    # A plug-in path from the README must import from the wheel, with no checkout on sys.path.
    package = Path(harness.__file__).parent
    for name in ("recorded_lock", "lossy_aggregator", "filelock_provider", "redis_lock_provider",
                 "asyncio_engine", "ports.locks", "ports.store"):
        module = importlib.import_module(f"harness.examples.{name}")
        assert Path(module.__file__ or "").is_relative_to(package), name
