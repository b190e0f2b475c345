"""STRESS_TEST.log: the human log of a run, one event a line, in a documented format.

    <wall UTC ISO-8601> <LEVEL> <seq> <mono_ns> <worker> <symbol or -> <kind> <payload JSON>

Fields are separated by single spaces; worker, symbol and kind contain no spaces; the
payload is compact JSON to the end of the line. Lines starting with ``#`` are comments (a
failed run's log ends with one giving the command that reproduces it). LEVEL is derived from the event (ERROR for a
failed worker, CRITICAL for a crashed one or a P0 alert, WARNING for refusals, fencing
rejections, lock time-outs and breaker trips, else INFO), so grepping the log for ERROR or
CRITICAL finds what the race checker counts. A line written by another system may carry
any LEVEL; when it differs from the derived one it is kept in the payload as ``_level``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.history.events import (
    AGG_GAP,
    BROKER_ERROR,
    FENCE_REJECT,
    LOCK_FAIL,
    LOCK_INFO,
    ORDER_ABORT,
    RISK_REFUSE,
    RISK_TRIP,
    WORKER_ERROR,
)
from harness.history.log import Event, HistoryError

WARNING_KINDS = {FENCE_REJECT, LOCK_INFO, RISK_TRIP, RISK_REFUSE, AGG_GAP, BROKER_ERROR, ORDER_ABORT}


def level_of(event: Event) -> str:
    """The log level of an event."""
    recorded = event.payload.get("_level")
    if isinstance(recorded, str):
        return recorded
    kind = event.kind
    if kind == WORKER_ERROR:
        return "CRITICAL" if event.payload.get("fatal") else "ERROR"
    if kind == "alert":
        return "CRITICAL" if event.payload.get("level") == "P0" else "WARNING"
    if kind in WARNING_KINDS or (kind == LOCK_FAIL and event.payload.get("reason") == "timeout"):
        return "WARNING"
    return "INFO"


def format_line(event: Event) -> str:
    """One log line for an event."""
    payload = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
    return (
        f"{event.wall} {level_of(event)} {event.seq} {event.mono_ns} {event.worker} "
        f"{event.symbol or '-'} {event.kind} {payload}"
    )


def write_log(events: Iterable[Event], path: Path) -> int:
    """Write the human log; return the number of lines."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(format_line(event) + "\n")
            count += 1
    return count


def parse_line(line: str, run_id: str = "-") -> Event:
    """Parse one log line back into an event (ValueError on a malformed line)."""
    parts = line.rstrip("\n").split(" ", 7)
    if len(parts) != 8:
        raise ValueError(f"expected 8 fields, got {len(parts)}")
    wall, level, seq, mono, worker, symbol, kind, payload_text = parts
    payload = json.loads(payload_text)
    if not isinstance(payload, dict):
        raise ValueError("payload must be a JSON object")
    event = Event(int(seq), int(mono), wall, run_id, worker, None if symbol == "-" else symbol, kind, payload)
    if level != level_of(event):
        event = Event(event.seq, event.mono_ns, wall, run_id, worker, event.symbol, kind, {**payload, "_level": level})
    return event


def read_log(path: Path) -> list[Event]:
    """Read a STRESS_TEST.log; a malformed line raises HistoryError naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot open log: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path}: not UTF-8 text: {exc.reason}") from None
    return sorted(_parse_all(path, text.splitlines()), key=lambda e: e.seq)


def _parse_all(path: Path, lines: list[str]) -> Iterator[Event]:
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            yield parse_line(line)
        except ValueError as exc:
            raise HistoryError(f"{path}:{lineno}: not a valid log line: {exc}") from None
