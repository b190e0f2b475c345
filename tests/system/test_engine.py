"""The engine: reproducible per-symbol trades in every concurrency mode, isolation, exact aggregation, locking."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pytest

from harness.errors import ConfigError
from harness.history.log import History
from harness.run.config import run_config
from harness.system.aggregator import SymbolMetrics
from harness.system.engine import RunResult, run
from harness.system.feed import FeedError, seeded_feed
from harness.system.locks.client import ZmqLockProvider
from harness.system.locks.local import LockTable
from harness.system.locks.protocol import GLOBAL_LOCK
from harness.system.locks.server import LockBroker
from harness.system.model import ClosedTrade, Side, SymbolSpec
from tests._builders import kinds

SEED, TRADES = 21, 8
FIELDS = ("trade", "side", "qty", "entry", "exit", "fees", "pnl")


def _run(mode: str, aggregation: str = "incremental", locks=None, **extra) -> RunResult:
    config = run_config({"seed": SEED, "trades": TRADES, "mode": mode, "aggregation": aggregation, **extra})
    return run(config, locks or LockTable())


def _trades(result: RunResult) -> dict[str, list[tuple]]:
    """Per symbol, the closed trades as recorded: id, side, qty, entry, exit, fees, pnl."""
    out: dict[str, list[tuple]] = defaultdict(list)
    for event in kinds(result.events(), "trade.closed"):
        out[event.symbol].append(tuple(event.payload[f] for f in FIELDS))
    return dict(out)


def _recomputed(result: RunResult) -> dict[str, SymbolMetrics]:
    """Aggregator state rebuilt from the trade.closed events alone."""
    metrics = {}
    for symbol, rows in _trades(result).items():
        trades = [
            ClosedTrade(symbol, t, Side(side), Decimal(qty), Decimal(entry), Decimal(exit_), Decimal(fees), Decimal(pnl))
            for t, side, qty, entry, exit_, fees, pnl in rows
        ]
        metrics[symbol] = SymbolMetrics.of_trades(trades)
    return metrics


@pytest.fixture(scope="module")
def runs() -> dict[str, RunResult]:
    """One run per concurrency mode with the same seed; process mode uses the ZeroMQ broker."""
    results = {"thread": _run("thread"), "single": _run("single")}
    with LockBroker() as broker:
        results["process"] = _run("process", locks=ZmqLockProvider(broker.endpoint))
    return results


def test_every_mode_completes_every_symbol_without_errors(runs):
    for mode, result in runs.items():
        events = result.events()
        assert kinds(events, "worker.error") == [], mode
        done = {e.symbol: e.payload["trades"] for e in kinds(events, "worker.done")}
        assert set(done) == set(result.config.symbol_names), mode
        assert all(n == TRADES for n in done.values()), (mode, done)


def test_same_seed_gives_identical_per_symbol_trades_in_thread_single_and_process_mode(runs):
    reference = _trades(runs["thread"])
    assert set(reference) == set(runs["thread"].config.symbol_names)
    assert all(len(rows) == TRADES for rows in reference.values())
    assert _trades(runs["single"]) == reference
    assert _trades(runs["process"]) == reference
    assert _trades(_run("thread")) == reference, "a second run in the same mode repeats itself"


@pytest.mark.parametrize("seed", [1, 22, 35, 127])
@pytest.mark.parametrize("trades", [1, 2, 7, 30])
def test_trades_n_means_exactly_n_closed_trades_per_symbol_and_no_open_position(seed, trades):
    """A partial close as the N-th trade would leave a position whose flattening makes N+1."""
    result = run(run_config({"seed": seed, "trades": trades, "mode": "single"}), LockTable())
    halted = {e.symbol for e in kinds(result.events(), "worker.halted")}  # a breaker stops a symbol early
    counts = {s: len(rows) for s, rows in _trades(result).items()}
    assert {s: n for s, n in counts.items() if s not in halted} == {
        s: trades for s in result.config.symbol_names if s not in halted}
    assert all(counts.get(s, 0) < trades for s in halted)
    net: dict[str, Decimal] = defaultdict(Decimal)
    for fill in kinds(result.events(), "order.fill"):
        net[fill.symbol] += Decimal(fill.payload["qty"]) * (1 if fill.payload["side"] == "BUY" else -1)
    assert all(qty == 0 for qty in net.values()), net


def test_another_seed_gives_other_trades(runs):
    other = run(run_config({"seed": SEED + 1, "trades": TRADES}), LockTable())
    assert _trades(other) != _trades(runs["thread"])


def test_same_seed_gives_identical_per_symbol_pnl_in_every_mode(runs):
    pnl = {mode: {s: m.pnl for s, m in r.aggregator.items()} for mode, r in runs.items()}
    assert pnl["thread"] == pnl["single"] == pnl["process"]
    for symbol, rows in _trades(runs["thread"]).items():
        assert pnl["thread"][symbol] == sum((Decimal(row[-1]) for row in rows), Decimal(0))
        assert pnl["thread"][symbol] == runs["thread"].guardian.symbols[symbol].realised


@pytest.mark.parametrize("aggregation", ["incremental", "replace"])
@pytest.mark.parametrize("mode", ["thread", "single"])
def test_aggregator_final_state_equals_metrics_recomputed_from_trade_events(mode, aggregation):
    result = _run(mode, aggregation)
    assert result.aggregator == _recomputed(result)
    (state,) = kinds(result.events(), "agg.state")
    assert {s: SymbolMetrics.from_payload(p) for s, p in state.payload["symbols"].items()} == result.aggregator
    expected_kind = "agg.apply" if aggregation == "incremental" else "agg.replace"
    assert kinds(result.events(), expected_kind), "the chosen mode is the one that fed the aggregator"


def test_process_mode_aggregator_equals_metrics_recomputed_from_trade_events(runs):
    assert runs["process"].aggregator == _recomputed(runs["process"])


def test_process_mode_refuses_an_in_process_lock_table():
    with pytest.raises(ConfigError, match="process mode"):
        _run("process", locks=LockTable())


@dataclass(frozen=True)
class BrokenFeed:
    """Seeded feed that raises FeedError in one symbol after a number of ticks."""

    symbol: str
    after: int

    def __call__(self, spec: SymbolSpec, seed: int):
        for tick in seeded_feed(spec, seed):
            if spec.name == self.symbol and tick.index >= self.after:
                raise FeedError(f"{spec.name}: injected feed failure at tick {tick.index}")
            yield tick


@pytest.mark.parametrize("mode", ["thread", "single"])
def test_feed_failure_in_one_symbol_ends_only_that_worker(mode, runs):
    config = run_config({"seed": SEED, "trades": TRADES, "mode": mode})
    result = run(config, LockTable(), feed=BrokenFeed("ETHUSD.s", 25))
    events = result.events()
    (error,) = kinds(events, "worker.error")
    assert error.symbol == "ETHUSD.s"
    assert error.payload["error"].startswith("FeedError: ETHUSD.s: injected feed failure at tick 25")
    done = {e.symbol: e.payload["trades"] for e in kinds(events, "worker.done")}
    assert set(done) == {"BTCUSD.s", "XAUUSD.s"}
    assert all(n >= TRADES for n in done.values())
    healthy = {s: rows for s, rows in _trades(runs["thread"]).items() if s != "ETHUSD.s"}
    assert {s: rows for s, rows in _trades(result).items() if s != "ETHUSD.s"} == healthy, (
        "the other symbols trade exactly as in a run without the failure"
    )
    assert result.aggregator == _recomputed(result)
    eth_orders = [e for e in events if e.symbol == "ETHUSD.s" and e.kind.startswith("order.")]
    assert eth_orders, "the failing symbol traded before its feed broke"
    assert all(e.seq < error.seq for e in eth_orders), "and nothing after"


def test_duration_mode_stops_and_flattens_every_symbol():
    config = run_config({"seed": SEED, "duration": 0.2})
    assert config.trades is None
    result = run(config, LockTable())
    events = result.events()
    assert kinds(events, "worker.error") == []
    assert {e.symbol for e in kinds(events, "worker.done")} == set(config.symbol_names)
    fills = kinds(events, "order.fill")
    assert fills
    for symbol in config.symbol_names:
        signed = sum(Decimal(e.payload["qty"]) * Side(e.payload["side"]).sign for e in fills if e.symbol == symbol)
        assert signed == 0, f"{symbol} ends flat"
        assert result.guardian.symbols[symbol].position == 0
    assert result.guardian.gross_exposure == 0
    assert result.elapsed_s < 30


def _fills_outside_lock_hold(result: RunResult) -> list[str]:
    """Each fill must come after its worker's lock.ok acquire (symbol + global) and before its release invoke."""
    holding: dict[str, bool] = {}
    bad = []
    for event in result.events():
        payload = event.payload
        if event.kind == "lock.ok" and payload["op"] == "acquire":
            names = set(payload["names"])
            holding[event.worker] = GLOBAL_LOCK in names and any(n.startswith("symbol:") for n in names)
        elif event.kind == "lock.invoke" and payload["op"] == "release":
            holding[event.worker] = False
        elif event.kind == "order.fill":
            held = holding.get(event.worker, False)
            if not held:
                bad.append(f"{event.seq} {event.worker} {payload['fill']}")
    return bad


