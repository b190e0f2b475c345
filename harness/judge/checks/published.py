"""Every figure an aggregator state publishes, against the checkers' model of the trades it covers.

A state (a snapshot, the sum of the deltas applied so far, the final state per symbol and in
total) may carry any figures. Each one this model recomputes from the closed trades the state
covers is judged: the counts and PnL, gross profit and gross loss (sums of the winning trades'
PnL and of the losing trades' |PnL|), the win rate and profit factor (ratios of those, judged
at the precision published), and the deepest drawdown of the cumulative PnL. A figure the
model cannot recompute is named as "not judged", never skipped in silence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from harness.judge.checks.oracle import Tally

ZERO = Decimal(0)
ADDITIVE = ("trades", "wins", "losses", "breakeven", "pnl", "gross_profit", "gross_loss")
RATIOS = ("win_rate", "profit_factor")
BOOKKEEPING = frozenset({"seq"})  # numbering of states and deltas: judged by the races area


@dataclass(frozen=True)
class Prefix(Tally):
    """The model's figures of a symbol's first ``trades`` closed trades (or of several symbols summed)."""

    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO
    peak: Decimal = ZERO
    max_drawdown: Decimal | None = ZERO  # None: a sum of symbols, whose common path the model does not know

    def then(self, pnl: Decimal) -> Prefix:
        """These figures with one more closed trade of PnL ``pnl``."""
        realised = self.pnl + pnl
        peak = max(self.peak, realised)
        drawdown = None if self.max_drawdown is None else max(self.max_drawdown, peak - realised)
        return Prefix(self.trades + 1, self.wins + (pnl > 0), self.losses + (pnl < 0), self.breakeven + (pnl == 0),
                      realised, self.gross_profit + max(pnl, ZERO), self.gross_loss + max(-pnl, ZERO), peak, drawdown)

    def beside(self, other: Prefix) -> Prefix:
        """Two symbols' figures summed (their drawdown is not a sum: not judged)."""
        sums = {name: getattr(self, name) + getattr(other, name) for name in ADDITIVE}
        return replace(self, **sums, peak=ZERO, max_drawdown=None)

    def figure(self, name: str) -> Decimal | None:
        """The model's value of a figure by its published name (None: a ratio without a denominator)."""
        if name == "win_rate":
            return self.win_rate
        if name == "profit_factor":
            return self.gross_profit / self.gross_loss if self.gross_loss else None
        return Decimal(getattr(self, name))

    def judges(self, name: str) -> bool:
        """True when the model recomputes the figure ``name``."""
        return name in ADDITIVE or name in RATIOS or (name == "max_drawdown" and self.max_drawdown is not None)


@dataclass(frozen=True)
class Judged:
    """One published state judged: the figures that differ from the model, and those it cannot judge."""

    wrong: tuple[str, ...]
    not_judged: tuple[str, ...]


def judge_state(shown: Mapping[str, Any], model: Prefix) -> Judged:
    """Every figure of ``shown`` against ``model``; names the model does not know are not judged."""
    wrong, unknown = [], []
    for name, value in shown.items():
        if name in BOOKKEEPING:
            continue
        if not model.judges(name):
            unknown.append(name)
        elif not _agrees(value, model.figure(name), exact=name not in RATIOS):
            wrong.append(name)
    return Judged(tuple(wrong), tuple(unknown))


def _agrees(value: Any, expected: Decimal | None, *, exact: bool) -> bool:
    """Money and counts are equal exactly; a ratio agrees to the last digit it was published with."""
    if value is None or expected is None:
        return value is None and expected is None
    published = Decimal(str(value))
    if exact or not published.is_finite():
        return published == expected
    exponent = published.as_tuple().exponent
    half_unit = Decimal(1).scaleb(int(exponent)) / 2
    return abs(published - expected) <= half_unit


def summed(state: Mapping[str, Any] | None, delta: Mapping[str, Any]) -> dict[str, Any]:
    """The state a delta leads to: its additive figures added to ``state``'s (a delta's others say nothing of it)."""
    before = state or {}
    return {name: Decimal(str(before.get(name, 0))) + Decimal(str(value)) for name, value in delta.items()
            if name in ADDITIVE}


def not_summed(delta: Mapping[str, Any]) -> tuple[str, ...]:
    """A delta's figures that do not add up to a state (a rate, a drawdown): not judged."""
    return tuple(name for name in delta if name not in ADDITIVE and name not in BOOKKEEPING)
