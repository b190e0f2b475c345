"""Feed coverage: when a finite price feed ran out, did every symbol still make its trades and end flat?

Recomputed from the history alone: trades from ``trade.closed``, the open position from the
signed quantities of ``order.fill``, the ask from ``run.start``. A symbol whose feed ended
before it made the trades asked for is a failing fact, unless the run said ``--trades`` was
only an upper bound (``until_feed_ends``); a position left open at the end always is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from harness.history.events import FEED_END, ORDER_FILL, RUN_START, TRADE_CLOSED, f
from harness.history.log import Event
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line

AREA = "Feed Coverage"


@evidence_record
class FeedCoverageFigures:
    """Whether the symbols whose feed ran out still made their trades and ended flat."""

    symbols: int = f("symbols run.start names", "count")
    feeds_ended: int = f("symbols whose feed ran out (feed.end)", "count")
    trades_asked: int | None = f("trades per symbol run.start asks for", "count")
    short_symbols: int = f("symbols whose feed ended before they made the trades asked", "count")
    open_positions: int = f("symbols left with an open position", "count")
    until_feed_ends: bool = f("the trades asked were only an upper bound (--until-feed-ends)")


def feed_ended(events: Sequence[Event]) -> bool:
    """Whether any symbol's feed ran out in this history."""
    return any(e.kind == FEED_END for e in events)


def check_feed_coverage(events: Sequence[Event], until_feed_ends: bool = False) -> Evidence[FeedCoverageFigures]:
    """Per symbol: trades asked and made, whether its feed ended, the position left open."""
    start = next((e for e in events if e.kind == RUN_START), None)
    asked = None if start is None else start.payload.get("trades")
    symbols = [] if start is None else list(start.payload.get("symbols", []))
    made = Counter(e.symbol for e in events if e.kind == TRADE_CLOSED)
    ended = {e.symbol: e.payload.get("ticks") for e in events if e.kind == FEED_END}
    position: dict[str, Decimal] = {name: Decimal(0) for name in symbols}
    for e in events:
        if e.kind == ORDER_FILL and e.symbol is not None:
            sign = 1 if e.payload["side"] == "BUY" else -1
            position[e.symbol] = position.get(e.symbol, Decimal(0)) + sign * Decimal(str(e.payload["qty"]))
    short = [{"symbol": name, "asked": asked, "made": made[name], "ticks": ended[name]}
             for name in symbols if name in ended and asked is not None and made[name] < asked]
    open_ = [{"symbol": name, "position": str(qty)} for name, qty in position.items() if qty != 0]
    figures = FeedCoverageFigures(symbols=len(symbols), feeds_ended=len(ended), trades_asked=asked,
                                  short_symbols=len(short), open_positions=len(open_), until_feed_ends=until_feed_ends)
    return Evidence(AREA, figures, {"short": tuple(short), "open": tuple(open_)})


def gate_feed_coverage(ev: Evidence[FeedCoverageFigures], thresholds: object = None) -> GateResult:
    """Fewer trades than asked fails unless --until-feed-ends; an open position left fails."""
    fig = ev.figures
    short = ev.counterexample("short")
    detail = "; ".join(f"{s['symbol']} {s['made']}/{s['asked']} after {s['ticks']} ticks" for s in short)
    size = Line(not short or fig.until_feed_ends,
                f"Trades: {fig.feeds_ended} feed(s) ended, {fig.short_symbols} symbol(s) short of "
                f"{fig.trades_asked} trades" + (f" ({detail})" if detail else "")
                + (" -- allowed by --until-feed-ends" if short and fig.until_feed_ends else ""))
    flat = Line(fig.open_positions == 0, f"Open positions left when the feeds ended: {fig.open_positions}")
    return GateResult("feed_coverage", ev.area, (size, flat), {"short": short, "open": ev.counterexample("open")})
