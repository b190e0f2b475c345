"""Every port a user's component can plug into, in one place.

A port is a ``typing.Protocol``: the methods (and attributes) the harness calls, with the
signatures it calls them with. ``PORTS`` names each plug-in flag's port and the call its
factory gets; ``harness.run.plugins`` checks a plug-in against both when it is loaded, so a
missing method or a wrong signature is one error line before anything runs, never an
``AttributeError`` in the middle of a run. A minimal correct example of each port lives in
``harness/examples/`` (see docs/PLUGINS.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.system.locks.protocol import LockClient, LockProvider

if TYPE_CHECKING:
    from harness.history.log import Event
    from harness.system.aggregator import SymbolMetrics
    from harness.system.guardian.risk import GuardianSnapshot, Refusal, Reservation
    from harness.system.model import ClosedTrade, Fill, Order, SymbolSpec, Tick

__all__ = [
    "ENGINE_PARTS", "PORTS", "AggregatorPort", "CachePort", "EnginePort", "FeedPort", "GuardianPort", "LedgerPort",
    "LockClient", "LockProvider", "MetricsSink", "PersistedGuardianPort", "Port", "PositionView", "RunResultPort", "StorePort", "TickSource",
]


class MetricsSink(Protocol):
    """What a worker publishes its metrics to (the aggregator, or a channel in front of it)."""

    def replace(self, symbol: str, snapshot: SymbolMetrics, *, worker: str,
                fence_token: tuple[str, int | None] | None) -> Any:
        """Set a symbol's metrics to a snapshot (REPLACE mode)."""

    def apply(self, symbol: str, delta: SymbolMetrics, *, worker: str,
              fence_token: tuple[str, int | None] | None) -> Any:
        """Apply one delta (INCREMENTAL mode)."""


class AggregatorPort(MetricsSink, Protocol):
    """Per-symbol trading metrics fed by workers (see harness.system.aggregator.MetricsAggregator)."""

    def symbols(self) -> Mapping[str, SymbolMetrics]:
        """The current metrics of every symbol (read at the end of the run)."""


class GuardianPort(Protocol):
    """The pre-trade risk guardian every worker shares (see harness.system.guardian.risk.Guardian)."""

    def reserve(self, order: Order, worst_price: Decimal, worker: str) -> Reservation | Refusal:
        """Admit and book an order atomically, or refuse it."""

    def cancel(self, res: Reservation, worker: str) -> None:
        """Drop a reservation whose order did not fill."""

    def settle(self, res: Reservation, fill: Fill, closed: Sequence[ClosedTrade], worker: str,
               token: int | None) -> None:
        """Book a fill, fenced by the global lock's token (None: a lock service without tokens)."""

    def snapshot(self) -> GuardianSnapshot:
        """A frozen view for the run result."""


class PersistedGuardianPort(GuardianPort, Protocol):
    """A guardian that persistence can flag and recovery can restore (persistence scenarios)."""

    def set_degraded(self, degraded: bool) -> None:
        """Mark a persistence layer down (True) or all back up (False)."""

    def load_state(self, values: Sequence[int]) -> None:
        """Restore the state a checkpoint recorded."""


class PositionView(Protocol):
    """What a worker reads of its net position."""

    @property
    def qty(self) -> Decimal:
        """Signed quantity (0 when flat)."""


class LedgerPort(Protocol):
    """One symbol's positions and realised PnL (see harness.system.ledger.Ledger)."""

    @property
    def position(self) -> PositionView:
        """The net position now."""

    @property
    def trades(self) -> Sequence[ClosedTrade]:
        """Closed trades so far, in order."""

    def apply(self, fill: Fill) -> Sequence[ClosedTrade]:
        """Book a fill; return the trades it closed (empty for a duplicate fill)."""


class FeedPort(Protocol):
    """A price feed factory: the ticks of one symbol, reproducible from the run's seed."""

    def __call__(self, spec: SymbolSpec, seed: int) -> Iterator[Tick]:
        """The symbol's ticks in order; when they end, the worker flattens and stops."""


class EnginePort(Protocol):
    """A whole engine run (see harness.system.engine.run): drives the system, returns its result."""

    def __call__(self, config: Any, locks: LockProvider, *, run_id: str, history: Any, progress: Any,
                  **options: Any) -> Any:
        """Run every symbol to completion; the result has ``events()``."""


class StorePort(Protocol):
    """The history store layer (PostgreSQL in the reference): idempotent by seq, raises on failure."""

    name: str

    def write(self, events: Sequence[Event]) -> None:
        """Persist a batch of events."""

    def read_seqs(self, run_id: str) -> list[int]:
        """Every persisted event seq of ``run_id``, as stored (duplicates included)."""

    def read_events(self, run_id: str) -> list[Event]:
        """Every persisted event of ``run_id`` as stored, content included (its content is judged)."""

    def drop(self) -> None:
        """Remove this run's data from a shared server."""

    def close(self) -> None:
        """Release connections."""


class CachePort(Protocol):
    """The cache layer (Redis in the reference): latest state, idempotent by seq."""

    name: str

    def write(self, events: Sequence[Event]) -> None:
        """Apply a batch of events to the cached state."""

    def clear(self) -> None:
        """Remove this run's keys from a shared server."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class ReadableCache(Protocol):
    """A cache that can say what it holds, so its final state is judged against the history (optional)."""

    def read_back(self) -> dict[str, Any] | None:
        """``{"last_seq": N, "symbols": {name: {"position", "mark", "pending_buy", "pending_sell"}}}``, or None."""


class TickSource(Protocol):
    """What a feed factory returns: an iterator of ticks."""

    def __iter__(self) -> Iterator[Tick]:
        """Itself."""

    def __next__(self) -> Tick:
        """The next tick; StopIteration when the data ends."""


class RunResultPort(Protocol):
    """What an engine run returns (see harness.system.engine.RunResult)."""

    def events(self) -> Sequence[Event]:
        """The run's history in sequence order."""


@dataclass(frozen=True)
class Port:
    """One plug-in flag: what its factory returns, and the arguments the factory is called with."""

    flag: str
    product: type | None
    factory_args: tuple[str, ...]
    factory_kwargs: tuple[str, ...] = ()
    doc: str = ""
    engine_part: bool = True  # a part every engine run uses (store and cache: persisted runs only)


PORTS: Mapping[str, Port] = {
    "locks": Port("locks", LockProvider, ("config", "history"),
                  doc="factory(run_config, history) -> LockProvider (may be a context manager)"),
    "aggregator": Port("aggregator", AggregatorPort, ("history",), doc="factory(history) -> AggregatorPort"),
    "guardian": Port("guardian", GuardianPort, ("specs", "limits"), ("history",),
                     doc="factory(specs, limits, *, state=, mutex=, history=, ...) -> GuardianPort"),
    "ledger": Port("ledger", LedgerPort, ("spec",), doc="factory(spec) -> LedgerPort (one per symbol)"),
    "feed": Port("feed", TickSource, ("spec", "seed"), doc="factory(spec, seed) -> iterator of Tick"),
    "engine": Port("engine", RunResultPort, ("config", "locks"), ("run_id", "history", "progress"),
                   doc="run(config, locks, *, run_id, history, progress, **options) -> result with events()"),
    "store": Port("store", StorePort, ("run_id", "directory"), doc="factory(run_id, directory) -> StorePort",
                  engine_part=False),
    "cache": Port("cache", CachePort, ("run_id", "directory"), doc="factory(run_id, directory) -> CachePort",
                  engine_part=False),
}
ENGINE_PARTS = frozenset(name for name, port in PORTS.items() if port.engine_part)
