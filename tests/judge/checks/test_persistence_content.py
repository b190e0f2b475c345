"""Content, not just presence: each event read back from a layer must say what the history's event says."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from harness.examples.ports.store import MemoryStore, NullCache
from harness.history.log import Event
from harness.judge.checks.persistence import AREA, check_persistence, digest
from harness.judge.gates import gate_persistence
from harness.judge.thresholds import Thresholds
from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import execute, load
from harness.system.guardian.cache import RedisCache, connect
from harness.system.guardian.checkpoint import Checkpoint, read_wal
from harness.system.settings import RunConfig
from tests import _history_builders as hb

SEEDS = (1, 2, 3)


class ShiftedStore(MemoryStore):
    """Files every event under its own seq, but with the content of the event before it (the defect)."""

    def write(self, events: Sequence[Event]) -> None:
        shifted = [dataclasses.replace(prev, seq=event.seq) for prev, event in zip(events, events[1:], strict=False)]
        super().write([events[0], *shifted] if events else [])


class StaleSymbolCache(RedisCache):
    """Loses the fills of one symbol: its cached state stops at the first one lost (the defect)."""

    def write(self, events: Sequence[Event]) -> None:
        stale = self.specs[1].name
        super().write([e for e in events if not (e.kind == "order.fill" and e.symbol == stale)])


def _cache(kind: type[RedisCache]):
    config = RunConfig()
    return lambda run_id, directory: kind(connect(None), f"test:{run_id}", config.symbols, config.limits)


def _cached_state(events: Sequence[Event]) -> dict:
    """What a right cache holds at the end of ``events``: the fills replayed, nothing pending."""
    symbols = {}
    for name in hb.symbols(events):
        fills = hb.where(events, "order.fill", name)
        position = sum((Decimal(f.payload["qty"]) * (1 if f.payload["side"] == "BUY" else -1) for f in fills),
                       Decimal(0))
        symbols[name] = {"position": position, "mark": Decimal(fills[-1].payload["price"]),
                         "pending_buy": Decimal(0), "pending_sell": Decimal(0)}
    return {"last_seq": events[-1].seq, "symbols": symbols}


def _read_back_with_one_swap(events: Sequence[Event]) -> list[Event]:
    """The events as a layer would read them back, one fill's quantity and price swapped under its own seq."""
    fill = hb.first(events, "order.fill")
    p = fill.payload
    return [hb.with_payload(e, qty=p["price"], price=p["qty"]) if e == fill else e for e in events]


def test_the_digest_ignores_key_order_but_not_values():
    event = hb.clean_events()[5]
    assert digest(dataclasses.replace(event, payload=dict(reversed(list(event.payload.items()))))) == digest(event)
    assert digest(hb.with_payload(event, req=999)) != digest(event)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer", ["postgres", "checkpoint"])
def test_right_seq_wrong_content_fails_naming_seq_and_layer(seed, layer):
    events = list(hb.clean_events(seed=seed))
    seqs = [e.seq for e in events]
    contents = {"postgres": events, "checkpoint": events, layer: _read_back_with_one_swap(events)}
    evidence = check_persistence(events, {"postgres": seqs, "checkpoint": seqs}, contents)
    result = gate_persistence(evidence, Thresholds())
    hb.assert_fails_on(result, rf"^{layer}: \d+ persisted, lost = 0, duplicated = 0, wrong content = 1$")
    (bad,) = evidence.counterexample(f"wrong_content_{layer}")
    assert (bad["seq"], bad["layer"]) == (hb.first(events, "order.fill").seq, layer)


def test_the_checkpoint_log_read_back_passes_as_written(tmp_path: Path):
    events = list(hb.clean_events())
    config = RunConfig()
    layer = Checkpoint(tmp_path, config.symbols, config.limits, every=100, fsync=False)
    layer.write(events)
    read = list(read_wal(tmp_path).events)
    evidence = check_persistence(events, {"checkpoint": layer.read_seqs()}, {"checkpoint": read})
    assert evidence.figures.layers["checkpoint"].wrong_content == 0


def test_a_layer_not_read_back_says_so():
    events = list(hb.clean_events())
    evidence = check_persistence(events, {"postgres": [e.seq for e in events]})
    assert evidence.figures.layers["postgres"].wrong_content is None
    lines = [line.text for line in gate_persistence(evidence, Thresholds()).lines]
    assert any(text.endswith("content not read back") for text in lines)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_cache_final_state_is_judged_against_the_replay(seed):
    events = list(hb.clean_events(seed=seed))
    seqs = {"checkpoint": [e.seq for e in events]}
    right = _cached_state(events)
    assert check_persistence(events, seqs, cache=right).figures.cache_differences == 0
    sym = hb.symbols(events)[0]
    stale = {**right, "symbols": {**right["symbols"], sym: {**right["symbols"][sym], "position": Decimal(7)}}}
    evidence = check_persistence(events, seqs, cache=stale)
    hb.assert_fails_on(gate_persistence(evidence, Thresholds()), r"^cache: final state \(seq \d+\) .*: 1 figures differ$")
    assert evidence.counterexample("cache_state")[0]["symbol"] == sym
    behind = {**right, "last_seq": hb.last(events, "order.fill").seq - 1}
    assert check_persistence(events, seqs, cache=behind).figures.cache_differences >= 1


def _persistence_gate(tmp_path: Path, seed: int, store=MemoryStore, cache=None):
    scenario = load("guardian_persistence")
    config = scenario.configure(load_config(None), {"run": {"seed": seed, "trades": 10}})
    plugins = Plugins.of(store=lambda run_id, directory: store(),
                      cache=cache or (lambda run_id, directory: NullCache()))
    verdict = execute(scenario, config, tmp_path / "run", plugins=plugins)
    return next(g for g in verdict.gates if g.area == AREA)


@pytest.mark.parametrize("seed", SEEDS)
def test_store_filing_another_events_content_under_the_right_seq_fails(tmp_path: Path, seed: int):
    gate = _persistence_gate(tmp_path, seed, ShiftedStore)
    hb.assert_fails_on(gate, r"^memory: \d+ persisted, lost = 0, duplicated = 0, wrong content = [1-9]\d*$")
    assert all(bad["layer"] == "memory" for bad in gate.counterexamples["wrong_content_memory"])


def test_reference_store_passes_beside_it(tmp_path: Path):
    gate = _persistence_gate(tmp_path, 1, MemoryStore)
    assert gate.status == "PASS", hb.failing(gate)
    assert any("wrong content = 0" in line.text for line in gate.lines)
    assert "cache: final state not read back" in [line.text for line in gate.lines]  # NullCache cannot say


@pytest.mark.parametrize("seed", SEEDS)
def test_cache_holding_a_stale_value_fails(tmp_path: Path, seed: int):
    gate = _persistence_gate(tmp_path, seed, cache=_cache(StaleSymbolCache))
    hb.assert_fails_on(gate, r"^cache: final state \(seq \d+\) against the history replayed to it: [1-9]\d* figures")
    assert {bad["figure"] for bad in gate.counterexamples["cache_state"]} <= {"position", "mark", "last_seq"}


def test_reference_cache_passes_beside_it(tmp_path: Path):
    gate = _persistence_gate(tmp_path, 1, cache=_cache(RedisCache))
    assert gate.status == "PASS", hb.failing(gate)
    assert any(line.text.endswith(": 0 figures differ") for line in gate.lines)
