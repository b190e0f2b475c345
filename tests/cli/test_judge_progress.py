"""Progress while a history is judged: events, events/s and the time left by bytes; quiet off a terminal."""

from __future__ import annotations

import gzip
import io

import pytest
from rich.console import Console

from harness.cli.judge_progress import judge_progress
from harness.history.log import write_jsonl
from harness.history.validate import Reader
from harness.judge import areas, rejudge
from harness.judge.areas import STANDARD_AREAS
from harness.judge.thresholds import Thresholds


@pytest.mark.parametrize("compressed", [False, True])
def test_the_judge_reports_events_and_bytes_as_it_reads(clean, tmp_path, monkeypatch, compressed):
    monkeypatch.setattr(areas, "TICK", 50)
    path = tmp_path / "events.jsonl"
    write_jsonl(clean, path)
    if compressed:
        path = path.with_suffix(".jsonl.gz")
        path.write_bytes(gzip.compress((tmp_path / "events.jsonl").read_bytes()))
    calls: list[tuple[int, int, int]] = []
    rejudge.judge_history(Reader(path), STANDARD_AREAS, Thresholds(), progress=lambda *a: calls.append(a))
    assert [events for events, _, _ in calls] == list(range(50, len(clean) + 1, 50))
    read = [r for _, r, _ in calls]
    assert read == sorted(read) and 0 < read[-1] <= path.stat().st_size
    assert {size for _, _, size in calls} == {path.stat().st_size}


def test_the_bar_shows_events_rate_and_time_left():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    ticks = iter(range(0, 10**12, 10**9))  # one second a reading
    with judge_progress(force=True, console=console, clock=lambda: next(ticks)) as bar:
        assert bar is not None
        bar(40_000, 1_000, 4_000)
        bar(80_000, 2_000, 4_000)
    text = out.getvalue()
    assert "80,000 events" in text and "events/s" in text and "ETA" in text


def test_quiet_off_a_terminal(capsys):
    with judge_progress() as bar:
        assert bar is None
    assert capsys.readouterr() == ("", "")


def test_the_runs_judge_phase_shows_events_judged_and_the_rate():
    from harness.cli.progress import symbol_progress
    from harness.run.config import run_config

    console = Console(file=io.StringIO(), force_terminal=True, width=200, record=True)
    with symbol_progress(run_config({"trades": 5, "symbols": "BTCUSD.s"}), force=True, console=console) as bars:
        assert bars is not None
        bars.judged(4096, 10_000)
        bars.judged(8192, 10_000)
        bars._progress.refresh()
        frame = console.export_text()
    assert "checking the history" in frame and "8,192/10,000 events judged" in frame and "events/s" in frame
