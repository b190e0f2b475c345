"""DisorderlyChannel: really duplicates and delays, yet both aggregators end at the exact sum."""

from __future__ import annotations

from decimal import Decimal

import pytest

from harness.faults.disorder import DisorderlyChannel
from harness.history.log import History
from harness.system.aggregator import MetricsAggregator, SymbolMetrics
from tests._builders import trade

PNLS = {"AAA": ["1.25", "-0.50", "0", "3.10", "-2.05", "0.01", "7", "-1"] * 3,
        "BBB": ["-4.40", "2.20", "0.33", "-0.33", "5"] * 4}


def _publish(channel: DisorderlyChannel) -> dict[str, SymbolMetrics]:
    """Publish every trade's delta in per-symbol order, interleaved; return the direct sums."""
    direct: dict[str, SymbolMetrics] = {}
    cursors = {name: 0 for name in PNLS}
    while any(cursors[n] < len(PNLS[n]) for n in PNLS):
        for name, pnls in PNLS.items():
            i = cursors[name]
            if i < len(pnls):
                delta = SymbolMetrics.of_trade(trade(pnls[i], symbol=name), i + 1)
                direct[name] = direct.get(name, SymbolMetrics()).plus(delta)
                channel.apply(name, delta, worker=f"{name}#0", fence_token=("symbol:" + name, i + 1))
                cursors[name] = i + 1
    return direct


@pytest.mark.parametrize("seed", [127, 2024])
def test_both_aggregators_end_at_the_direct_sum(seed):
    history = History("disorder")
    incremental, replacing = MetricsAggregator(history), MetricsAggregator()
    channel = DisorderlyChannel(incremental, replacing, seed)
    direct = _publish(channel)
    assert channel.symbols() == direct
    assert incremental.symbols() == direct
    assert replacing.symbols() == direct
    assert direct["AAA"].pnl == sum(map(Decimal, PNLS["AAA"]))
    stats = channel.statistics()
    published = sum(len(p) for p in PNLS.values())
    assert stats.published == published
    assert stats.duplicated > 0 and stats.delayed > 0
    assert stats.delivered == 2 * published + stats.duplicated
    kinds = {e.kind for e in history.events()}
    assert {"agg.duplicate", "agg.gap"} <= kinds  # the disorder reached the aggregator


def test_same_seed_same_disorder():
    def stats(seed):
        channel = DisorderlyChannel(MetricsAggregator(), MetricsAggregator(), seed)
        _publish(channel)
        channel.flush()
        return channel.statistics()

    assert stats(5) == stats(5)
    assert stats(5) != stats(6)


def test_no_disorder_delivers_each_message_once_in_order():
    history = History("orderly")
    channel = DisorderlyChannel(MetricsAggregator(history), MetricsAggregator(), 1, duplicate=0.0, delay=0.0)
    direct = _publish(channel)
    assert channel.symbols() == direct
    assert channel.statistics().duplicated == channel.statistics().delayed == 0
    assert not {"agg.duplicate", "agg.gap"} & {e.kind for e in history.events()}
