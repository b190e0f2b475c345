"""What a person sees while a run goes: one rich progress bar per symbol, then the verdict.

Quiet when stdout is not a terminal or when ``CI`` is set: CI logs get the verdict lines
only, not redraw noise.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.config import RunConfig
from harness.gates import money, percent


def interactive() -> bool:
    """True when progress bars help: a terminal, and not under CI."""
    return sys.stdout.isatty() and not os.environ.get("CI")


@contextlib.contextmanager
def symbol_progress(run: RunConfig) -> Iterator[Callable[[str], None] | None]:
    """A callback advancing the symbol's bar by one closed trade (None when quiet)."""
    if not interactive():
        yield None
        return
    columns = [TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True) as progress:
        tasks = {name: progress.add_task(name, total=run.trades) for name in run.symbol_names}
        yield lambda symbol: progress.advance(tasks[symbol]) if symbol in tasks else None


def _symbol_table(verdict) -> Table | None:
    """Per-symbol trades, PnL and win rate from the performance evidence (None without it)."""
    perf = next((ev for ev in verdict.evidence if ev.area == "Performance Metrics"), None)
    if perf is None:
        return None
    table = Table(title=f"{perf.figures['total_trades']} trades, {perf.figures['throughput_trades_per_s']:.1f} trades/s")
    for column in ("symbol", "trades", "PnL", "win rate"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for name, s in perf.figures["per_symbol"].items():
        table.add_row(name, str(s["trades"]), money(s["pnl"]), percent(s["win_rate"]))
    return table


def print_verdict(verdict, out: Path | None = None) -> None:
    """The gate table and the UnifiedGate line (plain text when not a terminal)."""
    console = Console(no_color=not interactive(), highlight=False, soft_wrap=True)
    table = Table(title=f"{verdict.scenario.name} (seed {verdict.config.run.seed})")
    table.add_column("gate")
    table.add_column("status")
    table.add_column("first failing fact")
    for gate in verdict.gates:
        failing = next((line.text for line in gate.lines if not line.ok), "")
        table.add_row(gate.area, gate.status, failing)
    console.print(table)
    symbols = _symbol_table(verdict)
    if symbols is not None:
        console.print(symbols)
    console.print(f"[UnifiedGate] {verdict.scenario.name.upper()} {verdict.status}")
    if out is not None:
        console.print(f"report: {out}")
    if not verdict.passed:
        console.print(f"reproduce: {verdict.command}")
