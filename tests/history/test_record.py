"""harness.history.record: contract-checked, thread- and process-safe; an engine of one's own judged through it."""

from __future__ import annotations

import multiprocessing
import pickle
import threading

import pytest

from harness.examples.asyncio_engine import record_run
from harness.history.record import Recorder, RecordError
from harness.history.validate import check_file
from tests import _history_builders as hb


def _write_some(rec: Recorder, worker: str, n: int) -> None:
    for i in range(n):
        rec.lock_invoke(worker, "acquire", ["L"], req=i)


def _assert_dense_and_valid(path, total: int) -> None:
    checked = check_file(path)
    assert checked.problems == ()
    assert [e.seq for e in checked.events] == list(range(1, total + 1))
    times = [e.mono_ns for e in checked.events]
    assert times == sorted(times), "file order must be time order"


def test_threads_share_one_dense_history(tmp_path):
    rec = Recorder(tmp_path / "events.jsonl")
    start = threading.Barrier(4)

    def work(name: str) -> None:
        start.wait()
        _write_some(rec, name, 200)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.close()
    _assert_dense_and_valid(tmp_path / "events.jsonl", 800)
    reqs = [e.payload["req"] for e in check_file(tmp_path / "events.jsonl").events if e.worker == "w2"]
    assert reqs == list(range(200))


def test_processes_share_one_dense_history(tmp_path):
    rec = Recorder(tmp_path / "events.jsonl", processes=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_some, args=(rec, f"p{i}", 100)) for i in range(2)]
    for p in procs:
        p.start()
    _write_some(rec, "parent", 100)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rec.close()
    _assert_dense_and_valid(tmp_path / "events.jsonl", 300)


def test_a_thread_only_recorder_refuses_to_cross_processes(tmp_path):
    with pytest.raises(TypeError, match="processes=True"):
        pickle.dumps(Recorder(tmp_path / "e.jsonl"))


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: r.event("order.teleport", "w"), "unknown event kind 'order.teleport'"),
    (lambda r: r.event("order.fill", "w", "ABC", order="o", fill="f", side="BUY", qty="1", price="2"),
     "missing field 'fee'"),
    (lambda r: r.order_fill("w", "ABC", "o", "f", "HOLD", "1", "2"), "field 'side' must be one of BUY, SELL"),
    (lambda r: r.order_fill("w", "ABC", "o", "f", "BUY", "one", "2"), "not a decimal: 'one'"),
    (lambda r: r.lock_ok("w", "grab", ["L"], 1), "field 'op' must be one of"),
])
def test_a_wrong_event_is_refused_where_it_is_made(tmp_path, call, message):
    rec = Recorder(tmp_path / "events.jsonl")
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace("[", r"\[")):
        call(rec)
    assert (tmp_path / "events.jsonl").read_bytes() == b""


def test_user_kinds_and_decimals_are_written(tmp_path):
    with Recorder(tmp_path / "events.jsonl") as rec:
        rec.event("x.quote", "feed", "ABC", bid=1.5)
        rec.order_fill("w", "ABC", "o", "f", "BUY", 1, "100.10", fee=0)
    events = check_file(tmp_path / "events.jsonl").events
    assert [e.kind for e in events] == ["x.quote", "order.fill"]
    assert events[1].payload == {"order": "o", "fill": "f", "side": "BUY", "qty": "1", "price": "100.10", "fee": "0"}


# -- an engine of one's own, recorded and judged -------------------------------------------------


@pytest.fixture
def judged(tmp_path, capsys):
    def judge(plant: str | None):
        path = record_run(tmp_path / f"{plant}.jsonl", plant=plant)
        code, out, err = hb.cli(capsys, "check", path)
        assert err == ""
        return code, out

    return judge


def _status(out: str) -> dict[str, str]:
    return dict(line.removeprefix("[PHYSICAL_EVIDENCE] ").split(": ") for line in out.splitlines()
                if line.startswith("[PHYSICAL_EVIDENCE]"))


def test_the_asyncio_engine_passes(judged):
    code, out = judged(None)
    assert code == 0, out
    assert set(_status(out).values()) == {"PASS"}
    assert len(_status(out)) == 5


def test_its_planted_lost_update_fails_races_and_the_aggregator(judged):
    code, out = judged("lost-update")
    assert code == 1
    assert _status(out)["Race Condition Detection"] == "FAIL"
    assert "  ❌ RACE_CONDITION count: 1 (lost updates 1, duplicate fills 0, sequence gaps 0)" in out.splitlines()
    assert _status(out)["MetricsAggregator Accuracy"] == "FAIL"
    assert _status(out)["Lock Atomicity"] == "PASS"


def test_its_planted_double_grant_fails_lock_atomicity(judged):
    code, out = judged("double-grant")
    assert code == 1
    assert _status(out)["Lock Atomicity"] == "FAIL"
    assert any(line.startswith("  ❌ Mutual exclusion: 1 overlapping holds (") for line in out.splitlines())
