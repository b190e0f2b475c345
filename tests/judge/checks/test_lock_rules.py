"""Lock state-machine rules: the faulty client's probes, a broker that honours them, a run that sent none."""

from __future__ import annotations

import json

import pytest

from harness.history.events import LOCK_RULES as RULES
from harness.history.events import NEMESIS_LOCK_RULE as PROBE
from harness.judge.checks.lock_rules import check_lock_rules
from harness.judge.thresholds import Thresholds
from harness.scenarios.lock_rules import gate_rules
from tests.judge.checks.test_lock_plugins import _brokers, run_with_scenario  # noqa: F401 -- the fixture applies here too
from tests.judge.checks.test_locks import Builder


def probed(h: Builder, rule: str, client: str, answer: str) -> None:
    """A probe of ``rule``: the announcement, the release, the broker's and the client's answer."""
    h.add(client, PROBE, rule=rule, client=client, names=["x"])
    req = h.invoke(client, "release", ["x"])
    if answer == "honoured":
        h.add("broker", "broker.release", client=client, req=req, names=["x"], tokens={"x": 1})
        h.complete(client, "lock.ok", "release", ["x"], tokens={"x": 1}, lease_ms=0)
    else:
        h.add("broker", "broker.refuse", client=client, req=req, names=["x"], reason="not_owner")
        h.complete(client, "lock.fail", "release", ["x"], reason="not_owner")


def failing(evidence) -> list[str]:
    return [line.text for line in gate_rules(evidence, Thresholds()).lines if not line.ok]


def test_every_rule_refused_passes():
    h = Builder()
    for rule in RULES:
        probed(h, rule, "f", "refused")
    evidence = check_lock_rules(h.events)
    assert evidence.figures.probes_total == len(RULES)
    assert failing(evidence) == []


def test_an_honoured_probe_fails_with_the_rule_named():
    h = Builder()
    for rule in RULES:
        probed(h, rule, "f", "honoured" if rule == "double_release" else "refused")
    evidence = check_lock_rules(h.events)
    assert failing(evidence) == ["double release: 1 sent, 0 refused, 1 honoured"]
    assert evidence.counterexample("honoured")[0]["reason"].startswith("double_release: honoured")


def test_a_run_that_sent_no_probe_fails():
    h = Builder()
    h.acquire("a", "x", token=1)
    h.release("a", "x")
    assert failing(check_lock_rules(h.events))[0] == "Forbidden operations sent: 0"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_broker_that_honours_forbidden_operations_fails_both_gates(tmp_path, seed):
    """The probes run in the scenario's own process whatever the mode: thread mode suffices."""
    gates, failing_lines = run_with_scenario(tmp_path, "lock_rules", "lenient", seed, "thread")
    assert gates["Lock State-Machine Rules"] == "FAIL" and gates["Lock Atomicity"] == "FAIL"
    for rule in RULES:
        assert any(rule.replace("_", " ") in line and "1 honoured" in line for line in failing_lines), failing_lines
    assert any(line.strip().startswith("❌ EFSM state errors:") for line in failing_lines), failing_lines
    evidence = json.loads(next(tmp_path.glob("lock_rules-*/evidence.json")).read_text())
    state_errors = evidence["evidence"]["Lock Atomicity"]["violations"]["state_errors"]
    broker_side = [v["reason"] for v in state_errors if "broker honoured" in v["reason"]]
    assert len(broker_side) == len(RULES), broker_side


def test_the_reference_broker_refuses_every_forbidden_operation(tmp_path):
    gates, failing_lines = run_with_scenario(tmp_path, "lock_rules", "reference", 1, "process")
    assert set(gates.values()) == {"PASS"}, failing_lines
