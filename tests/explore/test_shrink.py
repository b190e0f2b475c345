"""Shrinking: fewer workers, preemptions and steps; a timeline of at most 60 lines; exact replay of the narrowed schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.explore.exploration import SavedSchedule, explore, load, replay_saved, save, shrink, timeline
from harness.explore.planted import racy_aggregator
from harness.explore.scheduler import Step, Trace
from harness.run.plugins import Plugins
from tests.explore.test_controlled import component


def test_a_random_walk_failure_shrinks_to_two_workers_and_one_preemption_and_replays(tmp_path: Path) -> None:
    workload = component(Plugins(aggregator=racy_aggregator))
    failure = explore(workload, 20, 0, "random").failure
    assert failure is not None and failure.trace.preemptions > 10  # a random walk switches almost everywhere
    shrunk = shrink(workload, failure)
    minimal = shrunk.execution
    assert len(minimal.trace.workers) == 2 and minimal.trace.preemptions == 1 and minimal.trades == 1
    assert shrunk.workload.workers == minimal.trace.workers
    assert len(timeline(minimal.trace)) <= 20
    saved = load(save(minimal, shrunk.workload, tmp_path / "schedule.json", {}))
    assert saved.workers == minimal.trace.workers
    replayed, exact = replay_saved(workload, saved)  # the full workload narrows itself to the saved workers
    assert exact and replayed.trace.decisions == minimal.trace.decisions and replayed.violation == "aggregator"


def test_a_schedule_naming_workers_the_run_does_not_have_is_refused() -> None:
    saved = SavedSchedule("component_contention", 1, ("C1#0", "X9#0"), (), 0, "", "")
    with pytest.raises(ConfigError, match="do not match this run's"):
        replay_saved(component(Plugins()), saved)


def _trace(steps: int, every: int) -> Trace:
    rows = tuple(Step(i % 2, "p", (0, 1), (i + 1) % 2 if i % every == 0 else i % 2) for i in range(steps))
    return Trace(("A#0", "B#0"), rows)


@pytest.mark.parametrize("steps, every", [(5000, 7), (5000, 97), (40, 3), (10, 1)])
def test_the_timeline_never_exceeds_sixty_lines(steps: int, every: int) -> None:
    trace = _trace(steps, every)
    rows = timeline(trace)
    assert len(rows) <= 60 and rows[0].split() == ["step", "A#0", "B#0"]
    assert any("<- switched to" in row for row in rows)
    assert rows[-1].split()[0] == str(steps - 1)  # the end is always shown
    if len(trace.switches) * 2 > 60:
        assert "earlier steps not shown" in rows[1]


def test_a_short_trace_is_shown_whole() -> None:
    rows = timeline(_trace(12, 5))
    assert len(rows) == 13 and "..." not in "".join(rows)
