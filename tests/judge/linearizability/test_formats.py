"""History readers (EDN, JSON, Jepsen log lines, events.jsonl) and the check-history command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.check_history import add_check_history_arguments, run_check_history
from harness.history.log import History, write_jsonl
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import HistoryFormatError, detect_format, read_history
from harness.judge.linearizability.models import MODELS
from harness.judge.linearizability.operations import operations
from harness.system.locks.local import LockTable

DATA = Path(__file__).parent / "data"


def verdict(path: Path, model: str, fmt: str = "auto") -> str:
    return check(operations(read_history(path, fmt)), MODELS[model]).verdict


@pytest.mark.parametrize(
    ("name", "fmt", "model", "expected"),
    [
        ("mutex_vector.edn", "edn", "mutex", "true"),
        ("mutex_maps.edn", "edn", "mutex", "false"),
        ("cas_tuples.edn", "edn", "cas-register", "true"),
        ("cas_list.json", "json", "cas-register", "true"),
        ("cas_lines.json", "json", "cas-register", "false"),
        ("cas.log", "jepsen-log", "cas-register", "true"),
    ],
)
def test_sample_files_are_detected_read_and_checked(name, fmt, model, expected):
    path = DATA / name
    assert detect_format(path, path.read_text()) == fmt
    assert verdict(path, model) == expected


def test_edn_keywords_vectors_and_nemesis_become_plain_values():
    records = read_history(DATA / "cas_tuples.edn")
    cas = records[2]
    assert (cas.process, cas.type, cas.f, cas.value) == (1, "invoke", "cas", (1, 2))
    nemesis = records[-1]
    assert (nemesis.process, nemesis.client) == ("nemesis", False)


def test_jepsen_log_values_are_edn_and_nemesis_is_not_a_client():
    records = read_history(DATA / "cas.log")
    assert [r.process for r in records if not r.client] == ["nemesis", "nemesis"]
    assert records[5].value == ("isolated", (("n1", frozenset({"n2"})),))


def test_jepsen_log_lines_with_logger_prefix(tmp_path):
    path = tmp_path / "jepsen.log"
    path.write_text(
        "INFO [2017-03-01 12:00:00,001] jepsen worker 0 - jepsen.util - 0\t:invoke\t:read\tnil\n"
        "INFO [2017-03-01 12:00:00,002] jepsen worker 0 - jepsen.util - 0\t:ok\t:read\tnil\n"
    )
    assert verdict(path, "cas-register", "jepsen-log") == "true"


def test_single_line_edn_vector_of_maps(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text("[{:process 0 :type :invoke :f :read} {:process 0 :type :ok :f :read :value 5}]\n")
    assert read_history(path)[1].value == 5


def test_events_jsonl_from_a_lock_table_is_read_per_lock(tmp_path):
    history = History("run")
    table = LockTable()
    a, b = table.client("a", history), table.client("b", history)
    a.release(a.acquire(["x", "y"], 1))
    b.release(b.acquire(["x"], 1))
    path = tmp_path / "events.jsonl"
    write_jsonl(history.events(), path)
    assert detect_format(path, path.read_text()) == "events"
    records = read_history(path)
    assert {r.key for r in records} == {"x", "y"}
    assert [r.process for r in records if r.key == "x"] == ["a", "a", "a", "a", "b", "b", "b", "b"]
    assert verdict(path, "owner-mutex") == "true"
    assert verdict(path, "fenced-mutex") == "true"


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("{:process 0, :type :invoke, :f :acquire}\n{:process 0, :type :ok :f :acquire\n", "edn", r"h:2: not valid EDN"),
        ("[{:process 0, :type :invoke, :f :read}\n {:process 0 :type :ok]\n", "edn", r"h:2: not valid EDN: unexpected"),
        ("{:process 0, :type :invoke}\n", "edn", r"h:1: operation lacks f"),
        ("[0 :invoke :read]\n", "edn", r"h:1: expected \[process type f value\]"),
        ('{"process": 0, "type": "invoke", "f": "read"}\n{"process": 0,\n', "json", r"h:2: not valid JSON"),
        ('[{"process": 0, "type": "invoke", "f": "read"},\n {"process": 0, "type": "ok", "f": "read"}\n', "json", r"h:3: not valid JSON"),
        ('[{"process": 0, "type": "done", "f": "read"}]', "json", r"h: operation 1: type must be one of"),
        ("0\t:invoke\t:acquire\tnil\n0\t:bogus\t:acquire\tnil\n", "jepsen-log", r"h:2: type must be one of"),
        ("0\t:invoke\n", "jepsen-log", r"h:1: expected 'process type f \[value\]'"),
        ("0\t:invoke\t:write\t[1 2\n", "jepsen-log", r"h:1: not valid EDN"),
        ('{"seq": 1, "kind": "lock.invoke"}\n', "events", r"h:1: not a valid event"),
        ("   \n", "auto", r"h: empty history"),
    ],
)
def test_corrupt_input_raises_one_line_error_naming_file_and_line(tmp_path, text, fmt, message):
    path = tmp_path / "h"
    path.write_text(text)
    with pytest.raises(HistoryFormatError, match=message) as info:
        read_history(path, fmt)
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(HistoryFormatError, match="cannot open history"):
        read_history(tmp_path / "absent.edn")
    with pytest.raises(HistoryFormatError, match="unknown format"):
        read_history(DATA / "cas.log", "yaml")


# -- the check-history command ---------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_check_history_arguments(parser)
    return run_check_history(parser.parse_args(argv))


def test_exit_codes_and_output(capsys, tmp_path):
    assert run([str(DATA / "mutex_vector.edn"), "--model", "mutex"]) == 0
    assert "linearizable" in capsys.readouterr().out

    assert run([str(DATA / "mutex_maps.edn"), "--model", "mutex"]) == 1
    out = capsys.readouterr().out
    assert "first operation that cannot be linearized" in out and "1 acquire" in out

    assert run([str(DATA / "cas.log"), "--model", "cas-register", "--budget-steps", "1", "--budget-steps-per-op", "0"]) == 3
    assert "steps budget exhausted" in capsys.readouterr().out


def test_several_files_in_one_call_each_get_their_line_and_the_worst_code(capsys):
    files = [str(DATA / "mutex_vector.edn"), str(DATA / "corrupt.edn"), str(DATA / "mutex_maps.edn")]
    assert run([*files, "--model", "mutex"]) == 1, "a violation in one file outranks bad input in another"
    captured = capsys.readouterr()
    assert f"{files[0]}: " in captured.out and f"{files[2]}: " in captured.out
    assert captured.err.count("\n") == 1 and "corrupt.edn" in captured.err
    assert run([files[0], files[1], "--model", "mutex"]) == 2
    assert run([files[0], files[0], "--model", "mutex"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        [str(DATA / "corrupt.edn"), "--model", "mutex"],
        [str(DATA / "corrupt.log"), "--model", "mutex"],
        [str(DATA / "cas.log"), "--model", "no-such-model"],
        [str(DATA / "cas.log"), "--model", "mutex", "--format", "edn"],
    ],
)
def test_bad_input_exits_2_with_one_error_line(capsys, argv):
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "error:" in captured.err


def test_command_runs_in_a_fresh_interpreter_without_traceback():
    code = (
        "import argparse, sys\n"
        "from harness.cli.check_history import add_check_history_arguments, run_check_history\n"
        "p = argparse.ArgumentParser(); add_check_history_arguments(p)\n"
        "sys.exit(run_check_history(p.parse_args(sys.argv[1:])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(DATA / "corrupt.edn"), "--model", "mutex"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "corrupt.edn:2" in done.stderr


# -- the EDN reader: comments, tags, and every malformed input one line with its line number ------


def test_comment_on_the_first_line_and_between_ops_is_skipped(tmp_path):
    path = tmp_path / "knossos.edn"
    path.write_text("; generated by knossos\n[{:process 0 :type :invoke :f :read} ; first\n"
                    " ;; a whole-line comment\n {:process 0 :type :ok :f :read :value 5}]\n")
    records = read_history(path)
    assert [(r.type, r.value, r.line) for r in records] == [("invoke", None, 2), ("ok", 5, 4)]
    no_suffix = tmp_path / "history"
    no_suffix.write_text(path.read_text())
    assert detect_format(no_suffix, no_suffix.read_text()) == "edn"


def test_tagged_literals_sets_strings_and_discards_are_read(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(
        '#jepsen.history.Op{:index 0 :process 0 :type :invoke :f :write :value #{1 2} :time #inst "2020"}\n'
        '{:process 0 :type :ok :f :write :value "a\\"b\\n" #_ :ignored #_ 1}\n'
    )
    first, second = read_history(path)
    assert (first.f, first.value, first.time) == ("write", frozenset({1, 2}), "2020")
    assert second.value == 'a"b\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{:process 0 :type :invoke :f :read}\n" + "[" * 100 + "]" * 100 + "\n", r"h:2: not valid EDN: nested deeper"),
        ('{:process 0 :type :invoke :f :read :value "abc}\n', r"h:1: not valid EDN: unterminated string"),
        ("{:process 0 :type :invoke :f}\n", r"h:1: not valid EDN: a map needs an even number of forms"),
        ("{:process 0 :type :invoke :f :read :value 12abc}\n", r"h:1: not valid EDN: bad number '12abc'"),
        ("{:process 0 :type :invoke :f :read}\n)\n", r"h:2: not valid EDN: unexpected '\)'"),
        ("{:process 0 :type :invoke :f :read}\n#inst\n", r"h:2: not valid EDN: unexpected end of input \(a tag"),
        ("{:process 0 :type :invoke :f :read :value #{{:a 1}}}\n", r"h:1: not valid EDN: unhashable"),
        ("; only a comment\n", r"h: no operations"),
        ("{:process 0 :type :invoke :f 7}\n", r"h:1: f must be a keyword or string, got 7"),
    ],
)
def test_malformed_edn_is_one_line_naming_file_and_line(tmp_path, capsys, text, message):
    path = tmp_path / "h"
    path.write_text(text)
    with pytest.raises(HistoryFormatError, match=message) as info:
        read_history(path, "edn")
    assert "\n" not in str(info.value)
    assert run([str(path), "--model", "cas-register", "--format", "edn"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1


def test_jepsen_log_info_value_annotation_is_not_the_value(tmp_path):
    path = tmp_path / "etcd.log"
    path.write_text("INFO  jepsen.util - 4\t:invoke\t:write\t3\nINFO  jepsen.util - 4\t:info\t:write\t:timed-out\n"
                    "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t3\n")
    ops = operations(read_history(path))
    assert [(op.f, op.value, op.is_info) for op in ops] == [("write", 3, True), ("read", None, False)]
    assert verdict(path, "cas-register") == "true"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, r"h: not valid JSON: nested too deeply"),
        ('{"process": 0, "type": "invoke", "f": "read", "value": ' + "[" * 900 + "]" * 900 + "}\n",
         r"h:1: value nested too deeply"),
    ],
)
def test_deeply_nested_json_is_one_line(tmp_path, text, message):
    path = tmp_path / "h"
    path.write_text(text)
    with pytest.raises(HistoryFormatError, match=message):
        read_history(path, "json")
