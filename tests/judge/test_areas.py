"""The area registry: areas judged on what the history holds, required areas, no engine to re-judge."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history.log import write_jsonl
from harness.judge.areas import AREAS, STANDARD_AREAS, evaluate, judge
from harness.judge.gates import outcome, unified
from harness.judge.thresholds import Thresholds
from tests import _history_builders as hb

ENGINE = ("harness.system.engine", "harness.system.ledger", "harness.system.aggregator", "harness.system.guardian", "harness.run.scenario")


def _locks_and_fills(clean) -> list:
    """A foreign-style history: only lock, fence and fill events."""
    return hb.renumber(e for e in clean if e.kind.split(".")[0] in ("lock", "fence") or e.kind == "order.fill")


def _imported_after(code: str) -> list[str]:
    """The harness modules a fresh interpreter holds after running ``code``."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('harness'))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_area_is_named_once():
    assert STANDARD_AREAS == ("locks", "races", "performance", "aggregator", "risk")
    assert len({a.name for a in AREAS.values()}) == len(AREAS)


def test_areas_without_inputs_are_not_applicable(clean):
    events = _locks_and_fills(clean)
    gates = judge(evaluate(events, STANDARD_AREAS), Thresholds())
    status = {g.name if g.applicable else g.area: g.status for g in gates}
    assert status == {"locks": "PASS", "races": "PASS", "Performance Metrics": "N/A",
                      "MetricsAggregator Accuracy": "N/A", "Risk Management": "N/A"}
    aggregator = next(g for g in gates if g.area == "MetricsAggregator Accuracy")
    assert [line.text for line in aggregator.lines] == ["Not applicable (no agg.* events)"]
    assert unified(gates)


def test_nothing_applicable_is_no_pass(clean):
    gates = judge(evaluate(_locks_and_fills(clean), ("aggregator", "risk")), Thresholds())
    assert not unified(gates)


def test_foreign_history_passes_check_with_the_rest_not_applicable(capsys, tmp_path, clean):
    path = tmp_path / "events.jsonl"
    write_jsonl(_locks_and_fills(clean), path)
    code, stdout, err = hb.cli(capsys, "check", path)
    assert (code, err) == (0, "")
    assert "[PHYSICAL_EVIDENCE] Risk Management: N/A" in stdout.splitlines()
    assert "  ✅ Not applicable (no risk.* / run.start events)" in stdout.splitlines()
    assert stdout.splitlines()[-1] == "[UnifiedGate] HISTORY PASS"


def test_required_area_without_inputs_fails(capsys, tmp_path, clean):
    path = tmp_path / "events.jsonl"
    write_jsonl(_locks_and_fills(clean), path)
    code, stdout, _ = hb.cli(capsys, "check", path, "--areas", "locks,aggregator")
    assert code == 1
    assert "  ❌ Required, but not applicable (no agg.* events)" in stdout.splitlines()
    assert [line for line in stdout.splitlines() if line.startswith("[PHYSICAL_EVIDENCE]")] == [
        "[PHYSICAL_EVIDENCE] Lock Atomicity: PASS", "[PHYSICAL_EVIDENCE] MetricsAggregator Accuracy: FAIL"]


def test_require_areas_in_config_fails_too(capsys, tmp_path, clean):
    path = tmp_path / "events.jsonl"
    write_jsonl(_locks_and_fills(clean), path)
    config = tmp_path / "harness.toml"
    config.write_text('[gates]\nrequire_areas = ["risk"]\n', encoding="utf-8")
    code, stdout, _ = hb.cli(capsys, "check", path, "--config", config)
    assert code == 1
    assert "  ❌ Required, but not applicable (no risk.* / run.start events)" in stdout.splitlines()


@pytest.mark.parametrize("argv", [["--areas", "locks,nonsense"], ["--config", "bad.toml"]])
def test_unknown_area_is_one_line_and_exit_2(capsys, tmp_path, clean, argv):
    path = tmp_path / "events.jsonl"
    write_jsonl(_locks_and_fills(clean), path)
    (tmp_path / "bad.toml").write_text('[gates]\nrequire_areas = ["nonsense"]\n', encoding="utf-8")
    argv = [str(tmp_path / a) if a.endswith(".toml") else a for a in argv]
    code, stdout, err = hb.cli(capsys, "check", path, *argv)
    assert code == 2 and "nonsense" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_checks_import_nothing_of_the_engine():
    modules = _imported_after("import pkgutil, importlib, harness.judge.checks as c\n"
                              "for m in pkgutil.iter_modules(c.__path__):\n"
                              "    importlib.import_module('harness.judge.checks.' + m.name)")
    assert "harness.judge.checks.oracle" in modules
    assert not [m for m in modules if m.startswith(ENGINE)]


