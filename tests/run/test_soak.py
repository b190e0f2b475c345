"""``make soak`` in short: a --duration run judged live passes, reports nothing live, and keeps its report small.

The hour-long one is ``make soak`` (DURATION=3600); HARNESS_SOAK_S sets this one's length.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.runner import PeakRss

SOAK_S = float(os.environ.get("HARNESS_SOAK_S", "15"))


@pytest.mark.slow
def test_a_short_soak_passes_judged_live(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    command = [sys.executable, "-m", "harness", "run", "multi_symbol_stress", "--duration", str(SOAK_S),
               "--judge-live", "--out", str(out)]
    with PeakRss() as peak:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SOAK_S * 10 + 120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "[LIVE]" not in done.stdout  # a clean run: nothing reported while it went
    assert (out / "report.html").stat().st_size < 5 * 2**20
    history = next(out.glob("events.jsonl*"))  # a long run's is gzipped when the report is written
    lines = (gzip.decompress(history.read_bytes()) if history.suffix == ".gz" else history.read_bytes()).count(b"\n")
    print(f"soak {SOAK_S:g} s: {lines:,} events, peak RSS {peak.peak_mb:.0f} MiB (this process and the run)")
