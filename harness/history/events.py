"""Every event kind a history may hold, and its payload as a typed record.

This module is the single source of the history contract: ``docs/history.schema.json`` and
``docs/HISTORY.md`` are generated from it (``python -m harness.history.docs --write-docs``), the
validator of ``harness check`` is derived from it, and ``harness.history.record`` builds its
payloads with these records. A test fails when the published files drift from it.

Wire conventions: money, quantities, prices and ratios are decimals written as strings
(exact digits; a JSON number is accepted from other writers); times are integers in the
unit their name says (``_ns``, ``_ms``). Fields a record gives a default are optional.
A payload may carry more fields than its record names; checkers ignore them. Kinds that
start with ``x.`` are the user's own: accepted with any payload, judged by no checker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, dataclass_transform

FORMAT = "harness.history/1"
USER_PREFIX = "x."

RUN_START = "run.start"
RUN_END = "run.end"
RUN_RESUME = "run.resume"
WORKER_START = "worker.start"
WORKER_DONE = "worker.done"
WORKER_ERROR = "worker.error"
WORKER_HALTED = "worker.halted"
WORKER_STALLED = "worker.stalled"
FEED_END = "feed.end"
ORDER_SUBMIT = "order.submit"
ORDER_ABORT = "order.abort"
ORDER_FILL = "order.fill"
TRADE_CLOSED = "trade.closed"
AGG_APPLY = "agg.apply"
AGG_REPLACE = "agg.replace"
AGG_DUPLICATE = "agg.duplicate"
AGG_GAP = "agg.gap"
AGG_STATE = "agg.state"
RISK_RESERVE = "risk.reserve"
RISK_REFUSE = "risk.refuse"
RISK_CANCEL = "risk.cancel"
RISK_SETTLE = "risk.settle"
RISK_TRIP = "risk.trip"
LOCK_INVOKE = "lock.invoke"
LOCK_OK = "lock.ok"
LOCK_FAIL = "lock.fail"
LOCK_INFO = "lock.info"
FENCE_ACCEPT = "fence.accept"
FENCE_REJECT = "fence.reject"
BROKER_REQUEST = "broker.request"
BROKER_WAIT = "broker.wait"
BROKER_QUEUE = "broker.queue"
BROKER_STOP = "broker.stop"
BROKER_GRANT = "broker.grant"
BROKER_REFUSE = "broker.refuse"
BROKER_RELEASE = "broker.release"
BROKER_RENEW = "broker.renew"
BROKER_EXPIRE = "broker.expire"
BROKER_ERROR = "broker.error"
ALERT = "alert"
HEALTH = "health"
PERSISTENCE_START = "persistence.start"
PERSISTENCE_STATS = "persistence.stats"
PERSISTENCE_UNREACHABLE = "persistence.unreachable"
FAULT_INJECT = "fault.inject"
FAULT_HEAL = "fault.heal"
FAULT_OVER = "fault.over"
NEMESIS_LOCK_RULE = "nemesis.lock_rule"

# What a lock service must refuse, as probed by the faulty client and judged by the lock-rules checker.
LOCK_RULES = ("release_by_non_owner", "double_release", "renew_after_expiry", "release_after_expiry")


class Positive:
    """Marks a number that must be greater than zero."""


Side = Literal["BUY", "SELL"]
PositiveDecimal = Annotated[Decimal, Positive]
PositiveInt = Annotated[int, Positive]
LockOp = Literal["acquire", "release", "renew"]
Req = int | str


def f(doc: str, unit: str = "", default: Any = ...) -> Any:
    """A payload field: its meaning, its unit, and a default when it is optional."""
    meta = {"doc": doc, "unit": unit}
    return field(metadata=meta) if default is ... else field(default=default, metadata=meta)


@dataclass(frozen=True)
class Kind:
    """One event kind: its payload record, what it means, and which areas read it."""

    name: str
    payload: type
    doc: str
    areas: tuple[str, ...]
    needs_symbol: bool


KINDS: dict[str, Kind] = {}
T = TypeVar("T", bound=type)


def kind(name: str, areas: tuple[str, ...] = (), symbol: bool = False) -> Callable[[T], T]:
    """Register a payload record as the contract of event kind ``name``."""

    def register(cls: T) -> T:
        KINDS[name] = Kind(name, cls, (cls.__doc__ or "").strip(), areas, symbol)
        return cls

    return register


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(f,))
def record(cls: T) -> T:
    """A payload record: a frozen, keyword-only dataclass (made in place, so the class itself)."""
    dataclass(frozen=True, kw_only=True)(cls)
    return cls

# -- nested values -------------------------------------------------------------------------


@record
class TickLot:
    """Price tick and lot size of one symbol."""

    tick: PositiveDecimal = f("price increment", "price")
    lot: PositiveDecimal = f("quantity increment", "base units")


@record
class Breaker:
    """Limits of one circuit breaker (a null limit is off)."""

    max_drawdown: Decimal | None = f("drawdown that trips it", "quote currency")
    loss_limit: Decimal | None = f("realised loss that trips it", "quote currency")
    max_consecutive_losses: int | None = f("losing trades in a row that trip it", "trades")


@record
class Limits:
    """The guardian's risk limits."""

    equity: PositiveDecimal = f("account equity exposure is measured against", "quote currency")
    max_gross_exposure: Decimal = f("limit of sum |notional| / equity", "ratio")
    max_symbol_exposure: Decimal = f("limit of one symbol's |notional| / equity", "ratio")
    symbol_breaker: Breaker = f("per-symbol breaker")
    global_breaker: Breaker = f("breaker over all symbols")


