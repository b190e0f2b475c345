"""The reference engine under control: aggregator updates meet under the symbol lock only; broken parts are caught."""

from __future__ import annotations

import pytest

from harness.explore.exploration import execute, explore, shrink
from harness.explore.planted import check_then_act, racy_aggregator
from harness.explore.strategies import RandomStrategy
from harness.run.config import load_config, run_config
from harness.run.plugins import Plugins
from harness.run.scenario import load as load_scenario
from harness.run.workloads import engine_workload
from harness.system.engine import run as run_engine
from harness.system.locks.local import LockTable
from harness.system.locks.protocol import symbol_lock


def test_aggregator_is_updated_under_the_symbol_lock_only() -> None:
    events = run_engine(run_config({"trades": 4, "seed": 3}), LockTable()).events()
    held: dict[str, list[str]] = {}
    applies = 0
    for e in events:
        if e.kind == "lock.ok" and e.payload["op"] == "acquire":
            held[e.worker] = list(e.payload["names"])
        elif e.kind == "agg.apply":
            applies += 1
            assert held[e.worker] == [symbol_lock(str(e.symbol))], e
    assert applies > 0


def _workload(name: str, plugins: Plugins, **run: object):
    scenario = load_scenario(name)
    return engine_workload(scenario, scenario.configure(load_config(None), {"run": run}), plugins)


def test_racy_aggregator_is_caught_inside_the_engine() -> None:
    workload = _workload("multi_symbol_stress", Plugins(aggregator=racy_aggregator))
    exploration = explore(workload, 50, 1)
    assert exploration.failure is not None and "MetricsAggregator Accuracy" in exploration.failure.violation


def test_reference_engine_passes_controlled_schedules() -> None:
    exploration = explore(_workload("multi_symbol_stress", Plugins()), 10, 1)
    assert exploration.failure is None and exploration.distinct > 1


def _check_then_act_failure():
    symbols = [f"R{n:02d}.s" for n in range(1, 9)]  # eight of the scenario's twelve, under its tight limits
    workload = _workload("race_detection", Plugins(guardian=check_then_act(0)), symbols=symbols, trades=1)
    exploration = explore(workload, 20, 0, strategy="random")
    assert exploration.failure is not None and "Risk Management" in exploration.failure.violation
    return workload, exploration.failure


def test_check_then_act_guardian_is_caught_inside_the_engine() -> None:
    _check_then_act_failure()


@pytest.mark.slow
def test_check_then_act_failure_inside_the_engine_shrinks() -> None:
    workload, failure = _check_then_act_failure()
    minimal = shrink(workload, failure, budget=8).execution
    assert minimal.violation == failure.violation and minimal.trace.preemptions < failure.trace.preemptions


def test_refused_workers_do_not_spin_through_thousands_of_steps() -> None:
    # A random walk keeps positions open across many workers; the refused ones used to retry
    # on every tick (up to 2,000 times each): 48,000 steps instead of hundreds.
    workload = _workload("race_detection", Plugins())
    execution = execute(workload, RandomStrategy(0, 0), workload.trades, "random")
    assert not execution.violation and len(execution.trace.steps) < 3000
