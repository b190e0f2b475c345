"""The ``harness_schedules`` pytest fixture: a user's component under N controlled schedules."""

from __future__ import annotations

import threading

import pytest

from harness import schedule
from harness.pytest.schedules import ScheduleFailure


class Counter:
    """Increments through a read-modify-write; ``locked`` chooses whether a lock covers it."""

    def __init__(self, locked: bool) -> None:
        self.value = 0
        self._lock = schedule.Lock("counter") if locked else None

    def increment(self) -> None:
        if self._lock is not None:
            with self._lock:
                self._rmw()
        else:
            self._rmw()

    def _rmw(self) -> None:
        seen = self.value
        schedule.point("counter.read")
        self.value = seen + 1


def _setup(locked: bool):
    def setup():
        counter = Counter(locked)
        return [counter.increment, counter.increment], lambda: counter.value == 2
    return setup


def test_a_correct_component_passes(harness_schedules) -> None:
    exploration = harness_schedules(_setup(locked=True), schedules=50)
    assert exploration.failure is None and exploration.schedules == 51


def test_a_racy_component_fails_with_its_minimal_schedule(harness_schedules) -> None:
    with pytest.raises(ScheduleFailure) as caught:
        harness_schedules(_setup(locked=False), schedules=50)
    message = str(caught.value)
    assert "minimal failing schedule: 1 preemptions" in message and "<- switched to" in message
    replay = caught.value.switches
    assert f"replay={replay!r}" in message
    with pytest.raises(AssertionError, match="the replayed schedule violated"):
        harness_schedules(_setup(locked=False), replay=replay)
    harness_schedules(_setup(locked=True), replay=replay)  # the fixed component survives the same schedule


def test_an_assertion_in_the_check_is_the_violation(harness_schedules) -> None:
    def setup():
        counter = Counter(locked=False)

        def check() -> None:
            assert counter.value == 2, f"lost an increment: {counter.value}"
        return [counter.increment, counter.increment], check

    with pytest.raises(AssertionError, match="lost an increment: 1"):
        harness_schedules(setup, schedules=50)


class SplitCounter:
    """A user's counter: a plain threading.Lock, but the read and the write in two critical sections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def increment(self) -> None:
        with self._lock:
            seen = self.value
        with self._lock:
            self.value = seen + 1


def test_plain_locks_made_in_setup_are_scheduling_points(harness_schedules) -> None:
    def setup():
        counter = SplitCounter()
        return [counter.increment, counter.increment], lambda: counter.value == 2

    with pytest.raises(ScheduleFailure, match="minimal failing schedule: 1 preemptions"):
        harness_schedules(setup, schedules=50)
