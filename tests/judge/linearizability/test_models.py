"""The kv model, both semantics of a failed cas, and ops a model cannot judge."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from harness.cli.check_history import add_check_history_arguments, run_check_history
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import read_history
from harness.judge.linearizability.models import CAS_REGISTER, KV, MODELS
from harness.judge.linearizability.operations import Operation, operations


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_check_history_arguments(parser)
    return run_check_history(parser.parse_args(argv))


def kv_line(process: int, type_: str, f: str, key: str, value: str | None) -> str:
    shown = "nil" if value is None else f'"{value}"'
    return f'{{:process {process}, :type :{type_}, :f :{f}, :key "{key}", :value {shown}}}\n'


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


KV_OK = [
    kv_line(0, "invoke", "append", "a", "x 0 0 y"), kv_line(1, "invoke", "put", "b", "z"),
    kv_line(0, "ok", "append", "a", "x 0 0 y"), kv_line(1, "ok", "put", "b", "z"),
    kv_line(0, "invoke", "append", "a", "x 0 1 y"), kv_line(1, "invoke", "get", "a", None),
    kv_line(0, "ok", "append", "a", "x 0 1 y"), kv_line(1, "ok", "get", "a", "x 0 0 y"),
    kv_line(0, "invoke", "get", "b", None), kv_line(0, "ok", "get", "b", "z"),
    kv_line(1, "invoke", "get", "a", None), kv_line(1, "ok", "get", "a", "x 0 0 yx 0 1 y"),
]


def test_kv_history_in_porcupine_format_is_checked_per_key(tmp_path):
    path = write(tmp_path, "c01-ok.txt", KV_OK)
    records = read_history(path)
    assert {r.key for r in records} == {"a", "b"}
    assert check(operations(records), KV).verdict == "true"
    assert run([str(path), "--model", "kv"]) == 0


def test_kv_stale_get_after_a_completed_append_is_refuted_on_its_key(tmp_path, capsys):
    bad = [*KV_OK, kv_line(1, "invoke", "get", "a", None), kv_line(1, "ok", "get", "a", "x 0 0 y")]
    result = check(operations(read_history(write(tmp_path, "c01-bad.txt", bad))), KV)
    assert (result.verdict, result.key) == ("false", "a")
    assert result.failed_op is not None and result.failed_op.output == "x 0 0 y"
    assert run([str(tmp_path / "c01-bad.txt"), "--model", "kv"]) == 1
    assert "key: a" in capsys.readouterr().out


def test_crashed_kv_append_may_or_may_not_have_happened(tmp_path):
    lines = [kv_line(0, "invoke", "append", "a", "x"), kv_line(0, "info", "append", "a", None)]
    seen = [*lines, kv_line(1, "invoke", "get", "a", None), kv_line(1, "ok", "get", "a", "x")]
    unseen = [*lines, kv_line(1, "invoke", "get", "a", None), kv_line(1, "ok", "get", "a", "")]
    assert check(operations(read_history(write(tmp_path, "seen.edn", seen))), KV).verdict == "true"
    assert check(operations(read_history(write(tmp_path, "unseen.edn", unseen))), KV).verdict == "true"


# -- failed cas: Knossos drops it, porcupine keeps it as a comparison that saw another value ---------

FAILED_CAS = "0\t:invoke\t:write\t1\n0\t:ok\t:write\t1\n1\t:invoke\t:cas\t[{old} 2]\n1\t:fail\t:cas\t[{old} 2]\n"


@pytest.mark.parametrize(("old", "knossos", "porcupine"), [(1, 0, 1), (3, 0, 0)])
def test_failed_cas_under_both_semantics(tmp_path, old, knossos, porcupine):
    path = tmp_path / "h.log"
    path.write_text(FAILED_CAS.format(old=old))
    assert run([str(path), "--model", "cas-register"]) == knossos
    assert run([str(path), "--model", "cas-register", "--fail-semantics", "knossos"]) == knossos
    assert run([str(path), "--model", "cas-register", "--fail-semantics", "porcupine"]) == porcupine


def test_porcupine_semantics_keeps_only_failed_cas(tmp_path):
    path = tmp_path / "h.log"
    path.write_text(FAILED_CAS.format(old=1) + "2\t:invoke\t:write\t5\n2\t:fail\t:write\t5\n")
    ops = operations(read_history(path), "porcupine")
    assert [(op.f, op.failed) for op in ops] == [("write", False), ("cas", True)]
    assert check(ops, CAS_REGISTER).verdict == "false"


# -- ops a model cannot judge are errors, not verdicts ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "model", "message"),
    [
        ("0\t:invoke\t:foo\tnil\n0\t:ok\t:foo\tnil\n", "cas-register", "unknown operation 'foo' for model cas-reg"),
        ("0\t:invoke\t:cas\t5\n0\t:ok\t:cas\t5\n", "cas-register", r"cas needs \[old new\], got 5"),
        ("0\t:invoke\t:cas\t[1 2 3]\n", "cas-register", r"cas needs \[old new\]"),
        ("0\t:invoke\t:read\tnil\n0\t:ok\t:read\tnil\n", "kv", "unknown operation 'read' for model kv"),
        ("0\t:invoke\t:put\t5\n0\t:ok\t:put\t5\n", "kv", "put needs a string value, got 5"),
        ("0\t:invoke\t:steal\tnil\n", "owner-mutex", "unknown operation 'steal'"),
    ],
)
def test_op_the_model_cannot_judge_exits_2_naming_the_op(tmp_path, capsys, text, model, message):
    path = tmp_path / "h.log"
    path.write_text(text)
    assert run([str(path), "--model", model]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert re.search(message, captured.err)
    result = check(operations(read_history(path)), MODELS[model])
    assert result.verdict == "unknown" and result.error is not None


# -- crashed ops nobody could observe are dropped before the search ---------------------------------


def crashed(f: str, value: object, index: int) -> Operation:
    return Operation(9, f, value, index, None, None, None)


def completed(f: str, value: object, output: object, index: int) -> Operation:
    return Operation(1, f, value, index, None, index + 1, None, output)


def test_unseen_crashed_writes_are_dropped_but_a_value_a_cas_expects_is_kept():
    ops = [crashed("write", 7, 0), crashed("write", 8, 1), crashed("cas", (8, 1), 2), completed("read", None, 1, 3)]
    assert CAS_REGISTER.unseen is not None and CAS_REGISTER.unseen(ops) == {0}
    failed = dataclasses.replace(completed("cas", (5, 6), None, 4), failed=True)
    assert CAS_REGISTER.unseen([*ops, failed]) == set()  # a failed cas needs only "some other value"


def test_unseen_crashed_appends_are_those_no_get_contains():
    ops = [crashed("append", "x", 0), crashed("append", "y", 1), completed("get", None, "ay", 2)]
    assert KV.unseen is not None and KV.unseen(ops) == {0}
