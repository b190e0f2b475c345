"""Known-broken controls: the unlocked provider really lets two holders in; Rendezvous meets."""

from __future__ import annotations

import threading
import time

import pytest

from harness.faults.controls import FirstRound, Rendezvous, UnlockedProvider, check_then_act_guardian
from harness.history.log import History
from harness.judge.checks.locks import check_locks
from harness.judge.checks.risk import check_risk
from harness.judge.gates import gate_locks, gate_risk
from harness.judge.thresholds import Thresholds
from harness.run.config import harness_config
from harness.system.engine import run
from harness.system.locks.local import LockTable
from tests import _history_builders as hb

JOIN = 10.0


def _threads(*targets) -> None:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN)
    assert not any(thread.is_alive() for thread in threads)


def test_unlocked_provider_lets_two_threads_hold_one_lock():
    history = History("control")
    provider = UnlockedProvider(Rendezvous(2, timeout=JOIN))
    held = []

    def worker(name: str) -> None:
        client = provider.client(name, history)
        grant = client.acquire(["symbol:X"], 1.0)
        held.append(name)
        client.release(grant)

    _threads(lambda: worker("A"), lambda: worker("B"))
    assert sorted(held) == ["A", "B"]
    ev = check_locks(history.events())
    assert ev.figures.overlaps >= 1
    assert ev.figures.pairs_balanced == ev.figures.pairs_total == 2
    hb.assert_fails_on(gate_locks(ev, Thresholds()), r"^Mutual exclusion: [1-9]\d* overlapping holds \(client [1-9]")


def test_unlocked_tokens_still_increase():
    provider = UnlockedProvider(Rendezvous(1))
    history = History("control")
    client = provider.client("A", history)
    grants = [client.acquire(["L"], 1.0) for _ in range(3)]
    assert [g.token("L") for g in grants] == [1, 2, 3]


def _meet_in_pairs(meet: Rendezvous) -> None:
    """Two threads call ``meet``; both must be in before either is out."""
    trace: list[str] = []
    guard = threading.Lock()

    def party(name: str) -> None:
        with guard:
            trace.append(f"{name} in")
        meet()
        with guard:
            trace.append(f"{name} out")

    _threads(lambda: party("A"), lambda: party("B"))
    assert sorted(trace[:2]) == ["A in", "B in"] and sorted(trace[2:]) == ["A out", "B out"]


def test_rendezvous_lets_two_parties_through_together():
    meet = Rendezvous(2, timeout=JOIN)
    for _ in range(3):  # the barrier is reusable
        _meet_in_pairs(meet)


def test_lone_party_leaves_after_its_timeout_and_the_rendezvous_recovers():
    meet = Rendezvous(2, timeout=0.5)
    started = time.monotonic()
    meet()  # nobody comes: returns (no exception) once the timeout ran out
    assert time.monotonic() - started >= 0.45
    _meet_in_pairs(meet)


def test_first_round_meets_once_per_worker_at_each_point():
    first_round = FirstRound(3, timeout=JOIN)
    arrived, passed = [], []
    guard = threading.Lock()

    def party(name: str) -> None:
        for point in range(3):
            with guard:
                arrived.append((point, name))
            first_round.meet(point)
            with guard:
                passed.append((point, sum(1 for p, _ in arrived if p == point)))
        first_round.meet(0)  # a later round is not held

    _threads(*(lambda n=n: party(n) for n in "ABC"))
    assert first_round.met
    assert sorted(passed) == [(p, 3) for p in range(3) for _ in range(3)]  # nobody left before all arrived


@pytest.mark.parametrize("seed", [4, 22, 35])
def test_check_then_act_control_breaches_every_time(seed):
    """The forced interleaving makes the race land on every seed (seed 4 once escaped it)."""
    from harness.scenarios.race_detection import SETTINGS

    config = harness_config({"run": {**SETTINGS, "seed": seed, "trades": 1}})
    first_round = FirstRound(len(config.run.symbols), timeout=JOIN)
    events = run(config.run, LockTable(), guardian_factory=check_then_act_guardian(first_round)).events()
    ev = check_risk(events)
    assert first_round.met
    assert ev.figures.limit_breaches > 0
    hb.assert_fails_on(gate_risk(ev, Thresholds()), r"^Global exposure: .*[1-9]\d* breaches")
