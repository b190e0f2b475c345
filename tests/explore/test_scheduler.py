"""The controlled scheduler: one worker between points, blocking, deadlocks, stalls, determinism."""

from __future__ import annotations

import threading
import time

from harness import schedule
from harness.explore.scheduler import Scheduler
from harness.explore.strategies import PCTStrategy, RandomStrategy, ReplayStrategy
from harness.history.log import History, LocalSequence
from harness.system.locks.local import LockTable


def test_point_is_a_no_op_outside_a_controlled_run() -> None:
    assert schedule.current() is None
    schedule.point("anything")  # nothing to switch to, nothing raised
    lock = schedule.Lock("plain")
    with lock:
        assert lock.locked()
    assert not lock.locked()


def _pairs(log: list[str], name: str) -> None:
    for _ in range(5):
        log.append(name)
        time.sleep(0.0005)  # releases the GIL: only the scheduler keeps the other worker out
        log.append(name)
        schedule.point("between pairs")


def test_exactly_one_worker_runs_between_two_points() -> None:
    log: list[str] = []
    trace = Scheduler(RandomStrategy(3, 0)).run([lambda: _pairs(log, "a"), lambda: _pairs(log, "b")])
    assert all(log[i] == log[i + 1] for i in range(0, len(log), 2)), log
    assert trace.preemptions > 0  # the random strategy did interleave the workers


def test_same_seed_and_index_give_the_same_decisions() -> None:
    def run(index: int) -> tuple[int, ...]:
        return Scheduler(PCTStrategy(7, index, 3, 20)).run([lambda: _pairs([], "a"), lambda: _pairs([], "b")]).decisions

    assert run(4) == run(4)
    assert len({run(i) for i in range(12)}) > 1


def test_depth_one_pct_never_preempts() -> None:
    trace = Scheduler(PCTStrategy(1, 0, 1, 20)).run([lambda: _pairs([], "a"), lambda: _pairs([], "b")])
    assert trace.preemptions == 0 and len(trace.steps) > 5


def _opposite_order() -> list:
    a, b = schedule.Lock("a"), schedule.Lock("b")

    def first() -> None:
        with a:
            schedule.point("holding a")
            with b:
                pass

    def second() -> None:
        with b:
            schedule.point("holding b")
            with a:
                pass

    return [first, second]


def test_a_deadlock_of_the_system_is_reported_not_hung() -> None:
    found = [t for i in range(20) if (t := Scheduler(RandomStrategy(1, i)).run(_opposite_order())).deadlock]
    assert found, "20 random schedules never met in the lock-order inversion"
    assert found[0].deadlock == {"T0": "b", "T1": "a"}
    replayed = Scheduler(ReplayStrategy(dict(found[0].switches))).run(_opposite_order())
    assert replayed.deadlock == found[0].deadlock and replayed.decisions == found[0].decisions


def test_a_lock_its_holder_never_releases_is_a_deadlock_when_the_holder_ends() -> None:
    lock = schedule.Lock("leaked")

    def leak() -> None:
        lock.acquire()

    trace = Scheduler(ReplayStrategy({})).run([leak, lambda: lock.acquire()])
    assert trace.deadlock == {"T1": "leaked"}


def test_non_preemptive_schedule_of_the_same_code_does_not_deadlock() -> None:
    assert not Scheduler(ReplayStrategy({})).run(_opposite_order()).deadlock


def test_blocking_outside_the_scheduler_is_a_stall_not_a_hang() -> None:
    plain = threading.Lock()

    def holder() -> None:
        with plain:
            schedule.point("holding a plain lock")

    started = time.monotonic()
    trace = Scheduler(ReplayStrategy({1: 1}), stall_s=0.5).run([holder, holder])
    assert "made no step" in trace.stalled and time.monotonic() - started < 5


def test_lock_table_waiters_block_through_the_scheduler() -> None:
    table, history = LockTable(), History("t", LocalSequence())
    held: list[str] = []

    def worker(name: str) -> None:
        client = table.client(name, history)
        for _ in range(3):
            grant = client.acquire(["x"], 0.01)  # a timeout that real time would exceed: ignored under control
            held.append(name)
            schedule.point("inside")
            assert held[-1] == name, "two holders of x at once"
            client.release(grant)

    waited = 0
    for index in range(10):
        held.clear()
        # Three workers: a wait with two others still enabled is a choice, so it is a recorded step.
        trace = Scheduler(RandomStrategy(5, index)).run([lambda n=n: worker(n) for n in "pqr"])
        assert not trace.deadlock and not trace.errors and sorted(held) == ["p"] * 3 + ["q"] * 3 + ["r"] * 3
        waited += any(s.point.startswith("wait") for s in trace.steps)
    assert waited, "no schedule made a worker wait for the held lock"


def test_a_worker_crash_is_in_the_trace() -> None:
    def boom() -> None:
        raise ValueError("bad")

    trace = Scheduler(ReplayStrategy({})).run([boom, lambda: None])
    assert trace.errors == {"T0": "ValueError: bad"}


def test_a_bounded_queue_hands_items_over_under_control() -> None:
    for index in range(10):
        q: schedule.Queue = schedule.Queue(maxsize=1)
        got: list[int] = []

        def produce(q: schedule.Queue = q) -> None:
            for n in range(4):
                q.put(n)  # blocks while full: waits through the scheduler

        def consume(q: schedule.Queue = q, got: list[int] = got) -> None:
            for _ in range(4):
                got.append(q.get())

        trace = Scheduler(RandomStrategy(9, index), stall_s=2).run([produce, consume])
        assert not trace.stalled and not trace.deadlock and got == [0, 1, 2, 3]


def test_waiting_on_a_queue_nobody_fills_is_a_deadlock() -> None:
    q: schedule.Queue = schedule.Queue()
    trace = Scheduler(ReplayStrategy({}), stall_s=2).run([q.get, lambda: schedule.point("idle")])
    assert trace.deadlock == {"T0": "Condition"}


def test_the_queue_is_a_plain_queue_outside_controlled_runs() -> None:
    q: schedule.Queue = schedule.Queue()
    threading.Timer(0.01, q.put, args=("x",)).start()
    assert q.get(timeout=5) == "x"


def test_components_built_under_controlled_locks_get_scheduling_points() -> None:
    with schedule.controlled_locks():
        made = threading.Lock()
    assert isinstance(made, schedule.Lock) and not isinstance(threading.Lock(), schedule.Lock)
    with made:  # still a working lock outside controlled runs
        assert made.locked()


def test_a_decision_without_a_choice_is_not_a_step() -> None:
    trace = Scheduler(RandomStrategy(2, 0)).run([lambda: _pairs([], "alone")])
    assert trace.steps == () and trace.points == 0


def test_preemption_points_count_only_decisions_where_the_arriving_worker_could_be_preempted() -> None:
    trace = Scheduler(ReplayStrategy({})).run([lambda: _pairs([], "a"), lambda: _pairs([], "b")])
    # Non-preemptive: T0's five points each meet T1 waiting to start; T1's run alone after T0 is done.
    assert trace.points == 5 and trace.preemptions == 0
