"""The persistence writer: a bounded queue between the trading loop and the layers.

Design rationale:

- ``offer`` is the History sink, so it runs on the trading thread: it takes a lock for a
  few list operations and returns -- no I/O, no waiting. A full queue does not block and
  does not drop: the event goes to an overflow list that the writer thread spills to disk.
- Each layer has its own queue and background thread (a ``_Feed``), so a blackholed
  database never holds back the checkpoint: the thread takes batches (up to ``batch_size``
  events or ``max_delay_s``) and hands them to its layer through a ``_Lane``. A lane owns its layer's spill file:
  when a write fails, the batch is appended to the spill (JSONL, fsync'd) and the layer is
  marked down with an exponential backoff. While a spill is non-empty, new batches go to
  the end of it, so draining it front to back keeps arrival order. Layers are idempotent by
  seq, so re-writing a batch whose first attempt half-succeeded doubles nothing.
- The clock is a parameter: backoff deadlines use it, so tests drive retries with a fake
  clock and synchronise on ``wait_idle``/``flush`` (condition variables), never on sleeps.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from hdrh.histogram import HdrHistogram

from harness.clock import Clock, backoff_delay, monotonic_ns, seconds
from harness.errors import RunError
from harness.history.log import Event
from harness.system.guardian.checkpoint import append_log, encode_lines, read_log, write_atomic

LayerListener = Callable[[str, bool, str], None]


class Unstorable(RunError):
    """A layer refused the data itself, not for an outage: retrying the same events cannot help."""


class Layer(Protocol):
    """A persistence layer: idempotent by seq, raises on failure (``Unstorable`` for data it cannot hold)."""

    name: str

    def write(self, events: Sequence[Event]) -> None:
        """Persist a batch of events."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts at a failing layer: the delay is capped, never the attempts."""

    initial_s: float = 0.05
    factor: float = 2.0
    max_s: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s < math.inf and 1 <= self.factor < math.inf):
            raise ValueError(f"backoff: expected 0 < initial_s <= max_s (finite) and factor >= 1, got {self}")

    def delay(self, failures: int) -> float:
        """Wait after ``failures`` consecutive failures (any number of them)."""
        return backoff_delay(failures, self.initial_s, self.factor, self.max_s)


@dataclass(frozen=True)
class LayerStatistics:
    """Counters and write latencies of one layer."""

    written: int
    batches: int
    retries: int
    spilled: int
    drained: int
    up: bool
    write_p50_ms: float
    write_p99_ms: float
    quarantined: int = 0  # events the layer refused as data (kept in quarantine-<layer>.jsonl)


@dataclass(frozen=True)
class WriterStatistics:
    """What the writer did: offered, spilled, drained, retried, dropped (always 0)."""

    offered: int
    overflowed: int
    dropped: int
    queue_high_water: int
    batches: int
    layers: Mapping[str, LayerStatistics]

    @property
    def spilled(self) -> int:
        """Events spilled, summed over layers."""
        return sum(s.spilled for s in self.layers.values())

    @property
    def drained(self) -> int:
        """Spilled events later written, summed over layers."""
        return sum(s.drained for s in self.layers.values())

    @property
    def retries(self) -> int:
        """Failed write attempts, summed over layers."""
        return sum(s.retries for s in self.layers.values())

    def as_payload(self) -> dict:
        """JSON-ready form, for the ``persistence.stats`` event."""
        return {**asdict(self), "spilled": self.spilled, "drained": self.drained, "retries": self.retries}


