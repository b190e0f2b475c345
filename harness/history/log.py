"""The event history: one append-only, ordered record of everything a run did.

Checkers never look at live objects; they read a History (as Jepsen's checkers read a
history of invoke/ok/fail operations). That makes every verdict replayable from a saved
``events.jsonl`` and usable on histories recorded by other systems.

Ordering: every event takes its sequence number and its monotonic timestamp inside one
critical section, so ``seq`` order is also time order -- within a process through a
``threading.Lock``, across processes through the lock of a shared ``multiprocessing.Value``.

Payloads are normalised to JSON-native values when appended (``Decimal`` becomes its exact
string), so what is written to JSONL and read back compares equal to what was appended.
"""

from __future__ import annotations

import datetime as _dt
import enum
import gzip
import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson

from harness.errors import InputError

Clock = Callable[[], int]


class HistoryError(InputError):
    """A history file could not be read; the message names the file and line."""


@dataclass(frozen=True)
class Event:
    """One observable thing that happened during a run."""

    seq: int
    mono_ns: int
    wall: str
    run_id: str
    worker: str
    symbol: str | None
    kind: str
    payload: Mapping[str, Any]

    def to_json(self) -> str:
        """Serialise as one compact JSON line (no trailing newline)."""
        return json.dumps(
            {
                "seq": self.seq,
                "mono_ns": self.mono_ns,
                "wall": self.wall,
                "run_id": self.run_id,
                "worker": self.worker,
                "symbol": self.symbol,
                "kind": self.kind,
                "payload": self.payload,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Every process-mode event is pickled to the parent: a constructor call beats dataclass state.
        return (Event, (self.seq, self.mono_ns, self.wall, self.run_id, self.worker, self.symbol, self.kind,
                        self.payload))

    @classmethod
    def from_json(cls, line: str | bytes) -> Event:
        """Parse one JSON line; raises ValueError/KeyError/TypeError on bad input."""
        # orjson: about twice the stdlib's speed on event lines; reading histories and
        # replaying logs after a crash is mostly parsing. Its errors are ValueErrors.
        raw = orjson.loads(line)
        if not isinstance(raw, dict):
            raise TypeError("an event must be a JSON object")
        payload = raw["payload"]
        if not isinstance(payload, dict):
            raise TypeError("payload must be a JSON object")
        return cls(
            seq=_int(raw["seq"], "seq"),
            mono_ns=_int(raw["mono_ns"], "mono_ns"),
            wall=str(raw["wall"]),
            run_id=str(raw["run_id"]),
            worker=str(raw["worker"]),
            symbol=None if raw.get("symbol") is None else str(raw["symbol"]),
            kind=str(raw["kind"]),
            payload=payload,
        )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return value


_SCALARS = (int, float, bool, type(None))
_NUL = {0: "\\x00"}


def text(value: str) -> str:
    """``value`` as every layer can store it: NUL and lone surrogates become the visible escapes \\x00, \\udc80.

    No layer holds them (PostgreSQL refuses NUL, UTF-8 has no lone surrogate), so the history
    records what every layer can then keep exactly, rather than losing a batch to one string.
    """
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value.translate(_NUL) if "\x00" in value else value


def normalise(value: Any) -> Any:
    """Turn a payload value into JSON-native data; Decimals keep their exact digits, text is made storable."""
    kind = type(value)
    # Exact-type checks first: append is on the trading hot path, and the ABC checks below
    # (Mapping, Enum) cost more than the whole conversion of a plain payload.
    if kind is str:
        return text(value)
    if kind in _SCALARS:
        return value
    if kind is dict:  # the common case, inlined: plain ASCII text without NUL is kept as it is
        return {k if type(k) is str and k.isascii() and "\x00" not in k else text(str(k)):
                v if type(v) in _SCALARS or (type(v) is str and v.isascii() and "\x00" not in v) else normalise(v)
                for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else normalise(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return normalise(value.value)
    if isinstance(value, Mapping):
        return {text(str(k)): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [normalise(v) for v in items]
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return text(str(value))
    raise TypeError(f"cannot record {type(value).__name__} in an event payload")


class Sequence(Protocol):
    """Hands out strictly increasing sequence numbers and stamps them atomically."""

    def stamp(self, clock: Clock) -> tuple[int, int]:
        """Return (seq, mono_ns) taken together in one critical section."""


class LocalSequence:
    """Sequence for one process (threads share it)."""

    def __init__(self, start: int = 0) -> None:
        self._count = itertools.count(start + 1)
        self._lock = threading.Lock()

    def stamp(self, clock: Clock) -> tuple[int, int]:
        """Return (seq, mono_ns) taken together under the lock."""
        with self._lock:
            return next(self._count), clock()


class SharedSequence:
    """Sequence shared by processes through a ``multiprocessing.Value``."""

    def __init__(self, value: Any) -> None:
        self._value = value

    @classmethod
    def create(cls, ctx: Any) -> SharedSequence:
        """Make a new shared counter from a multiprocessing context."""
        return cls(ctx.Value("q", 0))

    def stamp(self, clock: Clock) -> tuple[int, int]:
        """Return (seq, mono_ns) taken together under the shared lock."""
        with self._value.get_lock():
            # The raw counter: ``.value`` of the synchronized wrapper would take the lock twice more.
            counter = self._value.get_obj()
            counter.value += 1
            return counter.value, clock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedSequence, (self._value,))


def new_sequence(process_safe: bool) -> Sequence:
    """A sequence for a history that processes share (spawn context), or one process's threads."""
    if process_safe:
        import multiprocessing

        return SharedSequence.create(multiprocessing.get_context("spawn"))
    return LocalSequence()


_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """Current wall time, UTC, ISO-8601 with microseconds."""
    global _second
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        # isoformat costs ~1.5 us an event; the date-and-seconds part changes once a second.
        stamp = _dt.datetime.fromtimestamp(second, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _second = (second, stamp)
    return f"{cached[1]}.{micro:06d}+00:00"


class History:
    """Append-only event log of one run; safe to append from many threads."""

    def __init__(
        self,
        run_id: str,
        sequence: Sequence | None = None,
        clock: Clock = time.monotonic_ns,
        wall: Callable[[], str] = utc_now,
        sink: Callable[[Event], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self._sequence = sequence or LocalSequence()
        self._clock = clock
        self._wall = wall
        self._sink = sink
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._sorted = True
        self._listeners: tuple[Callable[[Event], None], ...] = ()

    @property
    def sequence(self) -> Sequence:
        """Where this history's sequence numbers come from (shared in process mode)."""
        return self._sequence

    def append(self, kind: str, *, worker: str, symbol: str | None = None, **payload: Any) -> Event:
        """Record one event and return it."""
        body = normalise(payload)
        seq, mono = self._sequence.stamp(self._clock)
        event = Event(seq, mono, self._wall(), self.run_id, worker, symbol, kind, body)
        self._add(event)
        return event

    def extend(self, events: Iterable[Event]) -> None:
        """Merge events recorded elsewhere (another process, a file)."""
        for event in events:
            self._add(event)

    def _add(self, event: Event) -> None:
        with self._lock:
            if self._events and self._events[-1].seq > event.seq:
                self._sorted = False
            self._events.append(event)
            for listener in self._listeners:
                listener(event)
        if self._sink is not None:
            self._sink(event)

    def subscribe(self, listener: Callable[[Event], None]) -> list[Event]:
        """Call ``listener`` with every event from now on; return the events before it, atomically.

        The listener runs under the history's lock, on the trading thread: it must be cheap
        and must not append (a ``deque.append`` is the intended use).
        """
        with self._lock:
            self._listeners += (listener,)
            return list(self._events)

    def events(self) -> list[Event]:
        """All events so far, in sequence order."""
        with self._lock:
            if not self._sorted:
                self._events.sort(key=lambda e: e.seq)
                self._sorted = True
            return list(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())


def write_jsonl(events: Iterable[Event], path: Path) -> int:
    """Write events one JSON object a line; return how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(event.to_json())
            out.write("\n")
            count += 1
    return count


def iter_jsonl(path: Path) -> Iterator[Event]:
    """Yield events from a JSONL file; a bad line raises HistoryError naming it."""
    try:
        # A long run's history is written gzipped (events.jsonl.gz); both read the same.
        handle = gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot open history: {exc.strerror or exc}") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield Event.from_json(line)
                except (ValueError, KeyError, TypeError) as exc:
                    detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                    truncated = "" if line.endswith("\n") else " (truncated last line?)"
                    raise HistoryError(f"{path}:{lineno}: not a valid event{truncated}: {detail}") from None
        except UnicodeDecodeError as exc:
            raise HistoryError(f"{path}: not UTF-8 text: {exc.reason}") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise HistoryError(f"{path}: corrupt gzip history: {exc}") from None


def read_jsonl(path: Path) -> list[Event]:
    """Read a whole JSONL history, in sequence order."""
    return sorted(iter_jsonl(path), key=lambda e: e.seq)
