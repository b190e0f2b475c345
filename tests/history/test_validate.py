"""`harness check` validates its input first: FILE:LINE and exit 2, or --lenient findings; never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from harness.history.log import write_jsonl
from harness.history.stresslog import write_log
from harness.history.validate import load
from harness.report.writer import compress_if_large
from tests import _history_builders as hb

pytestmark = pytest.mark.usefixtures("in_empty_dir")
settings.register_profile("fuzz", max_examples=3000, deadline=None)
FUZZ = settings(max_examples=int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz":
    FUZZ = settings(settings.get_profile("fuzz"), suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_cli(*argv: object) -> tuple[int, str, str]:
    """main() in-process with captured output (hypothesis cannot share pytest's capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def small() -> list[dict]:
    """A short real engine history as JSON objects (every area has events)."""
    return [json.loads(e.to_json()) for e in hb.clean_events(trades=2)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _one_error_line(err: str, path: Path, line: int) -> str:
    (only,) = err.splitlines()
    assert only.startswith(f"harness: error: {path}:{line}: "), only
    return only


def test_the_unmutated_history_passes(small, tmp_path):
    code, out, err = run_cli("check", _write(tmp_path / "events.jsonl", small))
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1] == "[UnifiedGate] HISTORY PASS"


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda r: r.update(kind="order.teleport"), "unknown event kind 'order.teleport'"),
    (lambda r: r["payload"].pop("fee"), "order.fill: payload missing field 'fee'"),
    (lambda r: r["payload"].update(qty=[1]), "order.fill: payload field 'qty' must be a decimal"),
    (lambda r: r.update(seq="7"), "seq must be a 64-bit integer"),
    (lambda r: r.pop("payload"), "missing field 'payload'"),
    (lambda r: r.update(symbol=None), "order.fill: symbol must be given"),
], ids=["unknown-kind", "missing-field", "wrong-type", "seq-type", "no-payload", "no-symbol"])
def test_a_bad_event_is_one_line_with_its_line_number(small, tmp_path, mutate, expected):
    rows = [dict(r, payload=dict(r["payload"])) for r in small]
    index = next(i for i, r in enumerate(rows) if r["kind"] == "order.fill")
    mutate(rows[index])
    path = _write(tmp_path / "events.jsonl", rows)
    code, out, err = run_cli("check", path)
    assert (code, out) == (2, "")
    assert expected in _one_error_line(err, path, index + 1)


def test_a_seq_that_does_not_increase_is_named(small, tmp_path):
    rows = list(small)
    rows[5], rows[6] = rows[6], rows[5]
    path = _write(tmp_path / "events.jsonl", rows)
    code, _, err = run_cli("check", path)
    assert code == 2
    assert f"seq {rows[6]['seq']} does not increase" in _one_error_line(err, path, 7)


