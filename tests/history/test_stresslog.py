"""STRESS_TEST.log: lossless round trip of real events, comments, errors naming file:line."""

from __future__ import annotations

import dataclasses

import pytest

from harness.history.log import Event, HistoryError
from harness.history.stresslog import format_line, level_of, parse_line, read_log, write_log
from tests import _history_builders as hb

FOREIGN = '2026-01-01T00:00:00+00:00 {level} 7 7000 ext-worker XYZ {kind} {{"order":"o-1"}}'


def test_every_real_event_round_trips(clean):
    assert len({e.kind for e in clean}) >= 10
    for event in clean:
        line = format_line(event)
        assert "\n" not in line
        assert parse_line(line, run_id=event.run_id) == event


def test_write_then_read_gives_the_history_back(clean, tmp_path):
    path = tmp_path / "STRESS_TEST.log"
    assert write_log(clean, path) == len(clean)
    assert read_log(path) == [dataclasses.replace(e, run_id="-") for e in clean]


@pytest.mark.parametrize(
    ("kind", "payload", "level"),
    [
        ("worker.error", {"error": "x"}, "ERROR"),
        ("worker.error", {"error": "x", "fatal": True}, "CRITICAL"),
        ("alert", {"level": "P0"}, "CRITICAL"),
        ("alert", {"level": "P1"}, "WARNING"),
        ("lock.fail", {"reason": "timeout"}, "WARNING"),
        ("lock.fail", {"reason": "die"}, "INFO"),
        ("risk.refuse", {}, "WARNING"),
        ("order.fill", {}, "INFO"),
    ],
)
def test_levels_derived_from_events(kind, payload, level):
    assert level_of(Event(1, 1, "w", "r", "x", None, kind, payload)) == level


def test_comments_and_blank_lines_are_skipped(clean, tmp_path):
    path = tmp_path / "log"
    lines = [format_line(e) for e in clean[:5]]
    path.write_text("# header\n" + lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n# FAIL -- reproduce: x\n",
                    encoding="utf-8")
    assert [e.seq for e in read_log(path)] == [e.seq for e in clean[:5]]


@pytest.mark.parametrize(
    "bad",
    ["only three fields", FOREIGN.format(level="INFO", kind="order.fill").replace('{"order":"o-1"}', "[1]"),
     FOREIGN.format(level="INFO", kind="order.fill").replace(" 7 ", " seven "),
     FOREIGN.format(level="INFO", kind="order.fill")[:-3]],
    ids=["fields", "payload-not-object", "seq-not-int", "truncated-json"],
)
def test_malformed_line_names_file_and_line(clean, tmp_path, bad):
    path = tmp_path / "STRESS_TEST.log"
    path.write_text("# comment\n" + format_line(clean[0]) + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(HistoryError, match=rf"^{path}:3: not a valid log line"):
        read_log(path)


def test_missing_log_is_a_history_error(tmp_path):
    with pytest.raises(HistoryError, match="cannot open log"):
        read_log(tmp_path / "absent.log")


def test_foreign_level_kept_and_counted_by_the_race_checker():
    same = parse_line(FOREIGN.format(level="INFO", kind="order.submit"))
    assert "_level" not in same.payload
    error = parse_line(FOREIGN.format(level="ERROR", kind="order.submit"))
    assert error.payload == {"order": "o-1", "_level": "ERROR"}
    assert level_of(error) == "ERROR"
    assert format_line(error).split(" ")[1] == "ERROR"
    figures = hb.evidence([same, error], "races").figures
    assert (figures.errors, figures.criticals) == (1, 0)
    critical = parse_line(FOREIGN.format(level="CRITICAL", kind="order.submit"))
    assert hb.evidence([critical], "races").figures.criticals == 1
