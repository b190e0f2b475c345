"""What a person sees while a run goes: bars with ETA, a time bar for --duration, stop reasons."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli.progress import SymbolBars, symbol_progress
from harness.run.config import run_config
from harness.system.engine import run
from harness.system.locks.local import LockTable

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen(run_settings: dict, drive, clock=time.monotonic_ns) -> str:
    """Drive a progress display on a recorded terminal; return its last frame as plain text."""
    console = Console(file=io.StringIO(), force_terminal=True, width=160, record=True)
    config = run_config(run_settings)
    with symbol_progress(config, force=True, console=console, clock=clock) as bars:
        assert isinstance(bars, SymbolBars)
        drive(bars)
        bars._progress.refresh()
        frame = console.export_text()
    return frame


def test_a_bar_that_stops_early_says_why_and_done_does_not_hide_it():
    def drive(bars):
        for _ in range(3):
            bars("BTCUSD.s")
        bars("ETHUSD.s", "halted: circuit breaker")
        bars("ETHUSD.s", "done")
        bars("BTCUSD.s", "done")
    screen = _screen({"trades": 10, "symbols": "BTCUSD.s,ETHUSD.s"}, drive)
    assert re.search(r"BTCUSD\.s.*3/10", screen)
    assert re.search(r"ETHUSD\.s.*stopped early: halted: circuit breaker", screen)
    assert "checking the history" in screen, "every symbol stopped: the judging status line shows"


def _line(screen: str, symbol: str) -> str:
    return next(line for line in reversed(screen.splitlines()) if symbol in line)


def test_a_stopped_bar_drops_its_eta_while_a_trading_one_keeps_it():
    def drive(bars):
        bars("BTCUSD.s")
        bars("ETHUSD.s")
        bars("ETHUSD.s", "halted: circuit breaker")
    screen = _screen({"trades": 10, "symbols": "BTCUSD.s,ETHUSD.s"}, drive)
    assert "ETA" in _line(screen, "BTCUSD.s")
    assert "ETA" not in _line(screen, "ETHUSD.s")


def test_a_stopped_duration_bar_freezes_where_the_symbol_stopped():
    now = [0]

    def drive(bars):
        now[0] = 11_500_000_000
        bars("ETHUSD.s", "halted: circuit breaker")
        now[0] = 60_000_000_000  # the run goes on; the halted symbol's time does not
    screen = _screen({"duration": 120, "symbols": "BTCUSD.s,ETHUSD.s"}, drive, clock=lambda: now[0])
    assert "11.5/120s" in _line(screen, "ETHUSD.s")
    assert "60.0/120s" in _line(screen, "BTCUSD.s")


def test_the_judging_line_waits_until_every_symbol_stopped():
    screen = _screen({"trades": 5, "symbols": "BTCUSD.s,ETHUSD.s"}, lambda bars: bars("BTCUSD.s", "done"))
    assert "checking the history" not in screen


def test_the_engine_reports_each_worker_stop_to_the_progress_callback():
    """Reasons come from the history's stop events in thread mode (process mode: the same events)."""
    calls: list[tuple] = []
    run(run_config({"trades": 2, "mode": "thread"}), LockTable(), progress=lambda *a: calls.append(a))
    stops = {c[0]: c[1] for c in calls if len(c) == 2}
    assert stops == dict.fromkeys(("BTCUSD.s", "ETHUSD.s", "XAUUSD.s"), "done")
    assert sum(1 for c in calls if len(c) == 1) == 6


pexpect = pytest.importorskip("pexpect")
HARNESS = str(Path(sys.executable).with_name("harness"))


def _terminal_run(tmp_path: Path, *args: str) -> str:
    """Run the CLI on a pseudo-terminal (CI unset, as a person's shell) and return all it drew."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    child = pexpect.spawn(HARNESS, ["run", "multi_symbol_stress", "--out", str(tmp_path / "run"), *args],
                          env=env, cwd=str(tmp_path), encoding="utf-8", timeout=120, dimensions=(40, 160))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return ANSI.sub("", child.before)


@pytest.mark.slow
def test_a_trades_run_on_a_terminal_shows_an_eta(tmp_path):
    drawn = _terminal_run(tmp_path, "--trades", "60")
    assert re.search(r"BTCUSD\.s.*\d+/60.*ETA\s+\d:\d\d:\d\d", drawn), drawn[-2000:]


@pytest.mark.slow
def test_a_duration_run_on_a_terminal_shows_a_time_bar(tmp_path):
    drawn = _terminal_run(tmp_path, "--duration", "2")
    assert re.search(r"\d+\.\d/2s \[#+-*\]\s+\d+ trades", drawn), drawn[-2000:]


def test_the_console_shows_aggregator_pnl_beside_the_ledgers_only_when_they_differ(capsys, tmp_path, monkeypatch):
    from tests import _history_builders as hb

    monkeypatch.chdir(tmp_path)  # the example imports from the package, whatever the directory
    code, out, _ = hb.cli(capsys, "run", "multi_symbol_stress", "--trades", "4", "--out", tmp_path / "lossy",
                          "--aggregator", "harness.examples.lossy_aggregator:factory")
    assert code == 1
    assert "PnL (ledger)" in out and "PnL (aggregator)" in out
    assert re.search(r"BTCUSD\.s .*\$.*-?\$[\d.]+ ❌", out)
    code, out, _ = hb.cli(capsys, "run", "multi_symbol_stress", "--trades", "4", "--out", tmp_path / "good")
    assert code == 0 and "PnL (aggregator)" not in out and "PnL" in out