def test_gaps_in_seq_are_not_an_input_error(small, tmp_path):
    rows = [dict(r, seq=r["seq"] * 10) for r in small if r["kind"] != "run.start"]
    code, out, _ = run_cli("check", _write(tmp_path / "events.jsonl", rows))
    assert code == 0, out


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda b, cut: b[:cut] + b"\xff\xfe" + b[cut:], "not UTF-8 text"),
    (lambda b, cut: b[:cut] + b"}" + b[cut:], "not valid JSON"),
], ids=["bad-utf8", "bad-json"])
def test_damaged_bytes_are_one_line(small, tmp_path, damage, expected):
    path = _write(tmp_path / "events.jsonl", small)
    data = path.read_bytes()
    cut = data.index(b'"payload"', data.index(b"\n", len(data) // 2))
    line = data[:cut].count(b"\n") + 1
    path.write_bytes(damage(data, cut))
    code, _, err = run_cli("check", path)
    assert code == 2
    assert expected in _one_error_line(err, path, line)


def test_a_history_cut_at_any_byte_is_judged_up_to_its_last_whole_line(small, tmp_path):
    rows = [dict(r, worker="wörker€") if r["kind"] == "worker.start" else r for r in small]  # multi-byte text too
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    path = tmp_path / "events.jsonl"
    for cut in [*range(ends[0] + 1, ends[3] + 1), *range(ends[0] + 1, len(data), 97)]:
        path.write_bytes(data[:cut])
        checked = load(path)
        whole = [end for end in ends if end - 1 <= cut]  # a line missing only its newline is whole
        assert len(checked.events) == len(whole), cut
        assert len(checked.notes) == (0 if cut in (whole[-1], whole[-1] - 1) else 1), cut


def test_check_says_it_left_a_cut_last_line_out(small, tmp_path):
    path = _write(tmp_path / "events.jsonl", small)
    path.write_bytes(path.read_bytes()[:-25])
    code, out, err = run_cli("check", path)
    assert (code, err) == (0, "")
    note = out.splitlines()[0]
    assert note.startswith(f"note: {path}:{len(small)}: the last line is cut short (")
    assert note.endswith(f"left out, the {len(small) - 1} events before it are judged")


def test_a_bad_log_line_is_named(small, tmp_path):
    path = tmp_path / "STRESS_TEST.log"
    write_log(hb.clean_events(trades=2), path)
    lines = path.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if " worker.start " in line)
    lines[index] = lines[index].replace(" worker.start ", " worker.begin ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run_cli("check", path)
    assert code == 2
    assert "unknown event kind 'worker.begin'" in _one_error_line(err, path, index + 1)


def test_lenient_judges_the_rest_and_fails_the_contract_gate(small, tmp_path):
    rows = [dict(r, payload=dict(r["payload"])) for r in small]
    index = next(i for i, r in enumerate(rows) if r["kind"] == "risk.reserve")
    rows[index]["kind"] = "risk.teleport"
    path = _write(tmp_path / "events.jsonl", rows)
    code, out, err = run_cli("check", path, "--lenient")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "[PHYSICAL_EVIDENCE] History Contract: FAIL"
    assert f"  ❌ {path}:{index + 1}: not a valid event: unknown event kind 'risk.teleport' (your own kinds start " \
           "with 'x.')" in lines
    # Every other area is still judged; the line set aside is a gap in the engine's dense numbering,
    # and the fill it reserved for has no reservation.
    assert [line for line in lines if line.startswith("[PHYSICAL_EVIDENCE]")][1:] == [
        f"[PHYSICAL_EVIDENCE] {area}: {status}" for area, status in
        (("Lock Atomicity", "PASS"), ("Race Condition Detection", "FAIL"), ("Performance Metrics", "PASS"),
         ("MetricsAggregator Accuracy", "PASS"), ("Risk Management", "FAIL"))]
    assert any("sequence gaps 1)" in line for line in lines)
    assert lines[-1] == "[UnifiedGate] HISTORY FAIL"


def test_user_kinds_are_accepted(small, tmp_path):
    # In place of an order.submit (which no gate needs; a reservation would be missed by the risk gate).
    at = next(i for i, r in enumerate(small) if r["kind"] == "order.submit")
    rows = [*small[:at], dict(small[at], kind="x.quote", payload={"bid": 1}), *small[at + 1:]]
    code, out, _ = run_cli("check", _write(tmp_path / "events.jsonl", rows))
    assert code == 0, out


# -- fuzz: a verdict or one line, never a traceback ---------------------------------------------

WRONG = st.sampled_from([None, True, -1, 0, 1.5, 1e300, "x", "", "0", "-1", "0E-8", "9" * 17, "1e9", [], {}, [1],
                        {"a": None}, "1e400", "NaN", "Infinity"])


@st.composite
def mutations(draw, rows):
    """One damaged copy of the history as bytes, and whether it is certainly invalid."""
    rows = [dict(r, payload=dict(r["payload"])) for r in rows]
    i = draw(st.integers(0, len(rows) - 1))
    how = draw(st.sampled_from(["drop", "retype", "retype-payload", "truncate", "utf8", "swap", "kind"]))
    certain = True
    if how == "drop":
        key = draw(st.sampled_from(sorted(rows[i]) + sorted(rows[i]["payload"]) or ["seq"]))
        certain = key in ("seq", "mono_ns", "wall", "run_id", "worker", "kind", "payload")
        (rows[i] if key in rows[i] else rows[i]["payload"]).pop(key)
    elif how == "retype":
        key = draw(st.sampled_from(sorted(rows[i])))
        rows[i][key] = draw(WRONG)
        certain = False
    elif how == "retype-payload" and rows[i]["payload"]:
        rows[i]["payload"][draw(st.sampled_from(sorted(rows[i]["payload"])))] = draw(WRONG)
        certain = False
    elif how == "swap":
        i = min(i, len(rows) - 2)
        rows[i], rows[i + 1] = rows[i + 1], rows[i]
    elif how == "kind":
        rows[i]["kind"] = draw(st.sampled_from(["", "order", "order.fill.x", "ORDER.FILL", "lock.okay"]))
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if how == "truncate":
        data = data[:draw(st.integers(1, len(data) - 2))]
        certain = False  # a writer killed mid-line: the whole lines before the cut are a shorter history
    elif how == "utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])) + data[at:]
        certain = at < len(data) - 4  # bytes after the last newline read as a cut last line
    return data, certain and how not in ("retype-payload",), (how, i)


@FUZZ
@given(data=st.data())
def test_fuzzed_histories_get_a_verdict_or_one_line(small, tmp_path, data):
    damaged, invalid, _ = data.draw(mutations(small))
    path = tmp_path / "events.jsonl"
    path.write_bytes(damaged)
    code, out, err = run_cli("check", path)
    assert code in (0, 1, 2)
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith(f"harness: error: {path}"), err
    else:
        assert err == "" and out.splitlines()[-1].startswith("[UnifiedGate] HISTORY ")
        assert not invalid, "a history that breaks the contract was judged"
    lenient, out, err = run_cli("check", path, "--lenient")
    assert lenient in (1, 2) if code == 2 else lenient == code
    assert (len(err.splitlines()) == 1) if lenient == 2 else out.splitlines()[-1].startswith("[UnifiedGate]")


def test_a_run_directory_and_its_log_validate_too(tmp_path):
    events = hb.clean_events(trades=2)
    write_jsonl(events, tmp_path / "events.jsonl")
    write_log(events, tmp_path / "STRESS_TEST.log")
    assert run_cli("check", tmp_path)[0] == 0
    assert run_cli("check", tmp_path / "STRESS_TEST.log")[0] == 0
    compress_if_large(tmp_path / "STRESS_TEST.log", limit=0)  # as a long run's log is written
    assert run_cli("check", tmp_path / "STRESS_TEST.log.gz")[0] == 0


@st.composite
def damaged_logs(draw, lines):
    """One STRESS_TEST.log line edited as text: a cut, an insertion, or a field replaced."""
    lines = list(lines)
    i = draw(st.integers(0, len(lines) - 1))
    line = lines[i]
    at = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["cut", "insert", "field"]))
    if how == "cut":
        line = line[:at] + line[draw(st.integers(at, len(line))):]
    elif how == "insert":
        line = line[:at] + draw(st.text(max_size=8)) + line[at:]
    else:
        fields = line.split(" ", 7)
        fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(
            ["-", "x", "1e999", "9" * 30, "-5", "{}", "[]", '{"qty":"-1"}', "NaN", "order.fill"]))
        line = " ".join(fields)
    lines[i] = line
    return "\n".join(lines) + "\n"


