"""`harness check` re-judges a saved run exactly as the run judged itself, and foreign logs too."""

from __future__ import annotations

import pytest

from harness.history.log import HistoryError
from harness.judge.rejudge import read_history
from tests import _history_builders as hb

pytestmark = pytest.mark.usefixtures("in_empty_dir")


@pytest.fixture(scope="module")
def passed(tmp_path_factory):
    out = tmp_path_factory.mktemp("rejudge") / "pass"
    return hb.run_scenario(out, trades=5), out


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    out = tmp_path_factory.mktemp("rejudge") / "fail"
    return hb.run_scenario(out, trades=5, max_order_p99_ms=0.0), out


def _verify_lines(out):
    return hb.gate_lines((out / "VERIFY_LOG.txt").read_text(encoding="utf-8"))


@pytest.mark.parametrize("target", ["", "events.jsonl", "STRESS_TEST.log"], ids=["run-dir", "jsonl", "log"])
def test_check_gives_the_runs_own_verdict_and_lines(capsys, passed, target):
    verdict, out = passed
    code, stdout, err = hb.cli(capsys, "check", out / target if target else out)
    assert (code, err) == (0, "")
    assert len(_verify_lines(out)) == sum(len(g.lines) for g in verdict.gates)
    assert hb.gate_lines(stdout) == _verify_lines(out)
    statuses = [line for line in stdout.splitlines() if line.startswith("[PHYSICAL_EVIDENCE]")]
    assert statuses == [f"[PHYSICAL_EVIDENCE] {g.area}: PASS" for g in verdict.gates]
    name = "MULTI_SYMBOL_STRESS" if target == "" else "HISTORY"
    assert stdout.splitlines()[-1] == f"[UnifiedGate] {name} PASS"


def test_check_of_a_failed_run_fails_the_same_way(capsys, failed, tmp_path):
    verdict, out = failed
    assert verdict.status == "FAIL"
    config = tmp_path / "gates.toml"
    config.write_text("[gates]\nmax_order_p99_ms = 0.0\n", encoding="utf-8")
    code, stdout, _ = hb.cli(capsys, "check", out, "--config", config)
    assert code == 1
    assert hb.gate_lines(stdout) == _verify_lines(out)
    assert stdout.splitlines()[-1] == "[UnifiedGate] MULTI_SYMBOL_STRESS FAIL"


FOREIGN = [
    '2026-01-01T00:00:00+00:00 INFO 1 1000 feed-1 ABC worker.start {}',
    '# comments are skipped',
    '2026-01-01T00:00:01+00:00 INFO 2 2000 feed-1 ABC x.quote {"bid":"1.0"}',
    '2026-01-01T00:00:02+00:00 INFO 3 3000 feed-1 ABC worker.done {}',
]


def test_a_foreign_clean_log_passes(capsys, tmp_path):
    log = tmp_path / "other.log"
    log.write_text("\n".join(FOREIGN) + "\n", encoding="utf-8")
    code, stdout, _ = hb.cli(capsys, "check", log)
    assert code == 0
    assert "  ✅ ERROR count: 0" in stdout.splitlines()
    assert stdout.splitlines()[-1] == "[UnifiedGate] HISTORY PASS"


def test_a_foreign_log_line_marked_error_is_judged(capsys, tmp_path):
    log = tmp_path / "other.log"
    lines = [*FOREIGN, '2026-01-01T00:00:03+00:00 ERROR 4 4000 feed-1 ABC x.quote {"bid":"x"}']
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, stdout, _ = hb.cli(capsys, "check", log)
    assert code == 1
    assert "  ❌ ERROR count: 1" in stdout.splitlines()
    assert stdout.splitlines()[-1] == "[UnifiedGate] HISTORY FAIL"


def test_empty_history_is_refused(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(HistoryError, match="the history is empty"):
        read_history(path)


def test_run_directory_with_corrupt_evidence_json_is_refused(tmp_path, passed):
    _, out = passed
    target = tmp_path / "run"
    target.mkdir()
    (target / "events.jsonl").write_bytes((out / "events.jsonl").read_bytes())
    (target / "evidence.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(HistoryError, match=r"evidence\.json: not valid JSON"):
        read_history(target)


def test_check_judges_several_histories_in_one_call(capsys, passed, failed, tmp_path):
    from harness.testing import cli

    (_, passed), (_, failed), missing = passed, failed, tmp_path / "missing.jsonl"
    code, out, err = cli(capsys, "check", passed, missing, failed)
    assert code == 1, "a failed history outranks an unreadable one"
    assert [line for line in out.splitlines() if line.startswith("== ")] == [f"== {passed}", f"== {missing}",
                                                                          f"== {failed}"]
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("[UnifiedGate]")] == ["PASS", "FAIL"]
    assert err.count("\n") == 1 and "missing.jsonl" in err
    assert cli(capsys, "check", passed, passed)[0] == 0
