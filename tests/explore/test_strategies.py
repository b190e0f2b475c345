"""Strategies: the portfolio's rotation, PCT's change points among preemption points only, POS, labels."""

from __future__ import annotations

import pytest

from harness import schedule
from harness.explore.exploration import explore
from harness.explore.planted import racy_aggregator
from harness.explore.scheduler import Scheduler
from harness.explore.strategies import PCTStrategy, POSStrategy, describe, make_strategy, plan
from harness.run.plugins import Plugins
from tests.explore.test_controlled import component


def _five_points() -> None:
    for _ in range(5):
        schedule.point("p")


def test_the_portfolio_rotates_over_random_pct_depths_and_pos() -> None:
    labels = [plan("portfolio", i, 3).label for i in range(6)]
    assert labels == ["random", "pct depth 1", "pct depth 2", "pct depth 3", "pos", "random"]
    assert [plan("portfolio", i, 1).label for i in range(3)] == ["random", "pct depth 1", "pos"]
    assert plan("pct", 7, 2).label == "pct depth 2" and plan("random", 0, 3).label == "random"
    with pytest.raises(ValueError, match="unknown strategy 'dfs'"):
        plan("dfs", 0)


@pytest.mark.parametrize("index", range(6))
def test_a_pct_change_point_always_lands_on_a_preemption_point(index: int) -> None:
    # k = 5: T0's five points while T1 waits. Counting every decision (the start, T1's lone
    # points) would waste change points where nothing can be preempted.
    trace = Scheduler(PCTStrategy(4, index, 2, 5)).run([_five_points, _five_points])
    assert trace.preemptions == 1


def test_pos_is_a_function_of_seed_and_index() -> None:
    def decisions(index: int) -> tuple[int, ...]:
        return Scheduler(POSStrategy(3, index)).run([_five_points, _five_points, _five_points]).decisions

    assert decisions(2) == decisions(2)
    assert len({decisions(i) for i in range(10)}) > 5


def test_make_strategy_builds_the_planned_member() -> None:
    kinds = [type(make_strategy("portfolio", 0, i, 3, 10)).__name__ for i in range(5)]
    assert kinds == ["RandomStrategy", "PCTStrategy", "PCTStrategy", "PCTStrategy", "POSStrategy"]


def test_each_failure_says_which_strategy_found_it_and_k_is_measured() -> None:
    exploration = explore(component(Plugins(aggregator=racy_aggregator)), 50, 2)
    assert exploration.failure is not None
    assert exploration.found_by in {"random", "pct depth 1", "pct depth 2", "pct depth 3", "pos"}
    assert exploration.failure.label.endswith(f"({exploration.found_by})")
    assert 0 < exploration.mean_k <= exploration.steps / exploration.schedules  # points are a subset of steps


def test_reports_name_the_portfolio_members_and_pct_depth() -> None:
    assert describe("portfolio", 3) == "portfolio (random, pct depth 1-3, pos)"
    assert describe("portfolio", 1) == "portfolio (random, pct depth 1, pos)"
    assert (describe("pct", 2), describe("random", 3), describe("pos", 3)) == ("pct depth 2", "random", "pos")
