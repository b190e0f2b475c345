"""The search's memo is bounded: forgetting it keeps memory flat and changes no verdict."""

from __future__ import annotations

import time
import tracemalloc

from harness.judge.linearizability.checker import partitions
from harness.judge.linearizability.models import KV
from harness.judge.linearizability.operations import Operation, Result
from harness.judge.linearizability.search import decide, search
from tests.judge.linearizability.conftest import C50_BAD
from tests.judge.linearizability.test_models import run

MB = 1 << 20


def drive(ops: list[Operation], memo_bytes: int | None, steps: int, slice_: int = 8192) -> Result | None:
    """Run one key's search in slices (the memo bound is checked between slices), up to ``steps``."""
    found = search(ops, KV, ops[0].key)
    taken, _ = next(found)
    try:
        while taken < steps:
            taken, _ = found.send((taken + slice_, memo_bytes))
    except StopIteration as stop:
        result: Result = stop.value
        return result
    found.close()
    return None


def test_a_forgotten_memo_changes_no_verdict(c50_bad):
    bad = partitions(c50_bad, KV)["3"]
    exact = decide(bad, KV, "3")
    forgetful = drive(bad, 0, 10**9, slice_=256)  # forgets everything every 256 steps
    assert exact is not None and forgetful is not None
    assert (forgetful.verdict, forgetful.failed_op) == (exact.verdict, exact.failed_op) == ("false", exact.failed_op)
    assert forgetful.steps > exact.steps  # it re-explored what it forgot


def peak_mb(ops: list[Operation], memo_bytes: int | None, steps: int) -> float:
    tracemalloc.start()
    try:
        assert drive(ops, memo_bytes, steps) is None
        return tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_on_a_long_search(c50_bad):
    hard = partitions(c50_bad, KV)["0"]  # undecided after millions of steps
    bounded = peak_mb(hard, 2 * MB, 120_000)
    unbounded = peak_mb(hard, None, 120_000)
    assert bounded < 4 and unbounded > 2 * bounded, (bounded, unbounded)


def test_the_seconds_budget_is_honoured_within_a_tenth(tmp_path, capsys):
    hard = tmp_path / "hard.edn"
    hard.write_text("\n".join(line for line in C50_BAD.read_text().splitlines() if ':key "0"' in line))
    began = time.monotonic()
    assert run([str(hard), "--model", "kv", "--budget-seconds", "3", "--budget-steps", str(10**12)]) == 3
    # Honoured: never past it by more than a little (freeing memory on a shared machine varies
    # 1-6 ms a MB); it may stop earlier, keeping back the time it estimates freeing will take.
    assert 1.5 <= time.monotonic() - began <= 3.45
    assert "seconds budget exhausted" in capsys.readouterr().out
