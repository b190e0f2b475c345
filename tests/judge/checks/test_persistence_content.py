"""Content, not just presence: each event read back from a layer must say what the history's event says."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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
from harness.system.guardian.checkpoint import Checkpoint, read_wal
from harness.system.settings import RunConfig
from tests import _history_builders as hb

SEEDS = (1, 2, 3)


class ShiftedStore(MemoryStore):
    """Files every event under its own seq, but with the content of the event before it (the defect)."""

    def write(self, events: Sequence[Event]) -> None:
        shifted = [dataclasses.replace(prev, seq=event.seq) for prev, event in zip(events, events[1:], strict=False)]
        super().write([events[0], *shifted] if events else [])


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


def _persistence_gate(tmp_path: Path, seed: int, store):
    scenario = load("guardian_persistence")
    config = scenario.configure(load_config(None), {"run": {"seed": seed, "trades": 10}})
    plugins = Plugins(store=lambda run_id, directory: store(), cache=lambda run_id, directory: NullCache())
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
