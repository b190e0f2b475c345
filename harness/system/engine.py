"""The reference multi-symbol engine: one worker per symbol, in threads or processes.

Each order walks the same path, every step an event in the run's history:

    strategy -> guardian reserve (atomic, counts pending) -> locks (symbol + global)
    -> venue fill -> ledger -> guardian settle -> release -> aggregator (symbol lock only)

The aggregator is fed under the symbol lock alone, as real engines do, so updates of
different symbols meet inside it. Every step passes a ``harness.schedule.point``: a
scheduling decision in controlled runs (``harness.schedule``), a no-op otherwise.

A worker owns its symbol's feed, strategy, venue and ledger; what workers share is the
guardian's exposure book, the aggregator and the lock service. In process mode the book is
a ``multiprocessing.Array``, the lock service must be reachable from every process (the
ZeroMQ broker), and events and aggregator updates travel to the parent over one queue.

Failure isolation: an exception in one worker is recorded as ``worker.error`` and ends that
worker only; a crashed process is noticed by the parent and recorded the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing
import multiprocessing.connection as mp_connection
import pickle
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from harness import schedule, userfiles
from harness.errors import ConfigError
from harness.history.events import (
    AGG_STATE,
    FAULT_INJECT,
    FEED_END,
    LOCK_FAIL,
    LOCK_INFO,
    LOCK_OK,
    ORDER_ABORT,
    ORDER_FILL,
    ORDER_SUBMIT,
    RUN_END,
    RUN_START,
    TRADE_CLOSED,
    WORKER_DONE,
    WORKER_ERROR,
    WORKER_HALTED,
    WORKER_STALLED,
    WORKER_START,
)
from harness.history.log import Event, History, LocalSequence, SharedSequence
from harness.system.aggregator import MetricsAggregator, Mode, SymbolMetrics
from harness.system.feed import seeded_feed
from harness.system.guardian.risk import Guardian, GuardianSnapshot, Refusal, Reservation, state_size
from harness.system.ledger import Ledger
from harness.system.locks.fence import Fence, StaleToken
from harness.system.locks.protocol import (
    GLOBAL_LOCK,
    Grant,
    LockClient,
    LockError,
    LockProvider,
    LockUnavailable,
    symbol_lock,
)
from harness.system.model import ClosedTrade, Fill, Order, SymbolSpec, Tick
from harness.system.ports import GuardianPort, LedgerPort, MetricsSink
from harness.system.settings import ConcurrencyMode, RunConfig
from harness.system.strategy import SimulatedVenue, Strategy

FeedFactory = Callable[[SymbolSpec, int], Iterator[Tick]]


class Progress(Protocol):
    """``progress(symbol)`` after each closed trade; ``progress(symbol, reason)`` when a worker stops."""

    def __call__(self, symbol: str, reason: str | None = None, /) -> None: ...



GuardianFactory = Callable[..., GuardianPort]
LedgerFactory = Callable[[SymbolSpec], LedgerPort]


@dataclass(frozen=True)
class RunResult:
    """What a run leaves behind: the history, and the final state of the shared parts."""

    run_id: str
    config: RunConfig
    history: History
    aggregator: dict[str, SymbolMetrics]
    guardian: GuardianSnapshot
    elapsed_s: float

    def events(self) -> list[Event]:
        """The run's events in sequence order."""
        return self.history.events()


@dataclass
class _Shared:
    """The parts of a run every worker reaches."""

    config: RunConfig
    history: History
    guardian: GuardianPort
    aggregator: MetricsSink
    locks: LockProvider
    feed: FeedFactory
    progress: Progress | None = None
    stop: Any | None = None
    make_ledger: LedgerFactory = Ledger


def stop_reason(event: Event) -> str | None:
    """Why a worker stopped, from the event that says so (None for any other event)."""
    if event.kind == WORKER_HALTED:
        return "halted: circuit breaker"
    if event.kind == WORKER_STALLED:
        return f"stalled: {event.payload.get('refused')} refusals ({event.payload.get('reason')})"
    if event.kind == WORKER_ERROR:
        return f"failed: {_clipped(str(event.payload.get('error', '')), 60)}"
    if event.kind == WORKER_DONE:
        return "done"
    if event.kind == FEED_END:
        return f"feed ended after {event.payload.get('ticks')} ticks"
    return None


