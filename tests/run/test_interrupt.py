"""A signal ends a run with its history on disk and an "interrupted" report; SIGKILL leaves a judgeable history."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.run.interrupt import Interrupted, StopRequest, on_signals

STARTED_EVENTS = 1500  # the run is well under way: workers trading on every symbol
BOUND_S = 120.0  # the longest a step may take on a loaded machine before the test says so


def test_the_first_signal_asks_the_run_to_stop_and_a_second_abandons_it():
    with on_signals(StopRequest()) as stop:
        watched = stop.event(process=False)
        os.kill(os.getpid(), signal.SIGHUP)
        assert watched.wait(BOUND_S)
        assert stop.signal_name == "SIGHUP"
        assert stop.event(process=False).is_set()  # a worker's event made after the request starts set
        with pytest.raises(Interrupted) as raised:
            os.kill(os.getpid(), signal.SIGTERM)
            watched.wait(BOUND_S)  # the handler raises here, in the main thread
    assert raised.value.exit_code == 143
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # the handlers were put back


def _start(out: Path, *flags: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "harness.cli.main", "run", "multi_symbol_stress", "--duration", "300",
               "--out", str(out), *flags]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_trading(proc: subprocess.Popen[str], history: Path) -> None:
    """Until the streamed history holds STARTED_EVENTS lines (a condition on the file, polled)."""
    deadline = time.monotonic() + BOUND_S
    while not (history.exists() and history.read_bytes().count(b"\n") >= STARTED_EVENTS):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not start trading"
        time.sleep(0.05)


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli.main", "check", str(path)], capture_output=True,
                          text=True, timeout=BOUND_S)


@pytest.mark.parametrize(("signum", "mode"), [(signal.SIGTERM, "thread"), (signal.SIGINT, "process")])
def test_a_signal_mid_run_keeps_the_history_and_writes_an_interrupted_report(tmp_path, signum, mode):
    out = tmp_path / "run"
    proc = _start(out, "--mode", mode)
    _wait_until_trading(proc, out / "events.jsonl")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=BOUND_S)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, stderr
    log = (out / "VERIFY_LOG.txt").read_text(encoding="utf-8")
    assert f"INTERRUPTED by {name}: the run was stopped early; the verdict judges the " in log
    assert f"INTERRUPTED by {name}" in stdout
    lines = (out / "events.jsonl").read_bytes().count(b"\n")
    assert lines >= STARTED_EVENTS
    assert f"judges the {lines} events it recorded" in log
    rejudged = _check(out)
    assert rejudged.returncode == 0, rejudged.stdout + rejudged.stderr  # the stopped run is a clean, shorter run


def test_sigkill_leaves_a_history_that_check_judges(tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_until_trading(proc, out / "events.jsonl")
    proc.kill()
    proc.communicate(timeout=BOUND_S)
    assert not (out / "VERIFY_LOG.txt").exists()
    rejudged = _check(out / "events.jsonl")
    assert rejudged.returncode in (0, 1), rejudged.stderr
    assert rejudged.stderr == ""
    assert "[UnifiedGate] HISTORY" in rejudged.stdout
