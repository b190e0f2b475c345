"""A small asyncio trading engine that knows nothing of the harness's protocols, recorded via ``harness.history.record``.

It has its own lock manager (fencing tokens per lock name), its own metrics dict, its own
risk book. Two coroutines trade each symbol in round trips (buy, then sell) under the
symbol's lock. It writes ``events.jsonl`` through ``harness.history.record.Recorder`` and is then
judged like any other history:

    python -m harness.examples.asyncio_engine events.jsonl                      # correct: PASS
    python -m harness.examples.asyncio_engine events.jsonl --plant lost-update  # FAIL: lost update
    python -m harness.examples.asyncio_engine events.jsonl --plant double-grant # FAIL: lock overlap
    harness check events.jsonl

The planted bugs are forced by the schedule, not by timing: ``lost-update`` moves the
metrics update after the lock release and makes the first two updaters of one symbol meet between their
read and their write; ``double-grant`` grants a held lock once to the next requester.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from harness.history.events import Side
from harness.history.record import Recorder

QTY, FEE = Decimal(1), Decimal("0.10")
SYMBOLS = ("AAA", "BBB")


class LockManager:
    """Named locks with fencing tokens; ``double_grant`` plants the bug of granting a held lock once."""

    def __init__(self, rec: Recorder, double_grant: bool = False) -> None:
        self.rec, self.double_grant = rec, double_grant
        self.holders: dict[str, str] = {}
        self.tokens: dict[str, int] = {}
        self.freed = asyncio.Condition()
        self.reqs: dict[str, int] = {}

    def _req(self, worker: str) -> int:
        self.reqs[worker] = self.reqs.get(worker, 0) + 1
        return self.reqs[worker]

    async def acquire(self, worker: str, name: str) -> int:
        """Wait until ``name`` is free (or, planted, not), take it, return its fencing token."""
        req = self._req(worker)
        self.rec.lock_invoke(worker, "acquire", [name], req)
        async with self.freed:
            if name in self.holders and self.double_grant:
                self.double_grant = False  # the bug: a held lock granted to a second worker
            else:
                await self.freed.wait_for(lambda: name not in self.holders)
            self.holders[name] = worker
            token = self.tokens[name] = self.tokens.get(name, 0) + 1
        self.rec.lock_ok(worker, "acquire", [name], req, tokens={name: token})
        return token

    async def release(self, worker: str, name: str, token: int) -> None:
        """Give the lock back."""
        req = self._req(worker)
        self.rec.lock_invoke(worker, "release", [name], req)
        async with self.freed:
            if self.holders.get(name) == worker:
                del self.holders[name]
            self.freed.notify_all()
        self.rec.lock_ok(worker, "release", [name], req, tokens={name: token})


class Rendezvous:
    """The first two arrivals wait for each other once (forces two updates to overlap)."""

    def __init__(self, armed: bool) -> None:
        self.armed = armed
        self.arrived = 0
        self.both = asyncio.Event()

    async def meet(self) -> None:
        """Return at once, or (armed) when a second caller has arrived too."""
        if not self.armed:
            return
        self.arrived += 1
        if self.arrived >= 2:
            self.armed = False
            self.both.set()
        await self.both.wait()


@dataclass(frozen=True)
class Metrics:
    """The engine's own per-symbol figures."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    pnl: Decimal = Decimal(0)
    profit: Decimal = Decimal(0)
    loss: Decimal = Decimal(0)

    def plus(self, pnl: Decimal) -> Metrics:
        """These figures with one more closed trade."""
        return Metrics(self.trades + 1, self.wins + (pnl > 0), self.losses + (pnl < 0), self.pnl + pnl,
                       self.profit + max(pnl, Decimal(0)), self.loss + max(-pnl, Decimal(0)))

    def as_payload(self) -> dict[str, object]:
        """The fields of agg.state (docs/HISTORY.md)."""
        return {"seq": self.trades, "trades": self.trades, "wins": self.wins, "losses": self.losses,
                "breakeven": self.trades - self.wins - self.losses, "pnl": self.pnl, "gross_profit": self.profit,
                "gross_loss": self.loss}


