"""Metrics aggregator: REPLACE and INCREMENTAL converge; duplicates, gaps, stale snapshots; rates from counts."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history.log import History, normalise
from harness.system.aggregator import MetricsAggregator, SymbolMetrics
from harness.system.locks.fence import Fence, StaleToken
from tests._builders import of_kind, trade

SYMBOLS = ("AAA", "BBB", "CCC")

trade_lists = st.dictionaries(
    st.sampled_from(SYMBOLS),
    st.lists(st.integers(-500, 500).map(lambda c: Decimal(c) / 100), min_size=1, max_size=12),
    min_size=1,
)


def _trades(pnls: dict[str, list[Decimal]]):
    return {sym: [trade(p, sym, n) for n, p in enumerate(values, 1)] for sym, values in pnls.items()}


def _updates(trades, mode: str):
    """Every update a worker would send: deltas (INCREMENTAL) or prefix snapshots (REPLACE)."""
    out = []
    for sym, ts in trades.items():
        for n in range(1, len(ts) + 1):
            if mode == "incremental":
                out.append((sym, SymbolMetrics.of_trade(ts[n - 1], n)))
            else:
                out.append((sym, SymbolMetrics.of_trades(ts[:n])))
    return out


def _feed(agg: MetricsAggregator, mode: str, updates, threads: int) -> None:
    chunks = [updates[i::threads] for i in range(threads)]
    start = threading.Barrier(threads, timeout=10)

    def worker(chunk):
        start.wait()
        for sym, metrics in chunk:
            (agg.apply if mode == "incremental" else agg.replace)(sym, metrics)

    pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


@settings(max_examples=80, deadline=None)
@given(pnls=trade_lists, data=st.data())
def test_replace_and_incremental_reach_the_same_state_in_any_order_and_thread_count(pnls, data):
    trades = _trades(pnls)
    expected = {sym: SymbolMetrics.of_trades(ts) for sym, ts in sorted(trades.items())}
    finals = {}
    for mode in ("incremental", "replace"):
        updates = _updates(trades, mode)
        dupes = data.draw(st.lists(st.sampled_from(updates), max_size=6), label=f"{mode} duplicates")
        order = data.draw(st.permutations(updates + dupes), label=f"{mode} order")
        threads = data.draw(st.integers(1, 4), label=f"{mode} threads")
        agg = MetricsAggregator()
        _feed(agg, mode, order, threads)
        assert agg.symbols() == expected, mode
        everything = SymbolMetrics.of_trades(t for ts in trades.values() for t in ts)
        assert replace(agg.total(), seq=0) == replace(everything, seq=0)
        assert agg.total().win_rate == everything.win_rate
        finals[mode] = (agg.symbols(), agg.total())
        assert agg.total().pnl == sum((t.pnl for ts in trades.values() for t in ts), Decimal(0))
        assert agg.open_gaps() == {}
        if mode == "incremental":
            assert agg.statistics().duplicates == len(dupes)
            assert agg.statistics().applied == len(updates)
    assert finals["incremental"] == finals["replace"]


def _history_agg() -> tuple[History, MetricsAggregator]:
    history = History("run-agg")
    return history, MetricsAggregator(history)


def test_duplicate_delta_is_ignored_and_counted():
    history, agg = _history_agg()
    delta = SymbolMetrics.of_trade(trade("5"), 1)
    assert agg.apply("AAA", delta) == "applied"
    assert agg.apply("AAA", delta) == "duplicate"
    assert agg.symbols()["AAA"].trades == 1
    assert agg.statistics().duplicates == 1
    (dup,) = of_kind(history, "agg.duplicate")
    assert dup.payload == {"seq": 1, "expected": 2}


def test_gap_is_reported_and_closes_when_the_missing_delta_arrives():
    history, agg = _history_agg()
    deltas = [SymbolMetrics.of_trade(trade(p), n) for n, p in enumerate(["1", "-2", "3", "4", "5"], 1)]
    assert agg.apply("AAA", deltas[0]) == "applied"
    assert agg.apply("AAA", deltas[3]) == "held"
    assert agg.apply("AAA", deltas[4]) == "held"
    assert agg.open_gaps() == {"AAA": [2, 3]}
    assert agg.symbols()["AAA"].seq == 1, "held deltas are not applied yet"
    gaps = of_kind(history, "agg.gap")
    assert [(e.symbol, e.payload["seq"], e.payload["expected"]) for e in gaps] == [("AAA", 4, 2), ("AAA", 5, 2)]
    assert agg.apply("AAA", deltas[3]) == "duplicate", "a held delta sent again is a duplicate"
    assert agg.apply("AAA", deltas[1]) == "applied"
    assert agg.open_gaps() == {"AAA": [3]}
    assert agg.apply("AAA", deltas[2]) == "applied"
    assert agg.open_gaps() == {}
    final = agg.symbols()["AAA"]
    assert (final.seq, final.trades, final.pnl) == (5, 5, Decimal(11))
    stats = agg.statistics()
    assert (stats.applied, stats.held, stats.gaps_reported, stats.open_gaps, stats.duplicates) == (5, 2, 2, 0, 1)


def test_stale_replace_snapshot_is_ignored():
    _, agg = _history_agg()
    trades = [trade(p) for p in ["1", "2", "3"]]
    newer, older = SymbolMetrics.of_trades(trades), SymbolMetrics.of_trades(trades[:2])
    assert agg.replace("AAA", newer) is True
    assert agg.replace("AAA", older) is False
    assert agg.replace("AAA", newer) is False, "the same version again changes nothing"
    assert agg.symbols()["AAA"] == newer
    assert (agg.statistics().replaced, agg.statistics().stale_snapshots) == (1, 2)


def test_win_rate_comes_from_counts_and_breakeven_is_not_a_win():
    metrics = SymbolMetrics.of_trades([trade(p) for p in ["10", "0", "-5", "3", "0.00"]])
    assert (metrics.trades, metrics.wins, metrics.losses, metrics.breakeven) == (5, 2, 1, 2)
    assert metrics.win_rate == Decimal(2) / Decimal(5)
    assert (metrics.gross_profit, metrics.gross_loss, metrics.pnl) == (Decimal(13), Decimal(5), Decimal(8))
    assert SymbolMetrics().win_rate == 0


def test_seed_bug_averaging_per_update_win_rates_differs_from_wins_over_trades():
    """Seed: update 1 had 3 wins of 4 trades, update 2 one win of 1; it reported (3/4 + 1/1) / 2."""
    batches = [["5", "5", "5", "-5"], ["5"]]
    seed_average = sum(Decimal(sum(Decimal(p) > 0 for p in b)) / len(b) for b in batches) / len(batches)
    assert seed_average == Decimal("0.875")

    _, agg = _history_agg()
    n = 0
    for batch in batches:
        for p in batch:
            n += 1
            agg.apply("AAA", SymbolMetrics.of_trade(trade(p), n))
    rate = agg.symbols()["AAA"].win_rate
    assert rate == Decimal(4) / Decimal(5)
    assert rate != seed_average

    _, per_symbol = _history_agg()
    per_symbol.replace("AAA", SymbolMetrics.of_trades([trade(p) for p in batches[0]]))
    per_symbol.replace("BBB", SymbolMetrics.of_trades([trade(p) for p in batches[1]]))
    assert per_symbol.total().win_rate == Decimal("0.8") != seed_average


def test_fenced_write_with_an_older_token_is_rejected_and_recorded():
    history = History("run-fence")
    agg = MetricsAggregator(history, Fence("aggregator", history))
    first = SymbolMetrics.of_trade(trade("1"), 1)
    assert agg.apply("AAA", first, worker="w2", fence_token=("symbol:AAA", 2)) == "applied"
    with pytest.raises(StaleToken):
        agg.apply("AAA", SymbolMetrics.of_trade(trade("1"), 2), worker="w1", fence_token=("symbol:AAA", 1))
    with pytest.raises(StaleToken):
        agg.replace("AAA", SymbolMetrics.of_trades([trade("9")] * 3), worker="w1", fence_token=("symbol:AAA", 1))
    assert agg.symbols()["AAA"] == first, "the stale writer changed nothing"
    rejects = of_kind(history, "fence.reject")
    assert [(e.worker, e.payload["token"], e.payload["newest"], e.payload["resource"]) for e in rejects] == [
        ("w1", 1, 2, "aggregator"), ("w1", 1, 2, "aggregator"),
    ]
    assert agg.apply("AAA", SymbolMetrics.of_trade(trade("1"), 2), fence_token=("symbol:AAA", 2)) == "applied"
    assert agg.apply("BBB", first, fence_token=("symbol:BBB", 1)) == "applied", "tokens are per lock"


def test_metrics_payload_round_trips_through_json_values():
    metrics = SymbolMetrics.of_trades([trade(p) for p in ["1.25", "-0.50", "0"]])
    assert SymbolMetrics.from_payload(normalise(metrics.as_payload())) == metrics


def test_plus_adds_counts_and_money_and_keeps_the_newer_seq():
    a = SymbolMetrics.of_trades([trade("1"), trade("-2")])
    b = SymbolMetrics(seq=7, trades=1, wins=1, pnl=Decimal("3"), gross_profit=Decimal("3"))
    total = a.plus(b)
    assert (total.seq, total.trades, total.wins, total.losses, total.pnl) == (7, 3, 2, 1, Decimal(2))
