"""Reading a history file against the contract, line by line, with ``FILE:LINE`` for every problem.

``harness check`` reads its input through ``load``: an unknown kind, a missing field, a
wrong type, bad JSON or UTF-8, or a seq that does not increase is one ``FILE:LINE: ...``
line (a ``HistoryError``, exit 2). Lenient loading keeps every event that meets the
contract and returns the problems, which ``contract_gate`` turns into a failed gate -- a
history that breaks the contract is never judged PASS.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harness.errors import InputError
from harness.history.decode import decode
from harness.history.log import Event, HistoryError
from harness.history.schema import problems
from harness.history.stresslog import parse_line
from harness.inputs import MAX_LINE_BYTES, regular_file


@dataclass(frozen=True)
class Checked:
    """The events of a file that met the contract, and ``FILE:LINE: ...`` for each line that did not."""

    path: Path
    events: tuple[Event, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()  # e.g. a last line cut short by a killed writer, left out


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, ends with a newline) for every line of a file, read as a stream.

    Bounded: a FIFO or device is refused before it is opened, a line longer than
    ``MAX_LINE_BYTES`` or a gzip stream inflating past ``MAX_GZIP_RATIO`` is one error line.
    """
    try:
        regular_file(path, "history")
        # A long run's history is written compressed; either way one line is in memory at a time.
        handle = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    except (OSError, InputError) as exc:
        raise HistoryError(str(exc) if isinstance(exc, InputError)
                           else f"{path}: cannot open history: {exc.strerror or exc}") from None
    with handle:
        try:
            inflated = 0
            for number, line in enumerate(iter(functools.partial(handle.readline, MAX_LINE_BYTES + 1), b""), 1):
                inflated += len(line)
                _within_bounds(path, number, line, handle, inflated)
                complete = line.endswith(b"\n")
                yield number, line.rstrip(b"\n").rstrip(b"\r") if complete else line.rstrip(b"\r"), complete
        except OSError as exc:  # also a gzip.BadGzipFile
            raise HistoryError(f"{path}: cannot read history: {exc.strerror or exc}") from None
        except (EOFError, zlib.error) as exc:
            raise HistoryError(f"{path}: corrupt gzip history: {exc}") from None


MAX_GZIP_RATIO = 200  # a run's history compresses ~10-20x; far past this it is a bomb, not a history


def _within_bounds(path: Path, number: int, line: bytes, handle: Any, inflated: int) -> None:
    if len(line) > MAX_LINE_BYTES:
        raise HistoryError(f"{path}:{number}: a line longer than {MAX_LINE_BYTES} bytes: not a history")
    raw = getattr(handle, "fileobj", None)  # the compressed file under a gzip stream
    if raw is not None and inflated > 2**20 and inflated > MAX_GZIP_RATIO * max(1, raw.tell()):
        raise HistoryError(f"{path}: inflates past {MAX_GZIP_RATIO} times its size: a gzip bomb, not a history")


def _from_jsonl(line: bytes) -> tuple[Event | None, str | None]:
    event = decode(line)
    if event is not None:
        return event, None
    # Refused by the fast path: the contract's checker says why, in its own words.
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


def _problem(line: bytes, problem: str) -> str:
    """What is wrong with a refused line; bad UTF-8 is named before what it broke."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    return f"not a valid event: {problem}"


def iter_checked(path: Path, found: list[str], notes: list[str] | None = None) -> Iterator[Event]:
    """The events of a JSONL history or a STRESS_TEST.log that meet the contract, as they are read;
    ``FILE:LINE: ...`` for every other line is appended to ``found`` (a last line cut short, to ``notes``)."""
    parse = _from_log if path.name.removesuffix(".gz").endswith(".log") else _from_jsonl  # STRESS_TEST.log(.gz)
    last_seq: int | None = None
    count = 0
    for number, line, complete in _lines(path):
        if not line.strip():
            continue
        try:
            event, problem = parse(line)
        except UnicodeDecodeError:  # a log line is text before it is parsed
            event, problem = None, ""
        if problem is not None and not complete and notes is not None:
            # A writer killed mid-line (SIGKILL, power loss): every whole line before it is judged.
            notes.append(f"{path}:{number}: the last line is cut short ({len(line)} bytes, no newline; "
                         f"{_problem(line, problem)}): left out, the {count} events before it are judged")
        elif problem is not None:
            found.append(f"{path}:{number}: {_problem(line, problem)}")
        elif event is not None:
            if last_seq is not None and event.seq <= last_seq:
                found.append(f"{path}:{number}: seq {event.seq} does not increase (the event before has {last_seq})")
                continue
            last_seq = event.seq
            count += 1
            yield event


def check_file(path: Path) -> Checked:
    """Read every line of a JSONL history or a STRESS_TEST.log and check it against the contract."""
    found: list[str] = []
    notes: list[str] = []
    events = tuple(iter_checked(path, found, notes))
    return Checked(path, events, tuple(found), tuple(notes))


def load(path: Path, lenient: bool = False) -> Checked:
    """Check a history file; strict: the first problem is a HistoryError (one line, exit 2)."""
    checked = check_file(path)
    if checked.problems and not lenient:
        extra = len(checked.problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''}; --lenient judges the rest)" if extra else ""
        raise HistoryError(checked.problems[0] + more)
    return checked
