"""Issue #12 "done when": a hand-written history from another engine, with only lock and fill events.

The correct one passes the gates its events feed; one defect planted per variant fails the
right gate; a malformed one is one ``FILE:LINE`` line and exit 2. Sequence numbers go up in
tens: a foreign recorder need only number strictly upwards.
"""

from __future__ import annotations

import json
import re

import pytest

from tests import _history_builders as hb

pytestmark = pytest.mark.usefixtures("in_empty_dir")

LOCK = "book:ABC"
CORRECT = [
    ("w1", None, "lock.invoke", {"op": "acquire", "names": [LOCK], "req": 1}),
    ("w1", None, "lock.ok", {"op": "acquire", "names": [LOCK], "req": 1, "tokens": {LOCK: 1}}),
    ("w1", "ABC", "order.fill", {"order": "o1", "fill": "f1", "side": "BUY", "qty": "2", "price": "100.00",
                                 "fee": "0.20"}),
    ("w1", None, "lock.invoke", {"op": "release", "names": [LOCK], "req": 2}),
    ("w1", None, "lock.ok", {"op": "release", "names": [LOCK], "req": 2}),
    ("w2", None, "lock.invoke", {"op": "acquire", "names": [LOCK], "req": 1}),
    ("w2", None, "lock.ok", {"op": "acquire", "names": [LOCK], "req": 1, "tokens": {LOCK: 2}}),
    ("w2", "ABC", "order.fill", {"order": "o2", "fill": "f2", "side": "SELL", "qty": "2", "price": "101.50",
                                 "fee": "0.20"}),
    ("w2", None, "lock.invoke", {"op": "release", "names": [LOCK], "req": 2}),
    ("w2", None, "lock.ok", {"op": "release", "names": [LOCK], "req": 2}),
]
OWNED = {"locks": "Lock Atomicity", "races": "Race Condition Detection"}


def _lines(rows) -> str:
    return "".join(
        json.dumps({"seq": 10 * n, "mono_ns": 1_000_000 * n, "wall": f"2026-01-01T00:00:{n:02d}+00:00",
                    "run_id": "foreign", "worker": worker, "symbol": symbol, "kind": kind, "payload": payload}) + "\n"
        for n, (worker, symbol, kind, payload) in enumerate(rows, start=1))


def _check(capsys, tmp_path, rows, *flags):
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(rows), encoding="utf-8")
    code, out, err = hb.cli(capsys, "check", path, *flags)
    status = dict(re.findall(r"^\[PHYSICAL_EVIDENCE\] (.+): (PASS|FAIL|N/A)$", out, re.M))
    return code, out, err, status, path


def _settles(*positions: str):
    """The engine's own book after each fill (the word a lost update shows up in)."""
    return [("w1", "ABC", "risk.settle", {"order": "o1", "fill": "f1", "position": positions[0]}),
            ("w2", "ABC", "risk.settle", {"order": "o2", "fill": "f2", "position": positions[1]})]


def _with_settles(positions):
    one, two = _settles(*positions)
    return [*CORRECT[:3], one, *CORRECT[3:8], two, *CORRECT[8:]]


def test_the_correct_history_passes_locks_and_races(capsys, tmp_path):
    _, out, err, status, _ = _check(capsys, tmp_path, CORRECT)
    assert err == ""
    assert {status[area] for area in OWNED.values()} == {"PASS"}, out
    assert any(line.startswith("  ✅ Mutual exclusion: 0 overlapping holds (") for line in out.splitlines())


def test_the_correct_history_passes_as_a_whole_with_the_other_areas_not_applicable(capsys, tmp_path):
    code, out, _, status, _ = _check(capsys, tmp_path, CORRECT)
    assert code == 0, out
    assert status == {**dict.fromkeys(OWNED.values(), "PASS"), "Performance Metrics": "N/A",
                      "MetricsAggregator Accuracy": "N/A", "Risk Management": "N/A"}
    assert out.splitlines()[-1] == "[UnifiedGate] HISTORY PASS"


def test_a_settled_book_that_matches_its_fills_passes(capsys, tmp_path):
    _, out, _, status, _ = _check(capsys, tmp_path, _with_settles(("2", "0")))
    assert status[OWNED["races"]] == "PASS", out


def test_an_overlap_fails_lock_atomicity(capsys, tmp_path):
    # w2 takes the lock before w1 gave it back.
    rows = [*CORRECT[:2], *CORRECT[5:7], CORRECT[2], *CORRECT[3:5], *CORRECT[7:]]
    code, out, _, status, _ = _check(capsys, tmp_path, rows)
    assert code == 1
    assert status[OWNED["locks"]] == "FAIL"
    assert any(line.startswith("  ❌ Mutual exclusion: 1 overlapping holds (") for line in out.splitlines())


def test_a_lost_update_fails_race_detection(capsys, tmp_path):
    # The book still shows w1's position after w2's sell: w2's write was lost.
    code, out, _, status, _ = _check(capsys, tmp_path, _with_settles(("2", "2")))
    assert code == 1
    assert status[OWNED["races"]] == "FAIL"
    assert "  ❌ RACE_CONDITION count: 1 (lost updates 1, duplicate fills 0, sequence gaps 0)" in out.splitlines()
    assert status[OWNED["locks"]] == "PASS"


def test_a_duplicate_fill_fails_race_detection(capsys, tmp_path):
    rows = [*CORRECT[:8], CORRECT[7], *CORRECT[8:]]
    code, out, _, status, _ = _check(capsys, tmp_path, rows)
    assert code == 1
    assert status[OWNED["races"]] == "FAIL"
    assert "  ❌ RACE_CONDITION count: 1 (lost updates 0, duplicate fills 1, sequence gaps 0)" in out.splitlines()


def test_a_stale_token_fails_lock_atomicity(capsys, tmp_path):
    stale = ("w2", None, "lock.ok", {"op": "acquire", "names": [LOCK], "req": 1, "tokens": {LOCK: 1}})
    code, out, _, status, _ = _check(capsys, tmp_path, [*CORRECT[:6], stale, *CORRECT[7:]])
    assert code == 1
    assert status[OWNED["locks"]] == "FAIL"
    assert any(re.match(r"  ❌ Fencing: .*\b1 token order error", line) for line in out.splitlines()), out


def test_a_malformed_history_is_one_line_with_its_place(capsys, tmp_path):
    broken = ("w2", "ABC", "order.fill", {k: v for k, v in CORRECT[7][3].items() if k != "price"})
    code, out, err, _, path = _check(capsys, tmp_path, [*CORRECT[:7], broken, *CORRECT[8:]])
    assert (code, out) == (2, "")
    assert err == f"harness: error: {path}:8: not a valid event: order.fill: payload missing field 'price'\n"
