"""Readers for histories recorded elsewhere: Jepsen EDN, JSON, Jepsen log lines, our events.jsonl.

Every reader returns ``Record``s in history order; ``engine.operations`` pairs them. Jepsen
clients are integer processes, so any other process (``:nemesis``) is marked non-client.
Values written as EDN (in .edn files and in log lines) are read by ``edn`` in one pass over
the text and turned into plain hashable Python values: keywords become their name, vectors
and lists become tuples, maps become tuples of pairs. An op map's ``:key`` names the object
the op acts on (porcupine's kv logs), so each key is checked on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from harness.errors import InputError
from harness.history.events import BROKER_EXPIRE, FAULT_INJECT, LOCK_FAIL, LOCK_INFO, LOCK_INVOKE, LOCK_OK
from harness.history.log import Event, HistoryError, iter_jsonl
from harness.judge.linearizability import edn
from harness.judge.linearizability.operations import Kind, Record

FORMATS = ("auto", "edn", "json", "jepsen-log", "events")
TYPES = frozenset({"invoke", "ok", "fail", "info"})
LOCK_KINDS: dict[str, Kind] = {LOCK_INVOKE: "invoke", LOCK_OK: "ok", LOCK_FAIL: "fail", LOCK_INFO: "info"}


class HistoryFormatError(InputError):
    """A history file could not be read; the message is one line naming the file and line."""


class _BadOp(InputError):
    """An operation is malformed; the caller adds where it was found."""


def read_history(path: Path | str, fmt: str = "auto") -> list[Record]:
    """Read a history file as Records; ``fmt`` is one of FORMATS."""
    path = Path(path)
    if fmt not in FORMATS:
        raise HistoryFormatError(f"{path}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "events":
        return _read_events(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryFormatError(f"{path}: cannot open history: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise HistoryFormatError(f"{path}: not UTF-8 text: {exc.reason}") from None
    if not text.strip():
        raise HistoryFormatError(f"{path}: empty history")
    if fmt == "auto":
        fmt = detect_format(path, text)
    if fmt == "events":
        return _read_events(path)
    return READERS[fmt](path, text)


_LEADING_COMMENTS = re.compile(r"\A(?:\s*;[^\n]*)*\s*")


def detect_format(path: Path, text: str) -> str:
    """Guess a history's format from its extension and first characters."""
    if path.suffix.lower() == ".edn":
        return "edn"
    stripped = _LEADING_COMMENTS.sub("", text)
    if not stripped or stripped[0] not in "[{":
        return "jepsen-log"
    # JSON objects start with a string key, EDN maps with a keyword; an empty list is JSON.
    inner = stripped[1:].lstrip() if stripped[0] == "[" else stripped
    if inner.startswith(('{"', "]")):
        first = stripped.splitlines()[0]
        return "events" if first.startswith("{") and '"kind"' in first and '"seq"' in first else "json"
    return "edn"


def _read_events(path: Path) -> list[Record]:
    try:
        return list(records_from_events(iter_jsonl(path)))
    except HistoryError as exc:
        raise HistoryFormatError(str(exc)) from None


def records_from_events(events: Iterable[Event]) -> Iterator[Record]:
    """Lock events as Records, one per lock name; a broker lease expiry is an instant op.

    Indexes are twice the sequence number so an expiry's invocation and completion both fit
    at its own point in time. A fault that stops a holder (``fault.inject`` with a target)
    opens, for each lock it holds, an expiry of unknown outcome (``:info``): its lease may run
    out from then on, seen or not (a lock service without broker events records no expiry).
    """
    held: dict[str, set[str]] = {}
    for event in events:
        payload = event.payload
        kind = LOCK_KINDS.get(event.kind)
        if kind is not None:
            _track(held, event, kind)
            tokens = payload.get("tokens") or {}
            for name in payload.get("names", ()):
                value = tokens.get(name) if kind == "ok" else None
                yield Record(event.worker, kind, str(payload.get("op")), value, 2 * event.seq, event.mono_ns, name)
        elif event.kind == BROKER_EXPIRE:
            process = ("broker", event.seq)
            name, client = payload.get("name"), payload.get("client")
            yield Record(process, "invoke", "expire", client, 2 * event.seq, event.mono_ns, name)
            yield Record(process, "ok", "expire", None, 2 * event.seq + 1, event.mono_ns, name)
        elif event.kind == FAULT_INJECT and payload.get("target") is not None:
            target = str(payload["target"])
            for name in sorted(held.get(target, ())):
                lapse = ("fault", event.seq, name)
                yield Record(lapse, "invoke", "expire", target, 2 * event.seq, event.mono_ns, name)
                yield Record(lapse, "info", "expire", None, 2 * event.seq + 1, event.mono_ns, name)


def _track(held: dict[str, set[str]], event: Event, kind: str) -> None:
    """Names each client holds: from an acquire's ok to its release's invocation."""
    op, names = event.payload.get("op"), {str(name) for name in event.payload.get("names", ())}
    if kind == "ok" and op == "acquire":
        held.setdefault(event.worker, set()).update(names)
    elif kind == "invoke" and op == "release":
        held.get(event.worker, set()).difference_update(names)


def native(value: Any) -> Any:
    """An EDN or JSON value as a plain hashable Python value."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Mapping):
        return tuple((native(k), native(v)) for k, v in value.items())
    if _is_vector(value):
        return tuple(native(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(native(v) for v in value)
    return value


def _is_vector(value: Any) -> bool:
    """EDN vectors and lists, JSON arrays (not strings)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _name(value: Any, what: str) -> str:
    """A keyword-like field (``:invoke``, ``"invoke"``, ``":invoke"``) as a bare name."""
    value = native(value)
    if not isinstance(value, str) or not value.lstrip(":"):
        raise _BadOp(f"{what} must be a keyword or string, got {value!r}")
    return value.lstrip(":")


