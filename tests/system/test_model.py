"""Domain value types: quantizing, seeds, symbol specs, signed quantities, trade outcomes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from harness.system.model import DEFAULT_SYMBOLS, ClosedTrade, Order, Side, derive_seed, quantize, symbol_specs


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [("0.125", "0.01", "0.12"), ("0.135", "0.01", "0.14"), ("7", "5", "5"), ("-0.005", "0.01", "-0.00"),
     ("43250.004", "0.01", "43250.00"), ("2.5", "1", "2")],
)
def test_quantize_rounds_half_to_even_to_a_multiple_of_the_step(value, step, expected):
    assert quantize(Decimal(value), Decimal(step)) == Decimal(expected)


def test_derive_seed_is_stable_and_separates_streams():
    assert derive_seed(127, "BTC", "feed") == derive_seed(127, "BTC", "feed")
    seeds = {derive_seed(127, "BTC", "feed"), derive_seed(127, "ETH", "feed"),
             derive_seed(127, "BTC", "venue"), derive_seed(128, "BTC", "feed")}
    assert len(seeds) == 4
    assert all(0 <= s < 2**64 for s in seeds)


def test_side_sign_and_signed_quantities():
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    order = Order("o", "A", Side.SELL, Decimal("2.5"), Decimal("10"))
    assert order.signed_qty == Decimal("-2.5")


@pytest.mark.parametrize(("pnl", "outcome"), [("0.01", "win"), ("-0.01", "loss"), ("0", "breakeven"), ("0.00", "breakeven")])
def test_trade_outcome_breakeven_is_not_a_win(pnl, outcome):
    one = Decimal(1)
    assert ClosedTrade("A", "t", Side.BUY, one, one, one, one, Decimal(pnl)).outcome == outcome


def test_symbol_specs_defaults_known_names_and_synthesised_ones():
    assert symbol_specs() == DEFAULT_SYMBOLS
    btc, new = symbol_specs(["BTCUSD.s", "NEWSYM"])
    assert btc == DEFAULT_SYMBOLS[0]
    assert new.name == "NEWSYM" and 100 <= new.price < 1000 and new.tick == Decimal("0.01")
    assert symbol_specs(["NEWSYM"])[0] == new, "a synthesised spec does not change between calls"


@pytest.mark.parametrize("names", [["A B"], [""], ["A,B"], ["A", "A"]], ids=["space", "empty", "comma", "dup"])
def test_symbol_specs_refuses_bad_or_repeated_names(names):
    with pytest.raises(ValueError):
        symbol_specs(names)
