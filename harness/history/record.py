"""A recorder your own engine calls to write ``events.jsonl`` that ``harness check`` judges.

    from harness.record import Recorder

    with Recorder("events.jsonl") as rec:
        rec.run_start(equity="100000", max_gross_exposure="0.5")
        rec.lock_invoke("w1", "acquire", ["symbol:BTC"], req=1)
        rec.lock_ok("w1", "acquire", ["symbol:BTC"], req=1, tokens={"symbol:BTC": 7})
        rec.order_fill("w1", "BTC", order="o1", fill="f1", side="BUY", qty="0.5", price="64000", fee="1.2")
        rec.event("x.my_kind", "w1", anything="goes")    # any kind of docs/HISTORY.md, validated

Every event is checked against the contract (``docs/history.schema.json``) before it is
written; a wrong one raises ``RecordError`` naming the kind and field, in your code, not
later in ``harness check``. Money goes in as ``Decimal`` or a string of digits. Text that no
file or database can hold (a NUL, a lone surrogate) is written as the visible escapes
``\\x00`` and ``\\udc80``.

Thread-safe, and process-safe when made with ``processes=True`` and handed to
``multiprocessing`` children (spawn or fork): the sequence number, the timestamp and the
append to the file happen under one lock, so file order is seq order is time order, and the
numbering is dense (``run.start`` says so). Each line is one ``write`` to a file opened for
appending.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from harness.errors import InputError
from harness.history import events as ev
from harness.history.log import Event, normalise, utc_now
from harness.history.schema import problems

__all__ = ["RecordError", "Recorder"]

Money = Decimal | str | int


class RecordError(InputError):
    """An event that does not meet the history contract."""


class Recorder:
    """Appends contract-checked events to a JSONL history (created empty); safe across threads and processes."""

    def __init__(self, path: str | Path, run_id: str = "run", *, processes: bool = False,
                 clock: Callable[[], int] = time.monotonic_ns, wall: Callable[[], str] = utc_now) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._clock, self._wall = clock, wall
        if processes:
            import multiprocessing

            self._counter: Any = multiprocessing.get_context("spawn").Value("q", 0)
            self._lock: Any = self._counter.get_lock()
        else:
            self._counter, self._lock = None, threading.Lock()
        self._seq = 0
        self.path.write_bytes(b"")
        self._fd: int | None = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        if self._counter is None:
            raise TypeError("a Recorder shared with other processes must be made with processes=True")
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def _next_seq(self) -> int:
        if self._counter is None:
            self._seq += 1
            return self._seq
        raw = self._counter.get_obj()
        raw.value += 1
        return int(raw.value)

    def _file(self) -> int:
        # A child process opens its own descriptor (O_APPEND: every write lands at the end).
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_WRONLY | os.O_APPEND), os.getpid()
        return self._fd

    def event(self, kind: str, worker: str, symbol: str | None = None, **payload: Any) -> Event:
        """Record one event of any kind; RecordError if it breaks the contract."""
        body = normalise({k: v for k, v in payload.items() if v is not None})
        raw = {"seq": 1, "mono_ns": 0, "wall": "", "run_id": self.run_id, "worker": worker, "symbol": symbol,
               "kind": kind, "payload": body}
        problem = problems(raw)
        if problem is not None:
            raise RecordError(problem)
        with self._lock:
            event = Event(self._next_seq(), self._clock(), self._wall(), self.run_id, worker, symbol, kind, body)
            os.write(self._file(), (event.to_json() + "\n").encode("utf-8"))
        return event

    def _typed(self, kind: str, worker: str, symbol: str | None, record: Any) -> Event:
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        return self.event(kind, worker, symbol, **fields)

    def close(self) -> None:
        """Close this process's file descriptor (events already written stay)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the run -------------------------------------------------------------------------------

    def run_start(self, **fields: Any) -> Event:
        """run.start (equity, limits, specs...); says the numbering is dense."""
        return self._typed(ev.RUN_START, "engine", None, ev.RunStart(**{"dense_seq": True, **fields}))

    def run_end(self, elapsed_ns: int) -> Event:
        """run.end: the run took ``elapsed_ns``."""
        return self._typed(ev.RUN_END, "engine", None, ev.RunEnd(elapsed_ns=elapsed_ns))

    def worker_start(self, worker: str, symbol: str) -> Event:
        """worker.start of a symbol's worker."""
        return self.event(ev.WORKER_START, worker, symbol)

    def worker_done(self, worker: str, symbol: str, trades: int) -> Event:
        """worker.done: it finished on its own terms."""
        return self._typed(ev.WORKER_DONE, worker, symbol, ev.WorkerDone(trades=trades))

    def worker_error(self, worker: str, symbol: str, error: str, traceback: str | None = None) -> Event:
        """worker.error: it failed."""
        return self._typed(ev.WORKER_ERROR, worker, symbol, ev.WorkerError(error=error, traceback=traceback))

    # -- locks -----------------------------------------------------------------------------------

    def lock_invoke(self, worker: str, op: ev.LockOp, names: Sequence[str], req: int | str, ts: int | None = None,
                    attempt: int = 1) -> Event:
        """lock.invoke: ``worker`` starts acquire/release/renew of ``names``."""
        return self._typed(ev.LOCK_INVOKE, worker, None, ev.LockInvoke(op=op, names=list(names), req=req,
                                                                       ts=ts, attempt=attempt))

    def lock_ok(self, worker: str, op: ev.LockOp, names: Sequence[str], req: int | str,
                tokens: Mapping[str, int | None] | None = None, lease_ms: int = 0) -> Event:
        """lock.ok: the operation happened (tokens: fencing tokens, if your service has them)."""
        return self._typed(ev.LOCK_OK, worker, None, ev.LockOk(op=op, names=list(names), req=req,
                                                               tokens=dict(tokens) if tokens else None,
                                                               lease_ms=lease_ms))

    def lock_fail(self, worker: str, op: ev.LockOp, names: Sequence[str], req: int | str, reason: str) -> Event:
        """lock.fail: the operation definitely did not happen."""
        return self._typed(ev.LOCK_FAIL, worker, None, ev.LockFail(op=op, names=list(names), req=req,
                                                                   reason=reason))

    def fence_accept(self, worker: str, resource: str, lock: str, token: int | None,
                     symbol: str | None = None) -> Event:
        """fence.accept: a guarded resource took a write made under ``lock``."""
        return self._typed(ev.FENCE_ACCEPT, worker, symbol,
                           ev.FenceAccept(resource=resource, lock=lock, token=token, holder=worker))

    def fence_reject(self, worker: str, resource: str, lock: str, token: int, newest: int,
                     symbol: str | None = None) -> Event:
        """fence.reject: a guarded resource refused a stale token."""
        return self._typed(ev.FENCE_REJECT, worker, symbol,
                           ev.FenceReject(resource=resource, lock=lock, token=token, newest=newest, holder=worker))

    # -- orders, trades, aggregation, risk -------------------------------------------------------

    def order_submit(self, worker: str, symbol: str, order: str, side: ev.Side, qty: Money,
                     price: Money | None = None) -> Event:
        """order.submit: an order enters your engine."""
        return self._typed(ev.ORDER_SUBMIT, worker, symbol,
                           ev.OrderSubmit(order=order, side=side, qty=_dec(qty), price=_opt(price)))

    def order_fill(self, worker: str, symbol: str, order: str, fill: str, side: ev.Side, qty: Money, price: Money,
                   fee: Money = 0) -> Event:
        """order.fill: the venue executed (fill ids unique)."""
        return self._typed(ev.ORDER_FILL, worker, symbol, ev.OrderFill(
            order=order, fill=fill, side=side, qty=_dec(qty), price=_dec(price), fee=_dec(fee)))

    def trade_closed(self, worker: str, symbol: str, trade: str, side: ev.Side, qty: Money, entry: Money, exit: Money,
                     fees: Money, pnl: Money) -> Event:
        """trade.closed: a round trip closed (outcome follows from the sign of pnl)."""
        value = _dec(pnl)
        outcome: Literal["win", "loss", "breakeven"] = "win" if value > 0 else "loss" if value < 0 else "breakeven"
        return self._typed(ev.TRADE_CLOSED, worker, symbol, ev.TradeClosed(
            trade=trade, side=side, qty=_dec(qty), entry=_dec(entry), exit=_dec(exit), fees=_dec(fees),
            pnl=value, outcome=outcome))

    def aggregate(self, symbols: Mapping[str, Mapping[str, Any]], worker: str = "aggregator") -> Event:
        """agg.state: your aggregator's state per symbol (seq, trades, wins, losses, breakeven, pnl, ...)."""
        return self.event(ev.AGG_STATE, worker, None, symbols=dict(symbols))

    def risk_settle(self, worker: str, symbol: str, order: str, fill: str | None = None,
                    position: Money | None = None, **figures: Money) -> Event:
        """risk.settle: a fill reached your risk book; ``position`` is the book's position after it."""
        return self.event(ev.RISK_SETTLE, worker, symbol, order=order, fill=fill, position=_opt(position),
                          **{k: _dec(v) for k, v in figures.items()})

    def risk_refuse(self, worker: str, symbol: str, order: str, reason: str) -> Event:
        """risk.refuse: the pre-trade check refused an order."""
        return self._typed(ev.RISK_REFUSE, worker, symbol, ev.RiskRefuse(order=order, reason=reason))

    def risk_trip(self, worker: str, symbol: str, scope: Literal["symbol", "global"], reason: str,
                  value: Money, threshold: Money) -> Event:
        """risk.trip: a circuit breaker tripped."""
        return self._typed(ev.RISK_TRIP, worker, symbol, ev.RiskTrip(
            scope=scope, reason=reason, value=_dec(value), threshold=_dec(threshold)))


def _dec(value: Money) -> Decimal:
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except ArithmeticError:
        raise RecordError(f"not a decimal: {value!r}") from None


def _opt(value: Money | None) -> Decimal | None:
    return None if value is None else _dec(value)
