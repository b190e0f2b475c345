"""Price feeds: seeded per-symbol random walks, and replay of OHLC CSV files (one per symbol).

A symbol's walk depends only on (run seed, symbol name), never on which thread or process
reads it or in what order, which is what makes a run's per-symbol trades reproducible in
every concurrency mode. Steps are whole ticks drawn from an integer RNG, so no float is
ever involved in a price. A CSV's closes are replayed exactly as written: the symbol's tick
is inferred from the data unless given, and a close off a given tick is an error naming its
row, never silently re-rounded.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.inputs import read_bounded
from harness.settings import sane_decimal
from harness.system.model import SymbolSpec, Tick, derive_seed


class FeedError(InputError):
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


PRICE_COLUMNS = ("open", "high", "low", "close")
DELIMITERS = ",;\t"


@dataclass(frozen=True)
class PriceRow:
    """One bar's close, and the line of the file it came from (errors name it)."""

    line: int
    close: Decimal


def read_closes(path: Path) -> tuple[PriceRow, ...]:
    """The close of every bar of an OHLC CSV, checked; headers are matched case-insensitively.

    The first column is the time, whatever its name (Date, Datetime, Gmt time or blank, as
    pandas writes an index); open/high/low/close are found by name (``<CLOSE>`` as MetaTrader
    writes it too), in any order; other columns are ignored. Comma, semicolon or tab separated.
    """
    try:
        text = read_bounded(path, "price file").decode("utf-8-sig")
    except (InputError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read price file: {exc}" if isinstance(exc, UnicodeDecodeError)
                        else str(exc)) from None
    header = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","
    try:
        lines = list(csv.reader(text.splitlines(), delimiter=delimiter))
    except csv.Error as exc:  # a field past csv's limit (131,072 characters), a NUL
        raise FeedError(f"{path}: not a price file: {exc}") from None
    if not lines:
        raise FeedError(f"{path}:1: empty price file (expected a header with open,high,low,close)")
    columns = _columns(path, lines[0])
    rows = tuple(_parse_row(path, number, row, columns, len(lines[0]))
                 for number, row in enumerate(lines[1:], start=2) if any(cell.strip() for cell in row))
    if not rows:
        raise FeedError(f"{path}: no price rows after the header")
    return rows


def _columns(path: Path, header: list[str]) -> tuple[int, ...]:
    names = [cell.strip().strip("<>").strip().lower() for cell in header]
    missing = [name for name in PRICE_COLUMNS if name not in names]
    if missing:
        raise FeedError(f"{path}:1: header has no {', '.join(missing)} column (got {','.join(header)!r})")
    return tuple(names.index(name) for name in PRICE_COLUMNS)


def _parse_row(path: Path, line: int, row: list[str], columns: tuple[int, ...], width: int) -> PriceRow:
    if len(row) != width:
        raise FeedError(f"{path}:{line}: expected {width} columns, got {len(row)}")
    try:
        open_, high, low, close = (Decimal(row[i].strip()) for i in columns)
    except InvalidOperation:
        raise FeedError(f"{path}:{line}: prices must be decimal numbers: {[row[i][:40] for i in columns]}") from None
    if not all(p.is_finite() and p > 0 for p in (open_, high, low, close)):
        raise FeedError(f"{path}:{line}: prices must be positive")
    if any(sane_decimal(p) is None for p in (open_, high, low, close)):  # 1e999999999 overflows the arithmetic
        raise FeedError(f"{path}:{line}: prices must have at most 28 digits and an exponent within +-28")
    if high < max(open_, close, low) or low > min(open_, close, high):
        raise FeedError(f"{path}:{line}: high/low do not bound open/close")
    return PriceRow(line, close)


def infer_tick(rows: Sequence[PriceRow]) -> Decimal:
    """The price step the data is quoted in: one unit of the most decimals any close is written with."""
    places = max(-min(0, int(row.close.as_tuple().exponent)) for row in rows)
    return Decimal(1).scaleb(-places)


