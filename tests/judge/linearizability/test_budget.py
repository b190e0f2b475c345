"""Budgets that scale with the history, set from [gates] and the command line."""

from __future__ import annotations

import dataclasses

import pytest

from harness.history.log import write_jsonl
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.models import KV
from harness.judge.linearizability.operations import Budget
from harness.testing import clean_events
from tests import _history_builders as hb
from tests.judge.linearizability.conftest import C50_BAD
from tests.judge.linearizability.test_models import run

pytestmark = pytest.mark.usefixtures("in_empty_dir")


def test_a_keys_step_budget_is_proportional_to_its_length(c50_bad):
    hard = [op for op in c50_bad if op.key == "0"]
    result = check(hard, KV, Budget(steps=5_000, seconds=None, steps_per_op=100))
    assert (result.verdict, result.exhausted, result.steps) == ("unknown", "steps", 100 * len(hard))
    assert Budget(steps=5_000, steps_per_op=100).for_key(10) == 5_000  # the floor
    assert Budget(steps=None, steps_per_op=100).for_key(10) is None


@pytest.fixture(scope="module")
def crashed_acquire(tmp_path_factory) -> str:
    """A clean run's history with one more acquire that never completes: its lock needs the search."""
    events = list(clean_events(trades=5))
    invoke = next(e for e in events if e.kind == "lock.invoke")
    last = events[-1]
    crash = dataclasses.replace(invoke, seq=last.seq + 1, mono_ns=last.mono_ns + 1, worker="crasher",
                                payload={**invoke.payload, "req": 1})
    path = tmp_path_factory.mktemp("budget") / "events.jsonl"
    write_jsonl([*events, crash], path)
    return str(path)


def _linearizable_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if "Linearizable" in line)


def test_the_lock_checkers_budget_comes_from_gates_flags(capsys, crashed_acquire):
    code, stdout, _ = hb.cli(capsys, "check", crashed_acquire, "--areas", "locks")
    assert code == 0 and _linearizable_line(stdout).endswith(": true")
    code, stdout, _ = hb.cli(capsys, "check", crashed_acquire, "--areas", "locks",
                             "--gate", "linearizability_steps=1", "--gate", "linearizability_steps_per_op=0")
    assert code == 1
    assert _linearizable_line(stdout).endswith("unknown -- unknown: steps budget exhausted on key symbol:BTCUSD.s "
                                               "after 1 steps")


def test_the_lock_checkers_budget_comes_from_the_gates_table(capsys, crashed_acquire, tmp_path):
    config = tmp_path / "gates.toml"
    config.write_text("[gates]\nlinearizability_steps = 1\nlinearizability_steps_per_op = 0\n", encoding="utf-8")
    code, stdout, _ = hb.cli(capsys, "check", crashed_acquire, "--areas", "locks", "--config", config)
    assert code == 1 and "steps budget exhausted" in _linearizable_line(stdout)


def test_a_bad_budget_setting_is_one_line_and_exit_2(capsys, crashed_acquire):
    code, stdout, err = hb.cli(capsys, "check", crashed_acquire, "--gate", "linearizability_seconds=-1")
    assert code == 2 and err.count("\n") == 1 and "linearizability_seconds" in err


def test_check_history_gives_each_key_steps_per_op(tmp_path, capsys):
    hard = tmp_path / "hard.edn"
    hard.write_text("\n".join(line for line in C50_BAD.read_text().splitlines() if ':key "0"' in line))
    assert run([str(hard), "--model", "kv", "--budget-steps", "10", "--budget-steps-per-op", "10"]) == 3
    assert "unknown: steps budget exhausted on key 0 after 2300 steps" in capsys.readouterr().out