@record
class Metrics:
    """One symbol's aggregated metrics (a snapshot, or a delta with its sequence number)."""

    seq: int = f("per-symbol update number (1, 2, ..)", "count")
    trades: int = f("closed trades", "count")
    wins: int = f("winning trades (pnl > 0)", "count")
    losses: int = f("losing trades (pnl < 0)", "count")
    breakeven: int = f("trades with pnl = 0 (not wins)", "count")
    pnl: Decimal = f("realised PnL after fees", "quote currency")
    gross_profit: Decimal = f("sum of winning trades' pnl", "quote currency")
    gross_loss: Decimal = f("sum of losing trades' |pnl|", "quote currency")


@record
class Published(Metrics):
    """One symbol's (or the total's) state as published, with the rates derived from its figures."""

    win_rate: Decimal | None = f("wins / trades (0 without trades)", "ratio", None)
    profit_factor: Decimal | None = f("gross profit / gross loss; null without a loss", "ratio", None)


@record
class Resumed:
    """Where a symbol's book stood when a recovered run resumed."""

    position: Decimal = f("signed position", "base units")
    mark: Decimal = f("last fill price", "price")


# -- the run ---------------------------------------------------------------------------------


@kind(RUN_START, ("locks", "races", "performance", "aggregator", "risk"))
@record
class RunStart:
    """The run's parameters; every field is optional for histories recorded elsewhere."""

    seed: int | None = f("seed of feeds and strategy", default=None)
    mode: str | None = f("thread, process or single", default=None)
    aggregation: str | None = f("REPLACE or INCREMENTAL", default=None)
    symbols: list[str] | None = f("symbols traded", default=None)
    trades: int | None = f("target closed trades per symbol", "count", None)
    duration: float | None = f("target trading time per symbol", "s", None)
    equity: PositiveDecimal | None = f("account equity; exposure is n/a without it", "quote currency", None)
    max_gross_exposure: Decimal | None = f("gross exposure limit", "ratio of equity", None)
    max_symbol_exposure: Decimal | None = f("per-symbol exposure limit", "ratio of equity", None)
    risk_limits: Limits | None = f("every risk limit, breakers included", default=None)
    specs: dict[str, TickLot] | None = f("tick and lot per symbol", default=None)
    dense_seq: bool = f("true: seq has no gaps, so a gap is a lost event", default=False)
    lock_service: str | None = f("the lock service judged (module.Class), named in the lock gate", default=None)
    covers: list[str] | None = f("state-machine transitions the run must take (machine.transition), judged by the "
                                 "coverage gate", default=None)