def test_every_fill_is_inside_a_lock_hold_of_its_worker(runs):
    for mode, result in runs.items():
        fills = kinds(result.events(), "order.fill")
        assert fills, mode
        assert _fills_outside_lock_hold(result) == [], mode


def test_lock_hold_check_sees_a_fill_outside_a_hold(runs):
    """The checker above is not vacuous: moving one fill after its release is caught."""
    result = runs["thread"]
    events = result.events()
    fill = kinds(events, "order.fill")[0]
    release = next(e for e in events if e.seq > fill.seq and e.worker == fill.worker and e.kind == "lock.invoke"
                   and e.payload["op"] == "release")
    moved = History(result.run_id)
    shifted = [e for e in events if e is not fill]
    moved.extend(shifted)
    moved.extend([type(fill)(release.seq, fill.mono_ns, fill.wall, fill.run_id, fill.worker, fill.symbol, fill.kind,
                             fill.payload)])
    fake = RunResult(result.run_id, result.config, moved, result.aggregator, result.guardian, 0.0)
    assert len(_fills_outside_lock_hold(fake)) == 1


# -- Failing tests: library bugs (see the report); not committed --------------------------


def test_replace_and_incremental_final_states_agree_when_symbols_close_no_trade():
    """A run that ends before any trade: both modes must leave the same aggregator state."""
    results = {agg: run(run_config({"seed": SEED, "duration": 1e-9, "aggregation": agg}), LockTable())
               for agg in ("incremental", "replace")}
    assert all(not kinds(r.events(), "trade.closed") for r in results.values())
    assert results["replace"].aggregator == results["incremental"].aggregator
    assert results["replace"].aggregator == _recomputed(results["replace"])


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_every_guarded_write_is_recorded_with_its_holder_and_token(runs, mode):
    """Ledger, exposure book and aggregator each record fence.accept for every write they take."""
    events = runs[mode].events()
    accepts = defaultdict(list)
    for event in kinds(events, "fence.accept"):
        accepts[event.payload["resource"]].append(event)
    fills, closed = kinds(events, "order.fill"), kinds(events, "trade.closed")
    assert (len(accepts["ledger"]), len(accepts["exposure"]), len(accepts["aggregator"])) == (
        len(fills), len(fills), len(closed))
    grants = {(e.worker, n): e.payload["tokens"][n] for e in kinds(events, "lock.ok")
              if e.payload["op"] == "acquire" for n in e.payload["names"]}
    for event in accepts["ledger"] + accepts["exposure"]:
        assert isinstance(event.payload["token"], int) and event.worker.startswith(event.symbol)
        assert (event.worker, event.payload["lock"]) in grants
    assert all(e.payload.get("deferred", False) is (mode == "process") for e in accepts["aggregator"])
