"""pytest: run a user's component under N controlled schedules (the ``harness_schedules`` fixture).

    def test_counter(harness_schedules):
        def setup():
            counter = MyCounter()
            return [counter.increment, counter.increment], lambda: counter.value == 2
        harness_schedules(setup)

``setup`` builds fresh state and returns the worker callables and a check (False or an
AssertionError means the end state is wrong). Every ``threading.Lock()`` made during
``setup`` is a ``harness.schedule.Lock`` (each acquire a scheduling point; a held one is
waited for through the scheduler); the component may mark more points with
``harness.schedule.point("name")``. On a failure the assertion message holds the minimal
failing schedule, its per-worker timeline and the call that replays it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from harness.errors import Finding
from harness.explore.exploration import (
    DEFAULT_SCHEDULES,
    Execution,
    Exploration,
    Outcome,
    Runner,
    Workload,
    explore,
    replay,
    shrink,
    timeline,
)
from harness.explore.strategies import DEFAULT_STRATEGY, STRATEGIES
from harness.schedule import controlled_locks

Setup = Callable[[], tuple[Sequence[Callable[[], Any]], Callable[[], Any]]]


def component_workload(setup: Setup, name: str = "component") -> Workload:
    """A ``Workload`` from a setup returning (worker callables, end-state check)."""
    def run(runner: Runner, trades: int) -> Outcome:
        with controlled_locks():  # the component's own threading.Locks become scheduling points
            targets, check = setup()
        runner(targets)
        try:
            ok = check()
        except AssertionError as exc:
            return Outcome("AssertionError", (str(exc) or "assertion failed",))
        return Outcome("" if ok is not False else "check returned False", ("check returned False",) * (ok is False))

    return Workload(name, run, 1)


class ScheduleFailure(Finding):
    """A controlled schedule broke the check; ``switches`` replays its minimal form."""

    def __init__(self, message: str, switches: tuple[tuple[int, int], ...]) -> None:
        super().__init__(message)
        self.switches = switches


def failure_message(execution: Execution, minimal: Execution, origin: str) -> str:
    """The assertion text: what failed, the minimal schedule, its timeline, how to replay it."""
    t = minimal.trace
    return "\n".join([
        f"{origin} violated the check: {execution.violation}: {'; '.join(execution.details())}",
        f"minimal failing schedule: {t.preemptions} preemptions, {len(t.steps)} steps; "
        f"replay it with harness_schedules(setup, replay={t.switches!r})",
        *timeline(t),
    ])


def check_schedules(setup: Setup, schedules: int = DEFAULT_SCHEDULES, seed: int = 0, strategy: str = DEFAULT_STRATEGY,
                    depth: int = 3,
                    replay_switches: Sequence[tuple[int, int]] | None = None) -> Exploration | Execution:
    """Explore (or replay) controlled schedules of ``setup``; raise AssertionError with the minimal failing one."""
    workload = component_workload(setup)
    if replay_switches is not None:
        execution = replay(workload, replay_switches, 1)
        if execution.violation:
            message = failure_message(execution, execution, "the replayed schedule")
            raise ScheduleFailure(message, execution.trace.switches)
        return execution
    exploration = explore(workload, schedules, seed, strategy, depth)
    if exploration.failure is not None:
        minimal = shrink(workload, exploration.failure).execution
        origin = f"{exploration.failure.label} (seed {seed})"
        raise ScheduleFailure(failure_message(exploration.failure, minimal, origin), minimal.trace.switches)
    return exploration


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "verification harness")
    group.addoption("--harness-schedules", type=int, default=None,
                    help=f"controlled schedules per harness_schedules call (default {DEFAULT_SCHEDULES})")
    group.addoption("--harness-schedule-seed", type=int, default=None, help="seed of the controlled schedules")
    group.addoption("--harness-strategy", choices=STRATEGIES, default=None,
                    help=f"how schedules are drawn (default {DEFAULT_STRATEGY})")


@pytest.fixture
def harness_schedules(request: pytest.FixtureRequest) -> Callable[..., Exploration | Execution]:
    """``harness_schedules(setup, schedules=, seed=, strategy=, depth=, replay=)``: see this module's docstring."""
    options = request.config.getoption

    def run(setup: Setup, *, schedules: int | None = None, seed: int | None = None, strategy: str | None = None,
            depth: int = 3, replay: Sequence[tuple[int, int]] | None = None) -> Exploration | Execution:
        return check_schedules(
            setup, schedules or options("--harness-schedules") or DEFAULT_SCHEDULES,
            seed if seed is not None else options("--harness-schedule-seed") or 0,
            strategy or options("--harness-strategy") or DEFAULT_STRATEGY, depth, replay,
        )

    return run