class _Lane:
    """One layer's write path: direct writes while it is up, a spill file while it is not."""

    def __init__(self, layer: Layer, spill: Path, backoff: Backoff, listener: LayerListener) -> None:
        self.layer, self.spill, self.backoff, self.listener = layer, spill, backoff, listener
        self.failures = 0
        self.next_try = 0.0
        left = read_log(spill)  # a spill left by an earlier process drains first
        self.pending, self.chain = len(left.events), left.chain
        self.written = self.batches = self.retries = self.spilled = self.drained = self.quarantined = 0
        self.quarantine = spill.with_name(f"quarantine-{layer.name}.jsonl")
        self.latency = HdrHistogram(1, 60_000_000, 3)  # microseconds

    def push(self, events: Sequence[Event], now: float, force_spill: bool = False) -> None:
        """Write a batch, or append it to the spill if the layer is down or has a backlog."""
        if force_spill or self.pending or now < self.next_try or not self._attempt(events, now):
            self.chain = append_log(self.spill, events, chain=self.chain)
            self.pending += len(events)
            self.spilled += len(events)

    def drain(self, now: float, chunk: int) -> None:
        """Write the spill back, front to back, when a retry is due."""
        if not self.pending or now < self.next_try:
            return
        backlog = list(read_log(self.spill).events)
        done = 0
        while done < len(backlog):
            part = backlog[done:done + chunk]
            if not self._attempt(part, now):
                break
            done += len(part)
        self.drained += done
        rest = backlog[done:]
        data, self.chain = encode_lines(rest)
        write_atomic(self.spill, data)
        self.pending = len(rest)

    def spill_failed(self, exc: OSError, now: float) -> None:
        """The spill could not be written: the layer counts as down, its events stay queued."""
        self.retries += 1
        self.failures += 1
        self.next_try = now + self.backoff.delay(self.failures)
        if self.failures == 1:
            self.listener(self.layer.name, False, f"spill {self.spill} not writable: {exc.strerror or exc}")

    def _attempt(self, events: Sequence[Event], now: float) -> bool:
        started = time.perf_counter()
        try:
            stored = self._write_keeping(events)
        except Exception as exc:  # noqa: BLE001 -- any failure of a layer means: spill and retry later
            self.retries += 1
            self.failures += 1
            self.next_try = now + self.backoff.delay(self.failures)
            if self.failures == 1:
                self.listener(self.layer.name, False, f"{type(exc).__name__}: {exc}")
            return False
        self.latency.record_value(max(1, int((time.perf_counter() - started) * 1e6)))
        self.written += stored
        self.batches += 1
        if self.failures:
            self.failures = 0
            self.next_try = 0.0
            self.listener(self.layer.name, True, "recovered")
        return True

    def _write_keeping(self, events: Sequence[Event]) -> int:
        """Write a batch, return how many the layer took: an event it refuses as data is quarantined, never
        the rest of its batch.

        The batch is halved until the refused events stand alone (a layer is idempotent by seq,
        so the halves it already took are not doubled when an outage makes the writer retry).
        """
        try:
            self.layer.write(events)
        except Unstorable as exc:
            if len(events) == 1:
                self._quarantine(events[0], exc)
                return 0
            half = len(events) // 2
            return self._write_keeping(events[:half]) + self._write_keeping(events[half:])
        return len(events)

    def _quarantine(self, event: Event, exc: Unstorable) -> None:
        record = {"seq": event.seq, "reason": str(exc), "event": event.to_json()}
        with open(self.quarantine, "a", encoding="utf-8", errors="backslashreplace") as out:
            out.write(json.dumps(record) + "\n")  # ASCII: whatever the event holds, this line is storable
        self.quarantined += 1

    def statistics(self) -> LayerStatistics:
        def ms(q: float) -> float:
            return self.latency.get_value_at_percentile(q) / 1000 if self.batches else 0.0

        return LayerStatistics(self.written, self.batches, self.retries, self.spilled, self.drained,
                               self.failures == 0, ms(50), ms(99), self.quarantined)


@dataclass(frozen=True)
class _Settings:
    capacity: int
    batch_size: int
    max_delay_s: float
    clock: Clock