@kind(RUN_END, ("performance",))
@record
class RunEnd:
    """The run finished."""

    elapsed_ns: PositiveInt = f("wall time of the whole run", "ns")


@kind(RUN_RESUME, ("races", "risk"))
@record
class RunResume:
    """A recovered run resumed trading from these positions."""

    from_seq: int = f("last seq of the history the state was recovered from", "seq")
    positions: dict[str, Resumed] = f("book per symbol at resumption")


@kind(WORKER_START, ("risk",), symbol=True)
@record
class WorkerStart:
    """A symbol's worker started."""


@kind(WORKER_DONE, ("risk",), symbol=True)
@record
class WorkerDone:
    """A symbol's worker finished on its own terms."""

    trades: int | None = f("trades it closed", "count", None)


@kind(WORKER_ERROR, ("races", "risk"), symbol=True)
@record
class WorkerError:
    """A symbol's worker failed (ERROR; CRITICAL when fatal)."""

    error: str = f("exception type and message")
    traceback: str | None = f("Python traceback text", default=None)
    fatal: bool = f("the worker process died", default=False)


@kind(WORKER_HALTED, ("risk",), symbol=True)
@record
class WorkerHalted:
    """A flat worker stopped because its breaker admits only risk-reducing orders."""


@kind(WORKER_STALLED, ("risk",), symbol=True)
@record
class WorkerStalled:
    """A worker stopped after the guardian refused it too many times in a row."""

    refused: int = f("refusals in a row", "count")
    reason: str | None = f("the last refusal's reason", default=None)


@kind(FEED_END, ("risk",), symbol=True)
@record
class FeedEnd:
    """A symbol's price feed ran out (a finite feed: price files); its worker closes what is open."""

    ticks: int = f("ticks the feed gave", "count")
    trades: int = f("closed trades made when it ended", "count")
    position: Decimal = f("net position left open at the end of the feed (then flattened)", "base units")


# -- orders and trades ---------------------------------------------------------------------


@kind(ORDER_SUBMIT, ("performance",), symbol=True)
@record
class OrderSubmit:
    """An order enters the engine (order latency starts here)."""

    order: str = f("order id")
    side: Side = f("BUY or SELL")
    qty: PositiveDecimal = f("quantity", "base units")
    price: Decimal | None = f("limit price", "price", None)


@kind(ORDER_ABORT, (), symbol=True)
@record
class OrderAbort:
    """An order was dropped before it reached the venue (its locks were not granted)."""

    order: str = f("order id")
    reason: str = f("why")


@kind(ORDER_FILL, ("races", "aggregator", "risk"), symbol=True)
@record
class OrderFill:
    """The venue executed an order; PnL, positions and exposure are replayed from these."""

    order: str = f("order id")
    fill: str = f("fill id, unique in the history")
    side: Side = f("BUY or SELL")
    qty: PositiveDecimal = f("executed quantity (> 0)", "base units")
    price: Decimal = f("execution price", "price")
    fee: Decimal = f("fee charged", "quote currency")


@kind(TRADE_CLOSED, ("races", "performance", "aggregator"), symbol=True)
@record
class TradeClosed:
    """A round trip closed in the engine's ledger."""

    trade: str = f("trade id")
    side: Side = f("side of the opening fill")
    qty: PositiveDecimal = f("quantity closed", "base units")
    entry: Decimal = f("average entry price", "price")
    exit: Decimal = f("average exit price", "price")
    fees: Decimal = f("fees of both legs", "quote currency")
    pnl: Decimal = f("realised PnL after fees", "quote currency")
    outcome: Literal["win", "loss", "breakeven"] = f("sign of pnl")


# -- the aggregator ------------------------------------------------------------------------


@kind(AGG_APPLY, ("races",), symbol=True)
@record
class AggApply(Metrics):
    """The aggregator applied an INCREMENTAL delta (fields of the delta)."""