@FUZZ
@given(data=st.data())
def test_fuzzed_logs_get_a_verdict_or_one_line(tmp_path, data):
    log = tmp_path / "STRESS_TEST.log"
    write_log(hb.clean_events(trades=2), log)
    log.write_text(data.draw(damaged_logs(log.read_text(encoding="utf-8").splitlines())), encoding="utf-8")
    for flags in ((), ("--lenient",)):
        code, out, err = run_cli("check", log, *flags)
        assert code in (0, 1, 2)
        if code == 2:
            assert len(err.splitlines()) == 1 and err.startswith(f"harness: error: {log}"), err
        else:
            assert err == "" and out.splitlines()[-1].startswith("[UnifiedGate] HISTORY ")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_history_that_is_no_regular_file_is_one_line_not_a_hang(tmp_path, kind):
    path = tmp_path / "events.jsonl"
    if kind == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    else:
        path = Path("/dev/zero")
    code, _, err = run_cli("check", path)
    assert code == 2 and err.startswith(f"harness: error: {path}: not a regular file"), err


def test_a_gzip_bomb_is_one_line(tmp_path):
    import gzip

    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(64):
            out.write((b" " * 4095 + b"\n") * 256)  # 64 MiB of nothing, about 64 KiB on disk
    code, _, err = run_cli("check", path)
    assert code == 2 and "a gzip bomb, not a history" in err, err


def test_an_endless_line_is_one_line(tmp_path, monkeypatch):
    from harness.history import validate

    monkeypatch.setattr(validate, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"{" + b" " * 5000 + b"}\n")
    code, _, err = run_cli("check", path)
    assert code == 2 and f"{path}:1: a line longer than 1000 bytes" in err, err
