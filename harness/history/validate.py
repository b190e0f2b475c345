"""Reading a history file against the contract, line by line, with ``FILE:LINE`` for every problem.

``harness check`` reads its input through ``load``: an unknown kind, a missing field, a
wrong type, bad JSON or UTF-8, or a seq that does not increase is one ``FILE:LINE: ...``
line (a ``HistoryError``, exit 2). Lenient loading keeps every event that meets the
contract and returns the problems, which ``contract_gate`` turns into a failed gate -- a
history that breaks the contract is never judged PASS.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harness.history.log import Event, HistoryError
from harness.history.schema import problems
from harness.history.stresslog import parse_line


@dataclass(frozen=True)
class Checked:
    """The events of a file that met the contract, and ``FILE:LINE: ...`` for each line that did not."""

    path: Path
    events: tuple[Event, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()  # e.g. a last line cut short by a killed writer, left out


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, ends with a newline) for every line of a file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HistoryError(f"{path}: cannot open history: {exc.strerror or exc}") from None
    if path.suffix == ".gz":  # a long run's history, written compressed
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise HistoryError(f"{path}: corrupt gzip history: {exc}") from None
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        yield number, line.rstrip(b"\r"), number < len(lines)


def _from_jsonl(line: bytes) -> tuple[Event | None, str | None]:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc}"
    if not isinstance(raw, dict):
        return None, "an event must be a JSON object"
    problem = problems(raw)
    if problem is not None:
        return None, problem
    return Event(raw["seq"], raw["mono_ns"], raw["wall"], raw["run_id"], raw["worker"], raw.get("symbol"),
                 raw["kind"], raw["payload"]), None


def _from_log(line: bytes) -> tuple[Event | None, str | None]:
    text = line.decode("utf-8")
    if text.startswith("#"):
        return None, None
    try:
        event = parse_line(text)
    except ValueError as exc:
        return None, f"not a valid log line: {exc}"
    problem = problems(_as_raw(event))
    return (None, problem) if problem is not None else (event, None)


def _as_raw(event: Event) -> dict[str, Any]:
    return {"seq": event.seq, "mono_ns": event.mono_ns, "wall": event.wall, "run_id": event.run_id,
            "worker": event.worker, "symbol": event.symbol, "kind": event.kind, "payload": dict(event.payload)}


def _parsed(line: bytes, parse: Callable[[bytes], tuple[Event | None, str | None]]) -> tuple[Event | None, str | None]:
    """The event on a line, or what is wrong with it."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    event, problem = parse(line)
    return event, None if problem is None else f"not a valid event: {problem}"


def check_file(path: Path) -> Checked:
    """Read every line of a JSONL history or a STRESS_TEST.log and check it against the contract."""
    parse = _from_log if path.suffix == ".log" else _from_jsonl
    events: list[Event] = []
    found: list[str] = []
    last_seq: int | None = None
    notes: list[str] = []
    for number, line, complete in _lines(path):
        if not line.strip():
            continue
        event, problem = _parsed(line, parse)
        if problem is not None and not complete:
            # A writer killed mid-line (SIGKILL, power loss): every whole line before it is judged.
            notes.append(f"{path}:{number}: the last line is cut short ({len(line)} bytes, no newline; {problem}): "
                         f"left out, the {len(events)} events before it are judged")
        elif problem is not None:
            found.append(f"{path}:{number}: {problem}")
        elif event is not None:
            if last_seq is not None and event.seq <= last_seq:
                found.append(f"{path}:{number}: seq {event.seq} does not increase (the event before has {last_seq})")
                continue
            last_seq = event.seq
            events.append(event)
    return Checked(path, tuple(events), tuple(found), tuple(notes))


def load(path: Path, lenient: bool = False) -> Checked:
    """Check a history file; strict: the first problem is a HistoryError (one line, exit 2)."""
    checked = check_file(path)
    if checked.problems and not lenient:
        extra = len(checked.problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''}; --lenient judges the rest)" if extra else ""
        raise HistoryError(checked.problems[0] + more)
    return checked
