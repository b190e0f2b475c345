"""Fixtures shared by the test modules (the builders themselves live in _history_builders)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.history.log import Event

from ._history_builders import clean_events, symbols

pytest_plugins = ["pytester"]  # the plugin is tested from outside projects


@pytest.fixture(scope="module")
def clean() -> tuple[Event, ...]:
    """The clean history of one real engine run."""
    return clean_events()


@pytest.fixture(scope="module")
def sym(clean: tuple[Event, ...]) -> str:
    """The first symbol of the clean run."""
    return symbols(clean)[0]


@pytest.fixture
def in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty directory (no pyproject settings, no reports/ left behind)."""
    monkeypatch.chdir(tmp_path)