@kind(AGG_REPLACE, (), symbol=True)
@record
class AggReplace(Metrics):
    """The aggregator took a REPLACE snapshot (fields of the snapshot)."""


@kind(AGG_DUPLICATE, (), symbol=True)
@record
class AggDuplicate:
    """The aggregator ignored a delta it had already applied."""

    seq: int = f("delta's per-symbol number", "count")
    expected: int = f("the number it expected next", "count")


@kind(AGG_GAP, ("races",), symbol=True)
@record
class AggGap:
    """The aggregator held a delta that arrived ahead of a missing one."""

    seq: int = f("delta's per-symbol number", "count")
    expected: int = f("the number it expected next", "count")


@kind(AGG_STATE, ("races", "aggregator"))
@record
class AggState:
    """The aggregator's final state, per symbol and in total; every figure it publishes is judged."""

    symbols: dict[str, Published] = f("metrics per symbol")
    total: Published | None = f("metrics over all symbols (seq: the trades they cover)", default=None)


# -- the risk guardian -----------------------------------------------------------------------


@kind(RISK_RESERVE, (), symbol=True)
@record
class RiskReserve:
    """The pre-trade check passed and the order's worst case was booked."""

    order: str = f("order id")
    side: Side = f("BUY or SELL")
    qty: Decimal = f("quantity", "base units")
    worst_price: Decimal = f("highest price a fill may have: the order's notional is booked at it; a fill above "
                             "it is not covered", "price")


@kind(RISK_REFUSE, ("risk",), symbol=True)
@record
class RiskRefuse:
    """The pre-trade check refused an order."""

    order: str = f("order id")
    reason: str = f("halted, symbol_exposure, gross_exposure, ...")


@kind(RISK_CANCEL, (), symbol=True)
@record
class RiskCancel:
    """A reservation was dropped (its order did not fill)."""

    order: str = f("order id")


@kind(RISK_SETTLE, ("races", "performance"), symbol=True)
@record
class RiskSettle:
    """A fill reached the guardian's book; ``position`` is the book's word, checked against the fills."""

    order: str = f("order id (order latency ends here)")
    fill: str | None = f("fill id settled", default=None)
    position: Decimal | None = f("the book's position after this fill", "base units", None)
    mark: Decimal | None = f("mark price after this fill", "price", None)
    gross_exposure: Decimal | None = f("sum |notional|", "quote currency", None)
    exposure_ratio: Decimal | None = f("gross exposure / equity", "ratio", None)


@kind(RISK_TRIP, ("risk",), symbol=True)
@record
class RiskTrip:
    """A circuit breaker tripped."""

    scope: Literal["symbol", "global"] = f("which breaker")
    reason: str = f("drawdown, loss_limit or consecutive_losses")
    value: Decimal = f("the figure that tripped it")
    threshold: Decimal = f("its limit")


# -- locks: clients (Jepsen-style operations), guarded resources, broker --------------------


@kind(LOCK_INVOKE, ("locks", "performance"))
@record
class LockInvoke:
    """A client starts a lock operation; exactly one completion by the same worker follows."""

    op: LockOp = f("acquire, release or renew")
    names: list[str] = f("every lock of the operation, taken or given together")
    req: Req = f("request id, unique per client")
    ts: int | None = f("wait-or-die timestamp of the first attempt", "ns", None)
    attempt: int = f("attempt number (1, 2, ..); retries keep ts", "count", 1)


@kind(LOCK_OK, ("locks", "performance"))
@record
class LockOk:
    """The operation happened; an acquire holds ``names`` from here."""

    op: LockOp = f("acquire, release or renew")
    names: list[str] = f("locks of the operation")
    req: Req = f("request id of the invoke")
    tokens: dict[str, int | None] | None = f("fencing token per lock, when the service gives them", default=None)
    lease_ms: int = f("lease from now; 0 = held until released", "ms", 0)


