"""Checkpoint layer: atomic snapshots of the guardian state plus a write-ahead log of events.

Design rationale:

- The checkpointed state is not read off the live guardian (under concurrency "the state at
  seq N" is not observable there) but *replayed* from events by ``StateReplay``, a pure fold
  over the run's events in seq order. So a snapshot at seq S is by construction the state
  the history up to S implies, and "recovered state == state replayed from the history up to
  the crash" is a checkable statement rather than a hope.
- Events may reach a layer slightly out of seq order (two threads stamp, then deliver), so
  the fold keeps a small reorder buffer and only applies the contiguous prefix. The same
  buffer makes writes idempotent: a seq seen before is not logged twice.
- Snapshots are written atomically (tmp file, fsync, rename, fsync dir) and carry a SHA-256
  of their body, so a torn or corrupted snapshot is detected and the previous one used.
- The log is split in segments; a new one starts at each snapshot and a segment is deleted
  only once every kept snapshot covers it, so falling back to an older snapshot still finds
  all the events it must replay.
- A torn last line (crash mid-append) is cut off at the last good line; a bad line followed
  by good ones is corruption and a clear ``CheckpointError``.
- Each log line carries a CRC-32 after a tab (JSON escapes raw tabs, so the split is
  unambiguous), chained over the file: the CRC of a line's JSON seeded with the previous
  line's CRC. A line altered into other valid JSON, or deleted, or moved, breaks the chain
  and is refused, not replayed; only cutting the tail is undetectable -- it is what a crash
  does, and recovery then restores the state the log implies at that point.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.history.events import FENCE_ACCEPT, ORDER_FILL, RISK_CANCEL, RISK_RESERVE, RISK_SETTLE, TRADE_CLOSED
from harness.history.log import Event
from harness.system.guardian.risk import (
    G_DEGRADED,
    G_FENCE,
    MARK,
    MONEY,
    POS,
    SYMBOL_SLOTS,
    RiskLimits,
    book_pending,
    book_trade,
    state_size,
)
from harness.system.model import SymbolSpec

FORMAT = 1
SNAPSHOT_RE = re.compile(r"^snapshot-(\d{12})\.json$")
SEGMENT_RE = re.compile(r"^wal-(\d{8})\.jsonl$")


class CheckpointError(InputError):
    """A snapshot or log file is unusable; the message names the file and why."""


# -- state replay ---------------------------------------------------------------------------


class StateReplay:
    """The guardian state vector rebuilt from events, applied in contiguous seq order."""

    def __init__(self, specs: Sequence[SymbolSpec], limits: RiskLimits, context: Mapping[str, Any] | None = None):
        self.specs = tuple(specs)
        self.limits = limits
        self._index = {spec.name: i for i, spec in enumerate(self.specs)}
        self._g = len(self.specs) * SYMBOL_SLOTS
        ctx = _checked_context(context or {}, state_size(len(self.specs)))
        self.state: list[int] = list(ctx.get("state") or [0] * state_size(len(self.specs)))
        self.seq: int = ctx.get("seq", 0)
        # In-flight orders at the snapshot: a reservation or fill may settle after it.
        self._reservations: dict[str, list[Any]] = {k: list(v) for k, v in ctx.get("reservations", {}).items()}
        self._fills: dict[str, dict[str, Any]] = {k: dict(v) for k, v in ctx.get("fills", {}).items()}
        self._ahead: dict[int, Event] = {}

    def context(self) -> dict[str, Any]:
        """Everything needed to resume the fold after ``seq`` (what a snapshot stores)."""
        return {"seq": self.seq, "state": list(self.state), "reservations": self._reservations, "fills": self._fills}

    def seen(self, seq: int) -> bool:
        """Whether an event of this seq was taken before (applied or buffered)."""
        return seq <= self.seq or seq in self._ahead

    def pending(self) -> bool:
        """Whether events wait behind a missing seq."""
        return bool(self._ahead)

    def add(self, event: Event) -> bool:
        """Take one event; False if its seq was seen before (a duplicate)."""
        if event.seq == self.seq + 1 and not self._ahead:  # the usual case: next in order
            self._apply(event)
            self.seq += 1
            return True
        if event.seq <= self.seq or event.seq in self._ahead:
            return False
        self._ahead[event.seq] = event
        while self.seq + 1 in self._ahead:
            self._apply(self._ahead.pop(self.seq + 1))
            self.seq += 1
        return True

    def _apply(self, event: Event) -> None:
        p, symbol = event.payload, event.symbol
        if event.kind == "health":
            self.state[self._g + G_DEGRADED] = int(p.get("state") == "DEGRADED")
            return
        if symbol is None or symbol not in self._index:
            return
        if event.kind == RISK_RESERVE:
            spec = self.specs[self._index[symbol]]
            lots = int(Decimal(str(p["qty"])) / spec.lot)
            buy, sell = (lots, 0) if p["side"] == "BUY" else (0, lots)
            entry = [symbol, buy, sell, int(Decimal(str(p["worst_price"])) / spec.tick)]
            self._reservations[str(p["order"])] = entry
            self._book(entry, +1)
        elif event.kind == RISK_CANCEL:
            self._book(self._reservations.pop(str(p["order"])), -1)
        elif event.kind == ORDER_FILL:
            spec = self.specs[self._index[symbol]]
            lots = int(Decimal(str(p["qty"])) / spec.lot) * (1 if p["side"] == "BUY" else -1)
            self._fills[symbol] = {"order": str(p["order"]), "lots": lots,
                                   "mark": int(Decimal(str(p["price"])) / spec.tick), "pnl": []}
        elif event.kind == TRADE_CLOSED and symbol in self._fills:
            self._fills[symbol]["pnl"].append(int(Decimal(str(p["pnl"])) / MONEY))
        elif event.kind == FENCE_ACCEPT and p.get("resource") == "exposure":
            # The guardian records this inside settle's critical section: its seq order is
            # the order settles happened in, which global PnL, peak and streak depend on.
            if p.get("token") is not None:  # a lock service without tokens fences nothing
                self.state[self._g + G_FENCE] = int(p["token"])
            self._settle(symbol)
        elif event.kind == RISK_SETTLE:
            self._settle(symbol)  # already settled at its fence event, if it had one

    def _book(self, entry: Sequence[Any], direction: int) -> None:
        book_pending(self.state, self._index[entry[0]] * SYMBOL_SLOTS, entry[1], entry[2], entry[3], direction)

    def _settle(self, symbol: str) -> None:
        fill = self._fills.pop(symbol, None)
        if fill is None:
            return
        reservation = self._reservations.pop(fill["order"], None)
        if reservation is not None:
            self._book(reservation, -1)
        base = self._index[symbol] * SYMBOL_SLOTS
        self.state[base + POS] += fill["lots"]
        self.state[base + MARK] = fill["mark"]
        for units in fill["pnl"]:
            book_trade(self.state, base, self._g, units, self.limits)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_context(ctx: Mapping[str, Any], size: int) -> Mapping[str, Any]:
    """A snapshot body whose fields have the types the fold needs; CheckpointError names the first that has not."""
    state, seq = ctx.get("state"), ctx.get("seq", 0)
    if state is not None and not (isinstance(state, list) and all(_is_int(v) for v in state)):
        raise CheckpointError("snapshot field state: expected a list of integers")
    if state is not None and len(state) != size:
        raise CheckpointError(f"snapshot field state: {len(state)} values, the symbols need {size}")
    if not _is_int(seq) or seq < 0:
        raise CheckpointError(f"snapshot field seq: expected a non-negative integer, got {seq!r}")
    for name, kind in (("reservations", list), ("fills", dict)):
        value = ctx.get(name, {})
        if not (isinstance(value, dict) and all(isinstance(v, kind) for v in value.values())):
            raise CheckpointError(f"snapshot field {name}: expected an object of {kind.__name__}s")
    return ctx


def replay_state(specs: Sequence[SymbolSpec], limits: RiskLimits, events: Iterable[Event]) -> tuple[list[int], int]:
    """The state vector and last contiguous seq that ``events`` imply, from a fresh guardian."""
    fold = StateReplay(specs, limits)
    for event in events:
        fold.add(event)
    return fold.state, fold.seq


# -- JSONL logs (write-ahead log segments, spill buffers) -------------------------------------


@dataclass(frozen=True)
class LogRead:
    """Events read from a JSONL log and how many bytes of torn tail were cut off."""

    events: tuple[Event, ...]
    truncated_bytes: int
    chain: int = 0  # the CRC of the last good line: the seed of the next append


def append_log(path: Path, events: Iterable[Event], *, sync: bool = True, chain: int = 0) -> int:
    """Append events one line each (``chain``: the file's last CRC), fsync'd; return the new last CRC.

    A failed append is cut back to where it started, so a retry never leaves a half line
    in the middle of the log (which recovery would have to refuse as corruption).
    """
    data, chain = encode_lines(events, chain)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:  # unbuffered: nothing can reach the file after a failure is handled
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise named(exc, path) from None
    finally:
        os.close(fd)
    return chain


def named(exc: BaseException, path: Path) -> BaseException:
    """``exc``, naming ``path`` when it is an OSError that names no file (a full disk says which file)."""
    if isinstance(exc, OSError) and exc.filename is None:
        return type(exc)(exc.errno, exc.strerror or str(exc), str(path))
    return exc


def encode_lines(events: Iterable[Event], chain: int = 0) -> tuple[bytes, int]:
    """Log lines (JSON, tab, chained CRC-32 in hex, newline) and the last CRC."""
    lines = []
    for event in events:
        body = event.to_json().encode()
        chain = zlib.crc32(body, chain)
        lines.append(b"%s\t%08x\n" % (body, chain))
    return b"".join(lines), chain


def verified(line: bytes, chain: int) -> tuple[bytes, int]:
    """The JSON of a log line and its CRC, if it follows a line of CRC ``chain``; ValueError otherwise."""
    body, tab, crc = line.rpartition(b"\t")
    if not tab:
        raise ValueError("no checksum")
    chain = zlib.crc32(body, chain)
    if b"%08x" % chain != crc:
        raise ValueError("checksum mismatch (the line was altered, or a line before it removed)")
    return body, chain


# The kinds the state replay reads; recovery skims every other line for its seq alone.
STATE_KINDS = frozenset({RISK_RESERVE, RISK_CANCEL, ORDER_FILL, TRADE_CLOSED, FENCE_ACCEPT, RISK_SETTLE,
                         "health"})
_SEQ, _KIND = b'{"seq":', b',"kind":"'


def _skim(line: bytes, kinds: frozenset[bytes]) -> Event | None:
    """A seq-only stand-in for a line whose kind is not in ``kinds`` (None: parse it in full).

    Relies on ``Event.to_json``'s field order (seq first, kind before payload); JSON escapes
    every quote inside strings, so the kind marker cannot match earlier by accident.
    """
    at = line.find(_KIND)
    if not line.startswith(_SEQ) or at < 0:
        return None
    start = at + len(_KIND)
    kind = line[start:line.find(b'"', start)]
    seq = line[len(_SEQ):line.find(b",")]
    if kind in kinds or not seq.isdigit():
        return None
    return Event(int(seq), 0, "", "", "", None, "", {})


def read_log(path: Path, *, repair: bool = True, kinds: frozenset[str] | None = None) -> LogRead:
    """Read a JSONL log; a torn last line is cut off (when ``repair``), a bad middle line raises.

    With ``kinds``, lines of other kinds come back as seq-only stand-ins (recovery needs
    their seqs, not their payloads: parsing them was most of its time).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LogRead((), 0)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    events: list[Event] = []
    good_end = 0
    wanted = None if kinds is None else frozenset(k.encode() for k in kinds)
    lines = raw.split(b"\n")
    # Every append ends with a newline: bytes after the last one are a torn tail, however they look.
    chain = 0
    for lineno, line in enumerate(lines[:-1], start=1):
        try:
            body, chain = verified(line, chain)
            events.append((_skim(body, wanted) if wanted is not None else None) or Event.from_json(body))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}:{lineno}: corrupt log line: {exc}") from None
        good_end += len(line) + 1
    torn = len(raw) - good_end
    if torn and repair:
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
            os.fsync(handle.fileno())
    return LogRead(tuple(events), torn, chain)