def _clipped(text: str, width: int) -> str:
    """``text`` cut at a word boundary to fit ``width``, marked with an ellipsis when cut."""
    return text if len(text) <= width else text[:width - 1].rsplit(" ", 1)[0] + " …"


def tell_progress(progress: Progress, event: Event) -> None:
    """Advance a symbol's bar on a closed trade; give it the reason when its worker stops."""
    if event.kind == TRADE_CLOSED and event.symbol is not None:
        progress(event.symbol)
        return
    reason = stop_reason(event)
    if reason is not None and event.symbol is not None:
        progress(event.symbol, reason)


def new_run_id(config: RunConfig) -> str:
    """A run id unique across machines: seed plus a random suffix."""
    return f"run-{config.seed}-{uuid.uuid4().hex[:8]}"


def run(
    config: RunConfig,
    locks: LockProvider,
    *,
    run_id: str | None = None,
    feed: FeedFactory = seeded_feed,
    progress: Progress | None = None,
    aggregator: MetricsAggregator | None = None,
    history: History | None = None,
    guardian_hook: Callable[[], None] | None = None,
    guardian_factory: GuardianFactory = Guardian,
    on_guardian: Callable[[GuardianPort], None] | None = None,
    stop: Any | None = None,
    ledger_factory: LedgerFactory = Ledger,
    threads: Callable[[Sequence[Callable[[], Any]]], Any] | None = None,
) -> RunResult:
    """Run every symbol's worker to completion and return the recorded history.

    ``guardian_factory`` is called like ``Guardian(specs, limits, state=, mutex=, history=,
    discipline=, between_check_and_act=)``; in process mode it must be picklable (a
    module-level callable), since every worker process builds its own over the shared state.
    ``on_guardian`` receives the run's guardian before any worker starts (in process mode the
    parent's, over the state every worker shares) -- how persistence flags it DEGRADED.
    A ``history`` given in process mode must number events with a ``SharedSequence``.
    ``stop`` (a threading or multiprocessing Event) ends the run early: each worker stops
    opening positions once it is set, flattens, and finishes. ``ledger_factory(spec)`` makes
    each symbol's ledger (picklable in process mode, like ``guardian_factory``).
    ``threads`` runs the thread-mode worker targets to completion (default: a thread each,
    joined); a controlled scheduler (``harness.explore.scheduler.Scheduler``) passes itself.
    """
    if config.mode is ConcurrencyMode.PROCESS and not locks.shared_across_processes:
        raise ConfigError("process mode needs a lock service shared across processes (the ZeroMQ broker)")
    run_id = run_id or new_run_id(config)
    options = _Options(feed, progress, aggregator, guardian_hook, guardian_factory, on_guardian, stop, ledger_factory,
                       threads)
    started = time.perf_counter()
    runner = _run_processes if config.mode is ConcurrencyMode.PROCESS else _run_threads
    history, agg, guardian = runner(config, locks, run_id, history, options)
    elapsed = time.perf_counter() - started
    final = agg.symbols()
    total = functools.reduce(SymbolMetrics.plus, final.values(), SymbolMetrics())
    history.append(AGG_STATE, worker="engine", symbols={k: v.published() for k, v in final.items()},
                   total=total.published())
    history.append(RUN_END, worker="engine", elapsed_ns=int(elapsed * 1e9))
    return RunResult(run_id, config, history, final, guardian.snapshot(), elapsed)


def lock_service_name(locks: Any) -> str:
    """What the history calls the lock service: its class, as ``module.Class`` (``file.py:Class`` from a user's file)."""
    return userfiles.qualified(type(locks))


def _start_event(history: History, config: RunConfig, locks: Any = None) -> None:
    optional: dict[str, Any] = {"covers": list(config.covers)} if config.covers else {}
    if locks is not None:
        optional["lock_service"] = lock_service_name(locks)
    history.append(
        RUN_START, worker="engine", seed=config.seed, mode=config.mode, aggregation=config.aggregation,
        symbols=list(config.symbol_names), trades=config.trades, duration=config.duration,
        equity=config.limits.equity, max_gross_exposure=config.limits.max_gross_exposure,
        max_symbol_exposure=config.limits.max_symbol_exposure, risk_limits=dataclasses.asdict(config.limits),
        specs={s.name: {"tick": s.tick, "lot": s.lot} for s in config.symbols}, dense_seq=True,
        **optional,
    )


