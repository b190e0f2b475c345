"""End-to-end benchmark: locked trades/s in PROCESS mode through the ZeroMQ broker.

Baseline: the bare pyzmq FIFO lock loop of ``bench.bench_locks`` with as many client
processes as symbols, measured in the same invocation. Throughput is taken over the trading
window of the history (first ``order.submit`` to last ``trade.closed``), so process spawn
time is not counted; lock latency is ``lock.invoke`` -> ``lock.ok`` of acquires.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path
from typing import Any

from bench import bench_locks
from bench.runner import PeakRss, Plan, Row, Target, level, percentile, repeat, row
from harness.history.log import Event, History, SharedSequence
from harness.judge.checks.perf import lock_latencies, order_latencies
from harness.run.config import run_config
from harness.run.scenario import broker_service
from harness.system.engine import run as run_engine
from harness.system.model import DEFAULT_SYMBOLS

GROUP = "e2e"
SIZES = {"tiny": (5, 100), "quick": (100, 1_000), "full": (300, 5_000)}  # trades per symbol, bare lock ops


def symbol_names(count: int) -> list[str]:
    """The default symbols first, then synthesised ones."""
    names = [spec.name for spec in DEFAULT_SYMBOLS][:count]
    return names + [f"SYN{i:03d}USDT" for i in range(count - len(names))]


def trading_rate(events: list[Event]) -> float:
    """Closed trades per second over the trading window of a history."""
    submits = [e.mono_ns for e in events if e.kind == "order.submit"]
    closes = [e.mono_ns for e in events if e.kind == "trade.closed"]
    if not closes or not submits:
        return 0.0
    window = max(closes) - min(submits)
    return len(closes) / (window / 1e9) if window > 0 else 0.0


def locked_run(symbols: int, trades: int, mode: str = "process", seed: int = 7) -> dict[str, float]:
    """One engine run with the broker; trades/s, lock and order latency (us), peak RSS (MiB)."""
    config = run_config({"symbols": symbol_names(symbols), "trades": trades, "mode": mode, "seed": seed})
    # Process mode numbers events through a sequence shared with the workers.
    sequence = SharedSequence.create(multiprocessing.get_context("spawn")) if mode == "process" else None
    history = History(f"bench-e2e-{symbols}", sequence)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp, PeakRss() as rss:
        with broker_service(history, Path(tmp) / "locks.json", seed) as locks:
            events = run_engine(config, locks, history=history).events()
    errors = [e for e in events if e.kind == "worker.error"]
    if errors:
        raise RuntimeError(f"engine worker failed: {errors[0].payload.get('error')}")
    locks_ns, orders_ns = lock_latencies(events), order_latencies(events)
    trades = sum(1 for e in events if e.kind == "trade.closed") or 1
    return {
        # What a trade costs: broker round trips (every attempt, died ones too) and recorded events.
        "round_trips_per_trade": sum(1 for e in events if e.kind == "lock.invoke") / trades,
        "events_per_trade": len(events) / trades,
        "trades_per_s": trading_rate(events),
        "lock_p50_us": percentile(locks_ns, 50) / 1e3,
        "lock_p99_us": percentile(locks_ns, 99) / 1e3,
        "order_p99_us": percentile(orders_ns, 99) / 1e3,
        "peak_rss_mb": rss.peak_mb,
        "events": len(events),
    }


def bare_lock(clients: int, ops: int) -> dict[str, float]:
    """The bare pyzmq FIFO lock loop from bench_locks: pairs/s and acquire p50/p99 (us)."""
    result: dict[str, Any] = bench_locks.measure(bench_locks.bare_lock_server, bench_locks.bare_lock_client,
                                                 clients, ops)
    return {"pairs_per_s": result["rate"], "p50_us": result["p50_us"], "p99_us": result["p99_us"]}


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Bare FIFO lock baseline, then the engine end to end with 3 symbols."""
    size = level(quick, tiny)
    trades, ops = SIZES[size]
    plan = Plan.of(size)
    bare = repeat(lambda: bare_lock(3, ops), plan)
    e2e = repeat(lambda: locked_run(3, trades), plan)
    base_rate = row("bare FIFO lock pairs/s [3p]", bare["pairs_per_s"], "1/s", group=GROUP)
    base_p50 = row("bare FIFO lock acquire p50 [3p]", bare["p50_us"], "us", group=GROUP)
    base_p99 = row("bare FIFO lock acquire p99 [3p]", bare["p99_us"], "us", group=GROUP)
    # The most the trade loop could reach if each broker round trip cost what a bare one does
    # (a bare FIFO pair is two round trips: acquire and release).
    ceiling = row("bare-lock ceiling: 2 x pairs/s / round trips per trade",
                  [2 * base_rate["value"] / r for r in e2e["round_trips_per_trade"]], "1/s", group=GROUP)
    return [
        base_rate, base_p50, base_p99,
        row("e2e locked trades/s [3 sym, process]", e2e["trades_per_s"], "1/s", baseline=base_rate, group=GROUP),
        row("e2e broker round trips per trade", e2e["round_trips_per_trade"], "1", group=GROUP),
        row("e2e events per trade", e2e["events_per_trade"], "1", group=GROUP),
        ceiling,
        row("e2e locked trades/s vs bare-lock ceiling", e2e["trades_per_s"], "1/s", baseline=ceiling,
            target=Target("ratio", ">=", 0.5), group=GROUP),
        row("e2e lock acquire p50 [3 sym]", e2e["lock_p50_us"], "us", baseline=base_p50, group=GROUP),
        row("e2e lock acquire p99 [3 sym]", e2e["lock_p99_us"], "us", baseline=base_p99, group=GROUP),
        row("e2e order latency p99 [3 sym]", e2e["order_p99_us"], "us", group=GROUP),
    ]
