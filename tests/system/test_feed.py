"""Price feeds: seeded walks are reproducible per symbol and tick-aligned; CSV replay errors name the line."""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.system.feed import CsvFeed, FeedError, infer_tick, read_closes, seeded_feed
from harness.system.model import DEFAULT_SYMBOLS, SymbolSpec
from tests._builders import spec

BTC, ETH = DEFAULT_SYMBOLS[0], DEFAULT_SYMBOLS[1]


def _take(feed, n: int) -> list:
    return list(itertools.islice(feed, n))


def test_same_seed_gives_the_same_ticks_and_another_seed_another_walk():
    first = _take(seeded_feed(BTC, 7), 300)
    assert first == _take(seeded_feed(BTC, 7), 300)
    assert [t.price for t in first] != [t.price for t in _take(seeded_feed(BTC, 8), 300)]
    assert [t.index for t in first] == list(range(300))
    assert {t.symbol for t in first} == {BTC.name}


def test_walk_of_one_symbol_does_not_depend_on_reading_another():
    alone = _take(seeded_feed(BTC, 11), 200)
    a, b = seeded_feed(BTC, 11), seeded_feed(ETH, 11)
    interleaved = []
    for _ in range(200):
        next(b)
        interleaved.append(next(a))
        next(b)
    assert interleaved == alone


def test_two_symbols_with_the_same_spec_but_other_names_walk_differently():
    other = SymbolSpec("OTHER", BTC.price, BTC.tick, BTC.lot, BTC.volatility)
    assert [t.price for t in _take(seeded_feed(BTC, 3), 100)] != [t.price for t in _take(seeded_feed(other, 3), 100)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    tick=st.sampled_from(["0.01", "0.05", "0.25", "1"]),
    level=st.integers(1, 5000),
    vol=st.sampled_from(["0", "0.0001", "0.01", "0.2"]),
)
def test_prices_are_positive_whole_multiples_of_the_tick(seed, tick, level, vol):
    s = SymbolSpec("S", Decimal(level), Decimal(tick), Decimal(1), Decimal(vol))
    ticks = _take(seeded_feed(s, seed), 200)
    assert ticks[0].price == (Decimal(level) / Decimal(tick)).to_integral_value(rounding="ROUND_DOWN") * Decimal(tick)
    for t in ticks:
        assert t.price > 0
        assert t.price % s.tick == 0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


GOOD = "timestamp,open,high,low,close\n1,100,101,99,100.5\n2,100.5,102,100,101.25\n"


def _replay(path: Path, s: SymbolSpec) -> list:
    return list(CsvFeed(((s.name, str(path)),))(s, 0))


def test_csv_replay_yields_the_closes_exactly_as_written(tmp_path):
    ticks = _replay(_write(tmp_path, GOOD), spec("X"))
    assert [(t.symbol, t.index, t.price) for t in ticks] == [("X", 0, Decimal("100.5")), ("X", 1, Decimal("101.25"))]


@pytest.mark.parametrize("header", [" Timestamp , OPEN,high,low,close,Volume", ",Open,High,Low,Close,Adj Close,Volume",
                                    "Date,Close,Low,High,Open,Volume", "datetime,open,high,low,close",
                                    "Gmt time,Open,High,Low,Close,Volume", "Date;Open;High;Low;Close",
                                    "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>"])
def test_common_ohlc_headers_are_accepted(tmp_path, header):
    sep = ";" if ";" in header else "\t" if "\t" in header else ","
    names = [h.strip().strip("<>").lower() for h in header.split(sep)]
    bar = {"open": "100", "high": "101", "low": "99", "close": "100.5"}
    row = sep.join(bar.get(n, "2024-01-02" if i == 0 else "7") for i, n in enumerate(names))
    ticks = _replay(_write(tmp_path, f"{header}\n{row}\n\n{row}\n"), spec("X"))
    assert [t.price for t in ticks] == [Decimal("100.5")] * 2


def test_a_close_off_the_tick_is_an_error_naming_its_row_never_re_rounded(tmp_path):
    path = _write(tmp_path, GOOD + "3,101,102,100,101.004\n")
    with pytest.raises(FeedError, match=rf"^{path}:4: close 101.004 is not a multiple of the tick 0.01"):
        _replay(path, spec("X"))


def test_the_tick_is_inferred_from_the_most_decimals_in_the_data(tmp_path):
    rows = read_closes(_write(tmp_path, "Date,Open,High,Low,Close\nd,1.1,1.2,1.0,1.1\nd,1.1,1.2,1.0,1.08345\n"))
    assert infer_tick(rows) == Decimal("0.00001")
    assert infer_tick(read_closes(_write(tmp_path, "Date,Open,High,Low,Close\nd,40000,40100,39900,40050\n"))) == 1


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Date,Open,High,Low\n1,1,1,1\n", 1, "no close column"),
        ("", 1, "header"),
        (GOOD + "3,100,101,99\n", 4, "expected 5 columns, got 4"),
        ("timestamp,open,high,low,close,volume\n1,100,101,99,100\n", 2, "expected 6 columns, got 5"),
        (GOOD + "3,100,abc,99,100\n", 4, "decimal numbers"),
        ("timestamp,open,high,low,close\n1,100,99,101,100\n", 2, "high/low"),
        ("timestamp,open,high,low,close\n1,100,105,99,106\n", 2, "high/low"),
        ("timestamp,open,high,low,close\n1,100,101,-1,100\n", 2, "positive"),
        ("timestamp,open,high,low,close\n1,100,NaN,99,100\n", 2, "positive"),
        ("timestamp,open,high,low,close\n1,1e999999999,1e999999999,1e999999999,1e999999999\n", 2, "28 digits"),
        ("timestamp,open,high,low,close\n1,100,101,99," + "1" * 29 + "\n", 2, "28 digits"),
    ],
    ids=["no-close", "empty-file", "short-row", "missing-volume",
         "non-number", "high-below-low", "close-above-high", "negative", "nan", "huge-exponent", "29-digits"],
)
def test_malformed_csv_gives_feed_error_naming_the_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(FeedError) as err:
        _replay(path, spec("X"))
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert words in str(err.value)


def test_a_field_past_the_csv_limit_is_one_feed_error(tmp_path):
    path = _write(tmp_path, "timestamp,open,high,low,close\n1,100,101,99,100\n\"" + "9" * 200_000 + "\",1,1,1,1\n")
    with pytest.raises(FeedError, match=f"^{path}: not a price file: field larger than field limit"):
        _replay(path, spec("X"))


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_price_file_that_is_no_regular_file_is_refused_not_read(tmp_path, kind):
    path = tmp_path / "prices.csv"
    if kind == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/zero")  # never ends
    with pytest.raises(FeedError, match=f"^{path}: not a regular file"):
        _replay(path, spec("X"))


def test_csv_replay_of_a_missing_file_names_it(tmp_path):
    path = tmp_path / "none.csv"
    with pytest.raises(FeedError, match=f"^{path}: cannot read"):
        _replay(path, spec("X"))
