"""Price feeds: seeded per-symbol random walks, and replay of an OHLC CSV file.

A symbol's walk depends only on (run seed, symbol name), never on which thread or process
reads it or in what order, which is what makes a run's per-symbol trades reproducible in
every concurrency mode. Steps are whole ticks drawn from an integer RNG, so no float is
ever involved in a price.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from harness.model import SymbolSpec, Tick, derive_seed


class FeedError(ValueError):
    """A feed could not produce prices (bad file, injected failure)."""


def seeded_feed(spec: SymbolSpec, seed: int) -> Iterator[Tick]:
    """Endless mean-reverting walk of ``spec``'s price in whole ticks, reproducible from ``seed``."""
    rng = random.Random(derive_seed(seed, spec.name, "feed"))
    base = ticks = int(spec.price / spec.tick)
    floor = max(1, ticks // 10)
    # Largest random step in ticks: price x volatility, at least one tick; the pull back
    # towards the base level is a tenth of the distance, in whole ticks (integer division).
    width = max(1, int(spec.price * spec.volatility / spec.tick))
    index = 0
    while True:
        yield Tick(spec.name, index, ticks * spec.tick)
        ticks = max(floor, ticks + rng.randint(-width, width) + (base - ticks) // 10)
        index += 1


CSV_COLUMNS = ("timestamp", "open", "high", "low", "close")


def csv_feed(path: Path, spec: SymbolSpec) -> Iterator[Tick]:
    """Replay the close prices of an OHLC CSV (timestamp,open,high,low,close[,volume])."""
    rows = list(_read_ohlc(path))
    for index, close in enumerate(rows):
        yield Tick(spec.name, index, spec.price_q(close))


def _read_ohlc(path: Path) -> Iterator[Decimal]:
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise FeedError(f"{path}: cannot open price file: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if tuple(header[:5]) != CSV_COLUMNS or len(header) > 6 or (len(header) == 6 and header[5] != "volume"):
            raise FeedError(f"{path}:1: header must be {','.join(CSV_COLUMNS)}[,volume], got {','.join(header)!r}")
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            yield _parse_row(path, lineno, row, len(header))


def _parse_row(path: Path, lineno: int, row: list[str], width: int) -> Decimal:
    if len(row) != width:
        raise FeedError(f"{path}:{lineno}: expected {width} columns, got {len(row)}")
    try:
        open_, high, low, close = (Decimal(cell.strip()) for cell in row[1:5])
    except InvalidOperation:
        raise FeedError(f"{path}:{lineno}: prices must be decimal numbers: {row[1:5]}") from None
    if not all(p.is_finite() and p > 0 for p in (open_, high, low, close)):
        raise FeedError(f"{path}:{lineno}: prices must be positive")
    if high < max(open_, close, low) or low > min(open_, close, high):
        raise FeedError(f"{path}:{lineno}: high/low do not bound open/close")
    return close


class FaultyFeed:
    """Feed factory that makes one symbol's feed fail after ``after`` ticks.

    ``how="raise"`` raises FeedError (a feed error the worker sees); ``how="crash"`` ends
    the whole process at once with ``os._exit`` (a hard crash: only for process mode,
    where the process is that symbol's worker). Picklable, so spawned workers get it.
    """

    def __init__(self, symbol: str, after: int, how: str = "raise", exit_code: int = 70) -> None:
        if how not in ("raise", "crash"):
            raise ValueError(f"how must be 'raise' or 'crash', got {how!r}")
        self.symbol, self.after, self.how, self.exit_code = symbol, after, how, exit_code

    def __call__(self, spec: SymbolSpec, seed: int) -> Iterator[Tick]:
        """The seeded feed of ``spec``, failing after ``after`` ticks for the chosen symbol."""
        for tick in seeded_feed(spec, seed):
            if spec.name == self.symbol and tick.index >= self.after:
                if self.how == "crash":
                    os._exit(self.exit_code)
                raise FeedError(f"{spec.name}: injected feed failure at tick {tick.index}")
            yield tick