@kind(LOCK_FAIL, ("locks",))
@record
class LockFail:
    """The operation definitely did not happen."""

    op: LockOp = f("acquire, release or renew")
    names: list[str] = f("locks of the operation")
    req: Req = f("request id of the invoke")
    reason: str | None = f("timeout, died, not_owner, expired, ...", default=None)


@kind(LOCK_INFO, ("locks",))
@record
class LockInfo:
    """The outcome is unknown (no reply): the lock may be held until its lease ends."""

    op: LockOp = f("acquire, release or renew")
    names: list[str] = f("locks of the operation")
    req: Req = f("request id of the invoke")
    reason: str | None = f("why the outcome is unknown", default=None)


@kind(FENCE_ACCEPT, ("locks",))
@record
class FenceAccept:
    """A guarded resource accepted a write made under a lock."""

    resource: str = f("ledger, aggregator, exposure, ...")
    lock: str = f("lock guarding it")
    token: int | None = f("fencing token of the write, when tokens are given", default=None)
    holder: str | None = f("client that wrote", default=None)
    deferred: bool | None = f("applied after it was made (through a queue): judged by token only", default=None)


@kind(FENCE_REJECT, ("locks",))
@record
class FenceReject:
    """A guarded resource rejected a write with a stale token."""

    resource: str = f("ledger, aggregator, exposure, ...")
    lock: str = f("lock guarding it")
    token: int | None = f("the write's token", default=None)
    newest: int | None = f("newest token the resource had seen", default=None)
    holder: str | None = f("client that wrote", default=None)
    deferred: bool | None = f("applied after it was made (through a queue)", default=None)


@kind(BROKER_REQUEST, ("locks",))
@record
class BrokerRequest:
    """The broker received a well-formed request."""

    op: str = f("acquire, release, renew, status")
    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks named")
    ts: int | None = f("wait-or-die timestamp", "ns", None)


@kind(BROKER_WAIT, ("locks",))
@record
class BrokerWait:
    """An acquire waits (FIFO) behind a holder."""

    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks requested")
    blocked_by: str | None = f("holder it waits for", default=None)
    ts: int | None = f("its timestamp", "ns", None)
    holder_ts: int | None = f("the holder's timestamp", "ns", None)


@kind(BROKER_GRANT, ("locks",))
@record
class BrokerGrant:
    """The broker granted locks."""

    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks granted")
    tokens: dict[str, int | None] | None = f("fencing token per lock", default=None)
    lease_ms: int = f("lease", "ms", 0)
    ts: int | None = f("the request's timestamp", "ns", None)
    mode: str | None = f("fifo (holds nothing) or wait_die (holds locks, asks for more)", default=None)


@kind(BROKER_QUEUE, ("locks",))
@record
class BrokerQueue:
    """An acquire from a connection holding nothing waits FIFO (no refusal)."""

    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks requested")
    blocked_by: str | None = f("holder or waiter it queues behind", default=None)


@kind(BROKER_STOP, ("locks",))
@record
class BrokerStop:
    """The broker stopped: its leases ended and its queued requests died with it."""

    epoch: int = f("token epoch of the run that stopped")


@kind(BROKER_REFUSE, ("locks",))
@record
class BrokerRefuse:
    """The broker refused an acquire (wait-or-die: a younger request dies)."""

    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks requested")
    reason: str = f("died, timeout, ...")
    ts: int | None = f("its timestamp", "ns", None)
    holder_ts: int | None = f("the holder's timestamp", "ns", None)


@kind(BROKER_RELEASE, ("locks",))
@record
class BrokerRelease:
    """The broker released locks."""

    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks released")
    tokens: dict[str, int | None] | None = f("tokens of the grant", default=None)


@kind(BROKER_RENEW, ("locks",))
@record
class BrokerRenew:
    """The broker extended a lease."""

    client: str = f("client id")
    req: Req = f("request id")
    names: list[str] = f("locks renewed")
    tokens: dict[str, int | None] | None = f("tokens of the grant", default=None)
    lease_ms: int = f("new lease from now", "ms", 0)


