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


def test_the_harness_side_of_the_porcupine_comparison_prints_one_verdict_line_a_file(capsys, tmp_path):
    from bench import compare_porcupine
    from tests.judge.linearizability.conftest import C50_BAD

    [log] = bench.write_etcd_logs(tmp_path, count=1)
    compare_porcupine.main(["--check", "kv", str(C50_BAD)])
    compare_porcupine.main(["--check", "cas-register", str(log)])
    lines = [line.rsplit(" ", 2) for line in capsys.readouterr().out.splitlines()]
    assert [(path, verdict) for path, verdict, _ in lines] == [(str(C50_BAD), "false"), (str(log), "true")]
    assert all(float(seconds) >= 0 for _, _, seconds in lines)


def test_the_comparison_table_flags_disagreement():
    from bench.compare_porcupine import table

    row = {"dataset": "x", "harness_wall_s": 2.0, "harness_check_s": 1.0, "harness_rss_mb": 30.0,
           "porcupine_wall_s": 1.0, "porcupine_check_s": 0.9, "porcupine_rss_mb": 5.0,
           "harness_verdicts": "1 true", "porcupine_verdicts": "1 false", "agree": False}
    assert table([row]).splitlines()[-1] == ("| x | 2.00 s / 1.00 s / 30 MB | 1.00 s / 0.90 s / 5 MB | 2.00x "
                                             "| DISAGREE: 1 true vs 1 false |")
