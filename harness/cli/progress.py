"""What a person sees while a run goes: one rich progress bar per symbol, then the verdict.

Quiet when stdout is not a terminal or when ``CI`` is set: CI logs get the verdict lines
only, not redraw noise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from harness.clock import Clock, monotonic_ns, seconds
from harness.judge.checks.delivery import check_delivery, delivery_lines
from harness.judge.checks.perf import AREA as PERF_AREA
from harness.judge.checks.perf import PerfFigures
from harness.judge.checks.pnl import AREA as PNL_AREA
from harness.judge.checks.pnl import AggregatorFigures
from harness.judge.evidence import figures_of
from harness.judge.gates import money, percent
from harness.run.scenario import Verdict
from harness.system.settings import RunConfig


def interactive() -> bool:
    """True when progress bars help: a terminal, and not under CI."""
    return sys.stdout.isatty() and not os.environ.get("CI")


class TimeBarColumn(ProgressColumn):
    """For ``--duration`` runs: elapsed of the known duration, whatever the trade count."""

    def __init__(self, duration: float, started: float, clock: Clock = monotonic_ns) -> None:
        super().__init__()
        self.duration, self.started, self.clock = duration, started, clock

    def render(self, task: Task) -> Text:
        """``12.3/60s [#####-----]``: elapsed against the duration (frozen where the symbol stopped)."""
        now = task.fields.get("stopped_at") or seconds(self.clock)
        elapsed = min(now - self.started, self.duration)
        width = 20
        filled = int(width * elapsed / self.duration) if self.duration else width
        return Text(f"{elapsed:5.1f}/{self.duration:g}s [" + "#" * filled + "-" * (width - filled) + "]")


class CountColumn(ProgressColumn):
    """``M/N`` for a bar with a total, nothing for a status line without one."""

    def render(self, task: Task) -> Text:
        """Trades done of trades asked."""
        return Text("" if task.total is None else f"{task.completed:.0f}/{task.total:.0f}", style="green")


class EtaColumn(TimeRemainingColumn):
    """``ETA 0:00:12`` while a symbol trades; nothing once it stopped (it will not finish)."""

    def render(self, task: Task) -> Text:
        """The time remaining, or blank for a stopped bar."""
        if task.stop_time is not None:
            return Text("")
        return Text.assemble("ETA ", super().render(task))


class SymbolBars:
    """The bars of one run: one per symbol, a reason when one stops, a status line at the end.

    Called as the engine's progress callback: ``bars(symbol)`` after a closed trade,
    ``bars(symbol, reason)`` when the symbol's worker stops. Once every symbol has stopped the
    run is being judged, which can take a while on a long history: a spinner line says so.
    """

    def __init__(self, progress: Progress, run: RunConfig, clock: Clock = monotonic_ns) -> None:
        self._progress, self._clock = progress, clock
        self._lock = threading.Lock()
        self._tasks = {name: progress.add_task(name, total=run.trades, status="") for name in run.symbol_names}
        self._stopped: dict[str, str] = {}
        self._judging = progress.add_task("checking the history", total=None, visible=False, status="")

    def __call__(self, symbol: str, reason: str | None = None, /) -> None:
        task = self._tasks.get(symbol)
        if task is None:
            return
        if reason is None:
            self._progress.advance(task)
            return
        with self._lock:
            first = self._stopped.setdefault(symbol, reason)
            # "done" follows a halt or a stall; the first reason is the one a person needs.
            self._progress.update(task, status="" if first == "done" else f"stopped early: {first}")
            if first == reason:  # a stopped bar's clock and time bar freeze, and it shows no ETA
                self._progress.update(task, stopped_at=seconds(self._clock))
                self._progress.stop_task(task)
            if len(self._stopped) == len(self._tasks):
                self._progress.update(self._judging, visible=True)

    @property
    def stopped(self) -> dict[str, str]:
        """Each stopped symbol's first reason."""
        return dict(self._stopped)


def _columns(run: RunConfig, clock: Clock) -> list[ProgressColumn]:
    head: list[ProgressColumn] = [SpinnerColumn(finished_text=" "), TextColumn("{task.description:>20}")]
    tail: list[ProgressColumn] = [TextColumn("{task.fields[status]}", style="yellow")]
    if run.duration is not None:
        return [*head, TimeBarColumn(run.duration, seconds(clock), clock), TextColumn("{task.completed:>6.0f} trades"),
                *tail]
    return [*head, BarColumn(), CountColumn(), TimeElapsedColumn(), EtaColumn(), *tail]


@contextlib.contextmanager
def symbol_progress(run: RunConfig, *, force: bool = False, console: Console | None = None,
                    clock: Clock = monotonic_ns) -> Iterator[SymbolBars | None]:
    """The engine's progress callback (None when quiet: off a terminal, or under CI)."""
    if not (force or interactive()):
        yield None
        return
    with Progress(*_columns(run, clock), console=console, transient=True) as progress:
        yield SymbolBars(progress, run, clock)


def _aggregator_pnl(verdict: Verdict) -> dict[str, Decimal]:
    """Per symbol, the aggregator's PnL where it differs from the ledger replay (empty when all agree)."""
    accuracy = figures_of(verdict.evidence, PNL_AREA, AggregatorFigures)
    rows = {} if accuracy is None else accuracy.per_symbol
    return {name: row.aggregator_pnl for name, row in rows.items() if row.difference != 0}


def _symbol_table(verdict: Verdict) -> Table | None:
    """Per-symbol trades, PnL and win rate from the history; the aggregator's PnL beside it when it differs."""
    figures = figures_of(verdict.evidence, PERF_AREA, PerfFigures)
    if figures is None:
        return None  # no area, or not applicable: a run with no closed trade has no table to show
    table = Table(title=f"{figures.total_trades} trades, {figures.throughput_trades_per_s:.1f} trades/s")
    differing = _aggregator_pnl(verdict)
    delivery = check_delivery(verdict.events)
    stopped = {} if delivery is None else delivery.stopped_early
    columns = ["symbol", "trades", "PnL (ledger)" if differing else "PnL", "win rate"]
    columns += ["PnL (aggregator)"] if differing else []
    columns += ["stopped early"] if stopped else []
    for column in columns:
        table.add_column(column, justify="left" if column in ("symbol", "stopped early") else "right")
    for name, s in figures.per_symbol.items():
        row = [name, str(s.trades), money(s.pnl), percent(s.win_rate)]
        if differing:
            row.append(f"{money(differing[name])} ❌" if name in differing else "=")
        if stopped:
            row.append(f"{stopped[name].reason} at {stopped[name].at_s:g} s" if name in stopped else "")
        table.add_row(*row)
    return table


def print_verdict(verdict: Verdict, out: Path | None = None) -> None:
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
    delivery = check_delivery(verdict.events)
    if delivery is not None and not (delivery.complete and delivery.reproducible):
        for line in delivery_lines(delivery):
            console.print(line)
    console.print(f"[UnifiedGate] {verdict.scenario.name.upper()} {verdict.status}")
    if verdict.interruption is not None:
        console.print(verdict.interruption)
    if out is not None:
        console.print(f"report: {out}")
    if not verdict.passed:
        console.print(f"reproduce: {verdict.command}")