def _record(
    process: Any, type_: Any, f: Any, value: Any, index: int, line: int | None, time: Any = None, key: Any = None
) -> Record:
    """A Record from Jepsen fields; integer processes are clients, anything else is not."""
    process = native(process)
    kind = _name(type_, "type")
    if kind not in TYPES:
        raise _BadOp(f"type must be one of {', '.join(sorted(TYPES))}, got {kind!r}")
    client = isinstance(process, int) and not isinstance(process, bool)
    if not client:
        process = _name(process, "process")
    kind_ = cast(Kind, kind)
    return Record(process, kind_, _name(f, "f"), native(value), index, native(time), native(key), client, line)


def _from_map(op: Any, index: int, line: int | None) -> Record:
    if not isinstance(op, Mapping):
        raise _BadOp(f"expected an operation map, got {native(op)!r}")
    fields = {_name(k, "key"): v for k, v in op.items()}
    missing = [k for k in ("process", "type", "f") if k not in fields]
    if missing:
        raise _BadOp(f"operation lacks {', '.join(missing)}")
    get = fields.get
    return _record(fields["process"], fields["type"], fields["f"], get("value"), index, line, get("time"), get("key"))


def _from_tuple(op: Any, index: int, line: int | None) -> Record:
    if not _is_vector(op) or len(op) != 4:
        raise _BadOp(f"expected [process type f value], got {native(op)!r}")
    process, type_, f, value = op
    return _record(process, type_, f, value, index, line)


def _from_form(form: Any, index: int, line: int | None) -> Record:
    return (_from_map if isinstance(form, Mapping) else _from_tuple)(form, index, line)


def _build(
    path: Path, items: Iterable[tuple[int | None, Any]], convert: Callable[[Any, int, int | None], Record]
) -> list[Record]:
    """Convert (line, parsed op) pairs, naming the line (or op number) of the first bad one."""
    records = []
    for index, (line, item) in enumerate(items):
        try:
            records.append(convert(item, index, line))
        except RecursionError:
            where = f"{path}:{line}" if line is not None else f"{path}: operation {index + 1}"
            raise HistoryFormatError(f"{where}: value nested too deeply") from None
        except _BadOp as exc:
            where = f"{path}:{line}" if line is not None else f"{path}: operation {index + 1}"
            raise HistoryFormatError(f"{where}: {exc}") from None
    return records


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield lineno, line


def _read_edn(path: Path, text: str) -> list[Record]:
    """EDN: one vector of operations, or one op map or ``[process type f value]`` tuple a form."""
    try:
        parsed = list(edn.forms(text))
    except edn.EdnError as exc:
        raise HistoryFormatError(f"{path}:{exc.line}: not valid EDN: {exc}") from None
    if not parsed:
        raise HistoryFormatError(f"{path}: no operations (only comments)")
    if len(parsed) == 1 and _is_op_vector(parsed[0].value):
        return _build(path, zip(parsed[0].item_lines, parsed[0].value, strict=True), _from_form)
    return _build(path, ((form.line, form.value) for form in parsed), _from_form)


def _is_op_vector(form: Any) -> bool:
    """True for a vector of operations (maps or tuples), as opposed to one tuple."""
    return _is_vector(form) and all(isinstance(op, Mapping) or _is_vector(op) for op in form)


def _read_json(path: Path, text: str) -> list[Record]:
    """JSON: a list of op objects, or one op object a line."""
    if text.lstrip().startswith("["):
        try:
            ops = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        except RecursionError:
            raise HistoryFormatError(f"{path}: not valid JSON: nested too deeply") from None
        if not isinstance(ops, list):
            raise HistoryFormatError(f"{path}: expected a list of operation objects")
        return _build(path, ((None, op) for op in ops), _from_map)
    return _build(path, ((lineno, _json(path, lineno, line)) for lineno, line in _lines(text)), _from_map)


def _json(path: Path, lineno: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise HistoryFormatError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise HistoryFormatError(f"{path}:{lineno}: not valid JSON: nested too deeply") from None


JEPSEN_LOG_PREFIX = "jepsen.util - "


def _read_jepsen_log(path: Path, text: str) -> list[Record]:
    """Jepsen log lines ``process type f value``, whitespace separated, value in EDN."""
    return _build(path, _lines(text), _from_log_line)


def _from_log_line(line: str, index: int, lineno: int | None) -> Record:
    # Lines copied from jepsen.log carry a logger prefix before the operation.
    _, _, body = line.rpartition(JEPSEN_LOG_PREFIX)
    fields = body.split(None, 3)
    if len(fields) < 3:
        raise _BadOp(f"expected 'process type f [value]', got {line.strip()!r}")
    try:
        parsed = [edn.atom(field) for field in fields[:3]]
        value = _log_value(fields[3]) if len(fields) == 4 else None
    except ValueError as exc:
        raise _BadOp(f"not valid EDN: {exc}") from None
    return _record(parsed[0], parsed[1], parsed[2], value, index, lineno)


def _log_value(field: str) -> Any:
    """The value field's first form; what follows it (an error annotation) is not the value."""
    if field[0] in '[({"#':
        return edn.read_one(field)
    return edn.atom(field.split(None, 1)[0])


READERS: dict[str, Callable[[Path, str], list[Record]]] = {
    "edn": _read_edn,
    "json": _read_json,
    "jepsen-log": _read_jepsen_log,
}