def off_tick(path: Path, rows: Sequence[PriceRow], tick: Decimal) -> str | None:
    """The first close that is not a whole number of ticks, as ``FILE:LINE: ...`` (None when all are)."""
    for row in rows:
        if row.close % tick:
            return (f"{path}:{row.line}: close {row.close} is not a multiple of the tick {tick} "
                    "(prices are never re-rounded)")
    return None


@dataclass(frozen=True)
class CsvFeed:
    """Replays each symbol's closes from its own OHLC CSV, exactly as written (picklable for workers)."""

    files: tuple[tuple[str, str], ...]  # (symbol, path): plain strings, so the config reports as JSON

    def path(self, symbol: str) -> Path:
        """The file of ``symbol``."""
        for name, path in self.files:
            if name == symbol:
                return Path(path)
        raise FeedError(f"feed: no price file for symbol {symbol} (files: {', '.join(n for n, _ in self.files)})")

    def __call__(self, spec: SymbolSpec, seed: int) -> Iterator[Tick]:
        """The closes of ``spec``'s file in order; a close off the symbol's tick is a FeedError naming the row."""
        path = self.path(spec.name)
        rows = read_closes(path)
        wrong = off_tick(path, rows, spec.tick)
        if wrong:
            raise FeedError(wrong)
        for index, row in enumerate(rows):
            yield Tick(spec.name, index, row.close)


def parse_feed(text: str, symbols: Sequence[str]) -> CsvFeed:
    """``csv:FILE`` (its stem is the symbol), ``csv:DIR`` (DIR/<symbol>.csv each) or ``SYM=FILE,SYM=FILE``."""
    text = text.strip()
    if text.startswith("csv:"):
        path = Path(text[4:])
        if path.is_dir():
            return CsvFeed(tuple((name, str(path / f"{name}.csv")) for name in symbols))
        return CsvFeed(((path.stem, str(path)),))
    pairs = []
    for part in text.split(","):
        name, sep, file = part.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise FeedError(f"feed: expected csv:PATH or SYMBOL=FILE[,SYMBOL=FILE...], got {text!r}")
        pairs.append((name.strip(), file.strip()))
    return CsvFeed(tuple(pairs))


def fit_specs(specs: Sequence[SymbolSpec], feed: CsvFeed, given: Mapping[str, Any]) -> tuple[SymbolSpec, ...]:
    """Each symbol's spec fitted to its price file: the tick inferred unless ``given[name]`` sets it
    (then every close must lie on it), the price level the first close unless given."""
    fitted = []
    for spec in specs:
        path = feed.path(spec.name)
        rows = read_closes(path)
        settings = given.get(spec.name, {})
        tick = spec.tick if "tick" in settings else infer_tick(rows)
        wrong = off_tick(path, rows, tick)
        if wrong:
            raise FeedError(wrong)
        price = spec.price if "price" in settings else rows[0].close
        fitted.append(dataclasses.replace(spec, tick=tick, price=price))
    return tuple(fitted)


def anchor_feed(value: str | Mapping[str, str], directory: Path) -> str | Mapping[str, str]:
    """A feed setting with each relative file path joined to ``directory`` (absolute ones kept)."""
    def join(path: str) -> str:
        return path if Path(path).is_absolute() else str(directory / path)

    if isinstance(value, Mapping):
        return {name: join(str(path)) for name, path in value.items()}
    if value.startswith("csv:"):
        return "csv:" + join(value[4:])
    if "=" not in value:
        return value
    parts = (part.partition("=") for part in value.split(","))
    # A malformed part is kept as written, for parse_feed to refuse with the user's own text.
    return ",".join(f"{name}={join(path.strip())}" if sep and path.strip() else name + sep + path
                    for name, sep, path in parts)


def is_data_feed(text: str) -> bool:
    """Whether a --feed value names price files (not a ``module:factory`` plug-in)."""
    return text.startswith("csv:") or "=" in text


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