@dataclass(frozen=True)
class _Options:
    """The optional parts of a run, as ``run`` received them."""

    feed: FeedFactory
    progress: Progress | None
    aggregator: Any
    guardian_hook: Callable[[], None] | None
    make_guardian: GuardianFactory
    on_guardian: Callable[[GuardianPort], None] | None
    stop: Any | None
    make_ledger: LedgerFactory = Ledger
    threads: Callable[[Sequence[Callable[[], Any]]], Any] | None = None

    def aggregator_for(self, history: History, deferred: bool = False) -> Any:
        """The given aggregator, or the reference one (fenced, recording into ``history``).

        ``deferred``: workers' writes reach it through a pipe, after they were made.
        """
        return self.aggregator or MetricsAggregator(history, Fence("aggregator", history, deferred=deferred))

    def started(self, guardian: GuardianPort) -> None:
        """Hand the run's guardian to whoever asked for it."""
        if self.on_guardian is not None:
            self.on_guardian(guardian)


def _run_threads(config: RunConfig, locks: LockProvider, run_id: str, history: History | None, options: _Options):
    if history is None:
        history = History(run_id, LocalSequence())
    _start_event(history, config, locks)
    guardian = options.make_guardian(config.symbols, config.limits, history=history, discipline=config.discipline,
                                     between_check_and_act=options.guardian_hook)
    options.started(guardian)
    aggregator = options.aggregator_for(history)
    shared = _Shared(config, history, guardian, aggregator, locks, options.feed, options.progress, options.stop,
                     options.make_ledger)
    targets: list[Callable[[], None]]
    if config.mode is ConcurrencyMode.SINGLE:
        def every_symbol() -> None:  # one thread works the symbols in turn
            for spec in config.symbols:
                _work(shared, spec, f"{spec.name}#0")
        targets = [every_symbol]
    else:
        targets = [functools.partial(_work, shared, spec, f"{spec.name}#0") for spec in config.symbols]
    (options.threads or _start_and_join)(targets)
    return history, aggregator, guardian


