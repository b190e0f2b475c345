"""The counterexample names the first op that cannot be linearized: never one legal in every state."""

from __future__ import annotations

import dataclasses

import pytest

from bench import bench_linearizability as bench
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.models import CAS_REGISTER
from harness.judge.linearizability.operations import Operation, Record, operations


def planted_read(seed: int) -> tuple[list[Operation], Operation]:
    """A register history with crashed ops, and one read in its middle made to return 9 (never written)."""
    records = bench.register_history(bench.Shape(300, 10, 0.05), seed=seed)
    reads = [i for i, r in enumerate(records) if r.f == "read" and r.type == "ok"]
    at = reads[len(reads) // 2]
    planted: list[Record] = [*records[:at], dataclasses.replace(records[at], value=9), *records[at + 1:]]
    ops = operations(planted)
    return ops, next(op for op in ops if op.f == "read" and op.output == 9)


# Seeds where the deepest configuration, the old choice, named an always-legal write instead.
@pytest.mark.parametrize("seed", [2, 5, 6])
def test_the_stale_read_among_crashed_ops_is_named_not_a_write(seed):
    ops, bad_read = planted_read(seed)
    assert any(op.is_info for op in ops)
    result = check(ops, CAS_REGISTER)
    assert result.verdict == "false" and result.failed_op == bad_read, result.summary()
    assert "cannot linearize" in result.summary() and "read None -> 9" in result.summary()


def test_crashed_ops_in_the_prefix_are_shown_as_crashed():
    ops, _ = planted_read(2)
    result = check(ops, CAS_REGISTER)
    crashed = [op for op in result.linearized_prefix if op.is_info]
    assert crashed, "the register's crashed writes are part of the linearised prefix"
    assert all(op.describe().endswith(("..?]", f"..?] key={op.key}")) and "-> crashed (:info)" in op.describe()
               for op in crashed)
