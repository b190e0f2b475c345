"""The linearizability benchmark's generators and one tiny pass of it."""

from __future__ import annotations

import dataclasses

from bench import bench_linearizability as bench
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import read_history
from harness.judge.linearizability.models import CAS_REGISTER
from harness.judge.linearizability.operations import operations


def test_generated_histories_are_linearizable_with_crashes_and_a_planted_stale_read_is_not():
    records = bench.register_history(bench.Shape(400, 10, 0.05), seed=3)
    ops = operations(records)
    assert any(op.is_info for op in ops)
    assert check(ops, CAS_REGISTER).verdict == "true"
    # A read that returns a value no write ever put there cannot be linearized.
    read = next(i for i, r in enumerate(records) if r.f == "read" and r.type == "ok")
    planted = [*records[:read], dataclasses.replace(records[read], value=99), *records[read + 1:]]
    assert check(operations(planted), CAS_REGISTER).verdict == "false"


def test_etcd_style_logs_read_back_as_the_generated_history(tmp_path):
    [path] = bench.write_etcd_logs(tmp_path, count=1)
    text = path.read_text()
    assert text.startswith("INFO  jepsen.util - ") and ":timed-out" in text
    records = read_history(path)
    assert len(records) == text.count("\n")
    assert bench.parse_and_check([path]) == {"true": 1}
    assert bench.raw_tokenise([path]) == len(text.split())


def test_tiny_run_rows_carry_a_baseline_ratio_and_verdicts():
    rows = bench.run(quick=True, tiny=True)
    base, parsed, cas = rows
    assert parsed["baseline"] == base["name"] and parsed["ratio"] > 0
    assert parsed["verdicts"] == {"true": bench.ETCD_LOGS}
    assert cas["verdict"] == "true" and cas["crashed"] > 0