@kind(BROKER_EXPIRE, ("locks",))
@record
class BrokerExpire:
    """A lease ran out: the broker freed the lock."""

    name: str = f("lock name")
    client: str = f("holder whose lease ended")
    token: int | None = f("token of that grant", default=None)


@kind(BROKER_ERROR, ("locks",))
@record
class BrokerError:
    """The broker dropped a malformed request."""

    reason: str = f("what was wrong")
    req: Any = f("request id, if it had one", default=None)


# -- persistence and faults ---------------------------------------------------------------------


@kind(ALERT, ("persistence",))
@record
class Alert:
    """A persistence layer went down (P0: all down, fail-open; P1: one down) or came back (P2)."""

    level: Literal["P0", "P1", "P2"] = f("severity")
    layer: str = f("cache, database, checkpoint, ...")
    reason: str = f("what happened")


@kind(HEALTH, ("risk", "persistence"))
@record
class HealthChange:
    """The guardian's health changed."""

    state: Literal["HEALTHY", "DEGRADED", "HALTED"] = f("new state")


@kind(PERSISTENCE_START, ("persistence",))
@record
class PersistenceStart:
    """The persistence writer started."""

    layers: list[str] = f("layers written to")


@kind(PERSISTENCE_STATS, ("persistence",))
@record
class PersistenceStats:
    """What the persistence writer did, at the end of the run."""

    offered: int = f("events offered to the writer", "count", 0)
    overflowed: int = f("times the queue was full", "count", 0)
    dropped: int = f("events lost (must be 0)", "count", 0)
    queue_high_water: int = f("deepest queue", "events", 0)
    batches: int = f("batches written", "count", 0)
    layers: dict[str, Any] | None = f(
        "per-layer counters: written, batches, retries, spilled, drained, up, write_p50_ms, write_p99_ms",
        default=None)
    spilled: int = f("events spilled while a layer was down", "count", 0)
    drained: int = f("spilled events written later", "count", 0)
    retries: int = f("failed write attempts", "count", 0)


@kind(PERSISTENCE_UNREACHABLE, ("persistence",))
@record
class PersistenceUnreachable:
    """A layer could not be read back at the end of the run: its missed events are kept in a spill."""

    layer: str = f("writer layer name (postgres, sqlite, checkpoint)")
    reason: str = f("the error of the last attempt")
    kept: int = f("events kept in the spill, not written to the layer", "events")
    spill: str = f("path of the spill file")
    drain: str = f("the command that writes the spill later")


@kind(FAULT_INJECT, ())
@record
class FaultInject:
    """The nemesis injected a fault: cut persistence layers off, or broke a worker's lock path."""

    row: str = f("fault name, unique in the run (its fault.heal names it too)")
    layers: list[str] | None = f("layers cut (persistence faults; none for lock-path faults)", default=None)
    fault: str | None = f("what: blackhole, drop, delay, pause, partition, broker-restart, clock-jump", default=None)
    target: str | None = f("whom: the worker (lock client) the fault hits", default=None)
    lease_ms: int | None = f("the target's lease when it was hit (a pause must outlive it)", "ms", None)


@kind(FAULT_HEAL, ())
@record
class FaultHeal:
    """The nemesis healed a fault."""

    row: str = f("fault row name")
    seen_down: bool | None = f("every layer was seen down before the heal", default=None)
    target: str | None = f("the worker the fault hit", default=None)


@kind(FAULT_OVER, ())
@record
class FaultOver:
    """A fault row is over."""

    row: str = f("fault row name")
    seen_up: bool | None = f("every layer was seen back up", default=None)


@kind(NEMESIS_LOCK_RULE, ("locks",))
@record
class NemesisLockRule:
    """A faulty client is about to send an operation the lock service must refuse (its next one)."""

    rule: str = f(", ".join(LOCK_RULES))
    client: str = f("the faulty client")
    names: list[str] = f("locks of the operation")


def is_user_kind(name: str) -> bool:
    """True for the user's own kinds (``x.*``), which carry any payload."""
    return name.startswith(USER_PREFIX)