def test_judge_registry_imports_nothing_of_the_engine():
    modules = _imported_after("import harness.judge.areas")
    assert not [m for m in modules if m.startswith(ENGINE)]


def test_rejudging_a_saved_run_does_not_load_the_system(tmp_path: Path):
    out = tmp_path / "run"
    hb.run_scenario(out, trades=3)
    assert "areas" in hb.evidence_json(out)
    for target in (out, out / "events.jsonl"):
        modules = _imported_after(f"from harness.cli.main import main\n"
                                  f"assert main(['check', {str(target)!r}]) == 0")
        assert "harness.judge.areas" in modules
        assert not [m for m in modules if m.startswith(("harness.system", "harness.run", "harness.faults",
                                                        "harness.explore", "harness.scenarios"))]


def test_verify_log_and_evidence_show_not_applicable_areas_honestly(tmp_path, clean):
    from harness.report.verify_log import verify_log
    from harness.report.writer import evidence_document

    verdict = hb.run_scenario(tmp_path / "run", trades=3)
    events = _locks_and_fills(clean)
    evidence = evaluate(events, STANDARD_AREAS)
    shown = dataclasses.replace(verdict, evidence=evidence, gates=judge(evidence, Thresholds()), events=events)
    log = verify_log(shown, [])
    assert "[PHYSICAL_EVIDENCE] Risk Management -- N/A" in log.splitlines()
    assert ("[PHYSICAL_EVIDENCE] 2/2 gates passed; not applicable: Performance Metrics, MetricsAggregator Accuracy, "
            "Risk Management") in log.splitlines()
    gates = {g.area: g.status for g in evidence_document(shown).gates}
    assert gates["Risk Management"] == "N/A" and gates["Lock Atomicity"] == "PASS"


def test_evidence_computed_outside_the_history_keeps_its_gate():
    from harness.judge.checks.persistence import AREA, check_persistence

    ev = check_persistence([], {})
    (result,) = judge([ev], Thresholds())
    assert result.area == AREA and result.name == "persistence"


def _broker_only(clean) -> list:
    """What a lock broker alone records: its own events (after the run's parameters)."""
    events = [next(e for e in clean if e.kind == "run.start")]
    lock = {"client": "c1", "req": 1, "names": ["book:ABC"]}
    events = hb.append(events, "broker.request", worker="broker", op="acquire", **lock)
    events = hb.append(events, "broker.grant", worker="broker", tokens={"book:ABC": 1}, **lock)
    return hb.append(events, "broker.release", worker="broker", **lock)


def test_a_history_with_nothing_any_area_judges_is_nothing_judged_not_pass(clean):
    events = _broker_only(clean)
    assert any(e.kind == "broker.grant" for e in events)
    gates = judge(evaluate(events, STANDARD_AREAS), Thresholds())
    # Races apply to any history (log levels) and risk to one with run.start, but neither saw trading.
    assert {g.area for g in gates if g.vacuous} == {"Race Condition Detection", "Risk Management"}
    assert outcome(gates) == "NOTHING JUDGED"
    assert not unified(gates)


def test_a_vacuous_area_that_finds_an_error_still_fails(clean):
    events = _broker_only(clean)
    events = hb.renumber([*events, dataclasses.replace(events[-1], kind="broker.error",
                                                       payload={"reason": "boom", "_level": "ERROR"})])
    assert outcome(judge(evaluate(events, STANDARD_AREAS), Thresholds())) == "FAIL"


def test_check_exits_1_when_nothing_was_judged_unless_allowed(capsys, tmp_path, clean):
    path = tmp_path / "broker.jsonl"
    write_jsonl(_broker_only(clean), path)
    code, stdout, _ = hb.cli(capsys, "check", path)
    assert code == 1
    assert stdout.splitlines()[-1].startswith("[UnifiedGate] HISTORY NOTHING JUDGED (no area found events")
    code, stdout, _ = hb.cli(capsys, "check", path, "--allow-empty")
    assert code == 0
    assert "NOTHING JUDGED" in stdout.splitlines()[-1] and "PASS" not in stdout.splitlines()[-1]


def test_the_verify_log_marks_a_gate_that_had_nothing_to_judge_and_says_nothing_judged(tmp_path, clean):
    from harness.report.verify_log import verify_log

    verdict = hb.run_scenario(tmp_path / "run", trades=3)
    events = _broker_only(clean)
    evidence = evaluate(events, STANDARD_AREAS)
    shown = dataclasses.replace(verdict, evidence=evidence, gates=judge(evidence, Thresholds()), events=events)
    log = verify_log(shown, []).splitlines()
    assert "[PHYSICAL_EVIDENCE] Race Condition Detection -- nothing to judge" in log
    assert "[UnifiedGate] MULTI_SYMBOL_STRESS NOTHING JUDGED" in log
    assert any(line.endswith("nothing to judge: Race Condition Detection, Risk Management") for line in log)
