"""Judging in one pass: every area fed event by event gives the evidence of its checker on the whole history."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from harness.history.events import ORDER_SUBMIT, RISK_SETTLE, RUN_END, TRADE_CLOSED
from harness.history.log import Event
from harness.judge.areas import AREAS, STANDARD_AREAS, Judging, evaluate
from harness.judge.checks.locks import LockChecker, check_locks
from harness.judge.checks.perf import PerfChecker, check_perf
from harness.judge.checks.pnl import AggregatorChecker
from harness.judge.checks.races import RaceChecker, check_races
from harness.judge.checks.risk import RiskChecker
from harness.judge.stream import Batch, fed
from tests import _history_builders as hb


def _dirty(clean: tuple[Event, ...]) -> dict[str, list[Event]]:
    """Histories each area must fail on, built from a clean run."""
    sym = hb.symbols(clean)[0]
    fill = hb.first(clean, "order.fill", sym)
    settle = hb.first(clean, RISK_SETTLE, sym)
    return {
        "clean": list(clean),
        "double fill": hb.repeat_at_end(clean, fill),
        "agg drift": hb.alter_agg_state(clean, sym, pnl="123.45"),
        "worker error": hb.worker_error(clean, sym, fatal=True, traceback="Traceback (most recent call last)"),
        "book drift": hb.alter(clean, settle, position="999"),
        "no run.end": hb.drop(clean, hb.last(clean, RUN_END)),
    }


@pytest.mark.parametrize("name", ["clean", "double fill", "agg drift", "worker error", "book drift", "no run.end"])
def test_one_pass_gives_each_checkers_evidence_on_the_whole_history(clean, name):
    events = _dirty(clean)[name]
    whole = tuple(AREAS[key].checker(events) for key in STANDARD_AREAS)
    assert evaluate(iter(events), STANDARD_AREAS) == whole


def test_an_area_without_its_events_is_not_applicable_in_one_pass(clean):
    judging = Judging(("locks", "performance"), required=("locks",))
    for event in clean:
        if not event.kind.startswith(("lock.", "fence.")):
            judging.feed(event)
    locks, perf = judging.result()
    assert locks.figures.required and "no lock.* / fence.* events" in locks.figures.not_applicable
    assert perf == check_perf([e for e in clean if not e.kind.startswith(("lock.", "fence."))])
    assert judging.events == sum(1 for e in clean if not e.kind.startswith(("lock.", "fence.")))


def test_batch_runs_a_whole_history_checker_on_what_it_was_fed(clean):
    seen: list[list[Event]] = []
    batch = Batch(lambda events: seen.append(list(events)) or check_perf(events))
    assert fed(batch, clean) == check_perf(clean) and seen == [list(clean)]


def _tiled(events: tuple[Event, ...], copies: int) -> list[Event]:
    """``copies`` runs back to back, later ones shifted in seq and time (ids stay: each run closes its own)."""
    span_seq, span_ns = events[-1].seq, events[-1].mono_ns - events[0].mono_ns + 1
    return [dataclasses.replace(e, seq=e.seq + i * span_seq, mono_ns=e.mono_ns + i * span_ns)
            for i in range(copies) for e in events if e.kind != RUN_END]


def test_the_perf_checker_holds_only_open_orders_and_acquires(clean):
    """Its state after ten runs is what it is after one: nothing grows with the length of the history."""
    sizes = []
    for copies in (1, 10):
        checker = fed_checker(_tiled(clean, copies))
        sizes.append((len(checker.orders.open), len(checker.locks.open), len(checker.symbols)))
    assert sizes[0] == sizes[1]
    assert sizes[0][0] <= sum(1 for e in clean if e.kind == ORDER_SUBMIT) - sum(1 for e in clean if e.kind == RISK_SETTLE)


def fed_checker(events: list[Event]) -> PerfChecker:
    """A perf checker after every event."""
    checker = PerfChecker()
    for event in events:
        checker.feed(event)
    return checker


def test_the_perf_figures_are_running_sums_of_the_trades(clean):
    """Ten copies of a run: ten times the trades and PnL, the same win rate; drawdown at least one run's."""
    one, ten = check_perf(_tiled(clean, 1)).figures, check_perf(_tiled(clean, 10)).figures
    assert ten.total_trades == 10 * one.total_trades == 10 * sum(1 for e in clean if e.kind == TRADE_CLOSED)
    for name, sym in one.per_symbol.items():
        assert ten.per_symbol[name].pnl == 10 * sym.pnl and ten.per_symbol[name].win_rate == sym.win_rate
        assert ten.per_symbol[name].max_drawdown >= sym.max_drawdown >= Decimal(0)
    assert ten.order_latency.count == 10 * one.order_latency.count


