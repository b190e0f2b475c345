"""Plug-ins under control: traced attributes are points, in-process lock providers too; external services refused."""

from __future__ import annotations

import functools
import threading

import pytest

from harness import schedule
from harness.errors import ConfigError
from harness.examples.ports.locks import own_broker
from harness.explore.control import Board, traced
from harness.explore.exploration import execute, explore, shrink
from harness.explore.planted import UnmarkedAggregator, early_release, table_locks, unmarked_aggregator
from harness.explore.scheduler import Scheduler
from harness.explore.strategies import RandomStrategy, make_strategy
from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import load as load_scenario
from harness.run.workloads import workload_of
from harness.system.aggregator import SymbolMetrics
from tests.explore.test_controlled import component


def _lost_update(aggregator: UnmarkedAggregator, index: int) -> bool:
    one = SymbolMetrics(1, 1, 1, 0, 0, 0, 0, 0)
    Scheduler(RandomStrategy(0, index)).run([lambda s=s: aggregator.apply(s, one) for s in ("A", "B")])
    return len(aggregator.symbols()) < 2


def test_an_unmarked_read_modify_write_is_atomic_to_the_scheduler_until_traced() -> None:
    assert not any(_lost_update(UnmarkedAggregator(), i) for i in range(20))
    assert any(_lost_update(traced(UnmarkedAggregator(), "aggregator"), i) for i in range(20))


def test_a_traced_component_is_the_same_object_outside_controlled_runs() -> None:
    aggregator = traced(UnmarkedAggregator(), "aggregator")
    aggregator.apply("A", SymbolMetrics(1, 1, 1, 0, 0, 0, 0, 0))
    assert isinstance(aggregator, UnmarkedAggregator) and aggregator.symbols()["A"].trades == 1
    assert type(aggregator).__name__ == "UnmarkedAggregator"


def test_a_slotted_component_keeps_its_class() -> None:
    class Slotted:
        __slots__ = ("value",)

    thing = Slotted()
    assert type(traced(thing, "x")) is Slotted


def test_conditions_made_while_built_wait_through_the_scheduler() -> None:
    with schedule.controlled_locks():
        cond = threading.Condition(threading.Lock())
    assert isinstance(cond, schedule.Condition) and not isinstance(threading.Condition(), schedule.Condition)


def _engine(name: str, plugins: Plugins):
    scenario = load_scenario(name)
    return workload_of(scenario, scenario.configure(load_config(None)), plugins)


@pytest.mark.parametrize("seed", range(2))
def test_unmarked_aggregator_is_caught_shrunk_to_one_preemption(seed: int) -> None:
    workload = component(Plugins(aggregator=unmarked_aggregator))
    failure = explore(workload, 200, seed).failure
    assert failure is not None and failure.violation == "aggregator"
    minimal = shrink(workload, failure).execution
    assert minimal.trace.preemptions == 1 and len(minimal.trace.workers) == 2


def test_a_lock_provider_that_releases_before_the_write_is_caught() -> None:
    exploration = explore(_engine("multi_symbol_stress", Plugins(locks=early_release)), 50, 0)
    assert exploration.failure is not None and "Lock Atomicity" in exploration.failure.violation


def test_a_correct_in_process_lock_provider_passes() -> None:
    exploration = explore(_engine("multi_symbol_stress", Plugins(locks=table_locks)), 20, 0)
    assert exploration.failure is None
    assert any(s.point == "locks.acquire" for s in exploration.last.trace.steps)  # its calls are points


def test_an_external_lock_service_is_relayed_deterministically() -> None:
    # A ZeroMQ broker answers from its own thread: requests for held names park outside the
    # baton, and grants are delivered when the schedule says, so a schedule replays exactly.
    work = _engine("multi_symbol_stress", Plugins(locks=own_broker))
    runs = [[execute(work, make_strategy("portfolio", 3, i), work.trades, "x") for i in range(5)] for _ in range(2)]
    assert all(not e.violation for e in runs[0])
    assert [e.trace.digest for e in runs[0]] == [e.trace.digest for e in runs[1]]
    assert any(s.point == "await locks.acquire" for e in runs[0] for s in e.trace.steps)  # some request parked


def test_a_broker_reply_that_frees_a_name_only_counts_from_its_holder() -> None:
    board = Board()
    board.mark("b", ["g"], True)  # the grant a release let through arrived first ...
    board.mark("a", ["g"], False)  # ... then the releaser's own reply
    assert not board.free(["g"])
    board.mark("b", ["g"], False)
    assert board.free(["g", "h"])


def test_a_plug_in_engine_is_refused_with_one_line() -> None:
    with pytest.raises(ConfigError, match="runs its own threads"):
        _engine("multi_symbol_stress", Plugins(engine=lambda *a, **k: None))


class _ReentrantCounter:
    """A correct component guarding its state with an RLock taken twice and a Condition."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.value = 0

    def increment(self) -> None:
        with self._lock, self._lock:  # reentrant: a point while held must not stall the others
            current = self.value
            self.value = current + 1
            self._changed.notify_all()

    def wait_for(self, value: int) -> None:
        with self._changed:
            while self.value < value:
                self._changed.wait()


def test_a_component_with_rlocks_and_conditions_is_controlled_without_stalls_or_lost_updates() -> None:
    for index in range(15):
        with schedule.controlled_locks():
            counter = traced(_ReentrantCounter(), "counter")
        trace = Scheduler(RandomStrategy(4, index), stall_s=2).run(
            [counter.increment, counter.increment, functools.partial(counter.wait_for, 2)])
        assert not trace.stalled and not trace.deadlock and not trace.errors and counter.value == 2


def test_schedule_rlock_is_reentrant_outside_controlled_runs_too() -> None:
    lock = schedule.RLock()
    with lock, lock:
        assert lock._is_owned()
    assert not lock._is_owned()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock.release()