class _Feed:
    """One lane's bounded queue and thread: a slow or hung layer holds back only itself."""

    def __init__(self, lane: _Lane, settings: _Settings) -> None:
        self.lane, self._settings = lane, settings
        self._queue: deque[Event] = deque()
        self._overflow: list[Event] = []
        self._cond = threading.Condition()
        self.overflowed = self.high = self.batches = 0
        self._busy = self._kick = self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"persistence-{lane.layer.name}", daemon=True)
        self._thread.start()

    def offer(self, event: Event) -> None:
        with self._cond:
            if len(self._queue) < self._settings.capacity:
                self._queue.append(event)
                self.high = max(self.high, len(self._queue))
            else:
                self._overflow.append(event)
                self.overflowed += 1
            if len(self._queue) >= self._settings.batch_size or self._overflow:
                self._cond.notify_all()

    def _take(self) -> tuple[list[Event], list[Event]] | None:
        with self._cond:
            if not (self._queue or self._overflow or self._closing or self._kick):
                self._cond.wait(self._settings.max_delay_s)
            if self._closing and not (self._queue or self._overflow):
                return None
            self._kick = False
            count = min(len(self._queue), self._settings.batch_size)
            batch = [self._queue.popleft() for _ in range(count)]
            overflow, self._overflow = self._overflow, []
            self._busy = True
            return batch, overflow

    def _loop(self) -> None:
        while (taken := self._take()) is not None:
            batch, overflow = taken
            took_batch, now = bool(batch), seconds(self._settings.clock)
            try:
                self.lane.drain(now, self._settings.batch_size)
                if batch:
                    self.lane.push(batch, now)
                    batch = []
                if overflow:
                    self.lane.push(overflow, now, force_spill=True)
                    overflow = []
            except OSError as exc:  # the spill itself could not be written (disk full): keep what it missed
                self.lane.spill_failed(exc, now)
            finally:
                with self._cond:
                    self._queue.extendleft(reversed(batch))  # back in front, in order: retried, never dropped
                    self._overflow[:0] = overflow
                    self.batches += took_batch and not batch
                    self._busy = False
                    self._cond.notify_all()
                    if batch or overflow:
                        self._cond.wait(self.lane.backoff.delay(self.lane.failures))

    def idle(self) -> bool:
        """Every event offered is written or spilled."""
        with self._cond:
            return not (self._queue or self._overflow or self._busy)

    def wait(self, done: Callable[[], bool], deadline: float, kick: bool) -> bool:
        """Wait until ``done()`` (checked under this feed's lock) or the deadline; kick a due drain meanwhile."""
        with self._cond:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if kick:
                    self._kick = True  # let the thread try a due drain now, not after max_delay
                    self._cond.notify_all()
                self._cond.wait(min(remaining, self._settings.max_delay_s))
            return True

    def settled(self) -> bool:
        """Idle and nothing left in the spill (called with the lock held)."""
        return not (self._queue or self._overflow or self._busy or self.lane.pending)

    def quiet(self) -> bool:
        """Idle (called with the lock held)."""
        return not (self._queue or self._overflow or self._busy)

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)


class Writer:
    """Feeds every layer from its own bounded queue on its own background thread."""

    def __init__(
        self,
        layers: Sequence[Layer],
        spill_dir: Path,
        *,
        capacity: int = 65_536,
        batch_size: int = 512,
        max_delay_s: float = 0.05,
        backoff: Backoff = Backoff(),
        clock: Clock = monotonic_ns,
        listener: LayerListener | None = None,
    ) -> None:
        spill_dir = Path(spill_dir)
        spill_dir.mkdir(parents=True, exist_ok=True)
        notify = listener or (lambda name, up, reason: None)
        settings = _Settings(capacity, batch_size, max_delay_s, clock)
        self._feeds = [_Feed(_Lane(layer, spill_dir / f"spill-{layer.name}.jsonl", backoff, notify), settings)
                       for layer in layers]
        self._offered = 0
        self._count = threading.Lock()

    def offer(self, event: Event) -> None:
        """Hand one event over; never blocks on I/O, never drops."""
        with self._count:
            self._offered += 1
        for feed in self._feeds:
            feed.offer(event)

    def _wait_all(self, settled: bool, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all([feed.wait(feed.settled if settled else feed.quiet, deadline, kick=settled)
                    for feed in self._feeds])

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every offered event is written or spilled; False on timeout."""
        return self._wait_all(False, timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until every offered event is written to every layer (spills drained too)."""
        return self._wait_all(True, timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush what can be flushed, stop the threads; False if a spill is left to drain later."""
        flushed = self.flush(timeout)
        for feed in self._feeds:
            feed.stop(timeout)
        return flushed

    def spill_path(self, layer: str) -> Path:
        """Where a layer's spill is kept."""
        return next(feed.lane.spill for feed in self._feeds if feed.lane.layer.name == layer)

    def pending(self) -> Mapping[str, int]:
        """Spilled events not yet drained, per layer."""
        return {feed.lane.layer.name: feed.lane.pending for feed in self._feeds}

    def statistics(self) -> WriterStatistics:
        """A copy of the counters (queue figures: the largest over the layers' queues)."""
        with self._count:
            offered = self._offered
        return WriterStatistics(
            offered, max((f.overflowed for f in self._feeds), default=0), 0,
            max((f.high for f in self._feeds), default=0), max((f.batches for f in self._feeds), default=0),
            {feed.lane.layer.name: feed.lane.statistics() for feed in self._feeds},
        )