def test_the_lock_checker_sees_a_double_grant_when_it_happens():
    """Its tally rises at the second grant's lock.ok, before the history ends."""
    from tests.judge.checks.test_locks import Builder

    h = Builder()
    h.acquire("a", "x", token=1)
    h.acquire("b", "x", token=2)
    h.release("a", "x")
    h.release("b", "x")
    checker = LockChecker()
    seen = []
    for event in h.events:
        checker.feed(event)
        seen.append(sum(checker.tally().values()))
    assert seen[:3] == [0, 0, 0] and seen[3] > 0 and len(set(seen[3:])) == 1
    assert checker.result() == check_locks(h.events) and checker.result().figures.overlaps == 1


def test_the_lock_checker_without_linearizability_holds_only_live_locks(clean):
    """Without the search (which needs every operation) its state after ten runs is that after one."""
    states = []
    for copies in (1, 10):
        checker = LockChecker(lin_budget=None)
        for event in _tiled(clean, copies):
            checker.feed(event)
        scan = checker.scan
        states.append((len(checker.operations), len(scan.open), sum(map(len, scan.holders.values())),
                       len(checker.order.requested)))
    assert states[0] == states[1] == (0, 0, 0, 0)


def test_the_race_checker_keeps_counts_and_the_first_findings_not_the_history(clean):
    """Ten runs renumbered with gaps: every gap is counted, ten are shown, and nothing per event is kept."""
    events = [dataclasses.replace(e, seq=e.seq * 2) for e in _tiled(clean, 10)]
    checker = RaceChecker()
    for event in events:
        checker.feed(event)
    assert len(checker.book.unsettled.get(hb.symbols(clean)[0], {})) <= 1
    assert checker.numbering.gaps.count == len(events) - 1 and len(checker.numbering.gaps.items) == 10
    assert checker.result() == check_races(events)


def test_the_aggregator_checker_holds_tallies_not_events(clean):
    """Ten runs: its replay and tallies grow with trades, never with other events, and no event is kept."""
    checker = AggregatorChecker()
    for event in _tiled(clean, 10):
        checker.feed(event)
    held = [v for v in vars(checker).values() if isinstance(v, list)]
    assert held == [] and checker.final is not None and checker.final.kind == "agg.state"
    assert checker.timeline.states > 0 and checker.result().figures.simulated_trades > 0


def test_the_risk_checker_keeps_no_history(clean):
    """Ten runs: it keeps trips, halts and errors (none here) and counts, never the events themselves."""
    checker = RiskChecker()
    events = _tiled(clean, 10)
    for event in events:
        checker.feed(event)
    assert checker.trips == checker.halted == checker.errors == []
    assert checker.result().figures.fills == sum(1 for e in events if e.kind == "order.fill")


def test_the_lock_checker_keeps_every_kind_the_linearizability_records_read(clean):
    """Events of any kind outside RECORD_KINDS, one of each, make no record: dropping them loses nothing."""
    from harness.history.events import KINDS
    from harness.judge.linearizability.formats import RECORD_KINDS, records_from_events

    payload = {"op": "acquire", "names": ["x"], "req": 1, "tokens": {"x": 1}, "target": "a", "name": "x",
               "client": "a"}
    others = [Event(i, i, "", "r", "a", None, kind, payload) for i, kind in enumerate(KINDS, 1)
              if kind not in RECORD_KINDS]
    held = [Event(0, 0, "", "r", "a", None, "lock.ok", payload)]
    assert list(records_from_events(held + others)) == list(records_from_events(held))
