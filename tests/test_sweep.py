"""The false-alarm sweep runs end to end on a tiny plan (the full sweep is `make sweep`)."""

from __future__ import annotations

import json

import pytest

from bench.sweep import cases, main


def test_the_default_plan_is_the_one_issue_10_asks_for():
    plan = list(cases(50, 10))
    stress = [c for c in plan if c.scenario == "multi_symbol_stress"]
    assert len(stress) == 50 and sum(c.mode == "process" for c in stress) == 25
    assert {c.scenario for c in plan} - {"multi_symbol_stress"} == {"race_detection", "pnl_consistency",
                                                                      "symbol_isolation"}
    assert len(plan) == 80


@pytest.mark.slow
def test_a_small_sweep_has_no_false_alarm(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["--stress", "2", "--others", "0", "--out", str(out)]) == 0, capsys.readouterr().out
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert (summary["runs"], summary["false_alarms"]) == (2, 0)
    assert all(r["status"] == "PASS" for r in summary["results"])
