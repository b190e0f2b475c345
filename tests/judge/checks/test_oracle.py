"""The checkers' own model agrees with the engine's ledger on any fills -- two codes, one rule."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.judge.checks.oracle import Book, Breaker, BreakerState, OracleFill, tally
from harness.system.ledger import Ledger
from harness.system.model import Fill, Side, SymbolSpec

SPECS = (SymbolSpec("A", Decimal(100), Decimal("0.01"), Decimal(1), Decimal(0)),
         SymbolSpec("B", Decimal(1), Decimal("0.0001"), Decimal("0.001"), Decimal(0)))

fills = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 40), st.integers(1, 500_000),
                           st.integers(0, 900)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SPECS), fills, st.booleans())
def test_oracle_and_ledger_agree_on_random_fills(spec, raw, repeat):
    ledger, book = Ledger(spec), Book(spec.tick * spec.lot)
    for n, (side, lots, ticks, fee_cents) in enumerate(raw):
        fill = Fill(f"F{n}", f"O{n}", spec.name, side, lots * spec.lot, ticks * spec.tick, Decimal(fee_cents) / 100)
        ours = OracleFill(fill.fill_id, spec.name, side.sign, fill.qty, fill.price, fill.fee)
        for _ in range(2 if repeat else 1):  # a repeated fill books nothing on either side
            closed = ledger.apply(fill)
            pnl = book.apply(ours)
            assert [t.pnl for t in closed] == ([] if pnl is None else [pnl])
        position = ledger.position
        assert (book.qty, book.cost, book.fees) == (position.qty, position.cost, position.open_fees)
    assert book.pnls == [t.pnl for t in ledger.trades]
    assert tally(book.pnls).pnl == ledger.realised


def test_breaker_trips_once_on_the_first_condition_that_holds():
    breaker = Breaker(None, Decimal(100), 3)
    state = BreakerState()
    reasons = [state.book(Decimal(p), breaker, Decimal(1000)) for p in ("-10", "-10", "-10", "-200")]
    assert reasons == [None, None, "consecutive_losses", None]
    assert (state.realised, state.streak, state.tripped) == (Decimal(-230), 4, "consecutive_losses")


def test_breakeven_resets_the_losing_streak():
    state = BreakerState()
    breaker = Breaker(None, None, 2)
    assert [state.book(Decimal(p), breaker, Decimal(1)) for p in ("-1", "0", "-1", "-1")] == [None, None, None,
                                                                                               "consecutive_losses"]
