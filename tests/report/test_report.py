"""The report directory of a real multi_symbol_stress run: artefacts, layout, figures."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from harness.report.writer import ARTEFACTS, SCHEMA
from tests import _history_builders as hb

SYMBOL_LINE = re.compile(r"^  ✅ (\S+): (\d+) trades, (-?)\$([\d,]+\.\d\d) PnL, (\d+\.\d\d)% win rate, ")
RULE = "=" * 80


@pytest.fixture(scope="module")
def passed(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "pass"
    return hb.run_scenario(out), out


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "fail"
    return hb.run_scenario(out, min_throughput_trades_per_s=1e12), out


def test_every_artefact_exists(passed):
    verdict, out = passed
    assert verdict.status == "PASS", [hb.failing(g) for g in verdict.gates]
    assert sorted(p.name for p in out.iterdir() if p.name in ARTEFACTS) == sorted(ARTEFACTS)
    assert {"events.jsonl", "STRESS_TEST.log", "evidence.json", "PHYSICAL_EVIDENCE.md", "VERIFY_LOG.txt",
            "report.html"} <= set(ARTEFACTS)
    for name in ARTEFACTS:
        assert (out / name).stat().st_size > 0, name


def test_verify_log_follows_the_seed_layout(passed):
    verdict, out = passed
    text = (out / "VERIFY_LOG.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    header = lines[: lines.index("VERIFICATION RESULTS")]
    assert any(re.fullmatch(r"Execution Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", line) for line in header)
    assert "Status: ✅ PASS" in header
    sections = [line.removeprefix("[PHYSICAL_EVIDENCE] ") for line in lines
                if line.startswith("[PHYSICAL_EVIDENCE] ") and "gates passed" not in line]
    assert sections == [g.area for g in verdict.gates]
    for gate in verdict.gates:
        start = lines.index(f"[PHYSICAL_EVIDENCE] {gate.area}") + 1
        facts = lines[start: start + len(gate.lines)]
        assert facts == [f"  {'✅' if line.ok else '❌'} {line.text}" for line in gate.lines]
        assert lines[start + len(gate.lines)] == ""
    unified = lines.index("[UnifiedGate] MULTI_SYMBOL_STRESS PASS")
    artefacts = lines.index("ARTIFACTS GENERATED")
    assert lines.index("VERIFICATION RESULTS") < unified < artefacts
    assert [line for line in lines[artefacts:] if line.startswith("✅ ")] == [f"✅ {n}" for n in ARTEFACTS]
    assert "Reproduce:" not in text


def test_verify_log_figures_match_evidence_json(passed):
    _, out = passed
    metrics = hb.evidence_json(out)["metrics"]["per_symbol"]
    printed = {}
    for line in (out / "VERIFY_LOG.txt").read_text(encoding="utf-8").splitlines():
        m = SYMBOL_LINE.match(line)
        if m:
            name, trades, sign, amount, rate = m.groups()
            printed[name] = (int(trades), Decimal(sign + amount.replace(",", "")), Decimal(rate) / 100)
    assert sorted(printed) == sorted(metrics) and len(printed) == 3
    cent, basis = Decimal("0.01"), Decimal("0.0001")
    for name, m in metrics.items():
        assert printed[name] == (m["trades"], Decimal(m["pnl"]).quantize(cent), Decimal(m["win_rate"]).quantize(basis))


def test_evidence_json_document(passed):
    verdict, out = passed
    doc = hb.evidence_json(out)
    assert doc["schema"] == SCHEMA
    assert (doc["scenario"], doc["seed"], doc["status"]) == ("multi_symbol_stress", 127, "PASS")
    assert [(g["name"], g["status"]) for g in doc["gates"]] == [(g.name, g.status) for g in verdict.gates]
    assert all(g["facts"] and all({"ok", "text"} <= set(f) for f in g["facts"]) for g in doc["gates"])
    assert doc["metrics"]["throughput_trades_per_s"] > 0
    for name, m in doc["metrics"]["per_symbol"].items():
        assert m["trades"] == 10, name
        assert Decimal(m["pnl"]) == sum(
            (Decimal(e.payload["pnl"]) for e in hb.where(verdict.events, "trade.closed", name)), Decimal(0))
        Decimal(m["win_rate"])
    assert isinstance(doc["metrics"]["pnl_difference"], str)
    assert doc["metrics"]["pnl_difference"].startswith("0") and Decimal(doc["metrics"]["pnl_difference"]) == 0


def test_failing_verdict_ends_logs_with_reproduce_command(failed):
    verdict, out = failed
    assert verdict.status == "FAIL" and verdict.exit_code == 1
    command = verdict.command
    assert command.startswith("harness run multi_symbol_stress --seed 127 ")
    verify = [line for line in (out / "VERIFY_LOG.txt").read_text(encoding="utf-8").splitlines() if line != RULE]
    assert verify[-1] == f"Reproduce: {command}"
    assert "[UnifiedGate] MULTI_SYMBOL_STRESS FAIL" in verify
    assert "Status: ❌ FAIL" in verify
    stress = (out / "STRESS_TEST.log").read_text(encoding="utf-8").splitlines()
    assert stress[-1] == f"# FAIL -- reproduce: {command}"
    assert hb.evidence_json(out)["reproduce"] == command


def test_passing_stress_log_has_no_reproduce_line(passed):
    _, out = passed
    assert not any(line.startswith("#") for line in (out / "STRESS_TEST.log").read_text(encoding="utf-8").splitlines())