# -- snapshots ----------------------------------------------------------------------------------


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise named(exc, tmp) from None
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_snapshot(path: Path) -> dict[str, Any]:
    """A snapshot's body, checked against its checksum; CheckpointError names what is wrong."""
    try:
        raw = json.loads(path.read_bytes())
        checksum = raw.pop("checksum")
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"{path}: unreadable snapshot: {exc}") from None
    if checksum != _checksum(raw):
        raise CheckpointError(f"{path}: snapshot checksum mismatch")
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown snapshot format {raw.get('format')!r}")
    return raw


def snapshots(directory: Path) -> list[Path]:
    """Snapshot files in ``directory``, newest first."""
    found = [p for p in directory.iterdir() if SNAPSHOT_RE.match(p.name)] if directory.is_dir() else []
    return sorted(found, key=lambda p: p.name, reverse=True)


def segments(directory: Path) -> list[Path]:
    """Write-ahead log segments in ``directory``, oldest first."""
    found = [p for p in directory.iterdir() if SEGMENT_RE.match(p.name)] if directory.is_dir() else []
    return sorted(found, key=lambda p: p.name)


def segment_number(path: Path) -> int:
    """The number in a segment's file name (``wal-00000007.jsonl`` -> 7)."""
    match = SEGMENT_RE.match(path.name)
    if match is None:
        raise CheckpointError(f"{path}: not a log segment name")
    return int(match.group(1))


