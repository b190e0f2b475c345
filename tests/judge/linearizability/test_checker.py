"""Each key its own search and budget, interleaved: a refuted key decides, whatever a hard key does."""

from __future__ import annotations

import re

import pytest

from harness.judge.linearizability.checker import check, partitions
from harness.judge.linearizability.models import KV
from harness.judge.linearizability.operations import Budget, Operation, operations
from harness.judge.linearizability.search import decide
from tests.judge.linearizability.conftest import C50_BAD
from tests.judge.linearizability.test_engine import history
from tests.judge.linearizability.test_models import run


def test_the_hard_key_alone_is_not_decided_in_a_budget_the_bad_key_needs_a_fraction_of(c50_bad):
    parts = partitions(c50_bad, KV)
    assert decide(parts["0"], KV, "0", 100_000) is None
    refuted = decide(parts["3"], KV, "3", 100_000)
    assert refuted is not None and refuted.verdict == "false" and refuted.steps < 20_000


@pytest.mark.parametrize("order", ["file", "reversed"])
def test_a_refuted_key_decides_false_whichever_key_comes_first(c50_bad, order):
    ops = c50_bad if order == "file" else c50_bad[::-1]
    result = check(ops, KV, Budget(steps=1_000_000, seconds=None))
    assert (result.verdict, result.key) == ("false", "3")
    assert result.failed_op is not None and result.failed_op.key == "3"
    verdicts = {k.key: (k.verdict, k.exhausted) for k in result.keys}
    assert verdicts == {"3": ("false", None), "0": ("unknown", "stopped")}
    # Interleaved in growing slices: the hard key spent about what the refuted one did, not its budget.
    steps = {k.key: k.steps for k in result.keys}
    assert steps["0"] <= 4 * steps["3"]


def concurrent_puts(n: int, key: str) -> list[Operation]:
    """n overlapping puts, then a get of a value none wrote: every order of the puts must be tried."""
    rows = [(p, "invoke", "put", str(p), key) for p in range(n)] + [(p, "ok", "put", None, key) for p in range(n)]
    return operations(history(*rows, (n, "invoke", "get", None, key), (n, "ok", "get", "nope", key)))


def test_a_key_out_of_budget_does_not_hide_another_keys_refutation(c50_bad):
    bad = [op for op in c50_bad if op.key == "3"]  # refuted in about 8.6k steps
    result = check(concurrent_puts(14, "w") + bad, KV, Budget(steps=9_000, seconds=None, steps_per_op=None))
    assert (result.verdict, result.key) == ("false", "3")
    assert {k.key: (k.verdict, k.exhausted) for k in result.keys} == {"w": ("unknown", "steps"), "3": ("false", None)}


def test_unknown_names_the_key_whose_budget_ran_out(c50_bad):
    hard = [op for op in c50_bad if op.key == "0"]
    result = check(hard, KV, Budget(steps=5_000, seconds=None, steps_per_op=None))
    assert (result.verdict, result.exhausted, result.key) == ("unknown", "steps", "0")
    assert "on key 0" in result.summary()
    assert [(k.key, k.verdict, k.steps, k.ops) for k in result.keys] == [("0", "unknown", 5_000, len(hard))]


def test_a_true_history_lists_every_key_with_its_steps():
    steps = [("invoke", "put", "x"), ("ok", "put", "x"), ("invoke", "get", None), ("ok", "get", "x")]
    rows = [(0, kind, f, value, key) for key in "ab" for kind, f, value in steps]
    result = check(operations(history(*rows)), KV)
    assert result.verdict == "true"
    assert [(k.key, k.verdict) for k in result.keys] == [("a", "true"), ("b", "true")]
    assert result.steps == sum(k.steps for k in result.keys) > 0


def test_check_history_prints_each_keys_outcome(capsys):
    assert run([str(C50_BAD), "--model", "kv"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("keys: "))
    assert re.fullmatch(r"keys: 2; stopped \(another key refuted it\) 1: 0 \([\d,]+ steps\); false 1: 3 \(8,637 steps\)",
                        line)
