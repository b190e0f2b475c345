"""Crash recovery: the newest good snapshot plus a replay of the write-ahead log after it.

Design rationale: recovery uses nothing but files, so it works in a fresh process after
``kill -9``. Snapshots are tried newest first; each unusable one is a *fallback* (recorded
and, when a history is given, raised as a P0 ``alert`` on the ``checkpoint`` layer) and the
next older one is tried with a correspondingly longer replay. With no usable snapshot the
whole log is replayed from the initial state. The replay is the same pure fold the
checkpoint layer uses, so the recovered state equals the state the logged history implies.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.guardian.checkpoint import STATE_KINDS, CheckpointError, StateReplay, read_snapshot, read_wal, snapshots
from harness.guardian.risk import Guardian, RiskLimits
from harness.history import History
from harness.model import SymbolSpec


@dataclass(frozen=True)
class Recovery:
    """What recovery restored and what it cost."""

    state: tuple[int, ...]
    last_seq: int
    snapshot_seq: int
    replayed: int
    elapsed_s: float
    fallbacks: tuple[str, ...]
    truncated_bytes: int

    def restore(self, guardian: Guardian) -> None:
        """Load the recovered state into a guardian of the same symbols."""
        guardian.load_state(self.state)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the log is loaded.

    Reading a log makes one acyclic object graph per line; in a process that already holds
    many objects, each automatic collection rescans them all. Measured on 100,000 events in
    a process holding a 1M-event history: 0.87-1.38 s with the collector, 0.81-0.91 s paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def recover(
    directory: Path,
    specs: Sequence[SymbolSpec],
    limits: RiskLimits,
    *,
    history: History | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Recovery:
    """Restore the guardian state from the checkpoint directory; raises CheckpointError if impossible."""
    started = clock()
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no checkpoint directory")
    fallbacks: list[str] = []
    fold = None
    for path in snapshots(directory):
        try:
            fold = StateReplay(specs, limits, read_snapshot(path))
            break
        except CheckpointError as exc:
            fallbacks.append(str(exc))
            if history is not None:
                history.append("alert", worker="recovery", level="P0", layer="checkpoint", reason=str(exc))
    fold = fold or StateReplay(specs, limits)
    base = fold.seq
    with _collector_paused():
        wal = read_wal(directory, STATE_KINDS)
    first = next((e.seq for e in wal.events if e.seq > base), None)
    # Segments are pruned only behind kept snapshots, so the log can fall short only after a fallback.
    if fallbacks and first is not None and first > base + 1:
        raise CheckpointError(f"{directory}: the log starts at seq {first} but the state is only known up to "
                              f"seq {base}: cannot recover ({'; '.join(fallbacks)})")
    replayed = sum(fold.add(event) for event in wal.events)
    if fold.seq < max((e.seq for e in wal.events), default=0):
        # A gap: the fold stops before it; what follows cannot be applied in order.
        fallbacks.append(f"{directory}: log has a gap after seq {fold.seq}")
    return Recovery(tuple(fold.state), fold.seq, base, replayed, clock() - started, tuple(fallbacks),
                    wal.truncated_bytes)
