"""Aggregator judged over time: a stale state taken and later repaired still fails."""

from __future__ import annotations

import dataclasses
import functools
from decimal import Decimal
from pathlib import Path

import pytest

from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import execute, load
from harness.system.aggregator import MetricsAggregator, Mode, SymbolMetrics
from harness.system.engine import run
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig
from tests import _history_builders as hb

REPLACE_AREA = "MetricsAggregator Accuracy (REPLACE mode)"


class StaleReplaceAggregator(MetricsAggregator):
    """REPLACE takes every snapshot, also one older than the state it holds (the defect)."""

    def replace(self, symbol, snapshot: SymbolMetrics, *, worker="-", fence_token=None) -> bool:
        with self._lock:
            slot = self._slots.get(symbol)
            if slot is not None:  # forget the held version, so any snapshot looks newer
                slot.metrics = dataclasses.replace(slot.metrics, seq=0)
        return super().replace(symbol, snapshot, worker=worker, fence_token=fence_token)


@functools.cache
def replace_mode() -> tuple:
    return tuple(run(RunConfig(trades=8, aggregation=Mode.REPLACE), LockTable()).events())


def _stale_then_repaired(events, sym):
    """An older snapshot (the first two trades) taken after the real one, then the real one again."""
    real = hb.last(events, "agg.replace", sym)
    pnls = [Decimal(t.payload["pnl"]) for t in hb.where(events, "trade.closed", sym)[:2]]
    older = {"seq": 2, "trades": 2, "wins": sum(p > 0 for p in pnls), "losses": sum(p < 0 for p in pnls),
             "breakeven": sum(p == 0 for p in pnls), "pnl": str(sum(pnls)), "gross_profit": "0", "gross_loss": "0"}
    at = events.index(real) + 1
    return hb.renumber([*events[:at], dataclasses.replace(real, payload=older), real, *events[at:]])


def test_reference_states_over_time_pass():
    events = replace_mode()
    ev = hb.evidence(events, "aggregator")
    assert ev.figures.states_judged >= len(hb.symbols(events))
    assert ev.figures.bad_states == 0
    assert hb.gate(events, "aggregator").status == "PASS"


def test_stale_snapshot_later_repaired_fails_with_the_offending_event():
    events = replace_mode()
    sym = hb.symbols(events)[0]
    planted = _stale_then_repaired(list(events), sym)
    ev = hb.evidence(planted, "aggregator")
    assert ev.figures.pnl_difference == 0  # the final state was repaired
    result = hb.gate(planted, "aggregator")
    hb.assert_fails_on(result, r"^Aggregator states over time: \d+ judged against the replay, 1 stale or wrong$")
    (bad,) = result.counterexamples["bad_states"]
    assert (bad["kind"], bad["symbol"]) == ("agg.replace", sym)
    assert "went back" in bad["why"]


def test_state_covering_trades_not_yet_closed_fails(clean, sym):
    first_apply = hb.first(clean, "agg.apply", sym)
    early = [e for e in clean if e != first_apply]
    early.insert(next(i for i, e in enumerate(early) if e.kind == "order.fill" and e.symbol == sym), first_apply)
    result = hb.gate(hb.renumber(early), "aggregator")
    hb.assert_fails_on(result, r"stale or wrong$")
    assert "closed so far" in result.counterexamples["bad_states"][0]["why"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plugged_aggregator_accepting_stale_snapshots_fails(tmp_path: Path, seed: int):
    scenario = load("pnl_consistency")
    config = scenario.configure(load_config(None), {"run": {"seed": seed, "trades": 20}})
    verdict = execute(scenario, config, tmp_path / "run", plugins=Plugins.of(aggregator=StaleReplaceAggregator))
    gate = next(g for g in verdict.gates if g.area == REPLACE_AREA)
    hb.assert_fails_on(gate, r"^Aggregator states over time: .* [1-9]\d* stale or wrong$")
    assert all("went back" in bad["why"] for bad in gate.counterexamples["bad_states"])


def test_reference_aggregator_passes_the_same_run(tmp_path: Path):
    scenario = load("pnl_consistency")
    config = scenario.configure(load_config(None), {"run": {"seed": 1, "trades": 20}})
    gate = next(g for g in execute(scenario, config, tmp_path / "run").gates if g.area == REPLACE_AREA)
    assert gate.status == "PASS", hb.failing(gate)