def _start_and_join(targets: Sequence[Callable[[], Any]]) -> None:
    threads = [threading.Thread(target=t, name=f"worker-{i}", daemon=True) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _told(shared: _Shared, event: Event) -> None:
    """Thread mode's progress: the same events process mode's parent reads off the uplink."""
    if shared.progress is not None:
        tell_progress(shared.progress, event)


def _work(shared: _Shared, spec: SymbolSpec, worker: str) -> None:
    """Run one symbol's worker; any failure is recorded and ends this worker only."""
    history = shared.history
    history.append(WORKER_START, worker=worker, symbol=spec.name)
    client: LockClient | None = None
    try:
        client = shared.locks.client(worker, history)
        trades = SymbolWorker(shared, spec, worker, client).run()
        _told(shared, history.append(WORKER_DONE, worker=worker, symbol=spec.name, trades=trades))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 -- isolation: the failure (a plug-in's exit too) is evidence
        _told(shared, history.append(
            WORKER_ERROR, worker=worker, symbol=spec.name, error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        ))
    finally:
        if client is not None:
            client.close()


class SymbolWorker:
    """The trading loop of one symbol."""

    def __init__(self, shared: _Shared, spec: SymbolSpec, worker: str, client: LockClient) -> None:
        self.shared, self.spec, self.worker, self.client = shared, spec, worker, client
        config = shared.config
        self.strategy = Strategy(spec, config.seed, config.strategy)
        self.venue = SimulatedVenue(spec, config.seed, config.venue)
        self.ledger = shared.make_ledger(spec)
        self.ledger_fence = Fence("ledger", shared.history)
        self.names = [symbol_lock(spec.name), GLOBAL_LOCK]

    def run(self) -> int:
        """Trade until the target count or duration is reached, then flatten; return trades."""
        config = self.shared.config
        deadline = None if config.duration is None else time.monotonic() + config.duration
        refused = 0
        tick = None
        for tick in self.shared.feed(self.spec, config.seed):
            done = (
                (self.shared.stop is not None and self.shared.stop.is_set())
                or tick.index >= config.max_ticks
                or (config.trades is not None and len(self.ledger.trades) >= config.trades)
                or (deadline is not None and time.monotonic() >= deadline)
            )
            if done and self.ledger.position.qty == 0:
                break
            last = config.trades is not None and len(self.ledger.trades) >= config.trades - 1
            order = self.strategy.decide(tick, self.ledger.position, flatten=done, last=last)
            if order is None:
                continue
            reason = self._trade(order)
            refused = refused + 1 if reason is not None else 0
            if reason == "halted" and self.ledger.position.qty == 0:
                # Flat and halted: the breaker admits only risk-reducing orders, none remain.
                _told(self.shared, self.shared.history.append(WORKER_HALTED, worker=self.worker,
                                                              symbol=self.spec.name))
                break
            if refused >= config.max_refusals:
                _told(self.shared, self.shared.history.append(WORKER_STALLED, worker=self.worker,
                                                              symbol=self.spec.name, refused=refused, reason=reason))
                break
        else:
            self._feed_ended(tick)
        if config.aggregation is Mode.REPLACE:
            self._publish_snapshot()
        return len(self.ledger.trades)

    def _feed_ended(self, last: Tick | None) -> None:
        """The prices ran out: say so, and close what is open at the last price (bounded retries)."""
        history, config = self.shared.history, self.shared.config
        ticks = 0 if last is None else last.index + 1
        _told(self.shared, history.append(FEED_END, worker=self.worker, symbol=self.spec.name, ticks=ticks,
                                          trades=len(self.ledger.trades), position=self.ledger.position.qty))
        for _ in range(config.max_refusals):
            if last is None or self.ledger.position.qty == 0:
                return
            order = self.strategy.decide(last, self.ledger.position, flatten=True)
            if order is not None:
                self._trade(order)

    def _trade(self, order: Order) -> str | None:
        """Carry one order through the whole path; return the refusal reason, if refused."""
        history, name, worker = self.shared.history, self.spec.name, self.worker
        history.append(ORDER_SUBMIT, worker=worker, symbol=name, order=order.order_id, side=order.side,
                       qty=order.qty, price=order.price)
        schedule.point("guardian.reserve")
        reservation = self.shared.guardian.reserve(order, self.venue.worst_price(order), worker)
        if isinstance(reservation, Refusal):
            return reservation.reason
        try:
            grant = self.client.acquire(self.names, self.shared.config.lock_timeout)
        except LockError as exc:
            schedule.point("guardian.cancel")
            self.shared.guardian.cancel(reservation, worker)
            history.append(ORDER_ABORT, worker=worker, symbol=name, order=order.order_id, reason=str(exc))
            return None
        settled = False
        closed: Sequence[ClosedTrade] = ()
        try:
            token = fencing_token(grant, self.names[0], self.client)
            schedule.point("venue.fill")
            fill = self.venue.execute(order)
            schedule.point("fence.check")
            self.ledger_fence.admit(self.names[0], token, worker, name)
            history.append(ORDER_FILL, worker=worker, symbol=name, order=order.order_id, fill=fill.fill_id,
                           side=fill.side, qty=fill.qty, price=fill.price, fee=fill.fee)
            schedule.point("ledger.write")
            closed = self.ledger.apply(fill)
            for trade in closed:
                _told(self.shared, history.append(
                    TRADE_CLOSED, worker=worker, symbol=name, trade=trade.trade_id, side=trade.side, qty=trade.qty,
                    entry=trade.entry, exit=trade.exit, fees=trade.fees, pnl=trade.pnl, outcome=trade.outcome))
            schedule.point("guardian.settle")
            grant = self._settle(reservation, fill, closed, grant)
            settled = True
        finally:
            if not settled:
                # A failure inside the critical section must not leave exposure booked forever.
                schedule.point("guardian.cancel")
                self.shared.guardian.cancel(reservation, worker)
            self._release(grant)
        if closed and self.shared.config.aggregation is Mode.INCREMENTAL:
            self._publish_deltas(closed)
        return None

    def _release(self, grant: Grant) -> None:
        """Give the grant back; a release the lock service refuses (the lease ran out, the broker
        restarted) leaves nothing to give back -- the client recorded it, the checker judges it."""
        with contextlib.suppress(LockError):
            self.client.release(grant)

    def _settle(self, reservation: Reservation, fill: Fill, closed: Sequence[ClosedTrade], grant: Grant) -> Grant:
        """Book the fill in the guardian under the grant's global token; return the grant then held.

        A book that refuses the token as stale (this worker's lease ran out while it held the
        locks -- a pause -- and another worker wrote since) is fencing working: the lapsed grant
        is given up (the broker refuses the release as expired), the locks are taken again, and
        the fill -- made while the lease was live -- is booked under the new token (again, as
        often as a lease runs out before the book is reached).
        """
        while True:
            try:
                self.shared.guardian.settle(reservation, fill, closed, self.worker,
                                            fencing_token(grant, GLOBAL_LOCK, self.client))
                return grant
            except StaleToken:
                self._release(grant)
                grant = self._acquire(self.names)

    def _acquire(self, names: Sequence[str], attempts: int = 3) -> Grant:
        """Take locks for work already done (a fill to book, its metrics to publish): a request lost
        with its broker (no reply) is retried."""
        for _ in range(attempts - 1):
            with contextlib.suppress(LockUnavailable):
                return self.client.acquire(names, self.shared.config.lock_timeout)
        return self.client.acquire(names, self.shared.config.lock_timeout)

    def _publish_deltas(self, closed: Sequence[ClosedTrade]) -> None:
        # Under the symbol lock only, as real engines do: updates of different symbols meet
        # inside the shared aggregator, so its own synchronisation is what is tested.
        grant = self._acquire(self.names[:1])
        try:
            token = (self.names[0], fencing_token(grant, self.names[0], self.client))
            for trade in closed:
                delta = SymbolMetrics.of_trade(trade, len(self.ledger.trades))
                schedule.point("aggregator.apply")
                self.shared.aggregator.apply(self.spec.name, delta, worker=self.worker, fence_token=token)
        finally:
            self._release(grant)

    def _publish_snapshot(self) -> None:
        # The seed's lesson: always push the final state when the symbol loop ends.
        grant = self._acquire(self.names[:1])
        try:
            snapshot = SymbolMetrics.of_trades(self.ledger.trades)
            token = (self.names[0], fencing_token(grant, self.names[0], self.client))
            schedule.point("aggregator.replace")
            self.shared.aggregator.replace(self.spec.name, snapshot, worker=self.worker, fence_token=token)
        finally:
            self._release(grant)


def fencing_token(grant: Grant, name: str, client: LockClient) -> int | None:
    """The grant's token for ``name``; None when the lock service issues none (fencing optional)."""
    token = grant.tokens.get(name)
    if token is None or (isinstance(token, int) and not isinstance(token, bool)):
        return token
    raise LockError(f"lock service {userfiles.qualified(type(client))} granted {name} with "
                    f"fencing token {token!r}: a token must be an int, or None when the service has none")


# -- process mode -------------------------------------------------------------------------


UPLINK_BATCH = 64  # items per message at most
UPLINK_FLUSH_NS = 2_000_000  # a batch older than this goes out with the next item
# Sent at once: lock completions (the parent's view of who holds what), and a fault stopping
# this worker (so everything it did before the stop precedes the fault in the history).
_URGENT = frozenset({LOCK_OK, LOCK_FAIL, LOCK_INFO, FAULT_INJECT})


class _Uplink:
    """Child-side aggregator port and history sink: everything goes to the parent's pipe.

    Items are sent in batches (one pickled list per message), in the order they were made:
    a batch goes out when it is full, when its oldest item is older than ``UPLINK_FLUSH_NS``,
    when a lock operation completes (so the parent's view of who holds what lags by at most
    one critical section), when a fault stops the worker, and when the worker ends. A hard crash of the child loses at most
    the batch being collected.
    """

    def __init__(self, channel: Any, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._channel = channel
        self._clock = clock
        self._batch: list[tuple[Any, ...]] = []
        self._since = 0

    def _send(self, item: tuple[Any, ...], urgent: bool = False) -> None:
        if not self._batch:
            self._since = self._clock()
        self._batch.append(item)
        if urgent or len(self._batch) >= UPLINK_BATCH or self._clock() - self._since >= UPLINK_FLUSH_NS:
            self.flush()

    def flush(self) -> None:
        """Send what is batched as one message."""
        if self._batch:
            # Plain pickle: Connection.send's ForkingPickler copies its dispatch table per message
            # (~1.9x slower, measured); items hold no fds or handles, and recv() reads either.
            self._channel.send_bytes(pickle.dumps(self._batch, pickle.HIGHEST_PROTOCOL))
            self._batch = []

    def event(self, event: Event) -> None:
        self._send(("event", event), urgent=event.kind in _URGENT)

    def replace(self, symbol, snapshot, *, worker, fence_token):
        self._send(("replace", symbol, snapshot, worker, fence_token))

    def apply(self, symbol, delta, *, worker, fence_token):
        self._send(("apply", symbol, delta, worker, fence_token))


@dataclass(frozen=True)
class _ChildSpec:
    config: RunConfig
    run_id: str
    spec: SymbolSpec
    worker: str
    sequence: SharedSequence
    state: Any
    mutex: Any
    channel: Any
    locks: LockProvider
    feed: FeedFactory
    make_guardian: GuardianFactory
    stop: Any | None
    make_ledger: LedgerFactory


def _child_main(child: _ChildSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches us too: the parent's stop decides
    uplink = _Uplink(child.channel)
    history = History(child.run_id, child.sequence, sink=uplink.event)
    guardian = child.make_guardian(child.config.symbols, child.config.limits, state=child.state, mutex=child.mutex,
                                   history=history, discipline=child.config.discipline)
    shared = _Shared(child.config, history, guardian, uplink, child.locks, child.feed, stop=child.stop,
                     make_ledger=child.make_ledger)
    try:
        _work(shared, child.spec, child.worker)
    finally:
        uplink.flush()
        child.channel.close()


def _run_processes(config: RunConfig, locks: LockProvider, run_id: str, history: History | None, options: _Options):
    ctx = multiprocessing.get_context("spawn")
    if history is None:
        history = History(run_id, SharedSequence.create(ctx))
    if not isinstance(history.sequence, SharedSequence):
        raise ConfigError("process mode needs a history numbered by a SharedSequence")
    sequence = history.sequence
    _start_event(history, config, locks)
    state = ctx.Array("q", state_size(len(config.symbols)), lock=False)
    mutex = ctx.Lock()
    guardian = options.make_guardian(config.symbols, config.limits, state=state, mutex=mutex, history=history)
    options.started(guardian)
    aggregator = options.aggregator_for(history, deferred=True)
    children = []
    for spec in config.symbols:
        worker = f"{spec.name}#0"
        reader, writer = ctx.Pipe(duplex=False)
        child = _ChildSpec(config, run_id, spec, worker, sequence, state, mutex, writer, locks, options.feed,
                           options.make_guardian, options.stop, options.make_ledger)
        proc = ctx.Process(target=_child_main, args=(child,), name=f"harness-{worker}", daemon=True)
        proc.start()
        writer.close()  # the child holds the only write end: EOF on the reader means it is gone
        children.append(_Child(worker, spec.name, proc, reader))
    _pump(children, history, aggregator, options.progress)
    return history, aggregator, guardian


@dataclass
class _Child:
    worker: str
    symbol: str
    proc: Any
    reader: Any


def _pump(children: list[_Child], history: History, aggregator: MetricsAggregator, progress) -> None:
    """Apply children's events and updates until every child's pipe is closed."""
    open_ = {child.reader: child for child in children}
    while open_:
        for reader in mp_connection.wait(list(open_)):
            try:
                # wait() hands back the objects it was given: our children's pipe Connections.
                batch = cast("mp_connection.Connection[Any, Any]", reader).recv()
            except EOFError:
                child = open_.pop(reader)
                child.proc.join()
                if child.proc.exitcode != 0:
                    history.append(WORKER_ERROR, worker=child.worker, symbol=child.symbol, fatal=True,
                                   error=f"process exited with code {child.proc.exitcode}")
                continue
            for item in cast("list[Sequence[Any]]", batch):
                _dispatch(item, history, aggregator, progress)


def _dispatch(item: Sequence[Any], history: History, aggregator: MetricsAggregator, progress) -> None:
    kind = item[0]
    if kind == "event":
        event = item[1]
        history.extend([event])
        if progress is not None:
            tell_progress(progress, event)
    else:
        _, symbol, metrics, worker, token = item
        try:
            getattr(aggregator, kind)(symbol, metrics, worker=worker, fence_token=token)
        except StaleToken:
            pass  # the fence recorded the rejection; the stale writer's update is refused
