"""State-machine coverage: transitions counted from the history; a declared one never taken fails."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.judge.checks.coverage import AREA, TRANSITIONS, check_coverage, coverage_evidence, gate_coverage
from harness.run.config import load_config
from harness.run.scenario import execute, load
from harness.system.locks.client import ZmqLockClient
from tests import _history_builders as hb


def _gate(events, declared=()):
    return gate_coverage(check_coverage(list(events), declared))


def _broker(events, kind, **payload):
    return hb.append(events, kind, worker="broker", **payload)


def test_a_clean_run_counts_grants_orders_and_reservations(clean):
    counts = check_coverage(list(clean)).figures.counts
    assert set(counts) == set(TRANSITIONS)
    assert counts["lock.grant"] == len(hb.where(clean, "lock.ok", op="acquire")) > 0
    assert counts["order.fill"] == counts["guardian.settle"] == len(hb.where(clean, "order.fill"))
    assert counts["lock.renew"] == counts["lock.expiry"] == 0


def test_queue_handoff_renew_expiry_refusal_and_restart_are_told_apart(clean):
    lock = {"client": "c2", "names": ["book:A"]}
    events = _broker(list(clean), "broker.queue", req=7, **lock)
    events = _broker(events, "broker.grant", req=7, **lock)  # the queued request handed the lock
    events = _broker(events, "broker.grant", req=8, **lock)  # granted at once: no hand-off
    events = _broker(events, "broker.renew", req=9, **lock)
    events = _broker(events, "broker.expire", name="book:A", client="c2")
    events = _broker(events, "broker.refuse", req=10, reason="not_owner", **lock)
    events = _broker(events, "broker.refuse", req=11, reason="died", **lock)
    events = _broker(events, "broker.stop", epoch=1)
    events = _broker(events, "broker.stop", epoch=2)  # stopped and never asked again: its end, no restart
    events = _broker(events, "broker.request", op="acquire", req=12, **lock)
    counts = check_coverage(events).figures.counts
    assert {k: counts[f"lock.{k}"] for k in ("queue", "fifo_handoff", "renew", "expiry", "non_owner_release",
                                             "refusal", "restart")} == {
        "queue": 1, "fifo_handoff": 1, "renew": 1, "expiry": 1, "non_owner_release": 1, "refusal": 1, "restart": 1}
    assert counts["lock.grant"] == len(hb.where(clean, "lock.ok", op="acquire"))  # the clients' side saw more


def test_the_gate_shows_every_machine_and_passes_without_declarations(clean):
    result = _gate(clean)
    assert result.status == "PASS" and result.vacuous  # counts without declarations judge nothing
    texts = [line.text for line in result.lines]
    assert [t.split(":")[0] for t in texts] == ["Lock transitions", "Order transitions", "Guardian transitions",
                                               "Declared transitions"]


def test_a_declared_transition_never_taken_fails(clean):
    result = _gate(clean, ["lock.grant", "lock.renew", "guardian.trip"])
    hb.assert_fails_on(result, r"^Declared transitions never taken: lock\.renew, guardian\.trip$")
    assert result.counterexamples["missing"] == ({"transition": "lock.renew"}, {"transition": "guardian.trip"})
    assert _gate(clean, ["lock.grant", "order.fill"]).status == "PASS"


def test_an_unknown_declared_transition_fails(clean):
    hb.assert_fails_on(_gate(clean, ["lock.teleport"]), r"^Unknown transitions declared: lock\.teleport")


def test_broker_only_transitions_are_not_observable_without_a_broker(clean):
    result = _gate(hb.renumber(e for e in clean if not e.kind.startswith("broker.")), ["lock.queue", "lock.grant"])
    assert result.status == "PASS", hb.failing(result)
    assert "Declared but not observable (no broker.* events): lock.queue" in [line.text for line in result.lines]


def _coverage(tmp_path: Path, scenario, seed: int = 1, **run):
    config = scenario.configure(load_config(None), {"run": {"seed": seed, "trades": 10, **run}})
    verdict = execute(scenario, config, tmp_path / "run")
    return verdict, next(g for g in verdict.gates if g.area == AREA)


def test_default_stress_run_takes_every_transition_it_declares(tmp_path: Path):
    verdict, gate = _coverage(tmp_path, load("multi_symbol_stress"))
    assert gate.status == "PASS", hb.failing(gate)
    assert any(line.text.startswith("Declared transitions: 2, all taken") for line in gate.lines)
    assert verdict.passed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_scenario_that_stops_exercising_a_declared_transition_fails(tmp_path: Path, seed: int, monkeypatch):
    """A client change that stops lock_rules from renewing (renew keeps the grant, sends nothing): the run says so."""
    monkeypatch.setattr(ZmqLockClient, "renew", lambda self, grant: grant)
    verdict, gate = _coverage(tmp_path, load("lock_rules"), seed)
    hb.assert_fails_on(gate, r"^Declared transitions never taken: lock\.renew$")
    assert not verdict.passed


def test_a_declaration_the_engine_never_walks_fails(tmp_path: Path):
    scenario = dataclasses.replace(load("multi_symbol_stress"), covers=frozenset({"lock.renew"}))
    _, gate = _coverage(tmp_path, scenario)
    hb.assert_fails_on(gate, r"never taken: lock\.renew$")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lock_rules_covers_queue_handoff_renew_expiry_and_non_owner_release(tmp_path: Path, seed: int):
    verdict, gate = _coverage(tmp_path, load("lock_rules"), seed)
    assert gate.status == "PASS", hb.failing(gate)
    assert {"lock.queue", "lock.fifo_handoff", "lock.renew", "lock.expiry",
            "lock.non_owner_release"} <= set(verdict.scenario.covers)
    assert verdict.passed, [hb.failing(g) for g in verdict.gates]


def test_declarations_travel_in_run_start_so_a_saved_history_is_judged_alike(clean):
    start = hb.first(clean, "run.start")
    (evidence,) = coverage_evidence(hb.alter(clean, start, covers=["lock.renew", "lock.grant"]), ["order.fill"])
    assert evidence.figures.declared == ("lock.grant", "lock.renew", "order.fill")
    hb.assert_fails_on(gate_coverage(evidence), r"never taken: lock\.renew$")
