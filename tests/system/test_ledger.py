"""Ledger: exact realised PnL, cash reconciliation when flat, idempotent fills, flips and scale-ins."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.system.ledger import Ledger
from harness.system.model import Fill, Side
from tests._builders import fill, spec

SPEC = spec("TST", price="100", tick="0.05", lot="0.1")

raw_fills = st.lists(
    st.tuples(st.sampled_from(Side), st.integers(1, 30), st.integers(1000, 4000), st.integers(0, 999)),
    min_size=1, max_size=40,
)


def _fills(raw, close_price_ticks: int) -> list[Fill]:
    """Fills from (side, lots, price in ticks, fee in cents), then one that flattens what is open."""
    out, qty = [], Decimal(0)
    for n, (side, lots, ticks, cents) in enumerate(raw):
        f = Fill(f"F{n}", f"O{n}", "TST", side, lots * SPEC.lot, ticks * SPEC.tick, cents * Decimal("0.01"))
        out.append(f)
        qty += f.signed_qty
    if qty:
        side = Side.SELL if qty > 0 else Side.BUY
        out.append(Fill("FLAT", "OFLAT", "TST", side, abs(qty), close_price_ticks * SPEC.tick, Decimal("1.23")))
    return out


def _cash(fills: list[Fill]) -> Decimal:
    return sum((-f.signed_qty * f.price - f.fee for f in fills), Decimal(0))


@settings(max_examples=200, deadline=None)
@given(raw=raw_fills, close=st.integers(1000, 4000))
def test_realised_pnl_is_sum_of_trades_and_equals_cash_flow_once_flat(raw, close):
    fills = _fills(raw, close)
    ledger = Ledger(SPEC)
    signed = Decimal(0)
    for f in fills:
        ledger.apply(f)
        signed += f.signed_qty
        assert ledger.position.qty == signed
        assert ledger.realised == sum((t.pnl for t in ledger.trades), Decimal(0))
    assert ledger.position.qty == 0
    assert ledger.position.cost == 0 and ledger.position.open_fees == 0
    assert ledger.realised == _cash(fills), "flat: realised PnL is exactly the cash that moved"


@settings(max_examples=100, deadline=None)
@given(raw=raw_fills)
def test_every_closed_trade_is_quantized_and_positive_in_size(raw):
    ledger = Ledger(SPEC)
    for f in _fills(raw, 2000):
        for t in ledger.apply(f):
            assert t.qty > 0 and t.qty % SPEC.lot == 0
            assert t.entry % SPEC.tick == 0 and t.exit % SPEC.tick == 0
            assert t.fees % Decimal("0.01") == 0
            assert t.side in (Side.BUY, Side.SELL)


@settings(max_examples=100, deadline=None)
@given(raw=raw_fills, data=st.data())
def test_applying_any_fill_twice_is_a_no_op(raw, data):
    fills = _fills(raw, 2500)
    once, twice = Ledger(SPEC), Ledger(SPEC)
    for f in fills:
        once.apply(f)
    replays = data.draw(st.lists(st.sampled_from(fills), max_size=10))
    for f in fills:
        twice.apply(f)
        assert twice.apply(f) == ()
    for f in replays:
        assert twice.apply(f) == ()
    assert twice.state() == once.state()
    assert twice.trades == once.trades


def test_flip_closes_the_open_quantity_and_opens_the_rest_splitting_the_fee():
    ledger = Ledger(spec("A"))
    ledger.apply(fill("A", Side.BUY, "3", "100", "0.30"))
    (closed,) = ledger.apply(fill("A", Side.SELL, "5", "110", "1.00"))
    assert (closed.side, closed.qty, closed.entry, closed.exit) == (Side.BUY, Decimal(3), Decimal(100), Decimal(110))
    assert closed.fees == Decimal("0.90"), "entry fee 0.30 plus 3/5 of the flip fee"
    assert closed.pnl == Decimal("29.10")
    assert ledger.position.qty == Decimal(-2)
    assert ledger.position.cost == Decimal(-220)
    assert ledger.position.open_fees == Decimal("0.40"), "the rest of the flip fee stays with the new short"
    (short,) = ledger.apply(fill("A", Side.BUY, "2", "105", "0.10"))
    assert (short.side, short.entry, short.pnl) == (Side.SELL, Decimal(110), Decimal("9.50"))
    assert ledger.realised == Decimal("38.60")


def test_scale_in_uses_the_volume_weighted_entry():
    ledger = Ledger(spec("A"))
    ledger.apply(fill("A", Side.BUY, "2", "100"))
    ledger.apply(fill("A", Side.BUY, "3", "110"))
    assert ledger.position.entry == Decimal(106)
    (closed,) = ledger.apply(fill("A", Side.SELL, "5", "120"))
    assert (closed.entry, closed.pnl) == (Decimal("106.00"), Decimal(70))


def test_partial_close_allocates_cost_proportionally_and_the_rest_exactly():
    ledger = Ledger(spec("A"))
    ledger.apply(fill("A", Side.BUY, "1", "100", "0.01"))
    ledger.apply(fill("A", Side.BUY, "2", "101", "0.01"))
    first = ledger.apply(fill("A", Side.SELL, "1", "102"))[0]
    assert first.entry == Decimal("100.67"), "302/3 quantized to the tick"
    assert first.fees == Decimal("0.01")
    second = ledger.apply(fill("A", Side.SELL, "2", "102"))[0]
    assert first.pnl + second.pnl == Decimal(306 - 302) - Decimal("0.02")
    assert ledger.position.qty == 0 and ledger.position.cost == 0


def test_short_round_trip_gains_when_price_falls():
    ledger = Ledger(spec("A"))
    ledger.apply(fill("A", Side.SELL, "4", "50", "0.20"))
    (closed,) = ledger.apply(fill("A", Side.BUY, "4", "45", "0.20"))
    assert (closed.side, closed.pnl, closed.outcome) == (Side.SELL, Decimal("19.60"), "win")


def test_state_counts_fills_and_closed_trades():
    ledger = Ledger(spec("A"))
    ledger.apply(fill("A", Side.BUY, "1", "10"))
    ledger.apply(fill("A", Side.SELL, "1", "10"))
    state = ledger.state()
    assert (state.fills, state.closed, state.qty, state.realised) == (2, 1, 0, 0)
    assert ledger.trades[0].outcome == "breakeven"


def test_fill_of_another_symbol_is_refused():
    with pytest.raises(ValueError, match="got a fill of B"):
        Ledger(spec("A")).apply(fill("B", Side.BUY, "1", "10"))