def read_wal(directory: Path, kinds: frozenset[str] | None = None) -> LogRead:
    """Every logged event across segments (torn tails repaired), in seq order (see read_log for kinds)."""
    events: list[Event] = []
    torn = 0
    for segment in segments(directory):
        read = read_log(segment, kinds=kinds)
        events.extend(read.events)
        torn += read.truncated_bytes
    return LogRead(tuple(sorted(events, key=lambda e: e.seq)), torn)


# -- the layer ------------------------------------------------------------------------------------


class Checkpoint:
    """Persistence layer: log every event, fold it into the state, snapshot every N events."""

    name = "checkpoint"

    def __init__(
        self,
        directory: Path,
        specs: Sequence[SymbolSpec],
        limits: RiskLimits,
        *,
        every: int = 1000,
        keep: int = 3,
        fsync: bool = True,
    ) -> None:
        if every < 1 or keep < 1:
            raise ValueError("every and keep must be at least 1")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fold = StateReplay(specs, limits)
        self._every, self._keep, self._fsync = every, keep, fsync
        self._snapshot_seq = self._fold.seq
        existing = segments(self.directory)
        number = segment_number(existing[-1]) + 1 if existing else 1
        self._segment, self._chain = self._open_segment(number), 0

    def _open_segment(self, number: int) -> Path:
        """Create segment ``number`` now, empty: recovery can then tell a deleted segment from one never written."""
        path = self.directory / f"wal-{number:08d}.jsonl"
        path.touch()
        return path

    def write(self, events: Sequence[Event]) -> None:
        """Log the events not seen before, fold them in, snapshot when due.

        An event counts as seen only once its line is on disk: a failed append leaves the
        fold untouched, so the writer's retry logs exactly what was not written.
        """
        fresh: dict[int, Event] = {}
        for event in events:
            if not self._fold.seen(event.seq):
                fresh.setdefault(event.seq, event)
        ordered = [fresh[seq] for seq in sorted(fresh)]
        if ordered:
            self._chain = append_log(self._segment, ordered, sync=self._fsync, chain=self._chain)
        for event in ordered:
            self._fold.add(event)
        if self._fold.seq - self._snapshot_seq >= self._every:
            self.snapshot()

    def snapshot(self) -> Path:
        """Write a snapshot of the folded state, start a new log segment, prune old files."""
        body = {"format": FORMAT, **self._fold.context()}
        path = self.directory / f"snapshot-{self._fold.seq:012d}.json"
        number = segment_number(self._segment)
        body["segment"] = number + 1
        data = json.dumps({**body, "checksum": _checksum(body)}, separators=(",", ":")).encode()
        following = self._open_segment(number + 1)  # before the snapshot names it: a crash between leaves it empty
        write_atomic(path, data)
        self._snapshot_seq = self._fold.seq
        self._segment, self._chain = following, 0
        self._prune()
        return path

    def _prune(self) -> None:
        kept = snapshots(self.directory)
        for old in kept[self._keep:]:
            old.unlink()
        if len(kept) < self._keep:
            return  # a full replay from the start may still be needed
        # Events after the oldest kept snapshot may sit in the segment current when it was taken.
        try:
            oldest = read_snapshot(kept[self._keep - 1])["segment"] - 1
        except CheckpointError:
            return  # keep every segment: recovery may have to replay from further back
        for segment in segments(self.directory):
            if segment_number(segment) < oldest:
                segment.unlink()

    def read_seqs(self) -> list[int]:
        """Seqs the checkpoint can restore: those its oldest good snapshot covers, then the log's.

        Log seqs after the snapshot are listed as read (duplicates kept, so a checker sees them).
        """
        base = 0
        for path in reversed(snapshots(self.directory)):
            try:
                base = int(read_snapshot(path)["seq"])
                break
            except CheckpointError:
                continue
        return [*range(1, base + 1), *(e.seq for e in read_wal(self.directory).events if e.seq > base)]

    def close(self) -> None:
        """Nothing is held open between writes."""