@dataclass
class Engine:
    """Trades every symbol with two workers and records everything it does."""

    rec: Recorder
    seed: int = 7
    round_trips: int = 5
    plant: str | None = None
    clock: Callable[[], int] = time.perf_counter_ns

    def __post_init__(self) -> None:
        self.locks = LockManager(self.rec, double_grant=self.plant == "double-grant")
        # Armed on the first symbol only: exactly one lost update.
        self.meet = {s: Rendezvous(armed=self.plant == "lost-update" and s == SYMBOLS[0]) for s in SYMBOLS}
        self.metrics = {s: Metrics() for s in SYMBOLS}
        self.book = dict.fromkeys(SYMBOLS, Decimal(0))
        self.prices = {s: random.Random(f"{self.seed}:{s}") for s in SYMBOLS}
        self.count = 0

    def price(self, symbol: str) -> Decimal:
        """The next price of ``symbol``: a seeded walk around 100, in cents."""
        return Decimal(self.prices[symbol].randint(9_900, 10_100)) / 100

    async def run(self) -> None:
        """Trade every symbol with two workers, then record the metrics and the run's end."""
        started = self.clock()
        self.rec.run_start(equity="1000000", max_gross_exposure="1", max_symbol_exposure="1", seed=self.seed,
                           symbols=list(SYMBOLS), specs={s: {"tick": "0.01", "lot": "1"} for s in SYMBOLS})
        workers = [self.worker(f"{s}-{n}", s) for s in SYMBOLS for n in (1, 2)]
        await asyncio.gather(*workers)
        self.rec.aggregate({s: m.as_payload() for s, m in self.metrics.items()})
        self.rec.run_end(elapsed_ns=max(1, self.clock() - started))

    async def worker(self, worker: str, symbol: str) -> None:
        """Round trips under the symbol's lock."""
        self.rec.worker_start(worker, symbol)
        for _ in range(self.round_trips):
            name = f"symbol:{symbol}"
            token = await self.locks.acquire(worker, name)
            entry = await self.fill(worker, symbol, "BUY")
            exit_ = await self.fill(worker, symbol, "SELL")
            pnl = (exit_ - entry) * QTY - 2 * FEE
            self.rec.trade_closed(worker, symbol, f"{worker}:T{self.count}", "BUY", QTY, entry, exit_, 2 * FEE, pnl)
            if self.plant != "lost-update":
                await self.account(symbol, pnl)
            await self.locks.release(worker, name, token)
            if self.plant == "lost-update":
                await self.account(symbol, pnl)  # the bug: shared metrics updated outside the lock
        self.rec.worker_done(worker, symbol, self.round_trips)

    async def fill(self, worker: str, symbol: str, side: Side) -> Decimal:
        """Submit, execute at the next price (the venue yields), settle into the book."""
        self.count += 1
        order, price = f"{worker}:O{self.count}", self.price(symbol)
        self.rec.order_submit(worker, symbol, order, side, QTY)
        await asyncio.sleep(0)  # the venue round trip
        self.rec.order_fill(worker, symbol, order, f"{order}:F", side, QTY, price, FEE)
        self.book[symbol] += QTY if side == "BUY" else -QTY
        self.rec.risk_settle(worker, symbol, order, fill=f"{order}:F", position=self.book[symbol])
        return price

    async def account(self, symbol: str, pnl: Decimal) -> None:
        """Read-modify-write of the shared metrics (a yield between read and write when planted)."""
        current = self.metrics[symbol]
        await self.meet[symbol].meet()
        self.metrics[symbol] = current.plus(pnl)


def record_run(path: Path, seed: int = 7, plant: str | None = None) -> Path:
    """Run the engine once and write its history to ``path``."""
    with Recorder(path, run_id=f"asyncio-{seed}") as rec:
        asyncio.run(Engine(rec, seed=seed, plant=plant).run())
    return path


def main() -> None:
    """Command line: python -m harness.examples.asyncio_engine OUT [--seed N] [--plant lost-update|double-grant]."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--plant", choices=["lost-update", "double-grant"])
    args = parser.parse_args()
    print(record_run(args.out, args.seed, args.plant))


if __name__ == "__main__":
    main()
